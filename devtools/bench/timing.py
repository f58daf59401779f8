"""Polls versus detection lag: every polling policy on the same simulated tasks, and pollbridge's on
vendors as they really are.

The tasks (seeded): media 10 s .. 3 h, log-uniform; processing 0.1-0.6x the media plus 0-120 s of
queueing; arrivals spread over an hour (so every phase of the minute occurs). A poll at or after the
completion detects it; the detection lag is the time between the two.

The vendors (`Vendor`): one that gives no hint; ones whose `estimatedCompletionAt` is recomputed at
each poll from the work left, at a rate misjudged per job (off by up to +-10% or +-40% of the time
left) or always (1.5x or 2x too long: a cautious vendor; 2x too short: an eager one); one that gives
`progress` only (linear in the processing time, 0 and Queued while queued); and one whose ETA is a
fixed promise made at submit, never moved. `ROBUSTNESS` adds vendors of the same kinds with other
parameters (3x too long, ETAs to the second with per-poll noise, coarse or non-linear progress) and
another workload (long queues, media up to 6 h).

EventBridge Scheduler fires an `at()` schedule anywhere within its minute (uniformly, here); Step
Functions' Wait state and durable functions' waits run at the second. pollbridge's policy is
`pollbridge.timing.next_poll_time` itself, called with the facts the payload carries: the previous
poll's hints (`PollFacts.previous`) as `pollbridge.decisions` builds them.
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from pollbridge.decisions import hop_delay_s
from pollbridge.timing import MINUTE_MS, PollFacts, PollPolicy, VendorHints, minute_of, next_poll_time

DEADLINE_MS = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PROVIDER_MIN_RTF = 0.1  # what the simulated vendor declares: never faster than 0.1x the media

# Prices (us-east-1, aws-notes): Scheduler $1.00 per million invocations; Lambda $0.20 per million
# requests plus $0.0000166667 per GB-second (x86); Step Functions Standard $0.025 per 1,000 transitions.
SCHEDULER_PER_INVOCATION = 1.00e-6
LAMBDA_PER_REQUEST = 0.20e-6
LAMBDA_PER_GB_S = 0.0000166667
SFN_PER_TRANSITION = 0.025e-3
SFN_TRANSITIONS_PER_POLL = 3  # Wait -> Task (the status check, a Lambda) -> Choice
# Precise polling's hop: SQS standard $0.40 per million requests; a hop is SendMessage, the event
# source's ReceiveMessage and its DeleteMessage (batch size 1). It replaces the scheduler's delivery
# (the fallback schedule never fires), so a hop saves a Scheduler invocation and adds no Lambda one.
SQS_PER_REQUEST = 0.40e-6
SQS_REQUESTS_PER_HOP = 3
POLL_MEMORY_GB = 1.0  # template.yaml: PollFunction MemorySize 1024 (maximum-size results fit, BENCHMARKS.md section 4)


def ceil_minute(epoch_ms: int) -> int:
    return math.ceil(epoch_ms / MINUTE_MS) * MINUTE_MS


@dataclass(frozen=True)
class Task:
    index: int
    task_id: str
    start_ms: int
    media_ms: int
    done_ms: int  # when the vendor's job truly completes
    queued_until_ms: int  # when it starts processing
    skew: float  # the job's draw in [0.9, 1.1]: an ETA off by up to +-10% is now + (done - now) * skew


def make_tasks(count: int, seed: int = 2026) -> list[Task]:
    rnd = random.Random(seed)
    tasks = []
    for index in range(count):
        media_s = math.exp(rnd.uniform(math.log(10), math.log(3 * 3600)))
        processing_s, queue_s = rnd.uniform(0.1, 0.6) * media_s, rnd.uniform(0, 120)
        start = START_MS + int(rnd.uniform(0, 3600) * 1000)
        done, queued_until = start + int((queue_s + processing_s) * 1000), start + int(queue_s * 1000)
        skew = rnd.uniform(0.9, 1.1)
        tasks.append(Task(index, f"sim-{index:06d}", start, int(media_s * 1000), done, queued_until, skew))
    return tasks


def make_short_clips(count: int, seed: int = 2026) -> list[Task]:
    """aiWARE's usual segments: 15 s to 3 minutes of media (log-uniform), jobs that take 10-60 s
    after 0-5 s in a queue."""
    rnd = random.Random(seed + 17)
    tasks = []
    for index in range(count):
        media_s = math.exp(rnd.uniform(math.log(15), math.log(180)))
        processing_s, queue_s = rnd.uniform(10, 60), rnd.uniform(0, 5)
        start = START_MS + int(rnd.uniform(0, 3600) * 1000)
        done, queued_until = start + int((queue_s + processing_s) * 1000), start + int(queue_s * 1000)
        skew = rnd.uniform(0.9, 1.1)
        tasks.append(Task(index, f"clip-{index:06d}", start, int(media_s * 1000), done, queued_until, skew))
    return tasks


def make_long_queues(count: int, seed: int = 7) -> list[Task]:
    """Another workload (robustness): media 30 s to 6 h, processing 0.05-1x the media after 0-15
    minutes in a queue (the provider declares 0.05 as its fastest)."""
    rnd = random.Random(seed)
    tasks = []
    for index in range(count):
        media_s = math.exp(rnd.uniform(math.log(30), math.log(6 * 3600)))
        processing_s, queue_s = rnd.uniform(0.05, 1.0) * media_s, rnd.uniform(0, 900)
        start = START_MS + int(rnd.uniform(0, 3600) * 1000)
        done, queued_until = start + int((queue_s + processing_s) * 1000), start + int(queue_s * 1000)
        skew = rnd.uniform(0.9, 1.1)
        tasks.append(Task(index, f"long-{index:06d}", start, int(media_s * 1000), done, queued_until, skew))
    return tasks


@dataclass(frozen=True)
class Vendor:
    """What a vendor answers a status poll at `now` (VendorHints, as decisions.hints_of builds them)."""

    name: str
    says: Callable[[Task, int], VendorHints]


def _wobble(task: Task, now: int) -> float:
    """A deterministic draw in [-1, 1] per task and poll (the same for every policy polling then)."""
    digest = hashlib.blake2b(f"{task.index}:{now}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1


def no_hints() -> Vendor:
    return Vendor("no hints", lambda task, now: VendorHints(queued=now < task.queued_until_ms))


def eta_vendor(name: str, skew: Callable[[Task], float], noise: float = 0.0, to_second: bool = False) -> Vendor:
    """An ETA recomputed at each poll from the work left: now + (done - now) * skew(task), times
    1 +- `noise` drawn per poll, rounded down to the second when `to_second`."""

    def says(task: Task, now: int) -> VendorHints:
        factor = skew(task) * (1 + noise * _wobble(task, now)) if noise else skew(task)
        eta = now + int((task.done_ms - now) * factor)
        return VendorHints(eta_ms=eta - eta % 1000 if to_second else eta, queued=now < task.queued_until_ms)

    return Vendor(name, says)


def per_job(spread: float) -> Callable[[Task], float]:
    """Off by up to +-spread of the time left, a skew per job (the +-10% draw, scaled)."""
    return lambda task: 1 + spread * (task.skew - 1) / 0.1


def always(skew: float) -> Callable[[Task], float]:
    return lambda task: skew


def progress_vendor(name: str = "progress only", shape: float = 1.0, step: float = 0.0) -> Vendor:
    """Progress only: the share of the processing done (to the power `shape`: below 1 it runs ahead
    of the time, above 1 behind), in steps of `step` if given; 0 and Queued while queued."""

    def says(task: Task, now: int) -> VendorHints:
        if now < task.queued_until_ms:
            return VendorHints(progress=0.0, queued=True)
        share = min(max((now - task.queued_until_ms) / max(task.done_ms - task.queued_until_ms, 1), 0.0), 1.0)
        share **= shape
        return VendorHints(progress=math.floor(share / step) * step if step else share)

    return Vendor(name, says)


def promise_vendor(spread: float = 0.4) -> Vendor:
    """An ETA promised at submit (off by up to +-spread of the whole time, per job), never moved."""

    def says(task: Task, now: int) -> VendorHints:
        eta = task.start_ms + int((task.done_ms - task.start_ms) * per_job(spread)(task))
        return VendorHints(eta_ms=eta, queued=now < task.queued_until_ms)

    return Vendor(f"fixed promise (+-{spread:.0%}, never moves)", says)


NO_HINTS = no_hints()
ETA_10 = eta_vendor("ETA +-10%", per_job(0.1))
VENDORS: list[tuple[Vendor, tuple[float, float] | None]] = [  # the issue's targets: polls, p95 lag vs fixed 60 s
    (ETA_10, (0.35, 1.00)),
    (eta_vendor("ETA +-40%", per_job(0.4)), (0.40, 1.05)),
    (eta_vendor("ETA 1.5x too long", always(1.5)), (0.40, 1.10)),
    (eta_vendor("ETA 2x too long", always(2.0)), (0.40, 1.10)),
    (eta_vendor("ETA 2x too short", always(0.5)), (0.45, 1.05)),
    (progress_vendor(), (0.45, 1.15)),
    (NO_HINTS, (0.80, 1.00)),
    (promise_vendor(), None),
]
ROBUSTNESS: list[Vendor] = [
    eta_vendor("ETA 3x too long", always(3.0)),
    eta_vendor("ETA 1.3x too short", always(1 / 1.3)),
    eta_vendor("ETA +-25%", per_job(0.25)),
    eta_vendor("ETA +-10%, to the second, +-10% noise per poll", per_job(0.1), noise=0.1, to_second=True),
    eta_vendor("ETA 2x too long, to the second, +-10% noise per poll", always(2.0), noise=0.1, to_second=True),
    eta_vendor("ETA 2x too short, to the second, +-10% noise per poll", always(0.5), noise=0.1, to_second=True),
    progress_vendor("progress in whole percent", step=0.01),
    progress_vendor("progress running ahead (share^0.7)", shape=0.7),
    progress_vendor("progress lagging behind (share^1.4)", shape=1.4),
    promise_vendor(0.1),
]
NOISY = [vendor for vendor in ROBUSTNESS if "noise" in vendor.name]
# The policy of issue 9 (commit d34cff5, no memory of what the vendor said) on the same tasks: polls and
# p95 lag against fixed 60 s, measured 2026-12-03 (20,000 tasks, seed 2026). For the plot; not re-run.
ISSUE_9 = {
    "ETA +-10%": (0.26, 1.00),
    "ETA +-40%": (0.26, 1.16),
    "ETA 1.5x too long": (0.18, 7.16),
    "ETA 2x too long": (0.18, 18.11),
    "ETA 2x too short": (0.38, 1.00),
    "progress only": (0.31, 4.24),
    "no hints": (0.79, 1.00),
    "fixed promise (+-40%, never moves)": (0.31, 2.03),
}


@dataclass
class Run:
    """One task under one policy: when its polls ran."""

    polls: int = 0
    lag_ms: int = 0
    waited_ms: int = 0  # GB-seconds spent waiting inside invocations (policies that do)
    hops: int = 0  # precise polling: polls delivered by the delay queue instead of the scheduler


class Scheduler:
    """EventBridge Scheduler for one task: a schedule fires anywhere within the minute of its at()
    time. Where in the minute is drawn once per (task, minute), whichever policy scheduled it, so
    that policies are compared on the same firings (common random numbers)."""

    def __init__(self, seed: int, task: int) -> None:
        self._key = _mix(seed * 0x9E3779B97F4A7C15 + task)

    def __call__(self, at_ms: int) -> int:
        minute = minute_of(at_ms)
        return minute + _mix(self._key ^ minute) * MINUTE_MS // 2**64


def _mix(value: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 31)


# A policy: (task, its scheduler, a random source for the policy's own draws, the vendor) -> Run.
type Policy = Callable[[Task, Scheduler, random.Random, Vendor], Run]


def run_until_done(task: Task, first_ms: int, next_ms: Callable[[int, int], int], limit: int = 100_000) -> Run:
    """Poll at first_ms, then next_ms(poll number, now) until a poll sees the job done."""
    now, polls = first_ms, 1
    while now < task.done_ms and polls < limit:
        now, polls = next_ms(polls, now), polls + 1
    return Run(polls, now - task.done_ms)


def fixed(interval_s: int) -> Policy:
    """The seed's habit: nextPollTimeUTC = now + interval, on EventBridge Scheduler."""

    def policy(task: Task, scheduled: Scheduler, rnd: random.Random, vendor: Vendor) -> Run:
        step = interval_s * 1000
        return run_until_done(task, scheduled(task.start_ms + step), lambda _, now: scheduled(now + step))

    return policy


