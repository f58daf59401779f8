"""Cold start and warm invocations: pollbridge's handlers against hand-written boto3 handlers.

Every cold run is a fresh interpreter laid out as Lambda lays it out: the function's folder and the
layer on the import path, the working directory in the function's folder, the template's
environment (pointed at a local cloud: moto and the vendor simulator on loopback). Each run imports
the handler (or only `import boto3`, the yardstick) and makes the first invocation; a poll polls a
freshly started task whose job is still running (Secrets Manager for the signing key, ListSchedules,
the vendor's status, CreateSchedule, DeleteSchedule), a segment starts a new task (ListSchedules, the
record's GetObject, upload, job, Secrets Manager, CreateSchedule). The local vendor speaks plain
http; the segment also runs against the same vendor over https, as real vendors are reached (a
throwaway CA the child trusts through SSL_CERT_FILE, bundled with the machine's CA store so that
loading the store costs what it costs in production). The variants run interleaved, round after
round, in a shuffled order; the figures are medians, and ratios are ratios of medians. Every
handler's code is compiled beforehand, as deployed code is (layers/common/Makefile), not at each
cold start.

Warm invocations run in this process, interleaved too: thread CPU time per poll (the local cloud's
servers run on other threads and are not counted).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import ROOT
from devtools.load.workload import SEGMENT_EVENT
from devtools.standins.tls import loopback_tls, with_system_store
from devtools.standins.vendor_simulator import VendorSimulator

BASELINE = Path(__file__).resolve().parent / "baseline"
LAYER = ROOT / "layers" / "common"

# The child: import, then the first invocation; prints the two durations (s). Interpreter start-up
# itself is the same for every variant and not counted.
CHILD = """
import json, sys, time
started = time.perf_counter()
mode, module = sys.argv[1], sys.argv[2]
if mode == "boto3":
    import boto3
    print(json.dumps({"import": time.perf_counter() - started}))
    raise SystemExit
handler = __import__(module).handler
imported = time.perf_counter()
class Context:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"; aws_request_id = "bench"
    log_group_name = "/aws/lambda/bench"; log_stream_name = "bench"
    def get_remaining_time_in_millis(self): return 60000
