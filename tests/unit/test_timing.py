"""The timing policy's rules. How good it is (polls versus lag) is measured by `make bench`, not here."""

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pollbridge.timing import (
    MINUTE_MS,
    PollFacts,
    PollPolicy,
    VendorHints,
    minute_of,
    next_poll_time,
    parse_schedule_expression,
    schedule_expression,
)

NOW = 1_767_225_600_000 + 17_250  # 2026-01-01T00:00:17.250Z
FAR = NOW + 86_400_000
POLICY = PollPolicy()
FACTS = PollFacts(task_id="task-1", poll_number=3, started_ms=NOW - 600_000, deadline_ms=FAR, last_poll_ms=NOW - 60_000)
NO_JITTER = replace(POLICY, max_jitter_s=0)


def later(at: int, now: int = NOW) -> float:
    return (at - now) / 1000


def test_times_are_whole_seconds_at_least_the_minimum_ahead_and_in_a_later_minute() -> None:
    for now in (NOW, NOW - 17_250, NOW + 42_700, NOW + 42_999):
        at = next_poll_time(now, replace(FACTS, last_poll_ms=now - 60_000), POLICY)
        assert at % 1000 == 0
        assert at - now > 59_000  # min_interval_s, to the second
        assert minute_of(at) > minute_of(now)


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
def test_an_eta_is_approached_never_overshot(left_s: int) -> None:
    eta = NOW + left_s * 1000
    at = next_poll_time(NOW, FACTS, NO_JITTER, VendorHints(eta_ms=eta))
    assert at <= eta  # never after what the vendor promised
    assert at >= NOW + left_s * 1000 * (1 - POLICY.eta_trust) - 1000  # not much before either


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


def test_progress_alone_gives_a_rough_eta() -> None:
    facts = replace(FACTS, started_ms=NOW - 600_000, max_lag_s=900)  # 10 minutes in, 10% done
    halfway = next_poll_time(NOW, facts, NO_JITTER, VendorHints(progress=0.5))
    barely = next_poll_time(NOW, facts, NO_JITTER, VendorHints(progress=0.01))
    assert later(halfway) == pytest.approx(300, abs=1)  # 600 s left, trusted half: 300 s
    assert later(barely) == pytest.approx(900, abs=1)  # never longer than a blind wait may be


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


@given(
    poll_number=st.integers(0, 9_999_999),
    errors=st.integers(0, 9_999_999),
    age_ms=st.integers(0, 10**13),
    media_ms=st.none() | st.integers(0, 366 * 86_400_000),
    eta_offset=st.none() | st.integers(-(10**13), 10**13),
    progress=st.none() | st.floats(0, 1),
    retry_after=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    budget=st.none() | st.integers(60, 86_400),
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
) -> None:
    policy = replace(POLICY, min_real_time_factor=10.0)
    facts = PollFacts("t", poll_number, NOW - age_ms, FAR, NOW - 1, media_ms, budget, errors)
    eta = None if eta_offset is None else max(NOW + eta_offset, 0)
    at = next_poll_time(NOW, facts, policy, VendorHints(eta, progress, retry_after))
    assert isinstance(at, int)
    assert NOW + 59_000 < at <= FAR


def test_expression_is_utc_whole_second_rounded_up() -> None:
    assert schedule_expression(1_767_225_600_000) == "at(2026-01-01T00:00:00)"
    assert schedule_expression(1_767_225_600_001) == "at(2026-01-01T00:00:01)"
    assert parse_schedule_expression("at(2026-01-01T00:00:01)") == 1_767_225_601_000


def test_parse_rejects_other_expressions() -> None:
    with pytest.raises(ValueError, match="not a one-time"):
        parse_schedule_expression("rate(5 minutes)")


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
