"""Every AWS API call the functions make, and every request to the vendor, per segment, per poll and
per task, before and after issue 16's loop change (item 2: no ListSchedules in the loop), with what
they cost per million tasks at list prices.

The same workload runs through the real handlers on the local cloud (manual clock, moto in-process,
the vendor simulator without failures or flaky answers, each poll delivered once: the same seed gives
the same jobs and the same polls in both trees), once through the code of commit 0d5808e (the loop
read the task's chain with ListSchedules) and once through this tree; then again with duplicate and
late deliveries and repeated segments, for what each kind of invocation costs. Each run is a fresh
interpreter executing this very file with the tree under test first on its import path (`runpy`), so
every tree is counted by the same harness, which uses only what both trees have (`LocalCloud`,
`run_workload`, lambda_host's `around` hook, the entrypoint's `observe`):

- AWS calls: a `before-call` hook on the functions' botocore session (the one LocalCloud hooks its
  scheduler emulator to), one count per API call (not per HTTP attempt), keyed `service.Operation`;
  the harness's own clients (the scheduler emulator's, the report's) are other sessions, not counted;
- attribution: each Lambda function's `around` hook marks which function is running, and what its
  use case reported (`Outcome.kind`, `poll_number`, `repeated`: read where the entrypoint hands the
  outcome to telemetry), so the calls of a segment, of a poll that found the job running, of the
  poll that completed it and of a stale delivery are told apart;
- vendor: the simulator's request counters (`SimConfig.stats`), read before and after each invocation.

`python -m devtools.bench calls [--write]`, or `python -m devtools.bench.calls [--write]`: checks out
0d5808e in a temporary git worktree (or uses `--before-tree`), runs both, prints the tables and with
`--write` puts them into BENCHMARKS.md (between its `bench:calls` markers). `count()` runs the
harness in this process (tests/integration/test_call_counts.py).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BEFORE_COMMIT = "0d5808e"  # the last commit with ListSchedules in the loop (issue 16's change is 3c440c3)
HERE = Path(__file__).resolve()
THIS_TREE = HERE.parents[2]

# The workload: the demo's tasks (events/segment.json, inline media) arriving over an hour, the
# vendor simulator's defaults (jobs of 60-900 s after 0-30 s in a queue) without failures.
TASKS = 200
SEED = 7
ARRIVAL_WINDOW_MS = 60 * 60_000

# Prices (us-east-1, list): EventBridge Scheduler API calls are not billed; S3 Standard PUT, COPY,
# POST and LIST $0.005 per 1,000 requests, GET and the others $0.0004 per 1,000, DELETE free; Secrets
# Manager $0.05 per 10,000 API calls; Scheduler $1.00 per million invocations; Lambda $0.20 per
# million requests and $0.0000166667 per GB-second (as section 1's cost lines).
S3_PUT_CLASS = 0.005e-3
S3_GET_CLASS = 0.0004e-3
SECRETS_PER_CALL = 0.05e-4
SCHEDULER_PER_INVOCATION = 1.00e-6
LAMBDA_PER_REQUEST = 0.20e-6
LAMBDA_PER_GB_S = 0.0000166667
FUNCTION_MEMORY_GB = 1.0  # template.yaml: 1024 MB for the segment and poll functions
DEFAULT_DURATION_S = 0.1  # a Lambda invocation's duration when the warm benchmark has not run

FUNCTIONS = {"SegmentFunction": "segment", "PollFunction": "poll", "WebhookFunction": "webhook"}
SCHEDULER_ROWS = ("GetSchedule", "CreateSchedule", "UpdateSchedule", "DeleteSchedule", "ListSchedules")
VENDOR_ROWS = {  # the simulator's counters (devtools/standins/vendor_simulator.py), as the table names them
    "uploads": "upload (POST /v1/uploads)",
    "jobs_created": "job (POST /v1/jobs)",
    "status": "status (GET /v1/jobs/{id})",
    "results": "result (GET /v1/jobs/{id}/result)",
    "cancels": "cancel (DELETE /v1/jobs/{id})",
}
OTHER_VENDOR = "any other answer (an idempotent replay, a refusal, an error)"
SERVICES = {"scheduler": "Scheduler", "s3": "S3", "secretsmanager": "Secrets Manager"}
KINDS = {  # function/outcome (Invoked.kind), as the by-outcome table says it, in its order
    "segment/scheduled": "segment: the job started, poll 1 scheduled",
    "segment/scheduled (repeated)": "segment repeated (a second delivery of the same chunk)",
    "poll/scheduled": "poll: the job still running, the next poll scheduled",
    "poll/complete": "poll: the job done, the record written",
    "poll/stale": "poll: stale (a duplicate or late delivery)",
}
REPORTED_BY = "observe"  # pollbridge.entrypoint's name for telemetry.observe, called with each Outcome
REPEAT_AFTER_MS = 2 * 60_000  # a repeated segment (the by-outcome runs) arrives this long after the first


# --- the harness: runs in the tree under test, needs only LocalCloud and run_workload --------------


@dataclass
class Invoked:
    """One invocation: which function, what its use case reported, the calls it made."""

    function: str  # "segment", "poll" (FUNCTIONS), or the logical id of another
    outcome: str  # Outcome.kind ("scheduled", "complete", "failed", "cancelled", "stale"), or "error"
    poll_number: int | None = None  # Outcome.poll_number
    repeated: bool = False  # Outcome.repeated: a repeated delivery (the schedule or record existed)
    sequence: list[str] = field(default_factory=list)  # the AWS calls in order, "scheduler.GetSchedule"
    vendor: Counter[str] = field(default_factory=Counter)  # the simulator's counters that moved

    @property
    def calls(self) -> Counter[str]:
        return Counter(self.sequence)

    @property
    def kind(self) -> str:
        """function/outcome, "(repeated)" added to a repeated delivery that is not stale."""
        return f"{self.function}/{self.outcome}" + (" (repeated)" if self.repeated and self.outcome != "stale" else "")


@dataclass
class Counts:
    tasks: int
    invocations: list[Invoked]
    outside: Counter[str]  # AWS calls on the functions' session while no function ran (none expected)
    records: int
    healthy: bool
    polls_per_task: float  # from the records (`polls`), as the workload's report counts them
    wall_s: float

    def aggregate(self) -> dict[str, Any]:
        """JSON-ready: per (function, outcome), the invocations and the sums of their calls."""
        groups: dict[str, dict[str, Any]] = {}
        for item in self.invocations:
            group = groups.setdefault(item.kind, {"invocations": 0, "calls": Counter(), "vendor": Counter()})
            group["invocations"] += 1
            group["calls"].update(item.calls)
            group["vendor"].update(item.vendor)
        return {
            "tasks": self.tasks,
            "records": self.records,
            "healthy": self.healthy,
            "polls_per_task": self.polls_per_task,
            "wall_s": self.wall_s,
            "outside": dict(self.outside),
            "groups": {
                name: {"invocations": g["invocations"], "calls": dict(g["calls"]), "vendor": dict(g["vendor"])}
                for name, g in sorted(groups.items())
            },
        }


class CallCounter:
    """Counts the functions' AWS calls and vendor requests per invocation while installed. Install it
    before the first invocation: a botocore client copies its session's hooks when it is made (the
    functions make theirs on first use)."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.invocations: list[Invoked] = []
        self.outside: Counter[str] = Counter()
        self._current: Invoked | None = None
        self._undo: list[Any] = []

    def _on_call(self, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        name = f"{model.service_model.service_name}.{model.name}"
        if self._current is not None:
            self._current.sequence.append(name)
        else:
            self.outside[name] += 1

    def _wrap(self, logical_id: str, previous: Any) -> Any:
        def around(handler: Any, event: Any, context: Any) -> Any:
            item = Invoked(FUNCTIONS.get(logical_id, logical_id), "error")
            stats = self.cloud.simulator.config.stats
            before = dict(stats)
            self._current = item
            try:
                return previous(handler, event, context) if previous is not None else handler(event, context)
            finally:
                self._current = None
                after = dict(stats)
                item.vendor = Counter({k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)})
                self.invocations.append(item)

        return around

    def __enter__(self) -> CallCounter:
        from pollbridge import entrypoint

        events = functions_events(self.cloud)
        unique_id = f"bench-calls-{id(self)}"
        events.register("before-call", self._on_call, unique_id=unique_id)
        self._undo.append(lambda: events.unregister("before-call", unique_id=unique_id))

        # What the use case reported: the entrypoint hands its Outcome to telemetry by this name.
        observe = getattr(entrypoint, REPORTED_BY)

        def observed(outcome: Any) -> None:
            if self._current is not None:
                self._current.outcome = str(outcome.kind)
                self._current.poll_number = int(outcome.poll_number)
                self._current.repeated = bool(outcome.repeated)
            observe(outcome)

        setattr(entrypoint, REPORTED_BY, observed)
        self._undo.append(lambda: setattr(entrypoint, REPORTED_BY, observe))

        for logical_id, function in self.cloud.functions.items():
            previous = function.around
            function.around = self._wrap(logical_id, previous)
            self._undo.append(lambda function=function, previous=previous: setattr(function, "around", previous))
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()


