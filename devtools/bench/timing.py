"""Polls versus detection lag: every polling policy on the same simulated tasks.

The tasks (seeded): media 10 s .. 3 h, log-uniform; processing 0.1-0.6x the media plus 0-120 s of
queueing; arrivals spread over an hour (so every phase of the minute occurs). Two vendors: one that
gives no hint, one whose `estimatedCompletionAt` is off by up to +-10% of the time left (a skew per
job, as the vendor simulator does). A poll at or after the completion detects it; the detection lag
is the time between the two.

EventBridge Scheduler fires an `at()` schedule anywhere within its minute (uniformly, here); Step
Functions' Wait state and durable functions' waits run at the second. pollbridge's policy is
`pollbridge.timing.next_poll_time` itself, called with the facts the payload carries.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from pollbridge.timing import MINUTE_MS, PollFacts, PollPolicy, VendorHints, ceil_minute, minute_of, next_poll_time

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
POLL_MEMORY_GB = 0.25  # template.yaml: MemorySize 256


@dataclass(frozen=True)
class Task:
    index: int
    task_id: str
    start_ms: int
    media_ms: int
    done_ms: int  # when the vendor's job truly completes
    queued_until_ms: int  # when it starts processing
    skew: float  # the vendor's ETA = now + (done - now) * skew


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


@dataclass
class Run:
    """One task under one policy: when its polls ran."""

    polls: int = 0
    lag_ms: int = 0
    waited_ms: int = 0  # GB-seconds spent waiting inside invocations (policies that do)


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


# A policy: (task, its scheduler, a random source for the policy's own draws, with_eta) -> Run.
type Policy = Callable[[Task, Scheduler, random.Random, bool], Run]


def eta_of(task: Task, now: int) -> int:
    return now + int((task.done_ms - now) * task.skew)


def run_until_done(task: Task, first_ms: int, next_ms: Callable[[int, int], int], limit: int = 100_000) -> Run:
    """Poll at first_ms, then next_ms(poll number, now) until a poll sees the job done."""
    now, polls = first_ms, 1
    while now < task.done_ms and polls < limit:
        now, polls = next_ms(polls, now), polls + 1
    return Run(polls, now - task.done_ms)


def fixed(interval_s: int) -> Policy:
    """The seed's habit: nextPollTimeUTC = now + interval, on EventBridge Scheduler."""

    def policy(task: Task, scheduled: Scheduler, rnd: random.Random, with_eta: bool) -> Run:
        step = interval_s * 1000
        return run_until_done(task, scheduled(task.start_ms + step), lambda _, now: scheduled(now + step))

    return policy


def step_functions_wait(interval_s: int) -> Policy:
    """Step Functions Standard: a Wait state of `interval_s` in a loop, exact to the second."""

    def policy(task: Task, scheduled: Scheduler, rnd: random.Random, with_eta: bool) -> Run:
        step = interval_s * 1000
        return run_until_done(task, task.start_ms + step, lambda _, now: now + step)

    return policy


def durable_default(task: Task, scheduled: Scheduler, rnd: random.Random, with_eta: bool) -> Run:
    """Lambda durable functions' default waitForCondition strategy (5 s initial, x1.5, at most 300 s,
    full jitter), every wait at least 60 s like the others; waits are exact to the second."""

    def wait(polls: int, now: int) -> int:
        ceiling = min(5 * 1.5 ** min(polls - 1, 64), 300)
        return now + int(max(60.0, rnd.uniform(0, ceiling)) * 1000)

    return run_until_done(task, wait(1, task.start_ms), wait)


def before(task: Task, scheduled: Scheduler, rnd: random.Random, with_eta: bool) -> Run:
    """pollbridge before this benchmark: x1.5 backoff from 60 s to 900 s, the ETA + 5 s when given,
    every time rounded up to a whole minute (re-stated here only as the baseline)."""

    def at(polls: int, now: int) -> int:
        delay_s = 60 * 1.5 ** min(max(polls - 1, 0), 64)
        eta = eta_of(task, now) if with_eta and polls > 0 else None
        if eta is not None and eta > now:
            delay_s = (eta - now) / 1000 + 5
        delay_s = min(max(delay_s, 60), 900)
        return max(ceil_minute(now + math.ceil(delay_s * 1000)), ceil_minute(now + 60_000))

    return run_until_done(task, scheduled(at(0, task.start_ms)), lambda n, now: scheduled(at(n, now)))


