"""Clocks the local cloud installs in place of the system clock (see pollbridge.clock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pollbridge.clock


class CompressedClock:
    """Virtual time that runs `speed` times faster than real time, from `start_ms` (default now).

    While a function runs (`real_time()`), time runs at 1x: a Lambda invocation takes tens of
    milliseconds for real, and compressing those 600 times would make every poll look minutes
    late. Slowing down never makes time run backwards.
    """

    def __init__(self, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._lock = threading.Lock()
        self._base_ms = float(start_ms if start_ms is not None else time.time_ns() // 1_000_000)
        self._base_mono = time.monotonic()
        self._rate = speed
        self._real_depth = 0

    def _now_locked(self) -> float:
        return self._base_ms + (time.monotonic() - self._base_mono) * self._rate * 1000

    def now_ms(self) -> int:
        with self._lock:
            return int(self._now_locked())

    def _set_rate(self, rate: float) -> None:
        self._base_ms = self._now_locked()
        self._base_mono = time.monotonic()
        self._rate = rate

    @contextmanager
    def real_time(self) -> Iterator[None]:
        with self._lock:
            self._real_depth += 1
            self._set_rate(1.0)
        try:
            yield
        finally:
            with self._lock:
                self._real_depth -= 1
                if self._real_depth == 0:
                    self._set_rate(self.speed)

    def real_seconds(self, virtual_ms: float) -> float:
        return max(virtual_ms, 0) / 1000 / self.speed

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time, compressed even inside a function: a Lambda's pause
        (a retry's backoff) is time the system spends idle."""
        with self._lock:
            previous = self._rate
            self._set_rate(self.speed)
        try:
            time.sleep(max(seconds, 0.0) / self.speed)
        finally:
            with self._lock:
                self._set_rate(previous)


class ManualClock(pollbridge.clock.ManualClock):
    """The package's manual clock, with what the local cloud asks of its clocks: no real time passes."""

    def real_seconds(self, virtual_ms: float) -> float:
        return 0.0

    @contextmanager
    def real_time(self) -> Iterator[None]:
        yield
