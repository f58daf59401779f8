from pollbridge.timing import (
    MINUTE_MS,
    PollPolicy,
    ceil_minute,
    next_poll_time,
    parse_schedule_expression,
    schedule_expression,
)

NOW = 1_767_225_600_000 + 17_250  # 2026-01-01T00:00:17.250Z
FAR = NOW + 86_400_000
POLICY = PollPolicy()


def test_first_poll_is_at_least_a_minute_ahead_and_on_a_minute() -> None:
    at = next_poll_time(NOW, 0, FAR, POLICY)
    assert at - NOW >= 60_000
    assert at % MINUTE_MS == 0
    assert at - NOW < 120_000


def test_backoff_grows_with_polls_and_is_capped() -> None:
    times = [next_poll_time(NOW, n, FAR, POLICY) - NOW for n in range(1, 12)]
    assert times == sorted(times)
    assert times[-1] <= POLICY.max_interval_s * 1000 + MINUTE_MS
    assert times[3] > times[0]


def test_vendor_eta_sets_the_next_poll_just_after_it() -> None:
    eta = NOW + 7 * 60_000
    at = next_poll_time(NOW, 5, FAR, POLICY, eta_ms=eta)
    assert eta <= at < eta + POLICY.eta_grace_s * 1000 + MINUTE_MS


def test_eta_in_the_past_falls_back_to_backoff() -> None:
    assert next_poll_time(NOW, 1, FAR, POLICY, eta_ms=NOW - 1) == next_poll_time(NOW, 1, FAR, POLICY)


def test_retry_after_is_respected_and_minimum_holds() -> None:
    assert next_poll_time(NOW, 1, FAR, POLICY, retry_after_s=400) - NOW >= 400_000
    assert next_poll_time(NOW, 1, FAR, POLICY, retry_after_s=1) - NOW >= 60_000


def test_never_much_past_the_deadline() -> None:
    deadline = NOW + 90_000
    at = next_poll_time(NOW, 9, deadline, POLICY)
    assert at <= ceil_minute(deadline)
    assert at - NOW >= 60_000


def test_expression_is_utc_whole_second_rounded_up() -> None:
    assert schedule_expression(1_767_225_600_000) == "at(2026-01-01T00:00:00)"
    assert schedule_expression(1_767_225_600_001) == "at(2026-01-01T00:00:01)"
    assert parse_schedule_expression("at(2026-01-01T00:00:01)") == 1_767_225_601_000


def test_parse_rejects_other_expressions() -> None:
    import pytest

    with pytest.raises(ValueError, match="not a one-time"):
        parse_schedule_expression("rate(5 minutes)")
