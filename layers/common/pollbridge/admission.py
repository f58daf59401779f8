"""How crowded the vendor's door is, as this container saw it: the share of its recent submits the
vendor took. A burst thousands of tasks wide needs its refused tasks to come back about as fast as
the vendor frees slots, no faster: each try is an invocation and a vendor request. No task can know
how many others wait (there is no database), but every container sees a sample of the same door:
when it took 5% of the last few minutes' submits, tries may come twenty times rarer and still fill
every slot the vendor frees.

Memory of the container only, like a cache: a cold container starts at "not crowded" (the plain
backoff), and nothing is lost with it. timing.next_submit_time turns `crowding` into the wait.
"""

from __future__ import annotations

from collections import deque

WINDOW_MS = 300_000  # the submits that count: the last five minutes
TARGET_SHARE = 0.5  # the share of tries the vendor should take: half the tries find a free slot
MAX_CROWDING = 6.0  # at most this many times the plain wait (the task's deadline bounds it too)
MIN_SAMPLES = 20  # fewer submits than this say nothing yet


class AdmissionWatch:
    """Submit outcomes (taken, or refused for capacity or rate) of this container, over WINDOW_MS."""

    def __init__(self) -> None:
        self._seen: deque[tuple[int, bool]] = deque()
        self._taken = 0

    def saw(self, now_ms: int, taken: bool) -> None:
        self._seen.append((now_ms, taken))
        self._taken += taken
        self._forget(now_ms)

    def crowding(self, now_ms: int) -> float:
        """1 when the vendor takes at least TARGET_SHARE of the tries, up to MAX_CROWDING as it takes fewer."""
        self._forget(now_ms)
        if len(self._seen) < MIN_SAMPLES:
            return 1.0
        share = (self._taken + 1) / (len(self._seen) + 1)
        return min(max(TARGET_SHARE / share, 1.0), MAX_CROWDING)

    def _forget(self, now_ms: int) -> None:
        while self._seen and self._seen[0][0] < now_ms - WINDOW_MS:
            _, taken = self._seen.popleft()
            self._taken -= taken
