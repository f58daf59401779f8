"""One HTTP policy for pollbridge's three clients (the media fetch, the vendor's API, aiWARE's
GraphQL API): which statuses are worth asking again, what a Retry-After says, and how much of an
answer is read, and how. Each client words its own errors; what they mean is decided here."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal, NamedTuple

# Worth asking again later: the server is busy, over its quota or failing for now.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 86_400.0  # a longer wait asked for is read as this (the task's deadline bounds it)
PIECE_BYTES = 64 * 1024  # an answer is read in pieces of at most this


def is_transient(status: int) -> bool:
    return status in TRANSIENT_STATUSES


def retry_after_s(value: str | None) -> float | None:
    """A Retry-After in seconds, finite, within 0..MAX_RETRY_AFTER_S; anything else (an HTTP date,
    NaN, inf, words) says nothing."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def declared_over(headers: Mapping[str, str], limit: int) -> bool:
    """The answer's Content-Length says it is larger than `limit`: refused unread."""
    declared = (headers.get("Content-Length") or "").strip()
    return declared.isascii() and declared.isdigit() and int(declared) > limit


class Answer(NamedTuple):
    body: bytes
    outcome: Literal["whole", "too large", "late"]


def read_bounded(read: Callable[[int], bytes], limit: int, expired: Callable[[], bool]) -> Answer:
    """An answer read in pieces (`read(n)` gives at most n bytes, b"" at the end) until its end, past
    `limit` bytes, or `expired()`, whichever comes first. In pieces, because one read of the whole
    holds as much as the sender sends, for as long as it takes to send it."""
    received = bytearray()
    while piece := read(min(PIECE_BYTES, limit + 1 - len(received))):
        received += piece
        if len(received) > limit:
            return Answer(bytes(received), "too large")
        if expired():
            return Answer(bytes(received), "late")
    return Answer(bytes(received), "whole")
