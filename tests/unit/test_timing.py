"""The timing policy's rules. How good it is (polls versus lag) is measured by `make bench`, not here."""

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pollbridge.timing import (
    MIN_OBSERVATION_GAP_MS,
    MINUTE_MS,
    PollFacts,
    PollPolicy,
    VendorHints,
    estimate_completion,
    minute_of,
    next_poll_time,
)

NOW = 1_767_225_600_000 + 17_250  # 2026-01-01T00:00:17.250Z
FAR = NOW + 86_400_000
POLICY = PollPolicy()
FACTS = PollFacts(task_id="task-1", poll_number=3, started_ms=NOW - 600_000, deadline_ms=FAR, last_poll_ms=NOW - 60_000)
NO_JITTER = replace(POLICY, max_jitter_s=0)


def later(at: int, now: int = NOW) -> float:
    return (at - now) / 1000


def test_times_are_at_least_a_minute_ahead_whole_seconds_and_in_a_later_minute() -> None:
    for now in (NOW, NOW - 17_250, NOW + 42_700, NOW + 42_999):
        at = next_poll_time(now, replace(FACTS, last_poll_ms=now - 60_000), POLICY)
        assert at >= now + 60_000  # the seed: nextPollTimeUTC at least a minute after timestampUTC
        assert at % 1000 == 0 or at == now + 60_000  # whole seconds, but for that least time itself
        assert minute_of(at) > minute_of(now)


@pytest.mark.parametrize("into_minute_ms", [0, 1, 999, 30_500, 58_999, 59_000, 59_001, 59_400, 59_999])
def test_the_least_time_is_a_minute_after_now_in_the_next_minute_never_a_minute_later(into_minute_ms: int) -> None:
    """Rounding now + 60 s up to the second would skip a minute whenever now is in its minute's last
    second; rounding it down would be under a minute. The least time is now + 60 s exactly."""
    now = minute_of(NOW) + into_minute_ms
    facts = replace(FACTS, started_ms=now - 3_600_000, last_poll_ms=now - 60_000)  # overdue: the least spacing
    at = next_poll_time(now, facts, NO_JITTER)
    assert at == now + 60_000
    assert minute_of(at) == minute_of(now) + MINUTE_MS
    for hints in (VendorHints(eta_ms=now + 1_000), VendorHints(eta_ms=now - 1_000), VendorHints(progress=0.999)):
        assert next_poll_time(now, facts, POLICY, hints) >= now + 60_000


def test_first_poll_waits_for_the_media_to_be_plausibly_processed() -> None:
    policy = replace(NO_JITTER, min_real_time_factor=0.25)
    first = PollFacts("task-1", 0, NOW, FAR, media_ms=3_600_000)
    assert later(next_poll_time(NOW, first, policy)) == pytest.approx(900, abs=1)
    # no media duration, or no factor declared: a minute
    assert later(next_poll_time(NOW, replace(first, media_ms=None), policy)) == pytest.approx(60, abs=1)
    assert later(next_poll_time(NOW, first, NO_JITTER)) == pytest.approx(60, abs=1)


def test_a_queued_job_counts_the_plausible_processing_time_from_now() -> None:
    policy = replace(NO_JITTER, min_real_time_factor=0.25)
    facts = PollFacts("task-1", 1, NOW - 900_000, FAR, last_poll_ms=None, media_ms=3_600_000)
    running = next_poll_time(NOW, facts, policy)
    queued = next_poll_time(NOW, facts, policy, VendorHints(queued=True))
    assert later(running) == pytest.approx(60, abs=1)
    assert later(queued) == pytest.approx(900, abs=1)


@pytest.mark.parametrize("budget", [60, 120, 300, 900])
def test_without_hints_the_spacing_grows_only_up_to_the_lag_budget(budget: int) -> None:
    delays = [
        later(next_poll_time(NOW, replace(FACTS, started_ms=NOW - age * 1000, max_lag_s=budget), NO_JITTER))
        for age in (60, 300, 1_200, 3_600, 86_000)
    ]
    assert delays == sorted(delays)
    assert delays[0] == pytest.approx(60, abs=1)
    assert max(delays) == pytest.approx(budget, abs=1)