def functions_events(cloud: Any) -> Any:
    """The event emitter of the functions' botocore session, the one the local cloud hooks its
    scheduler emulator to: pollbridge's session (`adapters.aws.session`, or `wiring.aws_session` in
    older trees); a tree whose LocalCloud kept the emitter itself (`_session_events`) gives it."""
    events = getattr(cloud, "_session_events", None)
    if events is not None:
        return events
    for module, name in (("pollbridge.adapters.aws", "session"), ("pollbridge.wiring", "aws_session")):
        with contextlib.suppress(ImportError, AttributeError):
            return getattr(importlib.import_module(module), name)().get_component("event_emitter")
    raise RuntimeError("found no botocore session of the functions to count their calls on")


def count(
    tasks: int = TASKS,
    seed: int = SEED,
    arrival_window_ms: int = ARRIVAL_WINDOW_MS,
    duplicate_rate: float = 0.0,
    late_duplicate_rate: float = 0.0,
    repeats: int = 0,
    moto: str = "in-process",
) -> Counts:
    """Run the workload through the tree on the import path, counting every call. `repeats`: the
    first so many segments arrive a second time, REPEAT_AFTER_MS after the first."""
    import copy
    import statistics
    import warnings

    try:
        from devtools.cloud.local_cloud import LocalCloud
        from devtools.load.workload import make_tasks, run_workload
        from devtools.standins.vendor_simulator import SimConfig
    except ImportError:  # a tree from before devtools had rooms (the before commit, 0d5808e)
        from devtools.local_cloud import LocalCloud  # type: ignore[no-redef]
        from devtools.vendor_simulator import SimConfig  # type: ignore[no-redef]
        from devtools.workload import make_tasks, run_workload  # type: ignore[no-redef]

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    sim = SimConfig(seed=seed, failure_rate=0.0, flaky_rate=0.0)
    work = make_tasks(tasks, arrival_window_ms=arrival_window_ms)
    work += [(offset + REPEAT_AFTER_MS, copy.deepcopy(chunk)) for offset, chunk in work[:repeats]]
    started = time.monotonic()
    with LocalCloud(
        manual_clock=True,
        sim_config=sim,
        duplicate_rate=duplicate_rate,
        late_duplicate_rate=late_duplicate_rate,
        emulator_seed=seed,
        moto=moto,  # type: ignore[arg-type]
    ) as cloud:
        with CallCounter(cloud) as counter:
            report = run_workload(cloud, work)
        polls = [float(record["polls"]) for record in cloud.records().values()]
    return Counts(
        tasks=tasks,
        invocations=counter.invocations,
        outside=counter.outside,
        records=report.records,
        healthy=report.healthy,
        polls_per_task=statistics.fmean(polls) if polls else 0.0,
        wall_s=time.monotonic() - started,
    )