event = json.loads(sys.stdin.read())
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    reply = handler(event, Context())
done = time.perf_counter()
assert reply.get("type") == "schedule_poll_task" or reply.get("statusCode") == 200, reply
print(json.dumps({"import": imported - started, "first": done - imported}))
"""

# Lambda with tracing on (Tracing: Active): Powertools sees LAMBDA_TASK_ROOT, the X-Ray SDK the
# trace header; segments go by UDP to a daemon address where nothing listens.
TRACING_ON = {
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
}


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # "boto3" | "poll" | "segment" | "webhook" (its first invocation: GET /ready)
    folder: Path
    module: str
    tracing: bool = False
    https: bool = False  # the vendor over TLS


VARIANTS = [
    Variant("import boto3", "boto3", ROOT / "functions" / "poll", "-"),
    Variant("poll: pollbridge", "poll", ROOT / "functions" / "poll", "app"),
    Variant("poll: hand-written boto3", "poll", BASELINE, "poll_handler"),
    Variant("segment: pollbridge", "segment", ROOT / "functions" / "segment", "app"),
    Variant("segment: hand-written boto3", "segment", BASELINE, "segment_handler"),
    Variant("poll: pollbridge, X-Ray on", "poll", ROOT / "functions" / "poll", "app", tracing=True),
    Variant("poll: hand-written boto3, X-Ray SDK on", "poll", BASELINE, "poll_handler", tracing=True),
    Variant("segment, https vendor: pollbridge", "segment", ROOT / "functions" / "segment", "app", https=True),
    Variant("segment, https vendor: hand-written boto3", "segment", BASELINE, "segment_handler", https=True),
    Variant("webhook: pollbridge (GET /ready)", "webhook", ROOT / "functions" / "webhook", "app"),
]


@dataclass(frozen=True)
class ChildSetup:
    https_url: str  # the vendor over TLS
    ca_file: Path  # what the children trust: the machine's store and the loopback CA
    staged: Path  # compiled copies of the layer, the functions and the hand-written handlers

    def folder(self, source: Path) -> Path:
        """Where a child finds `source` (a folder under the project): its compiled copy."""
        return self.staged / source.relative_to(ROOT)


def stage_compiled(staged: Path) -> None:
    """Deployed code is compiled (layers/common/Makefile ships bytecode; installed packages have it),
    so the children run copies of the layer, the functions and the hand-written handlers with their
    bytecode beside them, instead of compiling the sources on every cold start as a checkout would
    (this environment writes no bytecode: PYTHONDONTWRITEBYTECODE)."""
    for source in (LAYER / "pollbridge", ROOT / "functions", BASELINE):
        shutil.copytree(source, staged / source.relative_to(ROOT), ignore=shutil.ignore_patterns("__pycache__"))
    command = [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(staged)]
    subprocess.run(command, check=True)  # noqa: S603 - our own interpreter and folder


@dataclass
class Samples:
    imports: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)

    def median(self, what: str) -> float:
        """`import`, `first` (the first invocation) or `total` (both)."""
        if what == "import":
            values = self.imports
        elif what == "first":
            values = self.firsts
        else:
            values = [i + f for i, f in zip(self.imports, self.firsts, strict=True)]
        return statistics.median(values) if values else float("nan")


def new_chunk(cloud: LocalCloud) -> dict[str, Any]:
    chunk = json.loads(SEGMENT_EVENT.read_text())
    chunk["taskId"] = f"bench-{uuid.uuid4().hex[:12]}"
    chunk["taskPayload"]["simulate"] = {"durationSeconds": 86_000, "mediaDurationMs": 30_000, "outcome": "completed"}
    return chunk


def new_poll_event(cloud: LocalCloud) -> dict[str, Any]:
    started = cloud.invoke("SegmentFunction", new_chunk(cloud))
    assert started.ok, started.error_message
    return dict(started.value["taskPayload"])


def child_env(cloud: LocalCloud, variant: Variant, setup: ChildSetup | None = None) -> dict[str, str]:
    env = dict(os.environ)
    folder, layer = (variant.folder, LAYER) if setup is None else (setup.folder(variant.folder), setup.folder(LAYER))
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(layer)])
    if variant.https:
        assert setup is not None, "an https variant needs the https vendor"
        env |= {"PROVIDER_URL": setup.https_url, "SSL_CERT_FILE": str(setup.ca_file)}
    if variant.tracing:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
        env |= TRACING_ON | {"LAMBDA_TASK_ROOT": str(folder)}
    if variant.kind == "webhook":  # the literal token of local runs: /ready checks one is configured
        from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN

        env["WEBHOOK_TOKEN"] = LOCAL_WEBHOOK_TOKEN
    if variant.module.endswith("_handler") and variant.tracing:  # the hand-written one with the X-Ray SDK
        env["BENCH_PATCH_XRAY"] = "1"
    return env


def run_child(cloud: LocalCloud, variant: Variant, setup: ChildSetup | None = None) -> dict[str, float]:
    event: dict[str, Any] = {}
    if variant.kind == "poll":
        event = new_poll_event(cloud)
    elif variant.kind == "segment":
        event = new_chunk(cloud)
    elif variant.kind == "webhook":
        from devtools.standins.function_url import function_url_event

        event = function_url_event("GET", "/ready")
    mode = "boto3" if variant.kind == "boto3" else "handler"
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CHILD, mode, variant.module],
        input=json.dumps(event),
        env=child_env(cloud, variant, setup),
        cwd=variant.folder if setup is None else setup.folder(variant.folder),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{variant.name} failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def cold(cloud: LocalCloud, rounds: int, setup: ChildSetup, seed: int = 5) -> dict[str, Samples]:
    samples = {variant.name: Samples() for variant in VARIANTS}
    order = random.Random(seed)
    for _ in range(rounds):
        for variant in order.sample(VARIANTS, len(VARIANTS)):
            with cloud.clock.real_time():
                measured = run_child(cloud, variant, setup)
            samples[variant.name].imports.append(measured["import"])
            if "first" in measured:
                samples[variant.name].firsts.append(measured["first"])
    return samples


def warm(cloud: LocalCloud, polls: int) -> dict[str, list[float]]:
    """Thread CPU seconds per warm poll, pollbridge's handler and the hand-written one, interleaved."""
    sys.path[:0] = [str(BASELINE)]
    import poll_handler  # the hand-written one: module-level clients, as it would be in Lambda

    from pollbridge import wiring

    ours = cloud.functions["PollFunction"]
    for _ in range(3):  # warm both containers up
        assert ours.invoke(new_poll_event(cloud)).ok
        poll_handler.handler(new_poll_event(cloud), None)
    wiring.container_ports()
    cpu: dict[str, list[float]] = {"pollbridge": [], "hand-written boto3": [], "pollbridge wall": []}
    for _ in range(polls):
        for name in random.sample(["pollbridge", "hand-written boto3"], 2):
            event = new_poll_event(cloud)
            with cloud.clock.real_time():
                started, wall = time.thread_time(), time.perf_counter()
                if name == "pollbridge":
                    assert ours.invoke(event).ok
                    cpu["pollbridge wall"].append(time.perf_counter() - wall)
                else:
                    poll_handler.handler(event, None)
                cpu[name].append(time.thread_time() - started)
    return cpu


