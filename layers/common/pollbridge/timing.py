"""When to poll next: a pure function of the time, what the payload knows and what the vendor said.

The scheduler's precision shapes every rule here. EventBridge Scheduler fires an `at()` schedule
anywhere within the minute of its time (at(10:00:30) runs between 10:00:00 and 10:00:59), so what a
policy really chooses is the minute; and since poll n+1 is created by poll n, no two polls of a task
run in the same minute. Times are *not* rounded up to a whole minute: rounding promised "never before
nextPollTimeUTC" at the price of ~30 s of mean lag on every poll (BENCHMARKS.md); a poll that runs
up to 59 s early costs one cheap extra check at most.

- **With an ETA** (`estimatedCompletionAt`): aim at the earliest moment it could plausibly be met,
  the ETA less `eta_trust` of the time it says is left. A far-off ETA is thus approached in steps and
  never overshot by much; once the ETA is near, the poll lands in the minute of the completion or just
  before it. Past an ETA the job has not met, polls follow at short spacing, growing with how late it
  is, up to the lag budget. `progress` alone gives a rough ETA (trusted less).
- **Without hints**: no poll before the job can plausibly be done (the media duration times the
  provider's minimum real-time factor, counted from now while the job is still queued; the first
  poll goes in the next minute when that moment falls in the second half of its own, where the
  scheduler would more likely fire before it than after), then a
  spacing that grows with how long the job is overdue, only up to the **lag budget** (`max_lag_s`,
  engineConfig `maxLagSeconds`; at the default 60 s that is one poll a minute, the densest the
  scheduler allows).
- **A transient error** backs off from the minimum interval (x`backoff` per consecutive error) and
  never polls before a finite `Retry-After`.
- **Jitter**: up to `max_jitter_s` seconds, wrapped within the minute (so the minute, what decides
  when the scheduler fires, never moves), derived from a hash of the task id and the poll number:
  thousands of tasks started together spread over the seconds, and a repeated delivery of a poll
  computes exactly the same time (one chain per task).
- **Bounds**: at least `min_interval_s` ahead and in a later minute, blind waits at most
  `max_interval_s` (a vendor ETA may be followed further, as far as the deadline), never much past the
  deadline (one poll at the deadline notices the timeout); every exponent is capped and every input
  clamped, so any poll number is safe.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

MINUTE_MS = 60_000
_MAX_BACKOFF_STEPS = 64  # 1.5**64 * 60 s is far past any max interval; more steps would only overflow
_MAX_MEDIA_MS = 366 * 86_400_000  # models.common.MAX_OFFSET_MS: no chunk is longer


@dataclass(frozen=True)
class PollPolicy:
    """The deployment's knobs (settings and template parameters); a task may override max_lag_s."""

    min_interval_s: int = 60
    max_interval_s: int = 900
    max_lag_s: int = 60  # the lag budget without hints (BENCHMARKS.md has the curve for other budgets)
    backoff: float = 1.5  # after consecutive vendor errors
    blind_growth: float = 0.25  # without hints: spacing = this share of how long the job is overdue
    min_real_time_factor: float = 0.0  # the provider's fastest plausible processing time / media duration
    eta_trust: float = 0.15  # how far off an ETA may be, as a share of the time it says is left
    max_jitter_s: int = 20


@dataclass(frozen=True)
class PollFacts:
    """What the payload knows about the task (pollbridge.decisions builds it from the PollPayload)."""

    task_id: str
    poll_number: int  # the poll running now (0: the segment, scheduling poll 1)
    started_ms: int  # origCallTimeUTC
    deadline_ms: int
    last_poll_ms: int | None = None  # when the previous poll ran
    media_ms: int | None = None  # the chunk's media duration (endOffsetMs - startOffsetMs)
    max_lag_s: int | None = None  # the task's own lag budget (engineConfig maxLagSeconds)
    transient_errors: int = 0  # consecutive vendor errors, this one included


@dataclass(frozen=True)
class VendorHints:
    """What the vendor said on this poll."""

    eta_ms: int | None = None  # estimatedCompletionAt
    progress: float | None = None  # 0..1
    retry_after_s: float | None = None  # a transient error's Retry-After
    queued: bool = False  # the job has not started processing yet (Queued or Pending)


NO_HINTS = VendorHints()