def test_the_task_budget_is_bounded_by_the_deployment() -> None:
    old = replace(FACTS, started_ms=NOW - 86_000_000)
    assert later(next_poll_time(NOW, replace(old, max_lag_s=10**6), NO_JITTER)) == pytest.approx(900, abs=1)
    assert later(next_poll_time(NOW, replace(old, max_lag_s=None), replace(NO_JITTER, max_lag_s=300))) == (
        pytest.approx(300, abs=1)
    )


@pytest.mark.parametrize("left_s", [90, 300, 1_200, 7_200, 40_000])
def test_a_single_eta_is_approached_never_overshot(left_s: int) -> None:
    eta = NOW + left_s * 1000
    at = next_poll_time(NOW, FACTS, NO_JITTER, VendorHints(eta_ms=eta))
    assert at <= max(eta, NOW + 60_000)  # never after what the vendor promised
    assert at >= NOW + left_s * 1000 * (1 - POLICY.first_eta_trust) - 1000  # not much before either


@pytest.mark.parametrize("too_far", [1.0, 1.5, 2.0, 3.0, 3.9])
def test_a_single_eta_up_to_four_times_too_far_is_not_overshot(too_far: float) -> None:
    """A vendor's bias shows only once its ETA moves: from one observation the policy steps only a
    quarter of the way, so that even an ETA 4x too far leaves a second look before the completion."""
    done = NOW + 3_600_000
    eta = NOW + int((done - NOW) * too_far)
    assert next_poll_time(NOW, FACTS, POLICY, VendorHints(eta_ms=eta)) <= done


def test_far_etas_are_followed_past_the_max_interval_but_not_past_the_deadline() -> None:
    at = next_poll_time(NOW, FACTS, NO_JITTER, VendorHints(eta_ms=NOW + 7_200_000))
    assert later(at) > POLICY.max_interval_s
    deadline = NOW + 3_600_000
    at = next_poll_time(NOW, replace(FACTS, deadline_ms=deadline), POLICY, VendorHints(eta_ms=FAR))
    assert deadline - 1000 < at <= deadline


def test_past_the_eta_polls_come_soon_then_spread_within_the_budget() -> None:
    soon = next_poll_time(NOW, FACTS, NO_JITTER, VendorHints(eta_ms=NOW - 10_000))
    late = next_poll_time(NOW, replace(FACTS, max_lag_s=300), NO_JITTER, VendorHints(eta_ms=NOW - 3_600_000))
    assert later(soon) == pytest.approx(60, abs=1)
    assert later(late) == pytest.approx(300, abs=1)


def test_a_single_progress_gives_a_rough_estimate_and_a_second_look_within_half_the_running_time() -> None:
    facts = replace(FACTS, started_ms=NOW - 600_000, max_lag_s=900)  # 10 minutes in
    halfway = next_poll_time(NOW, facts, NO_JITTER, VendorHints(progress=0.5))
    barely = next_poll_time(NOW, facts, NO_JITTER, VendorHints(progress=0.01))
    assert later(halfway) == pytest.approx(600 * (1 - POLICY.first_eta_trust), abs=1)  # 600 s left, a quarter
    assert later(barely) == pytest.approx(300, abs=1)  # the running time may be mostly queueing: look again soon
    # the job was seen queued on the previous poll: it has been running at most since then
    queued_then = replace(facts, last_poll_ms=NOW - 240_000, previous=VendorHints(progress=0.0, queued=True))
    assert later(next_poll_time(NOW, queued_then, NO_JITTER, VendorHints(progress=0.5))) == pytest.approx(60, abs=1)


