"""Drive N tasks through the local cloud: arrivals and scheduled polls in one Lambda-like worker.

One worker runs every invocation in the order of the shared clock, as one warm container would,
so logs and correlation ids never interleave. The result is a report the demo prints and the
end-to-end tests assert on.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.cloud.clocks import ManualClock
from devtools.cloud.lambda_host import Invocation
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import ROOT
from devtools.cloud.scheduler_emulator import Delivery

SEGMENT_EVENT = ROOT / "events" / "segment.json"


def make_tasks(
    count: int, template: Path = SEGMENT_EVENT, arrival_window_ms: int = 600_000
) -> list[tuple[int, dict[str, Any]]]:
    """(arrival offset ms, media_chunk) pairs: the first is events/segment.json as is; the others
    are copies with their own ids whose durations the vendor simulator draws."""
    base = json.loads(template.read_text())
    tasks = [(0, base)]
    for index in range(1, count):
        chunk = copy.deepcopy(base)
        chunk["taskId"] = f"{base['taskId']}-{index:05d}"
        chunk["jobId"] = f"{base['jobId']}-{index // 50:03d}"
        chunk["chunkIndex"] = index
        chunk["chunkUUID"] = f"00000000-0000-4000-8000-{index:012d}"
        chunk["taskPayload"] = {k: v for k, v in chunk.get("taskPayload", {}).items() if k != "simulate"}
        tasks.append((arrival_window_ms * index // max(count - 1, 1), chunk))
    return tasks


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Report:
    tasks: int
    statuses: dict[str, int]
    polls_mean: float
    polls_p95: float
    lag_mean_s: float
    lag_p95_s: float
    leftover_schedules: int
    records: int
    records_written_twice: int
    missing_records: list[str]
    dead_letters: int
    duplicates_delivered: int
    invocations: int
    retries: int
    wall_s: float
    virtual_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    late_duplicates: int = 0
    lambda_retries: int = 0

    @property
    def healthy(self) -> bool:
        return (
            self.leftover_schedules == 0
            and not self.missing_records
            and self.records == self.tasks
            and self.records_written_twice == 0
            and self.dead_letters == 0
        )

    def rows(self) -> list[tuple[str, str]]:
        status = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())) or "-"
        return [
            ("tasks", str(self.tasks)),
            ("records by status", status),
            ("records written (one per task)", f"{self.records} ({self.records_written_twice} written twice)"),
            ("missing records", str(len(self.missing_records))),
            ("polls per task (mean / p95)", f"{self.polls_mean:.2f} / {self.polls_p95:.0f}"),
            ("detection lag s (mean / p95)", f"{self.lag_mean_s:.1f} / {self.lag_p95_s:.1f}"),
            ("schedules left over", str(self.leftover_schedules)),
            ("dead letters", str(self.dead_letters)),
            ("duplicate deliveries made", str(self.duplicates_delivered)),
            ("late duplicates made", str(self.late_duplicates)),
            ("scheduler retries (hand-off)", str(self.retries)),
            ("Lambda retries (function)", str(self.lambda_retries)),
            ("invocations", str(self.invocations)),
            ("virtual time", _duration(self.virtual_s)),
            ("wall time", f"{self.wall_s:.1f} s"),
        ]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}h{seconds % 3600 // 60:02d}m{seconds % 60:02d}s"


@dataclass
class Progress:
    submitted: int = 0
    polls: int = 0
    errors: int = 0
    segment_retries: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)  # origTaskId -> final status

    def settle(self, reply: Any) -> None:
        kind = classify(reply)
        if kind in ("complete", "failed", "cancelled"):
            self.outcomes.setdefault(str(reply.get("taskId")), kind)

    def _count(self, kind: str) -> int:
        return sum(1 for status in self.outcomes.values() if status == kind)

    @property
    def complete(self) -> int:
        return self._count("complete")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def cancelled(self) -> int:
        return self._count("cancelled")

    def settled(self) -> int:
        return len(self.outcomes)


def classify(reply: Any) -> str:
    """What a handler's reply says about its task."""
    if not isinstance(reply, dict):
        return "error"
    if reply.get("type") == "schedule_poll_task":
        return "scheduled"
    if "validationContracts" in reply:
        return "complete"
    return str(reply.get("status", "error"))


