"""SCHEDULING_MODE=platform: the platform schedules each poll task and sends it back to /process.

pollbridge creates no schedule, so there is nothing to find, list or delete: a running task's only
copy of its state is the signed taskPayload the platform holds. Core knows the mode (Ports.scheduling)
and tells a finished task by its record instead of by a chain of schedules.
"""

from __future__ import annotations

from pollbridge.models import PollPayload
from pollbridge.ports import ScheduledPoll


class PlatformPollScheduler:
    """The PollScheduler port when the platform does the scheduling: every call is a no-op."""

    def schedule(self, payload: PollPayload, at_ms: int) -> bool:
        return True  # "created": the reply's schedule_poll_task is the schedule

    def find(self, unit: str, poll_number: int) -> ScheduledPoll | None:
        return None

    def retire(self, poll: ScheduledPoll) -> bool:
        return False

    def unschedule(self, name: str) -> bool:
        return False

    def pending(self, unit: str | None = None) -> list[ScheduledPoll]:
        return []
