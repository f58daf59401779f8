"""When to poll next: a pure function of the time, what the payload knows and what the vendor said.

The scheduler's precision shapes every rule here. EventBridge Scheduler fires an `at()` schedule
anywhere within the minute of its time (at(10:00:30) runs between 10:00:00 and 10:00:59), so what a
policy really chooses is the minute; and since poll n+1 is created by poll n, no two polls of a task
run in the same minute. Times are *not* rounded up to a whole minute: rounding promised "never before
nextPollTimeUTC" at the price of ~30 s of mean lag on every poll (BENCHMARKS.md); a poll that runs
up to 59 s early costs one cheap extra check at most.

- **Vendors' hints are estimates, and biased ones.** A vendor recomputes its `estimatedCompletionAt`
  at each poll from the work left, at a rate it misjudges: a cautious vendor's ETA is 1.5x or 2x too
  far and moves earlier as time passes, an eager one's moves later. The previous poll's hints travel
  in the payload (`PollFacts.previous`, seen at `last_poll_ms`), and from the two observations the
  policy reads how fast the vendor's "time left" really runs down (one second per second for an
  honest vendor, two for one whose ETAs are twice too far) and so where the job will really be done:
  the time left, divided by that rate. Two observations of `progress` give its rate the same way.
- **Aim** at the earliest moment that completion could plausibly be met: the estimate less a share
  of the time it says is left, `eta_trust` once the vendor's rate is known, `first_eta_trust` (a
  larger share) from a single observation, since a vendor's bias only shows once its ETA moves. A
  far-off completion is thus approached in steps and never overshot by much; once it is near, the
  poll lands in its minute or just before. Past an ETA the job has not met, polls follow at short
  spacing, growing with how late it is, up to the lag budget.
- **Without hints**: no poll before the job can plausibly be done (the media duration times the
  provider's minimum real-time factor, counted from now while the job is still queued; the first
  poll goes in the next minute when that moment falls in the second half of its own, where the
  scheduler would more likely fire before it than after), then a spacing that grows with how long
  the job is overdue, only up to the **lag budget** (`max_lag_s`, engineConfig `maxLagSeconds`; at
  the default 60 s that is one poll a minute, the densest the scheduler allows).
- **A transient error** backs off from the minimum interval (x`backoff` per consecutive error) and
  never polls before a finite `Retry-After`.
- **A refused submit** (the vendor busy or over its quota: admission, `next_submit_time`) backs off
  the same way, but spread over the whole wait (thousands refused together retry across minutes, not
  in one), and capped by how long the task has waited already: the longer it waited, the more often
  it tries, so tasks are taken roughly in arrival order and none starves behind later ones.
- **Jitter**: up to `max_jitter_s` seconds, wrapped within the minute (so the minute, what decides
  when the scheduler fires, never moves), derived from a hash of the task id and the poll number:
  thousands of tasks started together spread over the seconds, and a repeated delivery of a poll
  computes exactly the same time (one chain per task).
- **Bounds**: at least 60 s (and `min_interval_s`) after `now_ms`, always (the seed's "at least a
  minute" between a reply's `timestampUTC` and its `nextPollTimeUTC`); whole seconds, but for that
  least time itself, `now_ms` + 60 s to the millisecond (rounded up to the second it would skip a
  minute whenever now is in its minute's last second, BENCHMARKS.md); blind waits at
  most `max_interval_s` (a vendor's estimate may be followed further, as far as the deadline); never
  much past the deadline (one poll at the deadline notices the timeout); every exponent is capped
  and every input clamped, so any poll number and any hint is safe.

The scheduler's `at()` format lives with the scheduler (adapters/scheduler.py), date formatting
with the clock (pollbridge/clock.py): this module is the policy only.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from pollbridge.admission import MAX_CROWDING

MINUTE_MS = 60_000
MIN_AHEAD_MS = 60_000  # the seed: nextPollTimeUTC at least a minute after the reply's timestampUTC
_MAX_BACKOFF_STEPS = 64  # 1.5**64 * 60 s is far past any max interval; more steps would only overflow
_MAX_MEDIA_MS = 366 * 86_400_000  # models.common.MAX_OFFSET_MS: no chunk is longer
_MAX_AHEAD_MS = 400 * 86_400_000  # no estimate is believed further off than this (the deadline is nearer)
# Two observations closer together than this say too little about how a vendor's estimate moves
# (a vendor rounding its ETA to the second would make a rate from 5 s apart off by 40%).
MIN_OBSERVATION_GAP_MS = 30_000
# How fast a vendor's "time left" may run down, in seconds per second, to be believed: an ETA four
# times too far off either way is read as a bias; beyond, as a vendor that does not know.
_RATE_RANGE = (0.25, 4.0)


@dataclass(frozen=True)
class PollPolicy:
    """The deployment's knobs (settings and template parameters); a task may override max_lag_s."""

    min_interval_s: int = 60
    max_interval_s: int = 900
    max_lag_s: int = 60  # the lag budget without hints (BENCHMARKS.md has the curve for other budgets)
    backoff: float = 1.5  # after consecutive vendor errors
    blind_growth: float = 0.25  # without hints: spacing = this share of how long the job is overdue
    min_real_time_factor: float = 0.0  # the provider's fastest plausible processing time / media duration
    # How far off an estimate of the completion may be, as a share of the time it says is left: once
    # two observations gave the vendor's rate, plus `rate_doubt` per observation gap the rate is
    # extrapolated over (a rate measured over 5 minutes and followed for an hour is doubted more);
    # from a single observation (a vendor's bias shows only once its ETA moves: 0.75 does not overshoot
    # an ETA up to 4x too far).
    eta_trust: float = 0.1
    rate_doubt: float = 0.1
    first_eta_trust: float = 0.75
    max_jitter_s: int = 20
    # Admission: a refused submit waits at most admission_max_wait_s, less by admission_age_share of
    # each second the task has waited, down to admission_min_wait_s (BENCHMARKS.md, `make burst`).
    admission_max_wait_s: int = 1200
    admission_min_wait_s: int = 300
    admission_age_share: float = 0.5
    # How much of the crowding stretch a task keeps once its cap is down to admission_min_wait_s (a
    # young task keeps all of it): the longest-waiting still come back most often, but a crowd that
    # has waited an hour does not try every few minutes for a slot one in twenty finds.
    admission_crowding_kept: float = 0.75


