"""The main job: N tasks through the real handlers on the local cloud, in compressed time.

    python -m devtools.demo                 # a handful of tasks, every step printed
    python -m devtools.demo --tasks 1000    # load: progress view and summary table
    python -m devtools.demo --mode platform # the platform schedules the polls and posts them to /process
    python -m devtools.demo --mode aiware   # aiWARE's toolkit -> engine/forwarder.py -> Function URL -> webhook

Exit status 0 when every task ended with exactly one record and no schedule was left over.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from devtools.aiware.platform import Delivery
from devtools.aiware.run import Wiring, run_aiware
from devtools.cloud.lambda_host import Invocation
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import ROOT, TEMPLATE
from devtools.cloud.scheduler_emulator import Delivery as ScheduledDelivery
from devtools.cloud.template_stack import load_template
from devtools.load.platform_emulator import Post, run_platform_workload
from devtools.load.workload import Progress, Report, classify, make_tasks, run_workload
from devtools.standins.vendor_simulator import SimConfig
from pollbridge.adapters.providers.registry import REGISTRY

# What each provider's demo sends (an s3:// chunk of the local media bucket for the AWS services).
DEMO_EVENTS = {
    "http": ROOT / "events" / "segment.json",
    "transcribe": ROOT / "events" / "segment-transcribe.json",
    "rekognition-text": ROOT / "events" / "segment-video.json",
}
LOCAL_MEDIA_BUCKET = "pollbridge-local-media"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5, help="how many tasks (default 5)")
    parser.add_argument("--speed", type=float, default=600.0, help="virtual seconds per real second (default 600)")
    parser.add_argument("--arrival-minutes", type=float, default=10.0, help="tasks arrive spread over this (virtual)")
    parser.add_argument("--failure-rate", type=float, default=0.1, help="share of vendor jobs that fail")
    parser.add_argument("--flaky-rate", type=float, default=0.05, help="share of vendor answers that are 429/503")
    parser.add_argument("--duplicate-rate", type=float, default=0.1, help="share of polls delivered twice")
    parser.add_argument("--late-duplicate-rate", type=float, default=0.0,
                        help="share of polls delivered again 1-20 minutes later (stale polls)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", choices=("eventbridge", "platform", "aiware"), default="eventbridge",
                        help="SCHEDULING_MODE: pollbridge schedules its polls (eventbridge), or the platform "
                             "does and posts each poll task back to the webhook (platform); aiware: an aiWARE "
                             "stand-in runs the tasks (every other one in 2 chunks) through the engine toolkit's "
                             "calls, engine/forwarder.py and the webhook behind a Function URL")  # fmt: skip
    parser.add_argument("--toolkit", choices=("v0.2", "v3"), default="v0.2",
                        help="aiware mode: the toolkit's form (v3 adds its webhooks, chunk as a path)")  # fmt: skip
    parser.add_argument("--engines", type=int, default=1,
                        help="aiware mode: engine instances (toolkits) working chunks at once")  # fmt: skip
    parser.add_argument("--provider", choices=sorted(REGISTRY), default="http",
                        help="the stack's Provider: http (the vendor simulator), transcribe or rekognition-text "
                        "(moto; the failure and flaky rates apply to the simulator only)")  # fmt: skip
    parser.add_argument("--moto", choices=("in-process", "process", "thread"), default="in-process",
                        help="where the local AWS (moto) runs: in-process answers boto3 without HTTP (default, "
                             "the fastest); process or thread serve it on loopback")  # fmt: skip
    parser.add_argument("--steps", action=argparse.BooleanOptionalAction, default=None,
                        help="print every step (default: on for up to 5 tasks)")  # fmt: skip
    parser.add_argument("--log-file", type=Path, default=ROOT / ".localcloud" / "demo.log",
                        help="where the handlers' JSON logs and EMF metrics go")  # fmt: skip
    args = parser.parse_args(argv)
    for name in ("failure_rate", "flaky_rate", "duplicate_rate", "late_duplicate_rate"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.tasks < 1 or args.speed <= 0 or args.engines < 1:
        parser.error("--tasks and --engines must be >= 1 and --speed > 0")
    return args


class Console:
    def __init__(self, out: TextIO, cloud_start_ms: int) -> None:
        self.out = out
        self.start_ms = cloud_start_ms
        self.live = out.isatty()

    def stamp(self, epoch_ms: int) -> str:
        offset = max(epoch_ms - self.start_ms, 0) // 1000
        return f"+{offset // 3600:02d}:{offset % 3600 // 60:02d}:{offset % 60:02d}"

    def line(self, text: str) -> None:
        print(("\r\033[K" if self.live else "") + text, file=self.out, flush=True)

    def step(self, cloud: LocalCloud, what: str, reply: Any, ok: bool, error: str | None, now: int) -> None:
        """One invocation: what it was, what the vendor said at that moment, what the handler did."""
        if not ok:
            self.line(f"{self.stamp(now)}  {what}: ERROR {error}")
            return
        kind = classify(reply)
        if kind == "scheduled":
            payload = reply["taskPayload"]
            job = cloud.simulator.jobs.get(payload["workId"])
            vendor = f" is {job.status(now)}" if job else f" ({cloud.provider})"
            self.line(
                f"{self.stamp(now)}  {what}: task {payload['origTaskId']} vendor job {payload['workId'][:40]}{vendor}"
                f" -> schedule_poll_task, poll {payload['pollNumber']} at {self.stamp(reply['nextPollTimeUTC'])}"
                f" (schedules pending: {len(cloud.pending_schedules(polls_only=True))})"
                + ("  [repeated delivery: already scheduled]" if reply.get("alreadyScheduled") else "")
            )
        elif kind == "complete":
            words = sum(len(item.get("words", [])[:1]) for item in reply["series"])
            texts = sum(1 for item in reply["series"] if "object" in item)
            found = f"{words} words" if words or not texts else f"{texts} lines of text"
            self.line(
                f"{self.stamp(now)}  {what}: task {reply['taskId']} complete"
                f" -> vtn-standard {'/'.join(reply['validationContracts'])} ({found}), record written"
            )
        else:
            self.line(
                f"{self.stamp(now)}  {what}: task {reply.get('taskId')} {kind}: {reply.get('failureMessage', '')}"
            )

    def progress(self, progress: Progress, cloud: LocalCloud, total: int) -> None:
        running = progress.submitted - progress.settled()
        text = (
            f"{self.stamp(cloud.clock.now_ms())}  queued {total - progress.submitted:>5}  running {running:>5}"
            f"  complete {progress.complete:>5}  failed {progress.failed:>4}  cancelled {progress.cancelled:>3}"
            f"  | polls {progress.polls:>6}  schedules pending {len(cloud.emulator.pending()):>5}"
            f"  dead letters {cloud.emulator.stats.dead_letters + cloud.emulator.stats.lambda_failures}"
        )
        if self.live:
            print("\r\033[K" + text, end="", file=self.out, flush=True)
        else:
            print(text, file=self.out, flush=True)


def print_summary(report: Report, out: TextIO, args: argparse.Namespace) -> None:
    print("", file=out)
    print(f"Summary  ({report.tasks} tasks, speed x{args.speed:g}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", file=out)
    width = max(len(name) for name, _ in report.rows())
    for name, value in report.rows():
        print(f"  {name.ljust(width)}  {value}", file=out)
    verdict = "OK: every task has exactly one record and no schedule is left" if report.healthy else "PROBLEM"
    print(f"  {verdict}", file=out)
    if report.missing_records:
        print(f"  tasks without a record: {', '.join(report.missing_records[:10])}", file=out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    steps = args.steps if args.steps is not None else args.tasks <= 5
    console_out = sys.stdout
    args.log_file.parent.mkdir(parents=True, exist_ok=True)
    sim = SimConfig(seed=args.seed, failure_rate=args.failure_rate, flaky_rate=args.flaky_rate)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with args.log_file.open("w") as log, contextlib.redirect_stdout(log):
        parameters = {"Provider": args.provider}
        if args.provider != "http":
            parameters["MediaBucketName"] = LOCAL_MEDIA_BUCKET
        if args.mode == "platform" or (args.mode == "aiware" and "SchedulingMode" in template_parameters()):
            parameters["SchedulingMode"] = "platform"  # aiWARE schedules the poll tasks
        cloud = LocalCloud(
            speed=args.speed,
            sim_config=sim,
            duplicate_rate=args.duplicate_rate,
            late_duplicate_rate=args.late_duplicate_rate,
            emulator_seed=args.seed,
            parameters=parameters,
            moto=args.moto,
        )
        with cloud:
            console = Console(console_out, cloud.clock.now_ms())
            console.line(
                f"local cloud up ({args.provider}): AWS (moto) {cloud.endpoint or 'in-process'}, "
                f"vendor simulator {cloud.simulator.url}, "
                f"schedule group {cloud.schedule_group}, x{args.speed:g} time; handler logs -> {args.log_file}"
            )
            tasks = make_tasks(
                args.tasks, template=DEMO_EVENTS[args.provider], arrival_window_ms=int(args.arrival_minutes * 60_000)
            )
            for _, chunk in tasks[:1]:  # the copies share the first task's media
                cloud.put_sample_media(chunk)

            def show_segment(chunk: dict[str, Any], result: Invocation, started_ms: int) -> None:
                what = f"segment {chunk['taskId']}"
                console.step(cloud, what, result.value, result.ok, result.error_message, started_ms)

            if args.mode == "aiware":
                return _run_aiware(args, cloud, console, tasks, steps)
            if args.mode == "platform":
                report, _ = run_platform_workload(
                    cloud,
                    tasks,
                    duplicate_rate=args.duplicate_rate,
                    on_post=(lambda p: _show_post(console, cloud, p)) if steps else None,
                    on_tick=None if steps else lambda p, c: console.progress(p, c, args.tasks),
                )
            else:
                report = run_workload(
                    cloud,
                    tasks,
                    on_tick=None if steps else lambda p, c: console.progress(p, c, args.tasks),
                    on_segment=show_segment if steps else None,
                    on_delivery=(lambda d: _show_delivery(console, cloud, d)) if steps else None,
                )
            if steps:
                for task_id, record in sorted(cloud.records().items())[:5]:
                    shown = {k: v for k, v in record.items() if k != "output"}
                    console.line(f"record results/{task_id}.json: {json.dumps(shown)}")
            print_summary(report, console_out, args)
    return 0 if report.healthy else 1


def template_parameters() -> set[str]:
    return set(load_template(TEMPLATE).get("Parameters") or {})


def _run_aiware(
    args: argparse.Namespace, cloud: LocalCloud, console: Console, tasks: list[tuple[int, dict[str, Any]]], steps: bool
) -> int:
    """MODE=aiware: each task as aiWARE records it, then the one-line summary; 0 when every task ended
    and the stack wrote exactly one record per chunk."""

    def wired(wiring: Wiring) -> None:
        console.line(
            f"aiWARE stand-in: toolkit {args.toolkit} -> engine {wiring.engine_url} (engine/forwarder.py, pid "
            f"{wiring.engine_pid}) -> Function URL {wiring.function_url} (WebhookFunction) -> vendor simulator; "
            f"GET /ready answered in {wiring.ready_s:.2f} s"
        )

    report = run_aiware(
        cloud,
        tasks,
        v3=args.toolkit == "v3",
        engines=args.engines,
        duplicate_rate=args.duplicate_rate,
        seed=args.seed,
        log_dir=args.log_file.parent,
        on_wired=wired,
        on_delivery=(lambda d: _show_delivery_aiware(console, cloud, d)) if steps else None,
    )
    shown = report.tasks if len(report.tasks) <= 20 else [t for t in report.tasks if t["status"] != "complete"][:10]
    for task in shown:
        console.line(_aiware_task_line(task))
    print("", file=console.out)
    print(f"Summary  {report.summary()}", file=console.out)
    verdict = "OK: every task ended and the stack wrote exactly one record per chunk" if report.healthy else "PROBLEM"
    print(f"  {verdict}", file=console.out)
    for problem in report.problems[:10]:
        print(f"  - {problem}", file=console.out)
    return 0 if report.healthy else 1


def _aiware_task_line(task: dict[str, Any]) -> str:
    """A task as aiWARE shows it: its status (and failure), and each chunk's outcome."""
    parts = []
    for chunk in task["chunks"]:
        output = chunk.get("output")
        what = chunk["status"]
        if isinstance(output, dict) and "validationContracts" in output:
            what += f" vtn-standard {'/'.join(output['validationContracts'])}"
        what += f", {chunk['polls']} poll task{'s' * (chunk['polls'] != 1)}, {chunk['calls']} calls"
        parts.append(f"chunk {chunk['chunkIndex']} {what}")
    failure = f" {task['failureReason']}: {str(task['failureMsg']).strip()!r}" if task.get("failureReason") else ""
    return f"aiWARE task {task['taskId']}: {task['status']}{failure} [{'; '.join(parts)}]"