def step_functions_wait(interval_s: int) -> Policy:
    """Step Functions Standard: a Wait state of `interval_s` in a loop, exact to the second."""

    def policy(task: Task, scheduled: Scheduler, rnd: random.Random, vendor: Vendor) -> Run:
        step = interval_s * 1000
        return run_until_done(task, task.start_ms + step, lambda _, now: now + step)

    return policy


def durable_default(task: Task, scheduled: Scheduler, rnd: random.Random, vendor: Vendor) -> Run:
    """Lambda durable functions' default waitForCondition strategy (5 s initial, x1.5, at most 300 s,
    full jitter), every wait at least 60 s like the others; waits are exact to the second."""

    def wait(polls: int, now: int) -> int:
        ceiling = min(5 * 1.5 ** min(polls - 1, 64), 300)
        return now + int(max(60.0, rnd.uniform(0, ceiling)) * 1000)

    return run_until_done(task, wait(1, task.start_ms), wait)


def before(task: Task, scheduled: Scheduler, rnd: random.Random, vendor: Vendor) -> Run:
    """pollbridge before issue 9: x1.5 backoff from 60 s to 900 s, the ETA + 5 s when given, every
    time rounded up to a whole minute (re-stated here only as the baseline)."""

    def at(polls: int, now: int) -> int:
        delay_s = 60 * 1.5 ** min(max(polls - 1, 0), 64)
        eta = vendor.says(task, now).eta_ms if polls > 0 else None
        if eta is not None and eta > now:
            delay_s = (eta - now) / 1000 + 5
        delay_s = min(max(delay_s, 60), 900)
        return max(ceil_minute(now + math.ceil(delay_s * 1000)), ceil_minute(now + 60_000))

    return run_until_done(task, scheduled(at(0, task.start_ms)), lambda n, now: scheduled(at(n, now)))