@dataclass(frozen=True)
class VendorHints:
    """What the vendor said on a poll."""

    eta_ms: int | None = None  # estimatedCompletionAt
    progress: float | None = None  # 0..1
    retry_after_s: float | None = None  # a transient error's Retry-After
    queued: bool = False  # the job has not started processing yet (Queued or Pending)


NO_HINTS = VendorHints()


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
    previous: VendorHints | None = None  # what the vendor said on the previous poll (at last_poll_ms)


@dataclass(frozen=True)
class Estimate:
    """When the job will most likely be done, how far off that may be (a share of the time left), and
    (from a single observation) how soon to look again to learn the vendor's rate."""

    done_ms: int
    trust: float
    probe_ms: int | None = None  # the next poll no later than this after now


def next_poll_time(now_ms: int, facts: PollFacts, policy: PollPolicy, hints: VendorHints = NO_HINTS) -> int:
    """The `at()` time of the next poll, epoch ms: at least a minute after now_ms, always; whole
    seconds unless it is exactly that minute."""
    min_ms = policy.min_interval_s * 1000
    budget_ms = _clamp(facts.max_lag_s or policy.max_lag_s, policy.min_interval_s, policy.max_interval_s) * 1000
    if facts.transient_errors > 0:
        delay = _after_error(facts.transient_errors, hints.retry_after_s, policy)
    elif (estimate := estimate_completion(now_ms, facts, policy, hints)) is not None:
        delay = _towards(estimate, now_ms, budget_ms, policy)
        if hints.eta_ms is None:  # progress alone: never followed past a blind wait
            delay = min(delay, policy.max_interval_s * 1000)
    else:
        delay = _blind(now_ms, facts, budget_ms, policy, queued=hints.queued)
    # At least a minute (and min_interval_s) after now, so always in a later minute; whole seconds,
    # but for that least time itself (rounding it up would skip a minute when now is in its last second).
    earliest = now_ms + max(min_ms, MIN_AHEAD_MS)
    at = _jittered(now_ms + max(delay, min_ms), facts, policy)
    at = min(at, max(facts.deadline_ms, earliest))  # one poll at the deadline notices the timeout
    return max(at - at % 1000, earliest)


