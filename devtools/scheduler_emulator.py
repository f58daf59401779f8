"""Fires the one-time schedules of a group the way EventBridge Scheduler does, and nothing more.

- A schedule fires anywhere within its due minute (60 s precision), never earlier.
- The `<aws.scheduler.*>` placeholders of the Input are filled in on each delivery.
- A failed invocation is retried per the schedule's RetryPolicy (attempts and event age, with
  backoff); when retries run out the Input goes to DeadLetterConfig's queue with the error.
- After its last attempt a schedule with ActionAfterCompletion=DELETE is deleted.
- On purpose, it can deliver an event twice (Lambda's async queue may), to prove handlers repeat safely.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from devtools.lambda_host import Invocation
from pollbridge.timing import iso_utc, parse_schedule_expression

MINUTE_MS = 60_000
RETRY_BASE_MS = 60_000
RETRY_CAP_MS = 600_000


class Target(Protocol):
    def invoke(self, event: Any) -> Invocation: ...


class VirtualClock(Protocol):
    def now_ms(self) -> int: ...


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


@dataclass
class Delivery:
    """One invocation the emulator made, for progress views and tests."""

    schedule: str
    attempt: int
    fired_at_ms: int
    due_at_ms: int
    event: dict[str, Any]
    result: Invocation
    duplicate: bool = False


@dataclass
class EmulatorStats:
    duplicates: int = 0
    retries: int = 0
    dead_letters: int = 0
    deleted: int = 0


class SchedulerEmulator:
    def __init__(
        self,
        scheduler_client: Any,
        sqs_client: Any,
        group: str,
        targets: dict[str, Target],
        clock: VirtualClock,
        duplicate_rate: float = 0.0,
        seed: int = 11,
        on_delivery: Callable[[Delivery], None] | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        self._scheduler = scheduler_client
        self._sqs = sqs_client
        self.group = group
        self._targets = targets
        self._clock = clock
        self._duplicate_rate = duplicate_rate
        self._random = random.Random(seed)
        self._known: dict[str, PendingSchedule] = {}
        self.on_delivery = on_delivery
        self.stats = EmulatorStats()
        self.deliveries: list[Delivery] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = lock or threading.RLock()

    # --- discovery ---------------------------------------------------------------------------

    def refresh(self) -> dict[str, PendingSchedule]:
        """Learn about schedules created since the last look (Input is only in get_schedule)."""
        names = set()
        for page in self._scheduler.get_paginator("list_schedules").paginate(GroupName=self.group):
            for summary in page.get("Schedules", []):
                names.add(summary["Name"])
                if summary["Name"] not in self._known:
                    pending = self._describe(summary["Name"])
                    if pending is not None:
                        self._known[summary["Name"]] = pending
        for gone in set(self._known) - names:  # deleted by someone else (cancel, operator)
            del self._known[gone]
        return self._known

    def _describe(self, name: str) -> PendingSchedule | None:
        try:
            found = self._scheduler.get_schedule(Name=name, GroupName=self.group)
        except ClientError:
            return None
        at_ms = parse_schedule_expression(found["ScheduleExpression"])
        target = found["Target"]
        retry = target.get("RetryPolicy") or {}
        minute = at_ms - at_ms % MINUTE_MS
        return PendingSchedule(
            name=name,
            arn=found["Arn"],
            at_ms=at_ms,
            fire_at_ms=minute + self._random.randrange(MINUTE_MS),  # anywhere in the due minute
            target_arn=target["Arn"],
            input=target.get("Input", "{}"),
            max_retries=int(retry.get("MaximumRetryAttempts", 185)),
            max_age_ms=int(retry.get("MaximumEventAgeInSeconds", 86_400)) * 1000,
            dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
            delete_after=found.get("ActionAfterCompletion") == "DELETE",
        )

    def pending(self) -> list[PendingSchedule]:
        return sorted(self._known.values(), key=lambda s: s.fire_at_ms)

    def next_fire_ms(self) -> int | None:
        upcoming = self.pending()
        return upcoming[0].fire_at_ms if upcoming else None

    # --- firing --------------------------------------------------------------------------------

    def fire_due(self, refresh: bool = True) -> int:
        """Fire every schedule whose moment has come; returns how many invocations were made."""
        with self._lock:
            if refresh:
                self.refresh()
            made = 0
            for schedule in self.pending():
                if schedule.fire_at_ms > self._clock.now_ms():
                    break
                made += self._attempt(schedule)
            return made

    def _event(self, schedule: PendingSchedule) -> dict[str, Any]:
        text = (
            schedule.input.replace("<aws.scheduler.schedule-arn>", schedule.arn)
            .replace("<aws.scheduler.scheduled-time>", iso_utc(schedule.at_ms))
            .replace("<aws.scheduler.execution-id>", schedule.execution_id)
            .replace("<aws.scheduler.attempt-number>", str(schedule.attempts))
        )
        return json.loads(text)

    def _attempt(self, schedule: PendingSchedule) -> int:
        schedule.attempts += 1
        now = self._clock.now_ms()
        event = self._event(schedule)
        target = self._targets.get(schedule.target_arn)
        if target is None:
            result = Invocation(False, None, "ResourceNotFoundException", f"no function {schedule.target_arn}")
        else:
            result = target.invoke(event)
        self._record(Delivery(schedule.name, schedule.attempts, now, schedule.at_ms, event, result))
        made = 1
        if result.ok and target is not None and self._duplicate_rate and self._random.random() < self._duplicate_rate:
            again = target.invoke(event)
            self.stats.duplicates += 1
            self._record(Delivery(schedule.name, schedule.attempts, now, schedule.at_ms, event, again, duplicate=True))
            made += 1
        if result.ok:
            self._complete(schedule)
            return made
        retries_used = schedule.attempts - 1
        backoff = min(RETRY_BASE_MS * 2**retries_used, RETRY_CAP_MS)
        next_try = now + backoff
        if retries_used < schedule.max_retries and next_try - schedule.at_ms <= schedule.max_age_ms:
            schedule.fire_at_ms = next_try
            self.stats.retries += 1
        else:
            self._dead_letter(schedule, result)
            self._complete(schedule)
        return made

    def _record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)

    def _complete(self, schedule: PendingSchedule) -> None:
        self._known.pop(schedule.name, None)
        if schedule.delete_after:
            try:
                self._scheduler.delete_schedule(Name=schedule.name, GroupName=self.group)
                self.stats.deleted += 1
            except ClientError:
                pass
        else:  # kept, as AWS keeps a finished schedule: remember not to fire it again
            self._known[schedule.name] = schedule
            schedule.fire_at_ms = 2**62

    def _dead_letter(self, schedule: PendingSchedule, result: Invocation) -> None:
        self.stats.dead_letters += 1
        if not schedule.dead_letter_arn:
            return
        queue_name = schedule.dead_letter_arn.rsplit(":", 1)[-1]
        url = self._sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = {
            "ERROR_CODE": result.error_type or "Unknown",
            "ERROR_MESSAGE": (result.error_message or "")[:1000] or "-",
            "EXECUTION_ID": schedule.execution_id,
            "SCHEDULE_ARN": schedule.arn,
            "TARGET_ARN": schedule.target_arn,
            "RETRY_ATTEMPTS": str(schedule.attempts - 1),
        }
        self._sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps(self._event(schedule)),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    # --- running in the background -------------------------------------------------------------

    def start(self, real_interval_s: float = 0.05) -> SchedulerEmulator:
        real_time = getattr(self._clock, "real_time", contextlib.nullcontext)

        def loop() -> None:
            while not self._stop.is_set():
                with real_time():  # the emulator's own work takes no (compressed) time
                    self.fire_due()
                self._stop.wait(real_interval_s)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="scheduler-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