def floor(task: Task, scheduled: Scheduler, rnd: random.Random, vendor: Vendor) -> Run:
    """An oracle: one poll, in the first whole minute after the completion."""
    return Run(1, scheduled(ceil_minute(task.done_ms)) - task.done_ms)


def oracle(task: Task, scheduled: Scheduler, rnd: random.Random, vendor: Vendor) -> Run:
    """The bound for precise polling: one poll, to the millisecond, at the completion, but never
    sooner than the seed's minute after the submit."""
    return Run(1, max(task.start_ms + MINUTE_MS, task.done_ms) - task.done_ms)


def previous_of(hints: VendorHints) -> VendorHints | None:
    """What the next poll's facts carry of this poll's hints, as decisions.poll_facts rebuilds them
    from the payload (lastEtaUTC, lastProgress, lastQueued): nothing when the vendor said nothing."""
    if hints.eta_ms is None and hints.progress is None and not hints.queued:
        return None
    return VendorHints(eta_ms=hints.eta_ms, progress=hints.progress, queued=hints.queued)


def pollbridge(
    max_lag_s: int, wait_s: int = 0, min_rtf: float = PROVIDER_MIN_RTF, memory: bool = True, precise: bool = False
) -> Policy:
    """pollbridge.timing.next_poll_time, fed what the payload would carry. With `wait_s`, a poll
    whose ETA is at most that far off waits inside the invocation and checks again (priced).
    `memory=False`: without the previous poll's hints (what the payload carried before issue 17).
    `precise`: PrecisePolling on: a poll the delay queue can carry (decisions.hop_delay_s, at most
    15 minutes ahead) runs at its time rounded up to the second, the others where the scheduler fires."""
    settings = PollPolicy(min_real_time_factor=min_rtf)

    def policy(task: Task, scheduled: Scheduler, rnd: random.Random, vendor: Vendor) -> Run:
        hops = 0

        def deliver(at: int, now: int) -> int:
            nonlocal hops
            delay = hop_delay_s(at, now) if precise else None
            if delay is None:
                return scheduled(at)
            hops += 1
            return now + delay * 1000

        def facts(poll_number: int, last: int | None, previous: VendorHints | None) -> PollFacts:
            return PollFacts(task.task_id, poll_number, task.start_ms, task.start_ms + DEADLINE_MS, last,
                             task.media_ms, max_lag_s, previous=previous if memory else None)  # fmt: skip

        now = deliver(next_poll_time(task.start_ms, facts(0, None, None), settings), task.start_ms)
        polls, last, previous, waited = 1, None, None, 0
        while now < task.done_ms:
            hints = vendor.says(task, now)
            if wait_s and hints.eta_ms is not None and 0 <= hints.eta_ms - now <= wait_s * 1000:
                pause = hints.eta_ms - now + 1000
                waited += pause
                now += pause
                if now >= task.done_ms:
                    break
                hints = vendor.says(task, now)
            at = next_poll_time(now, facts(polls, last, previous), settings, hints)
            last, previous, now, polls = now, previous_of(hints), deliver(at, now), polls + 1
        return Run(polls, now - task.done_ms, waited, hops)

    return policy