def estimate_completion(
    now_ms: int, facts: PollFacts, policy: PollPolicy, hints: VendorHints = NO_HINTS
) -> Estimate | None:
    """When the job will most likely be done, from what the vendor says now and said on the previous
    poll (None without a usable hint; an ETA that has passed is returned as it is: the job is late).

    From two observations `gap` apart, the vendor's rate: how fast its "time left" (ETA - now) runs
    down, in seconds per real second (an ETA twice too far runs down at 2, one twice too near at
    0.5), or how fast its progress grows. The time really left is the time it says is left divided
    by that rate. A rate outside `_RATE_RANGE` (an ETA that moved later, or jumped) is not believed,
    nor an ETA that did not move at all (a fixed promise): the current ETA is then taken as a single
    observation."""
    previous, last = facts.previous, facts.last_poll_ms
    gap = now_ms - last if last is not None and previous is not None else 0
    if gap < MIN_OBSERVATION_GAP_MS:
        previous = None
    if hints.eta_ms is not None:
        left = _clamp(hints.eta_ms - now_ms, -_MAX_AHEAD_MS, _MAX_AHEAD_MS)
        if left > 0 and previous is not None and previous.eta_ms is not None and last is not None:
            left_then = _clamp(previous.eta_ms - last, -_MAX_AHEAD_MS, _MAX_AHEAD_MS)
            rate = (left_then - left) / gap
            # An ETA that did not move at all is a promise, not an estimate recomputed from the work
            # left: it says nothing of the vendor's rate (BENCHMARKS.md: p95 2x -> 1.1x for promises).
            if previous.eta_ms != hints.eta_ms and _RATE_RANGE[0] <= rate <= _RATE_RANGE[1]:
                return _from_rate(now_ms, left / rate, gap, policy)
        return Estimate(now_ms + left, policy.first_eta_trust)
    progress = hints.progress
    if progress is None or not 0 < progress < 1 or not math.isfinite(progress):
        return None
    before = previous.progress if previous is not None else None
    if before is not None and math.isfinite(before) and 0 < before < progress:
        return _from_rate(now_ms, gap * (1 - progress) / (progress - before), gap, policy)
    # A single observation: the time left if progress grew at one rate since the job was last seen
    # not started (else since the task started, queueing included). That overestimates it by as much
    # as the job waited in the queue unseen, so the next poll also comes within half the time the
    # job has been running, and then the two observations give the rate.
    seen_idle = facts.previous is not None and (facts.previous.queued or not facts.previous.progress)
    since = last if seen_idle and last is not None else facts.started_ms
    running_ms = max(now_ms - since, 0)
    guess = min(running_ms * (1 - progress) / progress, _MAX_AHEAD_MS)
    return Estimate(now_ms + int(guess), policy.first_eta_trust, probe_ms=running_ms // 2)


def _from_rate(now_ms: int, left_ms: float, gap_ms: int, policy: PollPolicy) -> Estimate:
    """The completion a measured rate gives, doubted the more the further it is extrapolated."""
    left = min(left_ms, _MAX_AHEAD_MS)
    trust = min(policy.eta_trust + policy.rate_doubt * left / gap_ms, policy.first_eta_trust)
    return Estimate(now_ms + int(left), trust)


def _towards(estimate: Estimate, now_ms: int, budget_ms: int, policy: PollPolicy) -> int:
    """Delay towards an estimate: the earliest moment it could plausibly be met (a far one is thus
    approached in steps); once it is past, short spacing growing with how late the job is."""
    left = estimate.done_ms - now_ms
    if left > 0:
        delay = int(left * (1 - _clamp(estimate.trust, 0.0, 1.0)))
        return delay if estimate.probe_ms is None else min(delay, estimate.probe_ms)
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


def next_submit_time(
    now_ms: int, facts: PollFacts, policy: PollPolicy, retry_after_s: float | None = None, crowding: float = 1.0
) -> int:
    """When a task whose submit the vendor refused for now (`facts.transient_errors` refusals so far,
    this one included) tries again: epoch ms, whole seconds, at least a minute after now_ms.

    The wait backs off from min_interval_s (x backoff per refusal), capped by the task's age (the
    longest wait, less admission_age_share of each second waited, not below admission_min_wait_s),
    then stretched by `crowding` (admission.AdmissionWatch: how much rarer tries may come and still
    fill every slot the vendor frees, 1 to MAX_CROWDING; fully for a task that just came, by
    admission_crowding_kept of it once its cap is down to admission_min_wait_s), and drawn from its
    upper half by a hash of the task and the refusal count: spread, so a burst's refusals do not come
    back together, and deterministic for the same facts. Never before a finite Retry-After. A wait
    past the task's deadline becomes a last try a minute before it, when that is still ahead (and the
    Retry-After allows it)."""
    age_s = max(0, now_ms - facts.started_ms) / 1000
    longest = float(policy.admission_max_wait_s)
    cap = _clamp(longest - age_s * policy.admission_age_share, float(policy.admission_min_wait_s), longest)
    steps = min(max(facts.transient_errors - 1, 0), _MAX_BACKOFF_STEPS)
    # Crowding stretches young tasks' waits fully and the longest-waiting ones less: rarer tries
    # where they cost least, and the oldest keep their turn. (Not stretching the oldest at all, a
    # 5,000-task burst made 10.3 tries per task, most by tasks waiting over half an hour: `make burst`.)
    youth = (cap - policy.admission_min_wait_s) / max(longest - policy.admission_min_wait_s, 1.0)
    kept = policy.admission_crowding_kept + (1.0 - policy.admission_crowding_kept) * youth
    stretch = 1.0 + (_clamp(crowding, 1.0, MAX_CROWDING) - 1.0) * kept
    wait_s = min(policy.min_interval_s * policy.backoff**steps, cap) * stretch
    digest = hashlib.sha256(f"{facts.task_id}\x00submit\x00{facts.transient_errors}".encode()).digest()
    wait_s *= 0.5 + 0.5 * int.from_bytes(digest[:8], "big") / 2**64
    earliest = now_ms + max(policy.min_interval_s * 1000, MIN_AHEAD_MS)
    if retry_after_s is not None and math.isfinite(retry_after_s):
        asked_s = min(max(retry_after_s, 0.0), float(_MAX_AHEAD_MS // 1000))
        wait_s = max(wait_s, asked_s)
        earliest = max(earliest, now_ms + int(asked_s * 1000))
    at = now_ms + int(wait_s * 1000)
    last_chance = (facts.deadline_ms - MINUTE_MS) // 1000 * 1000
    if at >= facts.deadline_ms and last_chance >= earliest:
        return last_chance
    return earliest if at <= earliest else -(-at // 1000) * 1000


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


def minute_of(epoch_ms: int) -> int:
    """The start of the minute a schedule for `epoch_ms` fires in (the earliest it may run)."""
    return epoch_ms - epoch_ms % MINUTE_MS