def report(samples: dict[str, Samples], cpu: dict[str, list[float]], machine: str) -> str:
    boto3_import = samples["import boto3"].median("import")
    lines = [
        f"Measured {machine}. Medians over {len(samples['import boto3'].imports)} interleaved rounds of fresh"
        " interpreters; ratios are ratios of medians.",
        "",
        "| handler | import | x `import boto3` | first invocation | import + first invocation |"
        " x hand-written (first invocation) | x hand-written (import + first) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    pairs = {
        "poll: pollbridge": "poll: hand-written boto3",
        "segment: pollbridge": "segment: hand-written boto3",
        "poll: pollbridge, X-Ray on": "poll: hand-written boto3, X-Ray SDK on",
        "segment, https vendor: pollbridge": "segment, https vendor: hand-written boto3",
    }
    for name, sample in samples.items():
        if name == "import boto3":
            lines.append(f"| `import boto3` | {boto3_import * 1000:.0f} ms | 1.00 | - | - | - | - |")
            continue
        imp, first = sample.median("import"), sample.median("first")
        total = sample.median("total")
        hand = samples.get(pairs.get(name, ""))
        vs_first = f"{first / hand.median('first'):.2f}" if hand is not None else "-"
        vs_total = f"{total / hand.median('total'):.2f}" if hand is not None else "-"
        lines.append(
            f"| {name} | {imp * 1000:.0f} ms | {imp / boto3_import:.2f} | {first * 1000:.0f} ms | {total * 1000:.0f} ms"
            f" | {vs_first} | {vs_total} |"
        )
    ours_cpu, hand_cpu = statistics.median(cpu["pollbridge"]), statistics.median(cpu["hand-written boto3"])
    warm_wall = statistics.median(cpu["pollbridge wall"])
    lines += [
        "",
        f"Warm poll, thread CPU per invocation (median of {len(cpu['pollbridge'])} each, interleaved): pollbridge"
        f" {ours_cpu * 1000:.2f} ms, hand-written boto3 {hand_cpu * 1000:.2f} ms: **{ours_cpu / hand_cpu:.2f}x**."
        f" Wall time of pollbridge's warm poll against the local cloud: {warm_wall * 1000:.0f} ms (median).",
    ]
    return "\n".join(lines)


def measure(rounds: int = 11, warm_polls: int = 60, machine: str = "") -> tuple[str, dict[str, Any]]:
    """(the report, the raw samples)."""
    with LocalCloud(speed=1.0) as cloud, tempfile.TemporaryDirectory(prefix="pollbridge-bench-") as folder:
        tls = loopback_tls(Path(folder))
        vendor = VendorSimulator(cloud.sim_config, tls=(tls.cert_file, tls.key_file)).start()
        try:
            trusted = with_system_store(tls.ca_file, Path(folder))  # a real store's size, and the CA
            stage_compiled(Path(folder) / "staged")
            samples = cold(cloud, rounds, ChildSetup(vendor.url, trusted, Path(folder) / "staged"))
        finally:
            vendor.stop()
        cpu = warm(cloud, warm_polls)
    raw: dict[str, Any] = {name: {"import": s.imports, "first": s.firsts} for name, s in samples.items()}
    raw |= {"warm_cpu": cpu, "warm_wall_median_s": statistics.median(cpu["pollbridge wall"])}
    return report(samples, cpu, machine), raw


def main() -> None:  # pragma: no cover - a benchmark
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    text, _ = measure(rounds)
    print(text)


if __name__ == "__main__":  # pragma: no cover
    main()