def test_retry_after_is_honoured_when_finite_and_bounded_by_the_max_interval() -> None:
    errors = replace(FACTS, transient_errors=1)
    assert later(next_poll_time(NOW, errors, NO_JITTER, VendorHints(retry_after_s=400))) == pytest.approx(400, abs=1)
    assert later(next_poll_time(NOW, errors, NO_JITTER, VendorHints(retry_after_s=1))) == pytest.approx(60, abs=1)
    assert later(next_poll_time(NOW, errors, NO_JITTER, VendorHints(retry_after_s=10**9))) == pytest.approx(900, abs=1)
    for unusable in (math.inf, -math.inf, math.nan):
        plain = next_poll_time(NOW, errors, NO_JITTER)
        assert next_poll_time(NOW, errors, NO_JITTER, VendorHints(retry_after_s=unusable)) == plain


def test_consecutive_errors_back_off_up_to_the_max_interval() -> None:
    delays = [later(next_poll_time(NOW, replace(FACTS, transient_errors=n), NO_JITTER)) for n in range(1, 12)]
    assert delays == sorted(delays)
    assert delays[0] == pytest.approx(60, abs=1) and delays[1] == pytest.approx(90, abs=1)
    assert delays[-1] == pytest.approx(900, abs=1)


def test_never_much_past_the_deadline() -> None:
    deadline = NOW + 90_000
    at = next_poll_time(NOW, replace(FACTS, deadline_ms=deadline, started_ms=NOW - 86_000_000, max_lag_s=900), POLICY)
    assert at <= deadline
    passed = next_poll_time(NOW, replace(FACTS, deadline_ms=NOW - 1), POLICY)
    assert 59_000 < passed - NOW <= 60_000  # one poll right after it notices the timeout