# --- the benchmark: both trees, the tables -----------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One workload, as the child runs it."""

    tasks: int = TASKS
    seed: int = SEED
    duplicate_rate: float = 0.0
    late_duplicate_rate: float = 0.0
    repeats: int = 0

    def argv(self) -> list[str]:
        return [
            f"--tasks={self.tasks}",
            f"--seed={self.seed}",
            f"--duplicate-rate={self.duplicate_rate}",
            f"--late-duplicate-rate={self.late_duplicate_rate}",
            f"--repeats={self.repeats}",
        ]


def run_tree(tree: Path, run: Run) -> dict[str, Any]:
    """This file's harness in a fresh interpreter with `tree` (its layer and its devtools) first on the
    import path: the same counting code for every tree."""
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as folder:
        out = Path(folder) / "counts.json"
        env = {**os.environ, "PYTHONPATH": f"{tree / 'layers' / 'common'}{os.pathsep}{tree}"}
        child = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
        argv = [sys.executable, "-c", child, str(HERE), f"--child={out}", *run.argv()]
        done = subprocess.run(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"the harness failed in {tree}:\n{done.stderr[-4000:]}")
        counts = dict(json.loads(out.read_text()))
    if not counts["healthy"] or counts["outside"] or counts["records"] != counts["tasks"]:
        raise RuntimeError(f"the run in {tree} is not clean: {json.dumps(counts)}")
    return counts