@dataclass
class Result:
    name: str
    vendor: str
    polls: list[int] = field(default_factory=list)
    lags_s: list[float] = field(default_factory=list)
    turnaround_s: list[float] = field(default_factory=list)  # submit to the poll that saw it done
    waited_s: float = 0.0
    hops: int = 0  # precise polling: polls the delay queue delivered (all tasks)
    exact: bool = False  # Step Functions: no Scheduler invocations, state transitions instead

    @property
    def polls_mean(self) -> float:
        return statistics.fmean(self.polls)

    @property
    def lag_mean(self) -> float:
        return statistics.fmean(self.lags_s)

    @property
    def lag_p95(self) -> float:
        return self.p95(self.lags_s)

    def p95(self, values: list[float] | list[int]) -> float:
        ordered = sorted(values)
        return float(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])

    def cost_per_million(self, poll_duration_s: float) -> tuple[float, float]:
        """(Scheduler + Lambda, Step Functions Standard + Lambda) for a million tasks' polls."""
        polls = self.polls_mean * 1e6
        lambda_cost = polls * (LAMBDA_PER_REQUEST + POLL_MEMORY_GB * poll_duration_s * LAMBDA_PER_GB_S)
        waiting = self.waited_s / len(self.polls) * 1e6 * POLL_MEMORY_GB * LAMBDA_PER_GB_S
        hops = self.hops / len(self.polls) * 1e6
        scheduler = (polls - hops) * SCHEDULER_PER_INVOCATION + hops * SQS_REQUESTS_PER_HOP * SQS_PER_REQUEST
        sfn = polls * SFN_TRANSITIONS_PER_POLL * SFN_PER_TRANSITION
        return lambda_cost + waiting + scheduler, lambda_cost + waiting + sfn