def test_jitter_is_deterministic_bounded_and_keeps_the_minute() -> None:
    seen = set()
    for number in range(200):
        facts = replace(FACTS, task_id=f"task-{number}")
        at = next_poll_time(NOW, facts, POLICY)
        assert at == next_poll_time(NOW, facts, POLICY)  # a repeated delivery computes the same time
        assert minute_of(at) == minute_of(next_poll_time(NOW, facts, NO_JITTER))
        seen.add(at % MINUTE_MS // 1000)
    assert len(seen) >= 15  # 200 tasks started together spread over the seconds of the minute


hints_strategy = st.builds(
    VendorHints,
    eta_ms=st.none() | st.integers(-(10**15), 10**15),
    progress=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    retry_after_s=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    queued=st.booleans(),
)


@given(
    poll_number=st.integers(0, 9_999_999),
    errors=st.integers(0, 9_999_999),
    age_ms=st.integers(0, 10**13),
    media_ms=st.none() | st.integers(0, 366 * 86_400_000),
    eta_offset=st.none() | st.integers(-(10**13), 10**13),
    progress=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    retry_after=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    budget=st.none() | st.integers(60, 86_400),
    previous=st.none() | hints_strategy,
    last_ago_ms=st.none() | st.integers(-(10**6), 10**13),
    now_ms=st.integers(NOW - 10**6, NOW + 10**6),
)
def test_any_input_gives_a_bounded_time(
    poll_number: int,
    errors: int,
    age_ms: int,
    media_ms: int | None,
    eta_offset: int | None,
    progress: float | None,
    retry_after: float | None,
    budget: int | None,
    previous: VendorHints | None,
    last_ago_ms: int | None,
    now_ms: int,
) -> None:
    policy = replace(POLICY, min_real_time_factor=10.0)
    last = None if last_ago_ms is None else now_ms - last_ago_ms
    facts = PollFacts("t", poll_number, now_ms - age_ms, FAR, last, media_ms, budget, errors, previous)
    eta = None if eta_offset is None else max(now_ms + eta_offset, 0)
    at = next_poll_time(now_ms, facts, policy, VendorHints(eta, progress, retry_after))
    assert isinstance(at, int)
    assert now_ms + 60_000 <= at <= FAR


def test_the_first_poll_after_the_prior_goes_in_the_minute_it_more_likely_runs_after_the_prior() -> None:
    """The scheduler fires anywhere in the minute: a prior late in its minute would mostly be polled
    before it, so that poll moves to the next minute; one early in its minute keeps its minute."""
    policy = replace(NO_JITTER, min_real_time_factor=0.25, max_interval_s=3_600)
    start = minute_of(NOW)
    early = PollFacts("task-1", 0, start, FAR, media_ms=4 * 900_000 + 4 * 20_000)  # prior at +15:20
    late = replace(early, media_ms=4 * 900_000 + 4 * 40_000)  # prior at +15:40
    assert next_poll_time(start, early, policy) == start + 920_000
    assert next_poll_time(start, late, policy) == start + 960_000  # +16:00, the next minute's start
    jittered = next_poll_time(start, late, replace(policy, max_jitter_s=20))
    assert minute_of(jittered) == start + 960_000  # jitter moves the second, never the minute


def test_a_prior_further_than_the_max_interval_is_approached_in_blind_waits_of_at_most_that() -> None:
    policy = replace(NO_JITTER, min_real_time_factor=0.5)  # 3 h of media: plausibly done after 90 min
    first = PollFacts("task-1", 0, NOW, FAR, media_ms=3 * 3_600_000)
    at = next_poll_time(NOW, first, policy)
    assert later(at) == pytest.approx(900, abs=1)  # POLL_MAX_INTERVAL_SECONDS, not 5,400 s
    second = replace(first, poll_number=1, last_poll_ms=NOW)
    assert later(next_poll_time(at, second, policy), at) == pytest.approx(900, abs=1)  # still ahead: wait again
    near = NOW + 5_400_000 - 300_000  # five minutes before the prior
    assert later(next_poll_time(near, second, policy), near) == pytest.approx(300, abs=60)


# Two observations: what the vendor said on the previous poll (at last_poll_ms) and now.
DONE = NOW + 3_600_000  # when the job really completes
LAST = NOW - 600_000  # the previous poll, ten minutes ago


def vendor_eta(at_ms: int, skew: float) -> int:
    """A vendor recomputing its ETA at each poll from the work left, at a rate it misjudges by `skew`."""
    return at_ms + int((DONE - at_ms) * skew)


def observed(skew: float, gap_ms: int = NOW - LAST, now: int = NOW) -> tuple[PollFacts, VendorHints]:
    then = now - gap_ms
    facts = replace(FACTS, last_poll_ms=then, previous=VendorHints(eta_ms=vendor_eta(then, skew)))
    return facts, VendorHints(eta_ms=vendor_eta(now, skew))


@pytest.mark.parametrize("skew", [0.3, 0.5, 0.6, 0.9, 0.999, 1.1, 1.4, 1.5, 2.0, 3.0])
def test_two_observations_give_the_vendors_rate_and_the_corrected_completion(skew: float) -> None:
    facts, hints = observed(skew)
    estimate = estimate_completion(NOW, facts, POLICY, hints)
    assert estimate is not None
    assert estimate.done_ms == pytest.approx(DONE, abs=1_000)  # whatever the vendor's bias
    assert estimate.trust < POLICY.first_eta_trust  # believed more than a single observation
    at = next_poll_time(NOW, facts, NO_JITTER, hints)
    assert at <= DONE  # aimed before the real completion (a cautious vendor's ETA is far past it)
    assert at >= NOW + (DONE - NOW) * (1 - estimate.trust) - 1000  # and not much before it


def test_a_cautious_vendor_is_polled_at_its_real_completion_not_at_its_eta() -> None:
    """2x too far, five minutes before the completion: the vendor says ten, the policy aims within five."""
    now = DONE - 300_000
    facts, hints = observed(2.0, gap_ms=900_000, now=now)
    assert hints.eta_ms == DONE + 300_000
    at = next_poll_time(now, facts, NO_JITTER, hints)
    assert now + 60_000 <= at <= DONE


def test_an_eager_vendor_is_waited_for_past_its_eta_but_not_past_the_completion() -> None:
    facts, hints = observed(0.5, gap_ms=1_800_000)  # half an hour apart: the rate is believed well past it
    assert hints.eta_ms is not None and hints.eta_ms < DONE
    at = next_poll_time(NOW, facts, NO_JITTER, hints)
    assert hints.eta_ms < at <= DONE


def test_an_eta_that_never_moves_is_a_promise_approached_as_a_single_observation() -> None:
    """A fixed promise says nothing of the vendor's rate (an ETA recomputed from the work left moves)."""
    promise = VendorHints(eta_ms=NOW + 1_800_000)
    facts = replace(FACTS, last_poll_ms=LAST, previous=promise)
    assert estimate_completion(NOW, facts, POLICY, promise) == estimate_completion(NOW, FACTS, POLICY, promise)
    moved = replace(facts, previous=VendorHints(eta_ms=NOW + 1_800_000 + 1))  # a recomputed, honest one
    estimate = estimate_completion(NOW, moved, POLICY, promise)
    assert estimate is not None and estimate.trust < POLICY.first_eta_trust


@pytest.mark.parametrize(
    "previous_eta",
    [
        LAST + 7_200_000 + 1_800_000,  # 2.5 h left then, 30 minutes now, 10 minutes later: a jump
        NOW - 7_200_000,  # the previous ETA had long passed
        NOW + 1_800_000 - 540_000,  # the ETA moved 9 minutes later in 10: running down at 0.1 s a second
    ],
)
def test_a_rate_out_of_range_is_not_believed_the_current_eta_is_taken_alone(previous_eta: int) -> None:
    facts = replace(FACTS, last_poll_ms=LAST, previous=VendorHints(eta_ms=previous_eta))
    hints = VendorHints(eta_ms=NOW + 1_800_000)
    assert estimate_completion(NOW, facts, POLICY, hints) == estimate_completion(NOW, FACTS, POLICY, hints)


def test_observations_too_close_together_say_nothing_about_a_rate() -> None:
    facts, hints = observed(2.0, gap_ms=MIN_OBSERVATION_GAP_MS - 1)
    alone = estimate_completion(NOW, replace(facts, previous=None), POLICY, hints)
    assert estimate_completion(NOW, facts, POLICY, hints) == alone
    facts, hints = observed(2.0, gap_ms=MIN_OBSERVATION_GAP_MS)
    assert estimate_completion(NOW, facts, POLICY, hints) != alone


def test_a_rate_followed_far_past_its_observations_is_doubted_more() -> None:
    near, hints = observed(1.05, gap_ms=3_000_000)
    far, _ = observed(1.05, gap_ms=60_000)
    trust_near = estimate_completion(NOW, near, POLICY, hints)
    trust_far = estimate_completion(NOW, far, POLICY, hints)
    assert trust_near is not None and trust_far is not None
    assert POLICY.eta_trust < trust_near.trust < trust_far.trust <= POLICY.first_eta_trust


def test_two_progress_observations_give_its_rate() -> None:
    """40% at LAST, 50% now: 10% in 10 minutes, so 50 minutes left (the task's start, which includes
    queueing, does not matter any more)."""
    facts = replace(FACTS, started_ms=NOW - 86_400_000, last_poll_ms=LAST, previous=VendorHints(progress=0.4))
    estimate = estimate_completion(NOW, facts, POLICY, VendorHints(progress=0.5))
    assert estimate is not None and estimate.done_ms == pytest.approx(NOW + 3_000_000, abs=1_000)
    stalled = replace(facts, previous=VendorHints(progress=0.5))  # no progress: the rate is unknown
    single = estimate_completion(NOW, replace(stalled, previous=None), POLICY, VendorHints(progress=0.5))
    assert estimate_completion(NOW, stalled, POLICY, VendorHints(progress=0.5)) == single
    assert single is not None and single.probe_ms is not None


def test_after_an_eta_passes_polls_follow_within_the_lag_budget_whatever_was_said_before() -> None:
    facts = replace(FACTS, last_poll_ms=LAST, previous=VendorHints(eta_ms=NOW - 300_000), max_lag_s=120)
    assert later(next_poll_time(NOW, facts, NO_JITTER, VendorHints(eta_ms=NOW - 3_600_000))) == pytest.approx(
        120, abs=1
    )
