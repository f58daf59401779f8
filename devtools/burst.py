"""A burst past the vendor's quota: thousands of tasks at once against a vendor that admits few jobs.

    python -m devtools.burst                          # 5,000 tasks within a minute, 50 jobs at once, 10 submits/s
    python -m devtools.burst --tasks 200 --limit 5    # a small one

Every task goes through the real handlers on the local cloud (devtools.load.workload's driver, moto
in-process), against the vendor simulator with a concurrent-job limit and a submit rate (429 with
Retry-After past either): a refused submit is deferred by pollbridge to poll 1, whose retries submit
again until the vendor takes the job, the media read again from the task's cacheURI (a media server
on loopback, as aiWARE's media cache, or with --media s3 the local media bucket). The media mix: clips
of 1 to 3 minutes the vendor processes at half real time (30-90 s of vendor work each), so the ideal
drain (all the work / the limit) is about 100 minutes at the defaults. No vendor job fails and no
answer is flaky, so every failure is pollbridge's.

Time is virtual and moves from one event to the next (a manual clock): the run takes as long as the
invocations take. One worker runs the invocations one after another, where AWS runs them side by side,
so a wait inside an invocation (the http provider's in-place retry of a blip) does not move the shared
clock: in AWS it delays that invocation only, here it would delay every other one too.

The summary is one figure per line, the figure last. Exit status 1 when an invariant fails: a task
without exactly one record, a failure of pollbridge's making, more vendor jobs at once than the
limit, or a dead letter.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import copy
import json
import random
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from devtools.cloud.clocks import ManualClock
from devtools.cloud.local_aws import MotoMode
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import ROOT
from devtools.cloud.scheduler_emulator import Delivery
from devtools.cloud.stack_view import sample_wav
from devtools.load.workload import Progress, Report, percentile, run_workload
from devtools.standins.vendor_simulator import SimConfig

MEDIA_BUCKET = "pollbridge-local-media"
MEDIA_KEY = "chunks/burst.wav"
MEDIA_PATH = "/media/burst.wav"
SEGMENT_EVENT = ROOT / "events" / "segment.json"
# The media mix: clips of 1 to 3 minutes of audio, which the vendor processes at half real time
# (30 to 90 s of vendor work each, 60 s on average).
MEDIA_S = (60.0, 180.0)
REAL_TIME_FACTOR = 0.5
MINUTE_MS = 60_000
# Real seconds between full listings of the schedule group (workload.drive): the emulator is told of
# every schedule the functions make, and a listing of ten thousand takes seconds here.
FULL_LOOK_S = 300.0


class BurstClock(ManualClock):
    """The manual clock, but a wait inside an invocation passes no shared time (see the module's doc)."""

    def sleep(self, seconds: float) -> None:
        self.slept_s = getattr(self, "slept_s", 0.0) + max(seconds, 0.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.burst", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000, help="how many tasks (default 5000)")
    parser.add_argument("--limit", type=int, default=50, help="the vendor's concurrent-job limit (default 50)")
    parser.add_argument("--rate", type=float, default=10.0, help="the vendor's submits per second (default 10)")
    parser.add_argument("--arrival-seconds", type=float, default=60.0,
                        help="the tasks arrive evenly within this (virtual; default 60)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="the media mix's and the simulator's seed")
    parser.add_argument("--overtaken-after-s", type=float, default=30.0,
                        help="fairness: count the tasks started after a task that arrived this much later")  # fmt: skip
    parser.add_argument("--media", choices=("http", "s3"), default="http",
                        help="where the tasks' cacheURI points: a media server on loopback (http, as aiWARE's "
                             "media cache; default) or the local media bucket (s3)")  # fmt: skip
    parser.add_argument("--moto", choices=("in-process", "process", "thread"), default="in-process",
                        help="where the local AWS (moto) runs (default in-process, the fastest)")  # fmt: skip
    parser.add_argument("--log-file", type=Path, default=ROOT / ".localcloud" / "burst.log",
                        help="where the handlers' JSON logs and EMF metrics go")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress lines (on stderr)")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.limit < 1 or args.rate <= 0 or args.arrival_seconds < 0:
        parser.error("--tasks and --limit must be at least 1, --rate positive, --arrival-seconds not negative")
    return args


class MediaServer:
    """The media cache on loopback: GET of any path answers the one clip every task points at (an
    aiWARE cacheURI is an https URL of its media cache); `requests` counts the reads."""

    def __init__(self, body: bytes, media_type: str = "audio/wav") -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # see devtools/standins/vendor_simulator.py

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
                pass

            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="media-cache", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def make_burst_tasks(
    count: int, seed: int, arrival_ms: int, cache_uri: str = f"s3://{MEDIA_BUCKET}/{MEDIA_KEY}"
) -> list[tuple[int, dict[str, Any]]]:
    """(arrival offset ms, media_chunk): copies of events/segment.json whose media is at `cache_uri`
    (a deferred submit reads it again), each with its clip's length and the vendor's processing time
    for it (`simulate`, the simulator's per-job override)."""
    base = json.loads(SEGMENT_EVENT.read_text())
    base.pop("content", None)
    rnd = random.Random(seed)
    tasks = []
    for index in range(count):
        media_ms = int(rnd.uniform(*MEDIA_S) * 1000)
        chunk = copy.deepcopy(base)
        chunk.update(
            taskId=f"burst-{index:05d}",
            jobId=f"burst-job-{index // 100:03d}",
            chunkIndex=0,
            chunkUUID=f"00000000-0000-4000-8000-{index:012d}",
            mimeType="audio/wav",
            cacheURI=cache_uri,
            startOffsetMs=0,
            endOffsetMs=media_ms,
            taskPayload={
                "language": "en-US",
                "simulate": {
                    "durationSeconds": round(media_ms * REAL_TIME_FACTOR / 1000, 3),
                    "queueSeconds": 0,
                    "mediaDurationMs": media_ms,
                    "outcome": "completed",
                },
            },
        )
        tasks.append((arrival_ms * index // count, chunk))
    return tasks


# Deferred-submit retries by how long their task had waited (minutes): where the tries are spent.
AGE_BUCKETS = {"0-10": 10.0, "10-30": 30.0, "30-60": 60.0, "60+": float("inf")}


@dataclass
class Invocations:
    """What ran, by kind (the poll function's deliveries are told apart by their payload)."""

    segments: int = 0
    segments_deferred: int = 0  # the vendor refused the segment's submit: poll 1 submits again
    status_polls: int = 0  # polls of a vendor job
    submit_retries: int = 0  # polls that submitted again (awaitingSubmit)
    submit_retries_admitted: int = 0
    failed: int = 0  # invocations that raised (Lambda retries them)
    stale: int = 0
    retry_ages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGE_BUCKETS, 0))

    def delivery(self, delivery: Delivery) -> None:
        event: dict[str, Any] = delivery.event if isinstance(delivery.event, dict) else {}
        inner = event.get("taskPayload")
        payload: dict[str, Any] = inner if isinstance(inner, dict) else event
        reply = delivery.result.value if delivery.result.ok and isinstance(delivery.result.value, dict) else {}
        if not delivery.result.ok:
            self.failed += 1
        if reply.get("status") == "stale":
            self.stale += 1
        if not payload.get("awaitingSubmit"):
            self.status_polls += 1
            return
        self.submit_retries += 1
        age_min = (delivery.fired_at_ms - int(payload.get("origCallTimeUTC") or delivery.fired_at_ms)) / MINUTE_MS
        self.retry_ages[next(name for name, below in AGE_BUCKETS.items() if age_min < below)] += 1
        next_payload = reply.get("taskPayload")
        if delivery.result.ok and reply.get("status") != "stale" and not (next_payload or {}).get("awaitingSubmit"):
            self.submit_retries_admitted += 1

    def segment(self, reply: Any, ok: bool) -> None:
        self.segments += 1
        if not ok:
            self.failed += 1
        elif isinstance(reply, dict) and (reply.get("taskPayload") or {}).get("awaitingSubmit"):
            self.segments_deferred += 1


@dataclass
class BurstResult:
    args: argparse.Namespace
    report: Report
    invocations: Invocations
    arrivals: dict[str, int]  # taskId -> arrival (virtual ms)
    starts: dict[str, int]  # taskId -> when the vendor created its job
    work_ms: int  # the vendor work of every task, summed
    first_arrival_ms: int
    last_record_ms: int
    failed_by_pollbridge: list[str]
    peak_vendor_jobs: int
    vendor: dict[str, int]
    measured_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def drain_min(self) -> float:
        return (self.last_record_ms - self.first_arrival_ms) / MINUTE_MS

    @property
    def ideal_min(self) -> float:
        return self.work_ms / self.args.limit / MINUTE_MS

    def waits_min(self) -> list[float]:
        return [(self.starts[task] - self.arrivals[task]) / MINUTE_MS for task in self.starts if task in self.arrivals]

    def overtaken(self, after_ms: int) -> int:
        """Tasks the vendor started after a task that arrived at least `after_ms` later had started."""
        ordered = sorted((self.arrivals[t], self.starts[t]) for t in self.starts if t in self.arrivals)
        arrivals = [arrival for arrival, _ in ordered]
        earliest_start_from = [0] * (len(ordered) + 1)  # the earliest start among ordered[i:]
        earliest_start_from[-1] = 2**62
        for i in range(len(ordered) - 1, -1, -1):
            earliest_start_from[i] = min(ordered[i][1], earliest_start_from[i + 1])
        count = 0
        for arrival, start in ordered:
            later = bisect.bisect_left(arrivals, arrival + after_ms)
            count += earliest_start_from[later] < start
        return count

    def out_of_order_share(self) -> float:
        """The share of task pairs the vendor started in the other order than they arrived (0: first
        come first served; about 0.5: no order at all)."""
        ordered = [start for _, start in sorted((self.arrivals[t], self.starts[t]) for t in self.starts)]
        pairs = len(ordered) * (len(ordered) - 1) // 2
        return _inversions(ordered) / pairs if pairs else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.report.records != self.report.tasks or self.report.missing_records:
            found.append(f"{self.report.records} records for {self.report.tasks} tasks")
        if self.report.records_written_twice:
            found.append(f"{self.report.records_written_twice} records written twice")
        if self.failed_by_pollbridge:
            found.append(f"{len(self.failed_by_pollbridge)} failed by pollbridge: {self.failed_by_pollbridge[:5]}")
        if self.peak_vendor_jobs > self.args.limit:
            found.append(f"{self.peak_vendor_jobs} vendor jobs at once, over the limit of {self.args.limit}")
        if self.report.dead_letters:
            found.append(f"{self.report.dead_letters} dead letters")
        return found

    def lines(self) -> list[tuple[str, str]]:
        waits = self.waits_min()
        inv = self.invocations
        vendor = self.vendor
        return [
            ("tasks", str(self.report.tasks)),
            ("records", str(self.report.records)),
            ("failed by pollbridge", str(len(self.failed_by_pollbridge))),
            ("peak vendor jobs", str(self.peak_vendor_jobs)),
            ("dead letters", str(self.report.dead_letters)),
            ("drain time (virtual minutes)", f"{self.drain_min:.1f}"),
            ("ideal drain (total work / limit, minutes)", f"{self.ideal_min:.1f}"),
            ("drain vs ideal", f"{self.drain_min / self.ideal_min:.2f}" if self.ideal_min else "-"),
            ("vendor job limit", str(self.args.limit)),
            ("vendor submit rate (per second)", f"{self.args.rate:g}"),
            ("records complete", str(self.report.statuses.get("complete", 0))),
            ("records written twice", str(self.report.records_written_twice)),
            ("schedules left over", str(self.report.leftover_schedules)),
            ("wait for the vendor p50 (virtual minutes)", f"{percentile(waits, 0.5):.1f}"),
            ("wait for the vendor p95 (virtual minutes)", f"{percentile(waits, 0.95):.1f}"),
            ("wait for the vendor max (virtual minutes)", f"{max(waits, default=0.0):.1f}"),
            (
                f"started after a task arriving {self.args.overtaken_after_s:g}+ s later",
                str(self.overtaken(int(self.args.overtaken_after_s * 1000))),
            ),
            ("task pairs started out of arrival order (%)", f"{100 * self.out_of_order_share():.1f}"),
            ("segments deferred (vendor refused the first submit)", str(inv.segments_deferred)),
            ("vendor refusals (concurrent-job limit)", str(vendor.get("refused_concurrency", 0))),
            ("vendor refusals (submit rate)", str(vendor.get("refused_rate", 0))),
            ("vendor job requests (POST /v1/jobs)", str(vendor.get("job_requests", 0))),
            ("vendor upload requests (POST /v1/uploads)", str(vendor.get("upload_requests", 0))),
            ("invocations: segments", str(inv.segments)),
            ("invocations: status polls", str(inv.status_polls)),
            ("invocations: deferred-submit retries", str(inv.submit_retries)),
            ("deferred-submit retries that started the job", str(inv.submit_retries_admitted)),
            *((f"deferred-submit retries of tasks waiting {ages} min", str(n)) for ages, n in inv.retry_ages.items()),
            ("invocations: stale deliveries", str(inv.stale)),
            ("invocations: failed (retried by Lambda)", str(inv.failed)),
            ("invocations", str(self.report.invocations)),
            ("deferred-submit retries per deferred task", f"{inv.submit_retries / max(inv.segments_deferred, 1):.1f}"),
            ("polls per task (mean)", f"{self.report.polls_mean:.2f}"),
            ("detection lag p95 (s)", f"{self.report.lag_p95_s:.1f}"),
            ("wall time (s)", f"{self.report.wall_s:.1f}"),
        ]


def _inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j] (merge sort, O(n log n))."""
    if len(values) < 2:
        return 0
    middle = len(values) // 2
    left, right = values[:middle], values[middle:]
    count = _inversions(left) + _inversions(right)
    left.sort()
    right.sort()
    j = 0
    for value in left:
        while j < len(right) and right[j] < value:
            j += 1
        count += j
    return count


def run_burst(args: argparse.Namespace, progress_out: TextIO | None = None) -> BurstResult:
    sim = SimConfig(
        seed=args.seed,
        queue_s=(0.0, 0.0),
        failure_rate=0.0,
        flaky_rate=0.0,
        max_concurrent_jobs=args.limit,
        submit_rate=args.rate,
    )
    moto: MotoMode = args.moto
    cloud = LocalCloud(
        manual_clock=True,
        sim_config=sim,
        emulator_seed=args.seed,
        parameters={"MediaBucketName": MEDIA_BUCKET},
        moto=moto,
    )
    cloud.clock = BurstClock()
    media = sample_wav(0.1)  # every task's media: a tenth of a second (the vendor is told how long the clip is)
    invocations = Invocations()
    with cloud, MediaServer(media) as media_server:
        if args.media == "s3":
            cloud.clients["s3"].put_object(Bucket=MEDIA_BUCKET, Key=MEDIA_KEY, Body=media, ContentType="audio/wav")
        uri = f"s3://{MEDIA_BUCKET}/{MEDIA_KEY}" if args.media == "s3" else media_server.url + MEDIA_PATH
        tasks = make_burst_tasks(args.tasks, args.seed, int(args.arrival_seconds * 1000), uri)
        started = cloud.clock.now_ms()
        shown = [time.monotonic()]

        def tick(progress: Progress, cloud: LocalCloud) -> None:
            if progress_out is None or (time.monotonic() - shown[0] < 5 and progress.settled() < args.tasks):
                return
            shown[0] = time.monotonic()
            minutes = (cloud.clock.now_ms() - started) / MINUTE_MS
            print(
                f"+{minutes:6.1f} min  settled {progress.settled():>5}/{args.tasks}  vendor jobs active "
                f"{cloud.simulator.active_jobs():>3}  invocations {invocations.segments + progress.polls:>6} "
                f"(deferred-submit retries {invocations.submit_retries})",
                file=progress_out,
                flush=True,
            )

        cloud.emulator.keep_deliveries = False  # each is counted as it comes (invocations.delivery)
        report = run_workload(
            cloud,
            tasks,
            on_tick=tick,
            on_segment=lambda chunk, result, at: invocations.segment(result.value, result.ok),
            on_delivery=invocations.delivery,
            tick_real_s=1.0,
            full_look_s=FULL_LOOK_S,
        )
        with cloud.clock.real_time():
            records = cloud.records()
        arrivals = {chunk["taskId"]: started + offset for offset, chunk in tasks}
        starts, failed_by_us = {}, []
        for task_id, record in records.items():
            job = cloud.simulator.jobs.get(record.get("workId") or "")
            if job is not None:
                starts[task_id] = job.created_ms
            vendor_failed = job is not None and job.status(record["completedAtUTC"]) == "failed"
            if record["status"] != "complete" and not vendor_failed:
                failed_by_us.append(task_id)
        work_ms = sum(int(chunk["taskPayload"]["simulate"]["durationSeconds"] * 1000) for _, chunk in tasks)
        return BurstResult(
            args=args,
            report=report,
            invocations=invocations,
            arrivals=arrivals,
            starts=starts,
            work_ms=work_ms,
            first_arrival_ms=started,
            last_record_ms=max((r["completedAtUTC"] for r in records.values()), default=started),
            failed_by_pollbridge=sorted(failed_by_us),
            peak_vendor_jobs=cloud.simulator.peak_active_jobs,
            vendor=dict(cloud.simulator.config.stats),
        )


def print_summary(result: BurstResult, out: TextIO) -> None:
    args = result.args
    print(
        f"burst: {args.tasks} tasks within {args.arrival_seconds:g} s against a vendor of {args.limit} concurrent jobs"
        f" and {args.rate:g} submits/s, seed {args.seed}, {result.measured_at:%Y-%m-%d %H:%M} UTC",
        file=out,
    )
    lines = result.lines()
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"{name.ljust(width)}  {value}", file=out)


def _log_to(stream: TextIO) -> None:
    """Point pollbridge's shared Logger (whose stream the local cloud sets to stdout of the moment,
    here the log file) at `stream`, so that a later run in this process does not write to a closed file."""
    from pollbridge import observability

    handler = getattr(observability.logger, "registered_handler", None)
    if handler is not None and hasattr(handler, "setStream"):
        handler.setStream(stream)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = sys.stdout
    args.log_file.parent.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with args.log_file.open("w") as log, contextlib.redirect_stdout(log):
        try:
            result = run_burst(args, None if args.quiet else sys.stderr)
        finally:
            _log_to(console)  # the handlers' logger keeps its stream: not this file once it is closed
    print_summary(result, console)
    problems = result.problems()
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