POLICIES: list[tuple[str, Policy, bool]] = [
    ("fixed 60 s", fixed(60), False),
    ("fixed 300 s", fixed(300), False),
    ("durable functions' default backoff (>= 60 s)", durable_default, True),
    ("Step Functions Wait loop, exact 60 s", step_functions_wait(60), True),
    ("pollbridge before (minute rounding, x1.5 to 900 s)", before, False),
    *[
        (f"pollbridge, lag budget {budget} s", pollbridge(budget), False)
        for budget in (60, 65, 75, 90, 120, 180, 300, 600)
    ],
    ("pollbridge, budget 60 s, waits <= 20 s in the invocation", pollbridge(60, wait_s=20), False),
    ("pollbridge precise (PrecisePolling), lag budget 60 s", pollbridge(60, precise=True), False),
    ("floor: one poll in the first minute after completion", floor, False),
]


def run_policy(
    name: str, policy: Policy, tasks: list[Task], vendor: Vendor, seed: int, number: int, exact: bool = False
) -> Result:
    result = Result(name, vendor.name, exact=exact)
    for task in tasks:
        rnd = random.Random(seed * 1_000_003 + number * 7_919 + task.index)
        run = policy(task, Scheduler(seed, task.index), rnd, vendor)
        result.polls.append(run.polls)
        result.lags_s.append(run.lag_ms / 1000)
        result.turnaround_s.append((task.done_ms + run.lag_ms - task.start_ms) / 1000)
        result.waited_s += run.waited_ms / 1000
        result.hops += run.hops
    return result