def _show_delivery_aiware(console: Console, cloud: LocalCloud, delivery: Delivery) -> None:
    result, reply = delivery.result, delivery.reply
    of = f"chunk {delivery.chunk.index}/{len(delivery.task.chunks)} of task {delivery.task.task_id}"
    what = f"poll task {delivery.task_id} for {of}" if delivery.kind == "poll" else of
    tag = "duplicate delivery: " if delivery.duplicate else ""
    calls = f"{result.attempts} call{'s' * (result.attempts != 1)}: {'/'.join(map(str, result.statuses))}"
    if result.status == "failed":
        outcome = f"failed {result.failure_reason}: {str(result.failure_msg).strip()!r}"
    elif result.status == "ignored":
        outcome = "ignored"
    elif isinstance(reply, dict) and reply.get("type") == "schedule_poll_task":
        payload = reply.get("taskPayload") or {}
        job = cloud.simulator.jobs.get(str(payload.get("workId")))
        vendor = f" (vendor job {str(payload.get('workId'))[:40]} is {job.status(delivery.at_ms)})" if job else ""
        when = f" at {console.stamp(reply['nextPollTimeUTC'])}" if isinstance(reply.get("nextPollTimeUTC"), int) else ""
        outcome = f"schedule_poll_task{vendor} -> aiWARE runs a poll task{when}"
    elif isinstance(reply, dict) and "validationContracts" in reply:
        outcome = f"vtn-standard {'/'.join(reply['validationContracts'])}: the chunk is complete"
    else:
        outcome = f"output {str(reply)[:80]}"
    console.line(f"{console.stamp(delivery.at_ms)}  {tag}toolkit POST /process, {what} ({calls}) -> {outcome}")


def _show_post(console: Console, cloud: LocalCloud, post: Post) -> None:
    tag = "duplicate " if post.duplicate else ""
    what = f"platform {tag}POST /process ({post.kind} of {post.task_id}, try {post.attempt}) -> {post.status}"
    ok = post.status in (200, 204, 422)
    error = None if ok else str(post.body)
    console.step(cloud, what, post.body if post.status != 204 else {"status": "ignored"}, ok, error, post.at_ms)


def _show_delivery(console: Console, cloud: LocalCloud, delivery: ScheduledDelivery) -> None:
    tag = ("late " if delivery.late else "") + ("duplicate of " if delivery.duplicate else "")
    retry = f", Lambda retry {delivery.invoke_count - 1}" if delivery.invoke_count > 1 else ""
    what = f"{tag}schedule {delivery.schedule} (attempt {delivery.attempt}{retry})"
    result = delivery.result
    console.step(cloud, what, result.value, result.ok, result.error_message, delivery.fired_at_ms)


if __name__ == "__main__":
    sys.exit(main())