def floor(task: Task, scheduled: Scheduler, rnd: random.Random, with_eta: bool) -> Run:
    """An oracle: one poll, in the first whole minute after the completion."""
    return Run(1, scheduled(ceil_minute(task.done_ms)) - task.done_ms)


def pollbridge(max_lag_s: int, wait_s: int = 0) -> Policy:
    """pollbridge.timing.next_poll_time, fed what the payload would carry. With `wait_s`, a poll
    whose ETA is at most that far off waits inside the invocation and checks again (priced)."""
    settings = PollPolicy(min_real_time_factor=PROVIDER_MIN_RTF)

    def policy(task: Task, scheduled: Scheduler, rnd: random.Random, with_eta: bool) -> Run:
        def facts(poll_number: int, last: int | None) -> PollFacts:
            return PollFacts(task.task_id, poll_number, task.start_ms, task.start_ms + DEADLINE_MS, last,
                             task.media_ms, max_lag_s)  # fmt: skip

        now = scheduled(next_poll_time(task.start_ms, facts(0, None), settings))
        polls, last, waited = 1, None, 0
        while now < task.done_ms:
            eta = eta_of(task, now) if with_eta else None
            if wait_s and eta is not None and 0 <= eta - now <= wait_s * 1000:
                pause = eta - now + 1000
                waited += pause
                now += pause
                if now >= task.done_ms:
                    break
                eta = eta_of(task, now)
            hints = VendorHints(eta_ms=eta, queued=now < task.queued_until_ms)
            at = next_poll_time(now, facts(polls, last), settings, hints)
            last, now, polls = now, scheduled(at), polls + 1
        return Run(polls, now - task.done_ms, waited)

    return policy


@dataclass
class Result:
    name: str
    vendor: str  # "no hints" | "ETA +-10%"
    polls: list[int] = field(default_factory=list)
    lags_s: list[float] = field(default_factory=list)
    waited_s: float = 0.0
    exact: bool = False  # Step Functions: no Scheduler invocations, state transitions instead

    @property
    def polls_mean(self) -> float:
        return statistics.fmean(self.polls)

    @property
    def lag_mean(self) -> float:
        return statistics.fmean(self.lags_s)

    def p95(self, values: list[float] | list[int]) -> float:
        ordered = sorted(values)
        return float(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])

    def cost_per_million(self, poll_duration_s: float) -> tuple[float, float]:
        """(Scheduler + Lambda, Step Functions Standard + Lambda) for a million tasks' polls."""
        polls = self.polls_mean * 1e6
        lambda_cost = polls * (LAMBDA_PER_REQUEST + POLL_MEMORY_GB * poll_duration_s * LAMBDA_PER_GB_S)
        waiting = self.waited_s / len(self.polls) * 1e6 * POLL_MEMORY_GB * LAMBDA_PER_GB_S
        scheduler = polls * SCHEDULER_PER_INVOCATION
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
    ("floor: one poll in the first minute after completion", floor, False),
]


def simulate(count: int = 20_000, seed: int = 2026) -> list[Result]:
    tasks = make_tasks(count, seed)
    results = []
    for number, (name, policy, exact) in enumerate(POLICIES):
        for with_eta in (False, True):
            result = Result(name, "ETA +-10%" if with_eta else "no hints", exact=exact)
            for task in tasks:
                rnd = random.Random(seed * 1_000_003 + number * 7_919 + task.index)
                run = policy(task, Scheduler(seed, task.index), rnd, with_eta)
                result.polls.append(run.polls)
                result.lags_s.append(run.lag_ms / 1000)
                result.waited_s += run.waited_ms / 1000
            results.append(result)
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


def main() -> None:  # pragma: no cover - a benchmark
    import sys
    import time

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    started = time.monotonic()
    results = simulate(count)
    print(table(results, 0.1))
    print(f"\n{count} tasks in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