def simulate(count: int = 20_000, seed: int = 2026) -> list[Result]:
    """Every policy, on a vendor without hints and one with ETAs off by up to +-10%."""
    tasks = make_tasks(count, seed)
    return [
        run_policy(name, policy, tasks, vendor, seed, number, exact)
        for number, (name, policy, exact) in enumerate(POLICIES)
        for vendor in (NO_HINTS, ETA_10)
    ]


@dataclass
class VendorRow:
    """pollbridge (lag budget 60 s, the default) against fixed 60 s polling, on one vendor."""

    workload: str
    vendor: str
    fixed: Result
    pollbridge: Result
    without_memory: Result | None = None
    target: tuple[float, float] | None = None

    @property
    def polls_ratio(self) -> float:
        return self.pollbridge.polls_mean / self.fixed.polls_mean

    @property
    def lag_ratio(self) -> float:
        return self.pollbridge.lag_p95 / self.fixed.lag_p95

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.polls_ratio <= self.target[0] and self.lag_ratio <= self.target[1]


def simulate_vendors(count: int = 20_000, seed: int = 2026) -> list[VendorRow]:
    """The issue-17 vendors (with targets), then the robustness vendors and workloads (without)."""
    rows: list[VendorRow] = []
    main = make_tasks(count, seed)
    workloads: list[tuple[str, list[Task], float, list[tuple[Vendor, tuple[float, float] | None]], bool]] = [
        ("main", main, PROVIDER_MIN_RTF, VENDORS, True),
        ("main", main, PROVIDER_MIN_RTF, [(v, None) for v in ROBUSTNESS], False),
        ("main, seed 9", make_tasks(count, 9), PROVIDER_MIN_RTF, VENDORS, False),
        ("long queues", make_long_queues(count), 0.05, VENDORS[:-1] + [(v, None) for v in NOISY], False),
    ]
    references: dict[int, Result] = {}
    for workload, tasks, min_rtf, vendors, compare in workloads:
        if id(tasks) not in references:
            references[id(tasks)] = run_policy("fixed 60 s", fixed(60), tasks, NO_HINTS, seed, 0)
        reference = references[id(tasks)]
        for vendor, target in vendors:
            ours = run_policy("pollbridge", pollbridge(60, min_rtf=min_rtf), tasks, vendor, seed, 1)
            plain = None
            if compare and vendor is not NO_HINTS:
                plain = run_policy("pollbridge, no memory", pollbridge(60, memory=False), tasks, vendor, seed, 1)
            rows.append(VendorRow(workload, vendor.name, reference, ours, plain, target if compare else None))
    return rows