def next_poll_time(now_ms: int, facts: PollFacts, policy: PollPolicy, hints: VendorHints = NO_HINTS) -> int:
    """The `at()` time of the next poll, epoch ms, whole seconds (see the module's rules)."""
    min_ms = policy.min_interval_s * 1000
    budget_ms = _clamp(facts.max_lag_s or policy.max_lag_s, policy.min_interval_s, policy.max_interval_s) * 1000
    if facts.transient_errors > 0:
        delay = _after_error(facts.transient_errors, hints.retry_after_s, policy)
    elif hints.eta_ms is not None:
        delay = _towards(hints.eta_ms, now_ms, policy.eta_trust, budget_ms, policy)
    elif hints.progress is not None and 0 < hints.progress < 1:
        running_ms = max(now_ms - facts.started_ms, 0)  # queueing included: a late estimate, trusted less
        eta = now_ms + int(running_ms * (1 - hints.progress) / hints.progress)
        delay = min(_towards(eta, now_ms, 0.5, budget_ms, policy), policy.max_interval_s * 1000)
    else:
        delay = _blind(now_ms, facts, budget_ms, policy, queued=hints.queued)
    # At least min_interval_s (to the second) and in a later minute than this one.
    earliest = max(now_ms + min_ms - (now_ms + min_ms) % 1000, minute_of(now_ms) + MINUTE_MS)
    at = _jittered(now_ms + max(delay, min_ms), facts, policy)
    at = min(at, max(facts.deadline_ms, earliest))  # one poll at the deadline notices the timeout
    return max(at - at % 1000, earliest)


def _towards(eta_ms: int, now_ms: int, trust: float, budget_ms: int, policy: PollPolicy) -> int:
    """Delay towards an ETA: the earliest moment it could plausibly be met (a far ETA is thus
    approached in steps); once it is past, short spacing growing with how late the job is."""
    left = eta_ms - now_ms
    if left > 0:
        return int(left * (1 - trust))
    return _clamp(-left // 2, policy.min_interval_s * 1000, budget_ms)


def _blind(now_ms: int, facts: PollFacts, budget_ms: int, policy: PollPolicy, queued: bool = False) -> int:
    """No hint: not before the job can plausibly be done (counted from now if it is still queued),
    then a spacing that grows with how long it is overdue, up to the lag budget."""
    fastest = int(min(facts.media_ms or 0, _MAX_MEDIA_MS) * policy.min_real_time_factor)
    plausible = (now_ms if queued else facts.started_ms) + fastest
    if plausible - now_ms > policy.min_interval_s * 1000:  # a blind wait, so at most max_interval_s
        return min(_first_minute_after(plausible) - now_ms, policy.max_interval_s * 1000)
    overdue = max(now_ms - plausible, 0)
    return int(_clamp(overdue * policy.blind_growth, policy.min_interval_s * 1000, budget_ms))


def _first_minute_after(plausible_ms: int) -> int:
    """The time to aim at for the first poll after the earliest plausible completion. The scheduler
    fires anywhere within the minute, so a poll aimed at the plausible moment itself runs before it
    (and is wasted) as often as the moment is far into its minute: aim at its own minute only while
    the moment is in the first half (the poll then more likely runs after it), else at the next one.
    BENCHMARKS.md: without hints, 0.79x the polls of fixed 60 s instead of 0.81x, at the same p95 lag."""
    if plausible_ms - minute_of(plausible_ms) < MINUTE_MS // 2:
        return plausible_ms
    return minute_of(plausible_ms) + MINUTE_MS


def _after_error(errors: int, retry_after_s: float | None, policy: PollPolicy) -> int:
    steps = min(max(errors - 1, 0), _MAX_BACKOFF_STEPS)
    delay_s = policy.min_interval_s * policy.backoff**steps
    if retry_after_s is not None and math.isfinite(retry_after_s):
        delay_s = max(delay_s, retry_after_s)
    return int(_clamp(delay_s, policy.min_interval_s, policy.max_interval_s) * 1000)


def _jittered(at_ms: int, facts: PollFacts, policy: PollPolicy) -> int:
    """Up to max_jitter_s later, wrapped within the same minute: the minute (what decides when the
    scheduler fires) never changes, only the second. Deterministic per task and poll, so a repeated
    delivery computes exactly the same time."""
    digest = hashlib.sha256(f"{facts.task_id}\x00{facts.poll_number}".encode()).digest()
    jitter = int.from_bytes(digest[:8], "big") * policy.max_jitter_s * 1000 // 2**64
    minute = minute_of(at_ms)
    return minute + (at_ms - minute + jitter) % MINUTE_MS


def _clamp[N: (int, float)](value: N, low: N, high: N) -> N:
    return min(max(value, low), high)


def ceil_minute(epoch_ms: int) -> int:
    return math.ceil(epoch_ms / MINUTE_MS) * MINUTE_MS


def minute_of(epoch_ms: int) -> int:
    """The start of the minute a schedule for `epoch_ms` fires in (the earliest it may run)."""
    return epoch_ms - epoch_ms % MINUTE_MS


def schedule_expression(at_ms: int) -> str:
    """EventBridge Scheduler's one-time expression, in UTC, rounded up to the whole second."""
    seconds = math.ceil(at_ms / 1000)
    return f"at({datetime.fromtimestamp(seconds, UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def parse_schedule_expression(expression: str) -> int:
    """Inverse of schedule_expression (epoch ms); raises ValueError on anything else."""
    if not (expression.startswith("at(") and expression.endswith(")")):
        raise ValueError(f"not a one-time expression: {expression!r}")
    moment = datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso_utc(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
