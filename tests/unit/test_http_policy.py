"""The one HTTP policy the media fetch, the vendor client and the aiWARE sink share: what is worth
asking again, what a Retry-After says, how much of an answer is read."""

from __future__ import annotations

import io

import pytest

from pollbridge.adapters.http_policy import (
    MAX_RETRY_AFTER_S,
    PIECE_BYTES,
    declared_over,
    is_transient,
    read_bounded,
    retry_after_s,
)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_busy_and_failing_for_now_are_worth_asking_again(status: int) -> None:
    assert is_transient(status)


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 409, 413, 501])
def test_everything_else_is_not(status: int) -> None:
    assert not is_transient(status)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("12", 12.0), (" 1.5 ", 1.5), ("-3", 0.0), ("1e300", MAX_RETRY_AFTER_S), ("0", 0.0)],
)
def test_a_retry_after_in_seconds_is_read_within_bounds(value: str, seconds: float) -> None:
    assert retry_after_s(value) == seconds


@pytest.mark.parametrize("value", [None, "", "NaN", "inf", "soon", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_a_retry_after_that_is_no_number_of_seconds_says_nothing(value: str | None) -> None:
    assert retry_after_s(value) is None


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    assert declared_over({"Content-Length": "101"}, 100)
    assert not declared_over({"Content-Length": "100"}, 100)
    assert not declared_over({"Content-Length": "lots"}, 100) and not declared_over({}, 100)


def test_an_answer_is_read_whole_in_pieces() -> None:
    sizes: list[int] = []
    body = io.BytesIO(b"x" * (PIECE_BYTES * 2 + 5))

    def read(size: int) -> bytes:
        sizes.append(size)
        return body.read(size)

    answer = read_bounded(read, 10**6, lambda: False)
    assert answer.outcome == "whole" and len(answer.body) == PIECE_BYTES * 2 + 5
    assert max(sizes) == PIECE_BYTES


def test_reading_stops_just_past_the_limit_or_at_the_deadline() -> None:
    endless = io.BytesIO(b"y" * 10_000)
    too_large = read_bounded(endless.read, 100, lambda: False)
    assert too_large.outcome == "too large" and len(too_large.body) == 101  # one byte past, no more
    late = read_bounded(io.BytesIO(b"z" * 10).read, 100, lambda: True)
    assert late.outcome == "late"