def simulate_short_clips(count: int = 20_000, seed: int = 2026) -> list[Result]:
    tasks = make_short_clips(count, seed)
    results = [run_policy("fixed 60 s", fixed(60), tasks, NO_HINTS, seed, 0)]
    for vendor in (NO_HINTS, ETA_10, progress_vendor()):
        results.append(run_policy("pollbridge, lag budget 60 s", pollbridge(60), tasks, vendor, seed, 1))
        precise = pollbridge(60, precise=True)
        results.append(run_policy("pollbridge precise (PrecisePolling), budget 60 s", precise, tasks, vendor, seed, 1))
    bound = "oracle, exact: one poll at max(submit + 60 s, completion)"
    results.append(run_policy(bound, oracle, tasks, NO_HINTS, seed, 2))
    results.append(run_policy("floor: one poll in the first minute after completion", floor, tasks, NO_HINTS, seed, 2))
    return results


def table(results: list[Result], poll_duration_s: float) -> str:
    rows = [
        "| policy | vendor | polls mean | polls p95 | lag mean | lag p95 | $ / million tasks: Scheduler + Lambda |"
        " $ / million tasks: Step Functions Standard + Lambda |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        scheduler, sfn = r.cost_per_million(poll_duration_s)
        on_scheduler = "-" if r.exact else f"{scheduler:,.2f}"
        rows.append(
            f"| {r.name} | {r.vendor} | {r.polls_mean:.2f} | {r.p95(r.polls):.0f} | {r.lag_mean:.0f} s"
            f" | {r.p95(r.lags_s):.1f} s | {on_scheduler} | {sfn:,.2f} |"
        )
    return "\n".join(rows)


def vendor_table(rows: list[VendorRow], poll_duration_s: float) -> str:
    lines = [
        "| workload | vendor's hints | fixed 60 s: polls / p95 lag | pollbridge: polls / p95 lag | polls vs fixed 60 s"
        " | p95 lag vs fixed 60 s | target (polls / p95) | met | without the previous poll's hints"
        " | $ / million tasks (Scheduler + Lambda) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for row in rows:
        ours, ref = row.pollbridge, row.fixed
        target = f"<= {row.target[0]:.2f}x / <= {row.target[1]:.2f}x" if row.target else "-"
        met = {True: "**yes**", False: "NO", None: "-"}[row.met]
        plain = "-"
        if row.without_memory is not None:
            plain_ratio = row.without_memory.polls_mean / ref.polls_mean
            plain = f"{plain_ratio:.2f}x / {row.without_memory.lag_p95 / ref.lag_p95:.2f}x"
        lines.append(
            f"| {row.workload} | {row.vendor} | {ref.polls_mean:.2f} / {ref.lag_p95:.1f} s"
            f" | {ours.polls_mean:.2f} / {ours.lag_p95:.1f} s | {row.polls_ratio:.3f}x | {row.lag_ratio:.3f}x"
            f" | {target} | {met} | {plain} | {ours.cost_per_million(poll_duration_s)[0]:,.2f} |"
        )
    return "\n".join(lines)


def short_clip_table(results: list[Result], poll_duration_s: float = 0.1) -> str:
    lines = [
        "| policy | vendor | polls mean | lag mean | lag p95 | submit to detection, p95"
        " | hops per task | $ / million tasks (Scheduler or hops + Lambda) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.vendor} | {r.polls_mean:.2f} | {r.lag_mean:.0f} s | {r.lag_p95:.1f} s"
            f" | {r.p95(r.turnaround_s):.1f} s | {r.hops / len(r.polls):.2f}"
            f" | {r.cost_per_million(poll_duration_s)[0]:,.2f} |"
        )
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - a benchmark
    import sys
    import time

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    started = time.monotonic()
    print(table(simulate(count), 0.1))
    print()
    print(vendor_table(simulate_vendors(count), 0.1))
    print()
    print(short_clip_table(simulate_short_clips(count)))
    print(f"\n{count} tasks in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
