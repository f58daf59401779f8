"""What EventBridge Scheduler has in a group, and when each schedule fires: the scheduler emulator's
book. It learns from what the local cloud saw the functions do (created, updated, deleted), from
names it was told to look up, or from a full listing; a schedule fires anywhere within its due minute
(drawn from the emulator's seeded random), a disabled or completed one never again.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from random import Random
from typing import Any

from botocore.exceptions import ClientError

from pollbridge.adapters.scheduler import parse_schedule_expression

MINUTE_MS = 60_000


@dataclass
class PendingSchedule:
    name: str
    arn: str
    at_ms: int
    fire_at_ms: int
    target_arn: str
    input: str
    max_retries: int
    max_age_ms: int
    dead_letter_arn: str | None
    delete_after: bool
    attempts: int = 0
    execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class ScheduleBook:
    """The group's schedules as the emulator fires them (see the module's doc)."""

    def __init__(self, scheduler_client: Any, group: str, draw: Random, new_id: Callable[[], str]) -> None:
        self._scheduler = scheduler_client
        self.group = group
        self._random = draw
        self._new_id = new_id
        self._known: dict[str, PendingSchedule] = {}
        self._noticed: set[str] = set()
        # what the local cloud told: ("created", CreateSchedule's parameters, ARN) or ("deleted", None, name)
        self._told: list[tuple[str, dict[str, Any] | None, str]] = []
        self._noticed_lock = threading.Lock()
        self._finished: set[str] = set()  # kept after completion (ActionAfterCompletion=NONE): never fired again
        self._due: list[tuple[int, int, str]] = []  # (fire_at_ms, order, name) of _known, lazily cleaned
        self._order = itertools.count()

    def notice(self, name: str, group: str | None = None) -> None:
        """Someone created or deleted schedule `name` (the local cloud watches its functions' calls):
        the next `refresh(full=False)` looks at it, without listing the whole group."""
        if group in (None, self.group):
            with self._noticed_lock:
                self._noticed.add(name)

    def created(self, params: dict[str, Any], arn: str) -> None:
        """A function created a schedule with these CreateSchedule parameters (AWS answered with its
        ARN): known as it is, without reading it back."""
        if params.get("GroupName") == self.group:
            with self._noticed_lock:
                self._told.append(("created", params, arn))

    def updated(self, params: dict[str, Any], arn: str) -> None:
        """A function replaced a schedule's definition (UpdateSchedule): disabled, it never fires."""
        if params.get("GroupName") == self.group:
            with self._noticed_lock:
                self._told.append(("updated", params, arn))

    def deleted(self, name: str, group: str | None) -> None:
        """A function deleted schedule `name` (AWS confirmed it)."""
        if group == self.group:
            with self._noticed_lock:
                self._told.append(("deleted", None, name))

    def refresh(self, full: bool = True) -> dict[str, PendingSchedule]:
        """Learn about schedules created (and deleted by others) since the last look. `full` lists
        the group; otherwise only what the emulator was told and the schedules noticed since are
        looked up (Input is only in get_schedule)."""
        with self._noticed_lock:
            noticed, self._noticed = self._noticed, set()
            told, self._told = self._told, []
        for what, params, name_or_arn in told:
            if what == "deleted":
                self._known.pop(name_or_arn, None)
                self._finished.discard(name_or_arn)
            elif params is not None and params.get("State") == "DISABLED":
                self._known.pop(params["Name"], None)  # AWS never fires a disabled schedule (a retired poll)
                self._finished.add(params["Name"])
            elif params is not None and (what == "updated" or params["Name"] not in self._finished):
                self.know(self._pending(params["Name"], name_or_arn, params))
        if not full:
            for name in sorted(noticed):
                if name in self._known or name in self._finished:
                    if not self._exists(name):
                        self._known.pop(name, None)
                        self._finished.discard(name)
                    continue
                pending = self._describe(name)
                if pending is not None:
                    self.know(pending)
            return self._known
        names: set[str] = set()
        for page in self._scheduler.get_paginator("list_schedules").paginate(GroupName=self.group):
            names.update(summary["Name"] for summary in page.get("Schedules", []))
        for name in sorted(names - set(self._known) - self._finished):  # in name order, as above: one seed, one run
            pending = self._describe(name)
            if pending is not None:
                self.know(pending)
        for gone in set(self._known) - names:  # deleted by someone else (cancel, operator)
            del self._known[gone]
        self._finished &= names
        return self._known

    def know(self, schedule: PendingSchedule) -> None:
        """Add (or re-time) a schedule to fire; the heap keeps the next one at hand in O(log n)."""
        self._known[schedule.name] = schedule
        heapq.heappush(self._due, (schedule.fire_at_ms, next(self._order), schedule.name))

    def first(self) -> PendingSchedule | None:
        """The known schedule that fires first (heap entries of schedules gone or re-timed are stale)."""
        while self._due:
            at, _, name = self._due[0]
            schedule = self._known.get(name)
            if schedule is not None and schedule.fire_at_ms == at:
                return schedule
            heapq.heappop(self._due)
        return None

    def _exists(self, name: str) -> bool:
        try:
            self._scheduler.get_schedule(Name=name, GroupName=self.group)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return False
            raise
        return True

    def _describe(self, name: str) -> PendingSchedule | None:
        try:
            found = self._scheduler.get_schedule(Name=name, GroupName=self.group)
        except ClientError:
            return None
        if found.get("State") == "DISABLED":  # never fires (a retired poll): not looked up again
            self._finished.add(name)
            return None
        return self._pending(name, found["Arn"], found)

    def _pending(self, name: str, arn: str, found: Mapping[str, Any]) -> PendingSchedule:
        """A schedule as CreateSchedule's parameters (or GetSchedule's answer) describe it."""
        at_ms = parse_schedule_expression(found["ScheduleExpression"])
        target = found["Target"]
        retry = target.get("RetryPolicy") or {}
        minute = at_ms - at_ms % MINUTE_MS
        return PendingSchedule(
            name=name,
            arn=arn,
            at_ms=at_ms,
            fire_at_ms=minute + self._random.randrange(MINUTE_MS),  # anywhere in the due minute
            target_arn=target["Arn"],
            input=target.get("Input", "{}"),
            max_retries=int(retry.get("MaximumRetryAttempts", 185)),
            max_age_ms=int(retry.get("MaximumEventAgeInSeconds", 86_400)) * 1000,
            dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
            delete_after=found.get("ActionAfterCompletion") == "DELETE",
            execution_id=self._new_id(),
        )

    def pending(self) -> list[PendingSchedule]:
        """Schedules still to fire (a failed hand-off waiting for its retry included)."""
        return sorted(self._known.values(), key=lambda s: s.fire_at_ms)

    def forget(self, name: str) -> None:
        """A schedule that fired (or was dead-lettered): no longer to fire."""
        self._known.pop(name, None)

    def finish(self, name: str) -> None:
        """A completed schedule AWS keeps (ActionAfterCompletion=NONE): never fired again."""
        self._finished.add(name)