def describe(tree: Path) -> str:
    """The commit a tree is at, and whether it has uncommitted changes."""
    git = ["git", "-C", str(tree)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)  # noqa: S603
    dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)  # noqa: S603
    return f"commit {head.stdout.strip()}" + (" with uncommitted changes" if dirty.stdout.strip() else "")


@contextlib.contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """`commit` in a temporary git worktree of this repository, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-calls-tree-"))
    tree = folder / "tree"
    git = ["git", "-C", str(THIS_TREE)]
    subprocess.run([*git, "worktree", "add", "--detach", str(tree), commit], check=True, capture_output=True)  # noqa: S603
    try:
        yield tree
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(tree)], check=False, capture_output=True)  # noqa: S603
        with contextlib.suppress(OSError):
            folder.rmdir()


def _sum(counts: dict[str, Any], function: str, what: str = "calls") -> tuple[Counter[str], int]:
    """The calls (or vendor counters) of every invocation of one function, and how many there were."""
    total: Counter[str] = Counter()
    invocations = 0
    for name, group in counts["groups"].items():
        if name.split("/")[0] == function:
            total.update(group[what])
            invocations += group["invocations"]
    return total, invocations


def vendor_requests(counters: Counter[str]) -> Counter[str]:
    """The simulator's counters as the table's rows: every other answer (an idempotent replay, a
    refusal, an error) in one row; `job_requests` (every POST /v1/jobs) repeats `jobs_created`."""
    rows: Counter[str] = Counter()
    for key, n in counters.items():
        if key in VENDOR_ROWS:
            rows[key] += n
        elif key != "job_requests":
            rows[OTHER_VENDOR] += n
    return rows


def poll_duration_s() -> float:
    """The warm benchmark's median poll (section 2), as section 1's cost lines use it."""
    raw = THIS_TREE / "docs" / "benchmarks" / "coldstart.json"
    with contextlib.suppress(OSError, ValueError):
        return float(json.loads(raw.read_text()).get("warm_wall_median_s", DEFAULT_DURATION_S))
    return DEFAULT_DURATION_S


def s3_price(operation: str) -> float:
    if operation.startswith("Delete"):
        return 0.0
    if operation.startswith(("Put", "Copy", "Post", "List", "Create", "Upload", "Complete")):
        return S3_PUT_CLASS
    return S3_GET_CLASS  # GET, HEAD, and every other request


def costs(counts: dict[str, Any], duration_s: float) -> dict[str, float]:
    """$ per million tasks, per line."""
    calls: Counter[str] = Counter()
    for group in counts["groups"].values():
        calls.update(group["calls"])
    unpriced = sorted(name for name in calls if not name.startswith(("s3.", "secretsmanager.", "scheduler.")))
    if unpriced:
        raise ValueError(f"no price for {unpriced}")
    segments, polls = _sum(counts, "segment")[1], _sum(counts, "poll")[1]
    invocation = LAMBDA_PER_REQUEST + duration_s * FUNCTION_MEMORY_GB * LAMBDA_PER_GB_S
    lines = {
        "S3 requests": sum(n * s3_price(name[3:]) for name, n in calls.items() if name.startswith("s3.")),
        "Secrets Manager API calls": sum(
            n * SECRETS_PER_CALL for name, n in calls.items() if name.startswith("secretsmanager.")
        ),
        "EventBridge Scheduler API calls (not billed)": 0.0,
        "EventBridge Scheduler invocations (the polls)": polls * SCHEDULER_PER_INVOCATION,
        "Lambda (segment and poll invocations)": (segments + polls) * invocation,
    }
    return {name: value * 1_000_000 / counts["tasks"] for name, value in lines.items()}


def _rate(n: int, of: int) -> str:
    return f"{n / of:.2f}" if of else "-"


def _label(name: str) -> str:
    service, operation = name.split(".", 1)
    return f"{SERVICES.get(service, service)} {operation}"


def calls_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Calls per segment, per poll, per task; before and after side by side."""
    runs = (before, after)
    columns = ("segment", "poll", "task")

    def figures(counts: dict[str, Any], vendor: bool) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        totals: Counter[str] = Counter()
        for function in columns[:2]:
            raw, invocations = _sum(counts, function, "vendor" if vendor else "calls")
            calls = vendor_requests(raw) if vendor else raw
            totals.update(calls)
            for name in calls:
                found[name, function] = _rate(calls[name], invocations)
        for name, n in totals.items():
            found[name, "task"] = _rate(n, counts["tasks"])
        return found

    aws = [figures(counts, vendor=False) for counts in runs]
    vendor = [figures(counts, vendor=True) for counts in runs]
    seen = {name for found in aws for name, _ in found}
    names = [f"scheduler.{operation}" for operation in SCHEDULER_ROWS]
    names += sorted((seen | {"secretsmanager.GetSecretValue"}) - set(names), key=_call_order)
    lines = [
        "| call | per segment: before | per segment: after | per poll: before | per poll: after"
        " | per task: before | per task: after |",
        "| --- |" + " ---: |" * 6,
    ]

    def row(label: str, found: list[dict[tuple[str, str], str]], key: str) -> str:
        cells = [found[i].get((key, column), "0") for column in columns for i in (0, 1)]
        return f"| {label} | " + " | ".join(cells) + " |"

    for name in names:
        lines.append(row(_label(name), aws, name))
    for key, label in {**VENDOR_ROWS, OTHER_VENDOR: OTHER_VENDOR}.items():
        lines.append(row(f"vendor: {label}", vendor, key))
    return "\n".join(lines)


