"""Chaos on the local cloud: the workload with every fault at once, and the invariants checked.

    python -m devtools.chaos                      # 1,000 tasks (make chaos; CHAOS_TASKS=200 for fewer)
    python -m devtools.chaos --tasks 60 --seed 3  # the same seed gives the same run and the same report

Switched on together: duplicate and late deliveries (the scheduler emulator), Lambda refusing some
hand-offs (throttled), vendor jobs that fail and vendor answers that are flaky (the simulator), AWS
throttles on the scheduler API, and crashes injected around the adapters (after the vendor submit
returned, after a schedule was created, after the record was written, before any adapter call) and
before the reply (devtools.load.faults). Nothing in the production code changes: the harness wraps what
the handlers get from `pollbridge.wiring.container_ports()` and the handler invocation in the Lambda host.

And, from outside, what an operator and the platform do (issue 15): the payload-signing key rotated
with put-secret-value at random moments (some while tasks wait hours on a vendor ETA), malformed
/process forms posted to the webhook function amid the workload (each must be a quick 4xx that
leaves nothing behind), and a few results near the vendor API's 8 MiB bound.

When the system is idle, dead letters are redriven to the poll function as an operator would
(`ops redrive`), a few rounds. Exit status 1 when an invariant fails (see ChaosReport.violations).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import string
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from devtools.cloud.lambda_host import Around, Handler, Invocation
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN, ROOT
from devtools.cloud.scheduler_emulator import Delivery
from devtools.load.faults import FaultInjector, FaultPlan
from devtools.load.workload import drive, make_tasks
from devtools.ops import poll_event_of
from devtools.standins.function_url import process_event, process_form, response_body
from devtools.standins.vendor_simulator import SimConfig, VendorSimulator


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
    # the operator and the platform (issue 15)
    rotations: int = 4  # signing-key rotations (put-secret-value) at random moments, most during long waits
    long_wait_rate: float = 0.04  # tasks whose vendor job takes 2-9 h (polls follow the vendor's ETA)
    malformed_form_rate: float = 0.2  # per segment arrival: a malformed /process form posted to the webhook
    large_result_rate: float = 0.005  # tasks whose result is near the vendor API's 8 MiB bound
    # the callers
    segment_retries: int = 5  # the caller retries a failed segment (like Lambda async: 1, 2, 3... minutes apart)
    redrive_rounds: int = 3  # dead letters sent back to the poll function, as an operator would
    speed: float = 0.0  # 0: manual clock (fast and reproducible); >0: compressed real time

    def fault_plan(self) -> FaultPlan:
        return FaultPlan.chaos(self.crash_rate, self.stray_crash_rate, self.throttle_rate, seed=self.seed)

    def sim_config(self) -> SimConfig:
        return SimConfig(seed=self.seed, failure_rate=self.failure_rate, flaky_rate=self.flaky_rate)


# Long vendor waits: the job takes this long; the vendor's ETA lets polls wait hours between them.
LONG_WAIT_S = (2 * 3600.0, 9 * 3600.0)
# A large result: media this long gives the simulator's transcript ~7.4 MiB (~100,000 words), 92% of
# the HTTP provider's MAX_RESULT_BYTES (8 MiB; each job's words differ by ~1%).
LARGE_RESULT_MEDIA_MS = 62_000_000
SIGNING_KEY_CHARS = 64
MALFORMED_ANSWER_S = 1.0  # wall time a malformed form may take to be refused
MALFORMED_SHAPES = (
    "nested multipart",
    "boundary*=",
    "decoy boundary",
    "40 KB part header",
    "too many parts",
    "deeply nested payload JSON",
    "control characters in chunkMimeType",
)


def _part(name: str, body: bytes, boundary: bytes = b"b", headers: bytes = b"") -> bytes:
    disposition = f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
    return b"--" + boundary + b"\r\n" + disposition + headers + b"\r\n" + body + b"\r\n"


def malformed_form(shape: str, task_id: str, chunk: dict[str, Any]) -> tuple[bytes, str]:
    """(body, content type) of a /process form of one of MALFORMED_SHAPES, for a task `task_id` that
    must never start: the toolkit's form for `chunk`, broken in that one way."""
    payload = {"taskId": task_id, "jobId": chunk["jobId"], "recordingId": chunk["tdoId"], **chunk["taskPayload"]}
    fields = {"chunkMimeType": b"text/plain", "chunkIndex": b"0", "cacheURI": b"https://cache.invalid/chunk-0.txt"}
    plain = b"".join(_part(name, value) for name, value in fields.items())
    payload_part = _part("payload", json.dumps(payload).encode())
    content_type = "multipart/form-data; boundary=b"
    if shape == "nested multipart":
        inner = b'--c\r\nContent-Disposition: form-data; name="payload"\r\n\r\n' + json.dumps(payload).encode()
        nested = _part(
            "payload", (inner + b"\r\n") * 200 + b"--c--", headers=b"Content-Type: multipart/mixed; boundary=c\r\n"
        )
        return plain + nested + b"--b--\r\n", content_type
    if shape == "boundary*=":
        return plain + payload_part + b"--b--\r\n", "multipart/form-data; boundary*=''b"
    if shape == "decoy boundary":  # the parts use the decoy: taken for the boundary, it would start a task
        body, _ = process_form(
            payload, mime_type="text/plain", cache_uri="https://cache.invalid/c.txt", boundary="decoy"
        )
        return body, 'multipart/form-data; x="boundary=decoy"; boundary=b'
    if shape == "40 KB part header":
        header = b'Content-Disposition: form-data; name="payload"; x="' + b"a\\" * 20_000 + b'"\r\n'
        return plain + b"--b\r\n" + header + b"\r\n" + json.dumps(payload).encode() + b"\r\n--b--\r\n", content_type
    if shape == "too many parts":
        extra = b"".join(_part(f"x{i}", b"x") for i in range(65))
        return plain + payload_part + extra + b"--b--\r\n", content_type
    if shape == "deeply nested payload JSON":
        depth = 30_000
        identity = {k: payload[k] for k in ("taskId", "jobId", "recordingId")}
        deep = json.dumps(identity)[:-1].encode() + b', "language": ' + b"[" * depth + b"]" * depth + b"}"
        return plain + _part("payload", deep) + b"--b--\r\n", content_type
    if shape == "control characters in chunkMimeType":
        broken = plain.replace(b"text/plain", b"text/plain\x00\x1b[2J\x07", 1)
        return broken + payload_part + b"--b--\r\n", content_type
    raise ValueError(f"unknown malformed form shape {shape!r}")


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
    - rotations: signing-key rotations made (put-secret-value on PayloadSigningSecret);
      rotations_during_long_waits: those made while at least one long-wait task (long_waits of them,
      vendor jobs of 2-9 h) was accepted and had no record yet. signature_rejections: failed
      invocations and dead letters of a payload refused as forged (ForgedPayloadError), which only a
      rotation can cause here. Must be empty.
    - malformed_forms: malformed /process forms posted to the webhook, by shape; malformed_answers:
      their status codes; malformed_problems: each form answered other than 4xx, slower than
      MALFORMED_ANSWER_S of wall time, or that left something behind (a vendor job or upload, an AWS
      write while it ran, a record or a poll of its task afterwards). Must be empty.
    - large_results: tasks whose vendor result is near the 8 MiB bound, their records by status and the
      largest result; large_results_lost: those whose vendor job completed but whose record is not
      complete. Must be empty.
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
    # issue 15's faults (defaults: a report of a run without them)
    rotations: int = 0
    rotations_during_long_waits: int = 0
    long_waits: int = 0
    signature_rejections: dict[str, int] = field(default_factory=dict)
    malformed_forms: dict[str, int] = field(default_factory=dict)
    malformed_answers: dict[int, int] = field(default_factory=dict)
    malformed_problems: list[str] = field(default_factory=list)
    malformed_slowest_wall_s: float = 0.0
    large_results: dict[str, Any] = field(default_factory=dict)
    large_results_lost: list[str] = field(default_factory=list)
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
        if self.signature_rejections:
            found.append(f"{sum(self.signature_rejections.values())} payloads refused as forged after a rotation")
        if self.malformed_problems:
            found.append(f"{len(self.malformed_problems)} malformed forms not refused cleanly")
        if self.large_results_lost:
            found.append(f"{len(self.large_results_lost)} large results without a complete record")
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
            (
                "key rotations (in long waits)",
                f"{self.rotations} ({self.rotations_during_long_waits}; {self.long_waits} tasks waited 2-9 h)",
            ),
            ("refused as forged [0]", counts(self.signature_rejections) if self.signature_rejections else "0"),
            ("malformed forms posted", counts(self.malformed_forms)),
            (
                "malformed form answers [4xx]",
                counts(self.malformed_answers) + f"; slowest {self.malformed_slowest_wall_s * 1000:.0f} ms",
            ),
            ("malformed forms not refused cleanly [0]", some(self.malformed_problems)),
            ("large results (~8 MiB)", counts(self.large_results)),
            ("large results lost [0]", some(self.large_results_lost)),
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

    def __init__(
        self,
        simulator: VendorSimulator,
        before: Callable[[], None] | None = None,
        after_segment: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._simulator = simulator
        self._before = before  # before every invocation (a rotation that is due)
        self._after_segment = after_segment  # after every segment invocation (a malformed form)
        self.jobs_by_task: defaultdict[str, list[str]] = defaultdict(list)
        self.unattributed_jobs: list[str] = []
        self.accepted: set[str] = set()
        self.accepted_at: dict[str, int] = {}  # taskId -> virtual ms its segment was first accepted
        self.failed_segments: Counter[str] = Counter()  # error type -> segment invocations that failed
        self.segment_invocations = 0

    def wrap(self, inner: Around) -> Around:
        def around(handler: Handler, event: Any, context: Any) -> Any:
            if self._before is not None:
                self._before()
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
            self.accepted_at.setdefault(chunk["taskId"], started_ms)
        else:
            self.failed_segments[result.error_type or "?"] += 1
        if self._after_segment is not None:
            self._after_segment(chunk)


class Mischief:
    """What the operator and the platform do to the run from outside (issue 15): rotate the signing
    key when a rotation is due (checked before each invocation: the manual clock jumps from one to
    the next), and post malformed /process forms to the webhook function after segment arrivals,
    each checked on its own: a 4xx within MALFORMED_ANSWER_S of wall time, and no vendor job, no
    upload, no AWS write while it ran. Its own seeded generator: the injector's faults stay as they were."""

    def __init__(self, cloud: LocalCloud, config: ChaosConfig, injector: FaultInjector, started_ms: int) -> None:
        self._cloud = cloud
        self._config = config
        self._injector = injector
        self._random = random.Random(f"chaos-{config.seed}")
        # Rotations: one at a random moment in each of `rotations` equal slices of the first
        # LONG_WAIT_S[0] (every long wait spans it from its arrival), else of the arrival window.
        horizon = LONG_WAIT_S[0] * 1000 if config.long_wait_rate > 0 else config.arrival_minutes * 60_000
        slice_ms = horizon / max(config.rotations, 1)
        self.due = [started_ms + int(slice_ms * (i + self._random.random())) for i in range(config.rotations)]
        self.rotations: list[int] = []  # virtual ms of each rotation made
        self.forms: Counter[str] = Counter()  # shape -> posted
        self.answers: Counter[int] = Counter()  # status code -> forms
        self.form_problems: list[str] = []
        self.malformed_ids: set[str] = set()
        self.slowest_form_s = 0.0
        self._writes: list[str] = []
        self._posting = False

    # --- the tasks: long waits and large results -------------------------------------------------

    def shape_tasks(self, tasks: list[tuple[int, dict[str, Any]]]) -> tuple[list[str], list[str]]:
        """Make a share of the tasks wait hours on their vendor job and another share return a result
        near the bound (at least one of each when its rate is above 0). (long-wait ids, large-result ids)"""
        candidates = list(range(1, len(tasks)))  # the first is events/segment.json as is
        self._random.shuffle(candidates)

        def take(rate: float) -> list[int]:
            count = min(max(1, round(rate * len(tasks))) if rate > 0 else 0, len(candidates))
            return [candidates.pop() for _ in range(count)]

        long_waits, large = take(self._config.long_wait_rate), take(self._config.large_result_rate)
        for index in long_waits:
            simulate = {"durationSeconds": round(self._random.uniform(*LONG_WAIT_S)), "queueSeconds": 0}
            tasks[index][1]["taskPayload"]["simulate"] = simulate
        for index in large:
            # it completes (a vendor failure would only show that a failed task has no large result)
            large_one = {"mediaDurationMs": LARGE_RESULT_MEDIA_MS, "outcome": "completed"}
            tasks[index][1]["taskPayload"]["simulate"] = large_one
        return [tasks[i][1]["taskId"] for i in long_waits], [tasks[i][1]["taskId"] for i in large]

    # --- rotations --------------------------------------------------------------------------------

    def rotate_due(self) -> None:
        """The documented rotation: put-secret-value without --version-stages (AWSCURRENT moves on)."""
        now = self._cloud.clock.now_ms()
        while self.due and self.due[0] <= now:
            self.due.pop(0)
            key = "".join(self._random.choices(string.ascii_letters + string.digits, k=SIGNING_KEY_CHARS))
            secrets = self._cloud.clients["secretsmanager"]
            secrets.put_secret_value(SecretId=self._cloud.payload_signing_secret, SecretString=key)
            self.rotations.append(now)

    # --- malformed forms ----------------------------------------------------------------------------

    def watch_writes(self) -> contextlib.AbstractContextManager[None]:
        """Note every AWS call that changes something (Create*, Put*, Send*...) made while a form is posted."""
        from pollbridge.adapters.aws import session as aws_session

        events = aws_session().get_component("event_emitter")
        unique_id = f"chaos-mischief-{id(self)}"

        def noted(model: Any, **_: Any) -> None:
            if self._posting and not model.name.startswith(("Get", "List", "Describe", "Head")):
                self._writes.append(f"{model.service_model.service_name}.{model.name}")

        @contextlib.contextmanager
        def watching() -> Any:
            events.register("before-call", noted, unique_id=unique_id)
            try:
                yield
            finally:
                events.unregister("before-call", unique_id=unique_id)

        return watching()

    def after_segment(self, chunk: dict[str, Any]) -> None:
        if self._config.malformed_form_rate <= 0 or self._random.random() >= self._config.malformed_form_rate:
            return
        number = sum(self.forms.values())
        shape = MALFORMED_SHAPES[number % len(MALFORMED_SHAPES)]
        task_id = f"chaos-malformed-{number:04d}"
        self.malformed_ids.add(task_id)
        body, content_type = malformed_form(shape, task_id, chunk)
        event = process_event(body, content_type, LOCAL_WEBHOOK_TOKEN)
        simulator = self._cloud.simulator
        jobs, uploads, self._writes = len(simulator.jobs), len(simulator.uploads), []
        self._posting = True
        started = time.perf_counter()
        try:
            with self._injector.paused():  # the answer is what is checked: no fault of the harness's
                result = self._cloud.invoke("WebhookFunction", event)
        finally:
            elapsed, self._posting = time.perf_counter() - started, False
        self.forms[shape] += 1
        self.slowest_form_s = max(self.slowest_form_s, elapsed)
        status = int(result.value["statusCode"]) if result.ok and isinstance(result.value, dict) else 0
        self.answers[status] += 1
        found = []
        if not 400 <= status < 500:
            found.append(
                f"answered {status or result.error_type}: {str(response_body(result.value))[:80] if result.ok else ''}"
            )
        if elapsed > MALFORMED_ANSWER_S:
            found.append(f"took {elapsed:.2f} s")
        if len(simulator.jobs) != jobs or len(simulator.uploads) != uploads:
            found.append(f"{len(simulator.jobs) - jobs} vendor jobs, {len(simulator.uploads) - uploads} uploads")
        if self._writes:
            found.append(f"AWS writes {sorted(set(self._writes))}")
        self.form_problems += [f"{task_id} ({shape}): {problem}" for problem in found]


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
        started_virtual = cloud.clock.now_ms()
        mischief = Mischief(cloud, config, injector, started_virtual)
        observer = Observer(cloud.simulator, before=mischief.rotate_due, after_segment=mischief.after_segment)
        for function in cloud.functions.values():
            function.around = observer.wrap(injector.around)
        tasks = make_tasks(config.tasks, arrival_window_ms=int(config.arrival_minutes * 60_000))
        long_waits, large = mischief.shape_tasks(tasks)
        stack.enter_context(mischief.watch_writes())
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
            _report_mischief(report, cloud, observer, mischief, long_waits, large)
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


def _report_mischief(
    report: ChaosReport,
    cloud: LocalCloud,
    observer: Observer,
    mischief: Mischief,
    long_waits: list[str],
    large: list[str],
) -> None:
    """The report's part about rotations, malformed forms and large results (the records read again:
    cheap next to the run)."""
    records = cloud.records()

    def waiting(task: str, moment: int) -> bool:
        accepted = observer.accepted_at.get(task)
        done = records.get(task, {}).get("completedAtUTC")
        return accepted is not None and accepted <= moment and (done is None or done > moment)

    report.rotations = len(mischief.rotations)
    report.rotations_during_long_waits = sum(any(waiting(t, m) for t in long_waits) for m in mischief.rotations)
    report.long_waits = len(long_waits)
    forged = {**report.failed_invocations, **{f"dead letter {k}": v for k, v in report.dead_letters.items()}}
    report.signature_rejections = {kind: n for kind, n in forged.items() if "ForgedPayload" in kind}
    report.malformed_forms = dict(mischief.forms)
    report.malformed_answers = dict(sorted(mischief.answers.items()))
    report.malformed_slowest_wall_s = mischief.slowest_form_s
    afterwards = [f"{t}: a record" for t in sorted(mischief.malformed_ids & set(records))]
    polled = {task_of(d.event) for d in cloud.emulator.deliveries}
    afterwards += [f"{t}: a poll" for t in sorted(mischief.malformed_ids & polled)]
    afterwards += [f"{t}: vendor jobs" for t in sorted(mischief.malformed_ids & set(observer.jobs_by_task))]
    report.malformed_problems = mischief.form_problems + afterwards
    statuses: Counter[str] = Counter(records.get(t, {}).get("status", "none") for t in large)
    largest, lost = 0, []
    for task in large:
        job = next((cloud.simulator.jobs.get(j) for j in observer.jobs_by_task.get(task, [])), None)
        if job is None or job.outcome != "completed":
            continue
        largest = max(largest, len(json.dumps(cloud.simulator.result_body(job)).encode()))
        if records.get(task, {}).get("status") != "complete":
            lost.append(task)
    report.large_results = {"tasks": len(large), **statuses, "largest MiB": round(largest / 2**20, 2)}
    report.large_results_lost = lost


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
        ("long_wait_rate", "tasks whose vendor job takes 2-9 h (at least one if > 0)"),
        ("malformed_form_rate", "segment arrivals followed by a malformed /process form to the webhook"),
        ("large_result_rate", "tasks whose result is near the 8 MiB bound (at least one if > 0)"),
    )
    for name, text in rates:
        default = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=default, help=f"{text} ({default})")
    parser.add_argument(
        "--rotations", type=int, default=defaults.rotations,
        help=f"signing-key rotations at random moments, most during long waits ({defaults.rotations})",
    )  # fmt: skip
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
    if args.tasks < 1 or min(args.segment_retries, args.redrive_rounds, args.rotations, args.speed) < 0:
        parser.error("--tasks must be >= 1; --segment-retries, --redrive-rounds, --rotations and --speed >= 0")
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