FULL_LOOK_S = 2.0  # real seconds between full listings of the schedule group while running


def run_workload(
    cloud: LocalCloud,
    tasks: list[tuple[int, dict[str, Any]]],
    on_tick: Callable[[Progress, LocalCloud], None] | None = None,
    on_segment: Callable[[dict[str, Any], Invocation, int], None] | None = None,
    on_delivery: Callable[[Delivery], None] | None = None,
    tick_real_s: float = 0.5,
    max_virtual_ms: int = 3 * 86_400_000,
    segment_retries: int | None = None,
    full_look_s: float | None = None,
) -> Report:
    """Run the tasks until nothing is left to happen, then report. A failed segment invocation is
    retried as Lambda retries an asynchronous one: `segment_retries` times (default: the
    SegmentFunction's EventInvokeConfig), a minute, then two minutes later, and so on. `full_look_s`: real
    seconds between full listings of the schedule group (default FULL_LOOK_S; see `drive`)."""
    started_real, started_virtual = time.monotonic(), cloud.clock.now_ms()
    progress = drive(
        cloud, tasks, on_tick, on_segment, on_delivery, tick_real_s, max_virtual_ms, segment_retries, full_look_s
    )
    wall_s = time.monotonic() - started_real
    virtual_s = (cloud.clock.now_ms() - started_virtual) / 1000
    with cloud.clock.real_time():  # reading the results back is not part of the run
        report = build_report(cloud, {chunk["taskId"] for _, chunk in tasks}, wall_s, virtual_s)
    report.extra["segment_retries"] = progress.segment_retries
    report.extra["failed_invocations"] = progress.errors
    return report


def drive(
    cloud: LocalCloud,
    tasks: list[tuple[int, dict[str, Any]]],
    on_tick: Callable[[Progress, LocalCloud], None] | None = None,
    on_segment: Callable[[dict[str, Any], Invocation, int], None] | None = None,
    on_delivery: Callable[[Delivery], None] | None = None,
    tick_real_s: float = 0.5,
    max_virtual_ms: int = 3 * 86_400_000,
    segment_retries: int | None = None,
    full_look_s: float | None = None,
) -> Progress:
    """The run itself: segments as they arrive, and whatever the scheduler emulator has due (polls,
    Lambda's retries, late duplicates), until nothing is left to happen. The emulator learns of the
    functions' schedules as they make them, and lists the whole group every `full_look_s` real seconds
    (default FULL_LOOK_S) and before stopping: a listing costs O(pending), seconds with ten thousand
    schedules, so a run with that many may list less often."""
    full_look_every = FULL_LOOK_S if full_look_s is None else full_look_s
    progress = Progress()
    started_virtual = cloud.clock.now_ms()
    retries = cloud.specs["SegmentFunction"].event_invoke.max_retries if segment_retries is None else segment_retries
    # (due ms, attempt, chunk)
    arrivals = sorted(((started_virtual + offset, 1, chunk) for offset, chunk in tasks), key=lambda a: a[0])

    def observe(delivery: Delivery) -> None:
        progress.polls += 1
        if not delivery.result.ok:
            progress.errors += 1
        else:
            progress.settle(delivery.result.value)
        if on_delivery is not None:
            on_delivery(delivery)

    previous = cloud.emulator.on_delivery
    cloud.emulator.on_delivery = observe
    last_tick = last_full_look = 0.0
    busy = True
    try:
        while True:
            # Compressed time passes only while the system is idle (the sleep below): the
            # emulation's own bookkeeping takes no time in AWS, so it runs at 1x here.
            with cloud.clock.real_time():
                # Only invocations create schedules here: after something ran, look up the ones
                # the functions created; now and then (and before stopping) list the whole group.
                full_look = time.monotonic() - last_full_look > full_look_every
                if busy or full_look:
                    cloud.emulator.refresh(full=full_look)
                    last_full_look = time.monotonic() if full_look else last_full_look
                busy = step(cloud, arrivals, progress, on_segment, retries)
                if on_tick and time.monotonic() - last_tick >= tick_real_s:
                    on_tick(progress, cloud)
                    last_tick = time.monotonic()
                if not busy and not arrivals and cloud.emulator.next_fire_ms() is None:
                    cloud.emulator.refresh(full=True)
                    last_full_look = time.monotonic()
                    if cloud.emulator.next_fire_ms() is None:
                        break  # nothing left to happen: every task settled or lost (the report tells which)
                if cloud.clock.now_ms() - started_virtual > max_virtual_ms:
                    break
                upcoming = [t for t in (cloud.emulator.next_fire_ms(), arrivals[0][0] if arrivals else None) if t]
            if isinstance(cloud.clock, ManualClock):
                if upcoming and not busy:
                    cloud.clock.advance_to(min(upcoming))
            elif not busy:
                wait_ms = min(upcoming) - cloud.clock.now_ms() if upcoming else 1000
                time.sleep(min(max(cloud.clock.real_seconds(wait_ms), 0.0), 0.02))
    finally:
        cloud.emulator.on_delivery = previous
    if on_tick:
        on_tick(progress, cloud)
    return progress


