"""Clocks the local cloud installs in place of the system clock (see pollbridge.clock)."""

from __future__ import annotations

import threading
import time


class CompressedClock:
    """Virtual time that runs `speed` times faster than real time, from `start_ms` (default now)."""

    def __init__(self, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start_ms = start_ms if start_ms is not None else time.time_ns() // 1_000_000
        self._start_mono = time.monotonic()

    def now_ms(self) -> int:
        return self._start_ms + int((time.monotonic() - self._start_mono) * self.speed * 1000)

    def real_seconds(self, virtual_ms: float) -> float:
        return max(virtual_ms, 0) / 1000 / self.speed


class ManualClock:
    """Time that moves only when a test says so; never backwards."""

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

    def real_seconds(self, virtual_ms: float) -> float:
        return 0.0
