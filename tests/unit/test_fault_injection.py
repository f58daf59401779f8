"""The chaos harness's fault tools and detectors, without a cloud: they wrap production objects
from the outside, decide from one seed, and put everything back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.chaos import ChaosReport, find_forks, task_of, why_dead
from devtools.cloud.lambda_host import Invocation
from devtools.cloud.scheduler_emulator import Delivery
from devtools.load.faults import FaultInjector, FaultPlan, FaultyPort, InjectedCrash, has_methods
from pollbridge.timing import PollPolicy


class Vendor:
    name = "http"

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, media: str) -> str:
        self.submitted.append(media)
        return f"job-{len(self.submitted)}"


@dataclass(frozen=True)
class FakePorts:
    provider: Any
    policy: PollPolicy
    timeout_ms: int


def ports() -> FakePorts:
    return FakePorts(Vendor(), PollPolicy(), 5)


def submits_survived(wrapped: FakePorts, count: int) -> list[bool]:
    """Whether each of `count` submits through the wrapped ports returned (False: an injected crash)."""
    results = []
    for n in range(count):
        try:
            wrapped.provider.submit(str(n))
            results.append(True)
        except InjectedCrash:
            results.append(False)
    return results


def test_only_adapters_are_wrapped_and_attributes_pass_through() -> None:
    original = ports()
    wrapped = FaultInjector(FaultPlan()).wrap_ports(original)
    assert isinstance(wrapped.provider, FaultyPort)
    assert wrapped.policy is original.policy and wrapped.timeout_ms == 5  # no methods: left alone
    assert wrapped.provider.name == "http"
    assert wrapped.provider.submit("a") == "job-1" and original.provider.submitted == ["a"]
    assert not has_methods(PollPolicy()) and has_methods(Vendor())


def test_a_crash_after_the_call_leaves_its_effect_behind() -> None:
    original = ports()
    injector = FaultInjector(FaultPlan(crash_after={"provider.submit": 1.0}))
    wrapped = injector.wrap_ports(original)
    with pytest.raises(InjectedCrash, match=r"after provider\.submit"):
        wrapped.provider.submit("a")
    assert original.provider.submitted == ["a"]  # the vendor job exists; the caller never learned its id
    assert injector.injected == {"crash after provider.submit": 1}


def test_a_crash_before_the_call_does_nothing() -> None:
    original = ports()
    injector = FaultInjector(FaultPlan(crash_before={"provider.*": 1.0}))
    with pytest.raises(InjectedCrash):
        injector.wrap_ports(original).provider.submit("a")
    assert original.provider.submitted == []


def test_the_first_matching_pattern_gives_the_rate() -> None:
    plan = FaultPlan(crash_before={"provider.submit": 0.0, "*": 1.0})
    wrapped = FaultInjector(plan).wrap_ports(ports())
    assert wrapped.provider.submit("a") == "job-1"  # the exact key says never


def test_rates_are_seeded() -> None:
    def outcomes(seed: int) -> list[bool]:
        return submits_survived(FaultInjector(FaultPlan(crash_after={"*": 0.5}, seed=seed)).wrap_ports(ports()), 40)

    assert outcomes(3) == outcomes(3)
    assert outcomes(3) != outcomes(4)
    assert 5 < outcomes(3).count(False) < 35


def test_a_promised_point_crashes_by_its_nth_call_whatever_the_draws() -> None:
    """every_point_by: a rate too small to be drawn still gives one crash, at the promised call, once;
    points named by a pattern only, and crashes before calls, are not promised."""
    plan = FaultPlan(crash_after={"provider.submit": 1e-9}, crash_before={"*": 1e-9}, every_point_by=3)
    injector = FaultInjector(plan)
    assert submits_survived(injector.wrap_ports(ports()), 8) == [True, True, False, True, True, True, True, True]
    assert injector.injected == {"crash after provider.submit": 1}

    unpromised = FaultInjector(FaultPlan(crash_after={"provider.*": 1e-9}, every_point_by=1)).wrap_ports(ports())
    assert [unpromised.provider.submit(str(n)) for n in range(3)] == ["job-1", "job-2", "job-3"]

    reply = FaultInjector(FaultPlan(crash_before_reply=1e-9, every_point_by=2))
    reply.around(lambda event, context: None, {}, None)
    with pytest.raises(InjectedCrash, match="before reply"):
        reply.around(lambda event, context: None, {}, None)
    with pytest.raises(ValueError, match="every_point_by"):
        FaultPlan(every_point_by=-1)


def test_crash_before_the_reply_comes_after_the_handler_ran() -> None:
    ran: list[Any] = []
    injector = FaultInjector(FaultPlan(crash_before_reply=1.0))
    with pytest.raises(InjectedCrash, match="before reply"):
        injector.around(lambda event, context: ran.append(event), {"e": 1}, None)
    assert ran == [{"e": 1}]


class Adapter:
    def __init__(self, client: Any) -> None:
        self._client = client

    def get(self) -> Any:
        return self._client.get_schedule(Name="s", GroupName="g")


def test_throttles_hit_the_adapters_own_aws_client_before_anything_is_sent() -> None:
    # 127.0.0.1:9 (discard) is never reached: the throttle is raised before the request is built
    client = boto3.client(
        "scheduler", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    injector = FaultInjector(FaultPlan(throttle={"scheduler": 1.0}))

    @dataclass(frozen=True)
    class WithClient:
        scheduler: Adapter

    wrapped = injector.wrap_ports(WithClient(Adapter(client)))
    with pytest.raises(ClientError) as raised:
        wrapped.scheduler.get()
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.operation_name == "GetSchedule"
    assert injector.injected == {"throttle scheduler.GetSchedule": 1}


def test_without_a_visible_client_the_port_itself_is_throttled() -> None:
    @dataclass(frozen=True)
    class Opaque:
        scheduler: Vendor

    injector = FaultInjector(FaultPlan(throttle={"scheduler": 1.0}))
    with pytest.raises(ClientError, match="ThrottlingException"):
        injector.wrap_ports(Opaque(Vendor())).scheduler.submit("a")


def test_installed_wraps_what_every_handler_gets_through_the_wiring_seam_and_takes_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pollbridge import wiring

    built = ports()
    monkeypatch.setattr(wiring, "_built", lambda: built)
    injector = FaultInjector(FaultPlan())
    with injector.installed():
        seen = wiring.container_ports()
        assert isinstance(seen.provider, FaultyPort) and seen.policy is built.policy
        assert wiring.container_ports() is seen  # wrapped once per build of the ports
    assert wiring.container_ports() is built


def delivery(task: str, poll: int, execution: str, **options: Any) -> Delivery:
    event = {"origTaskId": task, "pollNumber": poll}
    return Delivery("s", 1, 0, 0, event, Invocation(True, {}), execution_id=execution, **options)


def test_a_fork_is_one_poll_number_fired_from_two_schedule_instances() -> None:
    deliveries = [
        delivery("a", 1, "x1"),
        delivery("a", 1, "x1", duplicate=True),  # the same instance delivered again: no fork
        delivery("a", 2, "x2", invoke_count=2),
        delivery("b", 1, "y1"),
        delivery("b", 2, "y2"),
        delivery("b", 2, "y2b", late=True),  # poll 2 created again after it fired: two chains
        delivery("b", 3, ""),  # a redriven event, no schedule: not counted
        delivery("b", 3, ""),
    ]
    assert find_forks(deliveries) == {"b": [2]}


def test_dead_letters_are_grouped_by_source_and_error() -> None:
    lambda_record = {"requestContext": {"condition": "RetriesExhausted"}, "responsePayload": {"errorType": "Boom"}}
    scheduler = {"Body": "{}", "MessageAttributes": {"ERROR_CODE": {"StringValue": "ResourceNotFoundException"}}}
    assert why_dead({"Body": json.dumps(lambda_record)}) == "Lambda RetriesExhausted: Boom"
    assert why_dead(scheduler) == "Scheduler: ResourceNotFoundException"


def test_task_of_events() -> None:
    assert task_of({"type": "media_chunk", "taskId": "t", "taskPayload": {"language": "en"}}) == "t"
    assert task_of({"origTaskId": "o", "taskId": "x"}) == "o"
    assert task_of({"taskId": "x", "taskPayload": {"origTaskId": "o"}}) == "o"
    assert task_of(None) is None


def test_each_invariant_is_a_violation() -> None:
    clean: dict[str, Any] = {
        "tasks": 1, "seed": 1, "statuses": {}, "failure_reasons": {}, "records": 1, "records_written_twice": [],
        "missing_records": [], "refused": ["r"], "leftover_schedules": [], "vendor_jobs_per_task": {1: 1},
        "extra_vendor_jobs": {}, "forks": {}, "dead_letters": {"x": 1}, "redriven": 1, "unrecovered_dead_letters": 0,
        "faults": {}, "deliveries": {}, "failed_invocations": {}, "wall_s": 0.0, "virtual_s": 0.0,
    }  # fmt: skip
    assert ChaosReport(**clean).ok  # refused tasks and dead letters are reported, not violations
    broken = {
        "records_written_twice": ["t"],
        "missing_records": ["t"],
        "leftover_schedules": ["s"],
        "extra_vendor_jobs": {"t": 2},
        "forks": {"t": [2]},
    }
    for name, value in broken.items():
        report = ChaosReport(**{**clean, name: value})
        assert not report.ok and len(report.violations()) == 1, name
