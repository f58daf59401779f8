"""A crash at every step, injected by the test harness (production code has no hooks for it).

The invocation dies after the vendor submit, after a schedule was created, after the record was
written, or after the use case finished but before the reply left: the invoker delivers the same
event again. Whatever the crash, the task ends with one vendor job, one chain and one record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from pollbridge import core
from pollbridge.clock import ManualClock
from pollbridge.models import PollPayload, SchedulePollTask, parse_segment
from tests.support.fakes import COMPLETE, World, running, unit_of


class InjectedCrash(Exception):
    """The container died: raised by the harness, never by pollbridge."""


class CrashAfter:
    """Delegates to `inner`; the n-th call of `method` completes and then the invocation dies."""

    def __init__(self, inner: Any, method: str, nth: int) -> None:
        self._inner, self._method, self._nth, self.calls = inner, method, nth, 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute

        def crashing(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            self.calls += 1
            if self.calls == self._nth:
                raise InjectedCrash(f"after {self._method} #{self._nth}")
            return result

        return crashing


CRASH_POINTS = [
    ("provider", "submit"),
    ("scheduler", "schedule"),
    ("scheduler", "unschedule"),
    ("sink", "write_once"),
    ("reply", None),
]


def deliver(use_case: Callable[[], core.Outcome], crash_before_reply: list[int]) -> core.Outcome:
    """Lambda's async retries: the same event until an invocation returns."""
    for _ in range(5):
        try:
            outcome = use_case()
            if crash_before_reply and crash_before_reply[0] == 0:
                crash_before_reply.pop()
                raise InjectedCrash("before replying")
            if crash_before_reply:
                crash_before_reply[0] -= 1
            return outcome
        except InjectedCrash:
            continue
    raise AssertionError("the event never went through")


@pytest.mark.parametrize("nth", [1, 2, 3])
@pytest.mark.parametrize(("port", "method"), CRASH_POINTS, ids=[f"{p}.{m}" for p, m in CRASH_POINTS])
def test_a_crash_at_any_step_still_ends_with_one_job_one_chain_one_record(
    chunk: dict[str, Any], manual_clock: ManualClock, port: str, method: str | None, nth: int
) -> None:
    world = World()
    world.provider.states = [running(), running(), running(), COMPLETE]
    ports = world.ports
    if method is not None:
        ports = replace(ports, **{port: CrashAfter(getattr(ports, port), method, nth)})
    before_reply = [nth - 1] if method is None else []
    task = unit_of(chunk)  # the unit of work: the task's chunk

    deliver(lambda: core.handle_segment(parse_segment(chunk), ports), before_reply)
    fired: list[int] = []
    while chain := world.scheduler.chain(task):
        assert chain in ([chain[0]], [chain[0], chain[0] + 1]), f"forked chain: {chain}"
        due = world.scheduler.find(task, chain[0])
        assert due is not None
        payload: PollPayload = due.payload
        manual_clock.advance_to(max(manual_clock.now_ms(), due.at_ms))
        fired.append(payload.pollNumber)
        outcome = deliver(lambda p=payload: core.poll(p, ports), before_reply)  # type: ignore[misc]
        if isinstance(outcome.response, SchedulePollTask):
            assert outcome.response.taskPayload.pollNumber in world.scheduler.chain(task)
        assert len(fired) < 50, "the chain never ended"

    assert len(world.provider.submitted) == 1  # one vendor job
    assert world.provider.cancelled == []
    assert list(world.sink.records) == [task]  # one record, written once
    record = world.sink.record_of(chunk["taskId"])
    assert record.status == "complete" and record.workId == "work-1"
    assert fired == sorted(set(fired)), f"a poll ran twice as a live poll: {fired}"