def step(
    cloud: LocalCloud,
    arrivals: list[tuple[int, int, dict[str, Any]]],
    progress: Progress,
    on_segment: Callable[[dict[str, Any], Invocation, int], None] | None = None,
    segment_retries: int = 2,
) -> bool:
    """Submit the segments that have arrived, fire the polls that are due; True if anything ran."""
    ran = 0
    now = cloud.clock.now_ms()
    while arrivals and arrivals[0][0] <= now:
        _, attempt, chunk = arrivals.pop(0)
        started = cloud.clock.now_ms()
        result = cloud.invoke("SegmentFunction", chunk)
        if on_segment is not None:
            on_segment(chunk, result, started)
        ran += 1
        progress.submitted += attempt == 1
        if result.ok:
            progress.settle(result.value)
        elif attempt <= segment_retries:
            progress.segment_retries += 1
            arrivals.append((now + 60_000 * attempt, attempt + 1, chunk))
            arrivals.sort(key=lambda a: a[0])
        else:
            progress.errors += 1
    return bool(ran + cloud.emulator.fire_due(refresh=False))


def build_report(cloud: LocalCloud, expected: set[str], wall_s: float, virtual_s: float) -> Report:
    records = cloud.records()
    statuses: dict[str, int] = {}
    polls, lags = [], []
    for record in records.values():
        statuses[record["status"]] = statuses.get(record["status"], 0) + 1
        polls.append(float(record["polls"]))
        job = cloud.simulator.jobs.get(record.get("workId") or "")
        if job is not None and record["status"] in ("complete", "failed"):
            lags.append(max(record["completedAtUTC"] - job.completes_at_ms, 0) / 1000)
    twice = sum(1 for count in cloud.record_versions().values() if count > 1)
    stats = cloud.emulator.stats
    return Report(
        tasks=len(expected),
        statuses=statuses,
        polls_mean=statistics.fmean(polls) if polls else 0.0,
        polls_p95=percentile(polls, 0.95),
        lag_mean_s=statistics.fmean(lags) if lags else 0.0,
        lag_p95_s=percentile(lags, 0.95),
        leftover_schedules=len(cloud.pending_schedules()),
        records=len(records),
        records_written_twice=twice,
        missing_records=sorted(expected - set(records)),
        dead_letters=cloud.dead_letter_count(),
        duplicates_delivered=stats.duplicates,
        invocations=sum(fn.invocations for fn in cloud.functions.values()),
        retries=stats.retries,
        wall_s=wall_s,
        virtual_s=virtual_s,
        extra={"vendor": dict(cloud.simulator.config.stats)},
        late_duplicates=stats.late_duplicates,
        lambda_retries=stats.lambda_retries,
    )
