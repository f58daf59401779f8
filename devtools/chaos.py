"""Chaos on the local cloud: the workload with every fault at once, and the invariants checked.

    python -m devtools.chaos                      # 1,000 tasks (make chaos; CHAOS_TASKS=200 for fewer)
    python -m devtools.chaos --tasks 60 --seed 3  # the same seed gives the same run and the same report

Switched on together: duplicate and late deliveries (the scheduler emulator), Lambda refusing some
hand-offs (throttled), vendor jobs that fail and vendor answers that are flaky (the simulator), AWS
throttles on the scheduler API, and crashes injected around the adapters (after the vendor submit
returned, after a schedule was created, after the record was written, before any adapter call) and
before the reply (devtools.faults). Nothing in the production code changes: the harness wraps what
the handlers get from `pollbridge.wiring.ports()` and the handler invocation in the Lambda host.

When the system is idle, dead letters are redriven to the poll function as an operator would
(`ops redrive`), a few rounds. Exit status 1 when an invariant fails (see ChaosReport.violations).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from devtools.faults import FaultInjector, FaultPlan
from devtools.lambda_host import Around, Handler, Invocation
from devtools.local_cloud import ROOT, LocalCloud
from devtools.ops import poll_event_of
from devtools.scheduler_emulator import Delivery
from devtools.vendor_simulator import SimConfig, VendorSimulator
from devtools.workload import drive, make_tasks


@dataclass(frozen=True)
class ChaosConfig:
    tasks: int = 1000
    seed: int = 1
    arrival_minutes: float = 60.0
    # the scheduler emulator (AWS's side)
    duplicate_rate: float = 0.1  # a poll handed to Lambda twice at once
    late_duplicate_rate: float = 0.1  # ... and again 1-20 minutes later
    handoff_throttle_rate: float = 0.02  # Lambda refuses the hand-off (the schedule's RetryPolicy retries)
    # the vendor
    failure_rate: float = 0.1  # vendor jobs that end failed
    flaky_rate: float = 0.05  # vendor answers 429/503
    # injected by the harness around the production code
    crash_rate: float = 0.03  # after submit / schedule created / record written, and before the reply
    stray_crash_rate: float = 0.01  # before any adapter call
    throttle_rate: float = 0.03  # scheduler API calls throttled
    # the callers
    segment_retries: int = 5  # the caller retries a failed segment (like Lambda async: 1, 2, 3... minutes apart)
    redrive_rounds: int = 3  # dead letters sent back to the poll function, as an operator would
    speed: float = 0.0  # 0: manual clock (fast and reproducible); >0: compressed real time

    def fault_plan(self) -> FaultPlan:
        return FaultPlan.chaos(self.crash_rate, self.stray_crash_rate, self.throttle_rate, seed=self.seed)

    def sim_config(self) -> SimConfig:
        return SimConfig(seed=self.seed, failure_rate=self.failure_rate, flaky_rate=self.flaky_rate)


@dataclass
class ChaosReport:
    """What the run did, and the invariants. Definitions (the README of `make chaos`):

    - statuses / failure_reasons: the records in the results bucket, counted by status and failureReason.
    - records_written_twice: tasks whose record key has more than one object version (the bucket is
      versioned: a second write, even of the same content, shows). Must be empty.
    - refused: tasks for which every segment invocation failed (the caller saw an error each time) and
      nothing ever ran for them afterwards: no poll delivered, no record. The caller knows; not a loss.
    - missing_records: every other task without a record. Must be empty.
    - leftover_schedules: schedules still in the group at the end. Must be empty.
    - vendor_jobs_per_task: how many tasks had 0, 1, 2... vendor jobs. A job belongs to the task whose
      invocation was running when the simulator created it (invocations run one at a time, so the
      simulator's new job ids during an invocation are that task's). extra_vendor_jobs: the tasks
      with more than one. Must be empty.
    - forks: a task forks when one of its poll numbers was scheduled twice, i.e. the scheduler fired
      two different schedule instances (two execution ids) for the same origTaskId and pollNumber.
      That happens exactly when a delivery created poll n after another delivery's poll n had
      already fired: two chains of polls, each going on (or a stale poll re-running a finished one).
      Repeated deliveries of one instance (duplicates, Lambda retries) share its execution id and
      are not forks. Value: origTaskId -> the poll numbers scheduled more than once. Must be empty.
    - dead_letters: every message that reached the dead-letter queue (all rounds), by source and
      error type: "Lambda RetriesExhausted: InjectedCrash", "Scheduler: TooManyRequestsException"...
      redriven: sent back to the poll function; unrecovered_dead_letters: left after the last round.
    - faults: what was injected, by point; deliveries: what the emulator did; failed_invocations:
      function runs that failed, by function and error type (refused hand-offs are not runs).
    """

    tasks: int
    seed: int
    statuses: dict[str, int]
    failure_reasons: dict[str, int]
    records: int
    records_written_twice: list[str]
    missing_records: list[str]
    refused: list[str]
    leftover_schedules: list[str]
    vendor_jobs_per_task: dict[int, int]
    extra_vendor_jobs: dict[str, int]
    forks: dict[str, list[int]]
    dead_letters: dict[str, int]
    redriven: int
    unrecovered_dead_letters: int
    faults: dict[str, int]
    deliveries: dict[str, int]
    failed_invocations: dict[str, int]
    wall_s: float
    virtual_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    def violations(self) -> list[str]:
        found = []
        if self.records_written_twice:
            found.append(f"{len(self.records_written_twice)} records written twice")
        if self.missing_records:
            found.append(f"{len(self.missing_records)} tasks without a record")
        if self.leftover_schedules:
            found.append(f"{len(self.leftover_schedules)} schedules left over")
        if self.extra_vendor_jobs:
            found.append(f"{len(self.extra_vendor_jobs)} tasks with more than one vendor job")
        if self.forks:
            found.append(f"{len(self.forks)} tasks forked")
        return found

    @property
    def ok(self) -> bool:
        return not self.violations()

    def rows(self) -> list[tuple[str, str]]:
        def counts(values: dict[Any, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(values.items(), key=lambda kv: str(kv[0]))) or "-"

        def some(names: list[str] | dict[str, Any]) -> str:
            shown = list(names)[:3]
            return f"{len(names)}" + (f" (e.g. {', '.join(shown)})" if shown else "")

        forks = [f"{task} polls {polls}" for task, polls in list(self.forks.items())[:3]]
        return [
            ("tasks", f"{self.tasks} (seed {self.seed})"),
            ("records by status", counts(self.statuses)),
            ("records by failureReason", counts(self.failure_reasons)),
            ("records written twice [0]", some(self.records_written_twice)),
            ("missing records [0]", some(self.missing_records)),
            ("refused (caller saw errors)", some(self.refused)),
            ("schedules left over [0]", some(self.leftover_schedules)),
            ("vendor jobs per task [1]", counts(self.vendor_jobs_per_task)),
            ("tasks with extra vendor jobs", some(self.extra_vendor_jobs)),
            ("forks [0]", f"{len(self.forks)}" + (f" (e.g. {'; '.join(forks)})" if forks else "")),
            ("dead letters", counts(self.dead_letters)),
            ("redriven / unrecovered", f"{self.redriven} / {self.unrecovered_dead_letters}"),
            ("faults injected", counts(self.faults)),
            ("deliveries", counts(self.deliveries)),
            ("failed invocations", counts(self.failed_invocations)),
            ("virtual time", f"{self.virtual_s / 3600:.1f} h"),
            ("wall time", f"{self.wall_s:.1f} s"),
        ]

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "violations": self.violations()}


def task_of(event: Any) -> str | None:
    """The task an event is about: a poll's origTaskId, a media_chunk's taskId."""
    if not isinstance(event, dict):
        return None
    payload = event.get("taskPayload")
    payload = payload if isinstance(payload, dict) else {}
    found = event.get("origTaskId") or payload.get("origTaskId") or event.get("taskId")
    return str(found) if found is not None else None


class Observer:
    """What the harness sees from outside: which vendor jobs each task's invocations created, which
    segments were accepted."""

    def __init__(self, simulator: VendorSimulator) -> None:
        self._simulator = simulator
        self.jobs_by_task: defaultdict[str, list[str]] = defaultdict(list)
        self.unattributed_jobs: list[str] = []
        self.accepted: set[str] = set()
        self.failed_segments: Counter[str] = Counter()  # error type -> segment invocations that failed
        self.segment_invocations = 0

    def wrap(self, inner: Around) -> Around:
        def around(handler: Handler, event: Any, context: Any) -> Any:
            before = len(self._simulator.jobs)
            try:
                return inner(handler, event, context)
            finally:
                created = list(itertools.islice(self._simulator.jobs, before, None))
                task = task_of(event)
                (self.jobs_by_task[task] if task is not None else self.unattributed_jobs).extend(created)

        return around

    def segment(self, chunk: dict[str, Any], result: Invocation, started_ms: int) -> None:
        self.segment_invocations += 1
        if result.ok:
            self.accepted.add(chunk["taskId"])
        else:
            self.failed_segments[result.error_type or "?"] += 1


def drain_dead_letters(cloud: LocalCloud) -> list[dict[str, Any]]:
    """Every message in the dead-letter queue, taken out of it: body and message attributes."""
    sqs = cloud.clients["sqs"]
    url = sqs.get_queue_url(QueueName=cloud.dead_letter_queue)["QueueUrl"]
    taken: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=600
    ).get("Messages", []):
        for message in batch:
            taken.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return taken


def why_dead(message: dict[str, Any]) -> str:
    """Lambda's invocation record says its condition and the function's error type; the scheduler's
    dead letter carries ERROR_CODE."""
    body = json.loads(message["Body"])
    if isinstance(body, dict) and "requestContext" in body:
        error = (body.get("responsePayload") or {}).get("errorType", "-")
        return f"Lambda {body['requestContext'].get('condition')}: {error}"
    code = (message.get("MessageAttributes") or {}).get("ERROR_CODE", {}).get("StringValue", "-")
    return f"Scheduler: {code}"


def find_forks(deliveries: list[Delivery]) -> dict[str, list[int]]:
    instances: defaultdict[tuple[str, int], set[str]] = defaultdict(set)
    for delivery in deliveries:
        task, number = task_of(delivery.event), delivery.event.get("pollNumber")
        if delivery.execution_id and task is not None and isinstance(number, int):
            instances[(task, number)].add(delivery.execution_id)
    forks: defaultdict[str, list[int]] = defaultdict(list)
    for (task, number), executions in sorted(instances.items()):
        if len(executions) > 1:
            forks[task].append(number)
    return dict(forks)


def run_chaos(config: ChaosConfig, log: TextIO | None = None) -> ChaosReport:
    """Run the workload under every fault at once and report. Handler logs go to `log` (default:
    stdout). Powertools' logger keeps the stream it was created with: in one process, give every
    run the same `log`, or none."""
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started_real = time.monotonic()
    injector = FaultInjector(config.fault_plan())
    with contextlib.ExitStack() as stack:
        if log is not None:
            stack.enter_context(contextlib.redirect_stdout(log))
        cloud = stack.enter_context(
            LocalCloud(
                manual_clock=config.speed <= 0,
                speed=config.speed if config.speed > 0 else 600.0,
                sim_config=config.sim_config(),
                duplicate_rate=config.duplicate_rate,
                late_duplicate_rate=config.late_duplicate_rate,
                handoff_throttle_rate=config.handoff_throttle_rate,
                emulator_seed=config.seed,
            )
        )
        observer = Observer(cloud.simulator)
        for function in cloud.functions.values():
            function.around = observer.wrap(injector.around)
        tasks = make_tasks(config.tasks, arrival_window_ms=int(config.arrival_minutes * 60_000))
        started_virtual = cloud.clock.now_ms()
        poll_function = cloud.specs["PollFunction"].arn
        dead: list[dict[str, Any]] = []
        redriven = unrecovered = 0
        with injector.installed():
            drive(cloud, tasks, on_segment=observer.segment, segment_retries=config.segment_retries)
            for round_number in itertools.count():
                with cloud.clock.real_time():
                    batch = drain_dead_letters(cloud)
                dead += batch
                if not batch:
                    break
                if round_number == config.redrive_rounds:
                    unrecovered = len(batch)
                    break
                for message in batch:  # as `ops redrive`: an asynchronous invocation of the poll function
                    cloud.emulator.lambdas[poll_function].accept(poll_event_of(message["Body"]))
                redriven += len(batch)
                drive(cloud, [])
        virtual_s = (cloud.clock.now_ms() - started_virtual) / 1000
        with cloud.clock.real_time():
            report = _report(cloud, config, tasks, observer, injector, dead, redriven, unrecovered)
    report.wall_s = time.monotonic() - started_real
    report.virtual_s = virtual_s
    return report


def _report(
    cloud: LocalCloud,
    config: ChaosConfig,
    tasks: list[tuple[int, dict[str, Any]]],
    observer: Observer,
    injector: FaultInjector,
    dead: list[dict[str, Any]],
    redriven: int,
    unrecovered: int,
) -> ChaosReport:
    from pollbridge.adapters.sinks.s3 import record_key

    expected = [chunk["taskId"] for _, chunk in tasks]
    records = cloud.records()
    versions = cloud.record_versions()
    deliveries = cloud.emulator.deliveries
    polled = {task_of(d.event) for d in deliveries if d.handed_off}
    refused = [t for t in expected if t not in records and t not in observer.accepted and t not in polled]
    jobs = {task: len(observer.jobs_by_task.get(task, [])) for task in expected}
    failed: Counter[str] = Counter(
        f"PollFunction {d.result.error_type}" for d in deliveries if d.handed_off and not d.result.ok
    )
    failed.update({f"SegmentFunction {error}": n for error, n in observer.failed_segments.items()})
    stats = cloud.emulator.stats
    faults = Counter(injector.injected)
    if stats.throttled:
        faults["hand-off refused by Lambda (TooManyRequestsException)"] = stats.throttled
    return ChaosReport(
        tasks=len(expected),
        seed=config.seed,
        statuses=dict(Counter(r["status"] for r in records.values())),
        failure_reasons=dict(Counter(r["failureReason"] for r in records.values() if r.get("failureReason"))),
        records=len(records),
        records_written_twice=[t for t in expected if versions.get(record_key(t), 0) > 1],
        missing_records=[t for t in expected if t not in records and t not in refused],
        refused=refused,
        leftover_schedules=sorted(cloud.pending_schedules()),
        vendor_jobs_per_task=dict(sorted(Counter(jobs.values()).items())),
        extra_vendor_jobs={task: count for task, count in jobs.items() if count > 1},
        forks=find_forks(deliveries),
        dead_letters=dict(Counter(why_dead(message) for message in dead)),
        redriven=redriven,
        unrecovered_dead_letters=unrecovered,
        faults=dict(faults),
        deliveries={
            "segment invocations": observer.segment_invocations,
            "poll function runs": sum(1 for d in deliveries if d.handed_off),
            "immediate duplicates": stats.duplicates,
            "late duplicates": stats.late_duplicates,
            "Lambda retries": stats.lambda_retries,
            "scheduler retries": stats.retries,
        },
        failed_invocations=dict(failed),
        wall_s=0.0,
        virtual_s=0.0,
        extra={
            "vendor": dict(cloud.simulator.config.stats),
            "unattributed_vendor_jobs": len(observer.unattributed_jobs),
            "segments_accepted": len(observer.accepted),
        },
    )


def print_report(report: ChaosReport, out: TextIO) -> None:
    print("", file=out)
    print("Chaos report  ([n]: an invariant, must be n)", file=out)
    width = max(len(name) for name, _ in report.rows())
    for name, value in report.rows():
        print(f"  {name.ljust(width)}  {value}", file=out)
    problems = report.violations()
    print(f"  {'FAILED: ' + '; '.join(problems) if problems else 'OK: every invariant holds'}", file=out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(prog="python -m devtools.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=defaults.tasks, help=f"how many tasks (default {defaults.tasks})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="one seed for every random choice")
    parser.add_argument("--arrival-minutes", type=float, default=defaults.arrival_minutes)
    rates = (
        ("duplicate_rate", "polls handed to Lambda twice at once"),
        ("late_duplicate_rate", "polls handed to Lambda again 1-20 minutes later"),
        ("handoff_throttle_rate", "hand-offs Lambda refuses (the scheduler retries them)"),
        ("failure_rate", "vendor jobs that fail"),
        ("flaky_rate", "vendor answers that are 429/503"),
        ("crash_rate", "crashes after submit / schedule created / record written, and before the reply"),
        ("stray_crash_rate", "crashes before any adapter call"),
        ("throttle_rate", "scheduler API calls throttled"),
    )
    for name, text in rates:
        default = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=default, help=f"{text} ({default})")
    parser.add_argument("--segment-retries", type=int, default=defaults.segment_retries)
    parser.add_argument("--redrive-rounds", type=int, default=defaults.redrive_rounds)
    parser.add_argument(
        "--speed", type=float, default=0.0, help="0: manual clock (default, reproducible); else x speed"
    )
    parser.add_argument("--log-file", type=Path, default=ROOT / ".localcloud" / "chaos.log")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    for name, _ in rates:
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.tasks < 1 or args.segment_retries < 0 or args.redrive_rounds < 0 or args.speed < 0:
        parser.error("--tasks must be >= 1; --segment-retries, --redrive-rounds and --speed >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fields = ChaosConfig.__dataclass_fields__
    config = ChaosConfig(**{name: value for name, value in vars(args).items() if name in fields})
    args.log_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"chaos: {config.tasks} tasks, seed {config.seed}; handler logs -> {args.log_file}", flush=True)
    with args.log_file.open("w") as log:
        report = run_chaos(config, log)
    print_report(report, sys.stdout)
    if args.json:
        args.json.write_text(json.dumps(report.to_json(), indent=2, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