def invocations_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = [
        "| | before | after |",
        "| --- | ---: | ---: |",
        f"| tasks | {before['tasks']:,} | {after['tasks']:,} |",
        f"| records | {before['records']:,} | {after['records']:,} |",
        f"| segment invocations | {_sum(before, 'segment')[1]:,} | {_sum(after, 'segment')[1]:,} |",
        f"| poll invocations | {_sum(before, 'poll')[1]:,} | {_sum(after, 'poll')[1]:,} |",
        f"| polls per task (the records' `polls`) | {before['polls_per_task']:.2f} | {after['polls_per_task']:.2f} |",
    ]
    return "\n".join(lines)


def cost_table(before: dict[str, Any], after: dict[str, Any], duration_s: float) -> str:
    price = [costs(before, duration_s), costs(after, duration_s)]
    lines = ["| $ per million tasks | before | after |", "| --- | ---: | ---: |"]
    lines += [f"| {line} | {price[0][line]:,.2f} | {price[1][line]:,.2f} |" for line in price[0]]
    lines.append(f"| **total** | **{sum(price[0].values()):,.2f}** | **{sum(price[1].values()):,.2f}** |")
    return "\n".join(lines)


def _call_order(name: str) -> tuple[int, int, str]:
    """Scheduler calls in SCHEDULER_ROWS' order, then S3, Secrets Manager and the others."""
    service, operation = name.split(".", 1)
    rank = SCHEDULER_ROWS.index(operation) if service == "scheduler" and operation in SCHEDULER_ROWS else 99
    return list(SERVICES).index(service) if service in SERVICES else 99, rank, name


def _each(group: dict[str, Any]) -> str:
    """A group's AWS calls per invocation, in words."""
    n = group["invocations"]
    parts = []
    for name in sorted(group["calls"], key=_call_order):
        parts.append(f"{_label(name)} {group['calls'][name] / n:.2f}".replace(".00", ""))
    return ", ".join(parts) or "none"


