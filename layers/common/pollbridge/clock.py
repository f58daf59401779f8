"""The one clock every component reads time through.

In Lambda it is the system clock. Only the local cloud replaces it (with a compressed clock), so
that handlers, the scheduler emulator and the vendor simulator all agree on what time it is; tests
install a ManualClock, which moves only when told.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current UTC time in epoch milliseconds; never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a manual clock just moves on."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock:
    """Time that moves only when a test says so (or something sleeps on it); never backwards."""

    def __init__(self, start_ms: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00:00Z
        self._now = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError("time never runs backwards")
        with self._lock:
            self._now += ms
            return self._now

    def advance_to(self, epoch_ms: int) -> int:
        with self._lock:
            self._now = max(self._now, epoch_ms)
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(int(seconds * 1000))


_current: Clock = SystemClock()


def now_ms() -> int:
    return _current.now_ms()


def sleep(seconds: float) -> None:
    _current.sleep(seconds)


def install(clock: Clock) -> Clock:
    """Replace the process-wide clock (local cloud only); returns the previous one."""
    global _current
    previous, _current = _current, clock
    return previous


def iso_utc(epoch_ms: int) -> str:
    """An epoch-ms time as ISO 8601 in UTC, to the millisecond: 2026-01-01T00:00:17.250Z."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
