"""EventBridge Scheduler's `at()` format (adapters/scheduler.py) and the clock's date format: moved
out of the timing policy (issue 17)."""

from dataclasses import replace

import pytest

from pollbridge.adapters.scheduler import parse_schedule_expression, schedule_expression
from pollbridge.clock import iso_utc
from pollbridge.timing import MINUTE_MS, PollFacts, PollPolicy, minute_of, next_poll_time

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_expression_is_utc_to_the_second_and_parses_back() -> None:
    assert schedule_expression(START) == "at(2026-01-01T00:00:00)"
    assert schedule_expression(START + 1_000) == "at(2026-01-01T00:00:01)"
    assert parse_schedule_expression("at(2026-01-01T00:00:01)") == START + 1_000
    for at in (START, START + 59_000, START + 86_399_000):
        assert parse_schedule_expression(schedule_expression(at)) == at


@pytest.mark.parametrize("into_minute_ms", [1, 999, 59_001, 59_999])
def test_a_time_between_seconds_stays_in_its_minute(into_minute_ms: int) -> None:
    """The scheduler honours only the minute: rounding up from 00:00:59.400 would make it 00:01:00."""
    at = START + into_minute_ms
    assert minute_of(parse_schedule_expression(schedule_expression(at))) == minute_of(at)


def test_the_policys_least_time_is_scheduled_in_the_next_minute() -> None:
    now = START + 59_400  # in the last second of its minute
    facts = PollFacts("task-1", 5, now - 3_600_000, now + 86_400_000, now - 60_000)
    at = next_poll_time(now, facts, replace(PollPolicy(), max_jitter_s=0))
    assert at == now + 60_000
    assert parse_schedule_expression(schedule_expression(at)) == START + MINUTE_MS + 59_000


def test_parse_rejects_other_expressions() -> None:
    for other in ("rate(5 minutes)", "cron(0 12 * * ? *)", "at(2026-01-01 00:00:00)", "at(tomorrow)"):
        with pytest.raises(ValueError):
            parse_schedule_expression(other)


def test_iso_utc_is_to_the_millisecond_with_a_z() -> None:
    assert iso_utc(START + 17_250) == "2026-01-01T00:00:17.250Z"
    assert iso_utc(START) == "2026-01-01T00:00:00.000Z"