def outcome_table(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What each kind of invocation costs, before and after."""
    lines = [
        "| invocation | before: count | before: AWS calls each (mean) | after: count | after: AWS calls each (mean) |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    found = set(before["groups"]) | set(after["groups"])
    for name in [kind for kind in KINDS if kind in found] + sorted(found - set(KINDS)):
        cells = []
        for counts in (before, after):
            group = counts["groups"].get(name)
            cells += [f"{group['invocations']:,}", _each(group)] if group else ["0", "-"]
        lines.append(f"| {KINDS.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure(
    machine: str,
    before_tree: Path | None = None,
    after_tree: Path = THIS_TREE,
    tasks: int = TASKS,
    seed: int = SEED,
    duplicates: float = 0.1,
) -> str:
    plain = Run(tasks, seed)
    messy = Run(tasks, seed, duplicates, duplicates, round(tasks * duplicates)) if duplicates else None
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        tree = before_tree if before_tree is not None else stack.enter_context(checkout(BEFORE_COMMIT))
        before = [run_tree(tree, run) for run in (plain, messy) if run is not None]
        old = describe(tree)
    after = [run_tree(after_tree, run) for run in (plain, messy) if run is not None]
    new = describe(after_tree)
    elapsed = time.monotonic() - started
    for name, counts in (("before", before), ("after", after)):
        print(f"{name}: {json.dumps(counts)}", file=sys.stderr, flush=True)
    alike = (
        "Both polled alike: the same jobs, the same polls per task."
        if before[0]["polls_per_task"] == after[0]["polls_per_task"]
        else "**The two runs polled differently**: compare them per poll."
    )
    duration_s = poll_duration_s()
    text = (
        f"{tasks:,} tasks through the real handlers on the local cloud (manual clock, moto in-process), seed {seed},"
        f" arriving over {ARRIVAL_WINDOW_MS // 60_000} minutes; the vendor simulator's jobs (60-900 s after 0-30 s"
        f" in a queue) without failures or flaky answers; each poll delivered once. Measured {machine}, in"
        f" {elapsed:.0f} s ({len(before) + len(after)} runs). Before: {old} (ListSchedules in the loop); after:"
        f" {new}. {alike} Per segment and per poll: over the invocations of that function; per task: every"
        " invocation's calls over the tasks.\n\n"
        + calls_table(before[0], after[0])
        + "\n\n"
        + invocations_table(before[0], after[0])
        + f"\n\nAt list prices (us-east-1): Scheduler API calls are not billed, its invocations $1.00 per million;"
        " S3 PUT, COPY, POST and LIST $0.005 per 1,000 requests, GET and HEAD $0.0004 per 1,000, DELETE free;"
        " Secrets Manager $0.05 per 10,000 API calls; Lambda $0.20 per million requests and $0.0000166667 per"
        f" GB-second, every invocation at 1024 MB for {duration_s * 1000:.0f} ms (the warm benchmark's median"
        " poll, section 2).\n\n" + cost_table(before[0], after[0], duration_s)
    )
    if messy is not None:
        text += (
            f"\n\nBy what each invocation found: the same workload with {duplicates:.0%} of polls delivered twice at"
            f" once, {duplicates:.0%} again 1-20 minutes later, and {messy.repeats} segments arriving a second time"
            f" {REPEAT_AFTER_MS // 60_000} minutes after the first (every run: one record per task, nothing left"
            " over).\n\n" + outcome_table(before[1], after[1])
        )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench.calls", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md (its bench:calls section)")
    parser.add_argument("--tasks", type=int, default=TASKS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--duplicates", type=float, default=0.1, help="the by-outcome runs' duplicate share (0: none of them)"
    )
    parser.add_argument("--before-tree", type=Path, help=f"a checkout of {BEFORE_COMMIT} (default: a git worktree)")
    parser.add_argument("--after-tree", type=Path, default=THIS_TREE, help="the tree to count (default: this one)")
    # The child: run the harness in this interpreter and write its counts as JSON.
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--duplicate-rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--late-duplicate-rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        counts = count(
            args.tasks, args.seed, ARRIVAL_WINDOW_MS, args.duplicate_rate, args.late_duplicate_rate, args.repeats
        )
        args.child.write_text(json.dumps(counts.aggregate()))
        return 0
    from devtools.bench.report import machine, write_section

    text = measure(machine(), args.before_tree, args.after_tree.resolve(), args.tasks, args.seed, args.duplicates)
    print(text)
    if args.write:
        write_section("calls", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
