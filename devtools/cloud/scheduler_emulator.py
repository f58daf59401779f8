"""Fires the one-time schedules of a group the way EventBridge Scheduler does, and nothing more.

- A schedule fires anywhere within its due minute (60 s precision), never earlier.
- The `<aws.scheduler.*>` placeholders of the Input are filled in on each delivery.
- Firing a schedule hands its event to Lambda asynchronously (InvocationType=Event). Only a failed
  hand-off (no such function, Lambda throttling the Invoke call) is the scheduler's to retry, per
  the schedule's RetryPolicy (attempts and event age, with backoff); when that runs out the Input
  goes to the DeadLetterConfig queue with the scheduler's error attributes.
- Once Lambda accepted the event the schedule is complete: with ActionAfterCompletion=DELETE it is
  deleted at once, whatever the function then does; with NONE it stays and never fires again.
- What the function does with the event is Lambda's business: each target function has its own
  `LambdaAsync` (devtools.cloud.lambda_host), which retries a function error per the function's
  EventInvokeConfig and then sends Lambda's invocation record to its OnFailure destination.
- On purpose, it can hand an event over twice: at once (`duplicate_rate`), or minutes later
  (`late_duplicate_rate`, the way a stale poll arrives in AWS after the next one already ran), to
  prove the handlers repeat safely.

Everything random (firing moments, duplicates, throttles, ids) comes from one seed.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from devtools.cloud.lambda_host import AsyncAttempt, AsyncTarget, Invocation, LambdaAsync
from devtools.cloud.schedule_book import PendingSchedule, ScheduleBook
from devtools.cloud.template_stack import AsyncInvokeConfig
from pollbridge.clock import iso_utc

MINUTE_MS = 60_000
RETRY_BASE_MS = 60_000
RETRY_CAP_MS = 600_000
LATE_DELAY_MS = (60_000, 20 * 60_000)  # a late duplicate arrives 1-20 minutes after the first delivery

Target = AsyncTarget


class VirtualClock(Protocol):
    def now_ms(self) -> int: ...


type HandoffKind = Literal["first", "duplicate", "late"]


@dataclass(frozen=True)
class Handoff:
    """What the scheduler tells Lambda along with an event: which schedule and firing it came from."""

    schedule: str
    attempt: int  # the scheduler's attempt number (<aws.scheduler.attempt-number>)
    due_at_ms: int
    execution_id: str
    kind: HandoffKind = "first"


@dataclass
class Delivery:
    """One invocation the emulator caused (or one hand-off Lambda refused), for views and tests."""

    schedule: str
    attempt: int
    fired_at_ms: int  # when this run started (or the hand-off was tried)
    due_at_ms: int
    event: dict[str, Any]
    result: Invocation
    duplicate: bool = False  # an extra hand-off of an event already handed over (at once or late)
    late: bool = False  # the extra hand-off came minutes later
    invoke_count: int = 1  # Lambda's attempt at this event: 1, then 2 and 3 for its retries
    handed_off: bool = True  # False: Lambda never got the event (result says why)
    execution_id: str = ""
    request_id: str = ""
    outcome: str = ""  # what came next: succeeded, retry scheduled, sent to OnFailure, ...


@dataclass
class EmulatorStats:
    handoffs: int = 0  # events Lambda accepted, duplicates included
    duplicates: int = 0  # immediate second hand-offs
    late_duplicates: int = 0  # second hand-offs minutes later
    retries: int = 0  # the scheduler's retries of failed hand-offs
    throttled: int = 0  # hand-offs Lambda refused with TooManyRequestsException (simulated)
    dead_letters: int = 0  # events the scheduler gave up on (DeadLetterConfig)
    deleted: int = 0
    lambda_retries: int = 0  # Lambda's retries of function errors (EventInvokeConfig)
    lambda_failures: int = 0  # events Lambda gave up on (OnFailure destination, or discarded)


@dataclass(order=True)
class _Late:
    due_ms: int
    order: int
    target_arn: str = field(compare=False)
    event: dict[str, Any] = field(compare=False)
    handoff: Handoff = field(compare=False)


class SchedulerEmulator:
    def __init__(
        self,
        scheduler_client: Any,
        sqs_client: Any,
        group: str,
        targets: Mapping[str, AsyncTarget],
        clock: VirtualClock,
        duplicate_rate: float = 0.0,
        seed: int = 11,
        on_delivery: Callable[[Delivery], None] | None = None,
        lock: threading.RLock | None = None,
        *,
        late_duplicate_rate: float = 0.0,
        late_delay_ms: tuple[int, int] = LATE_DELAY_MS,
        throttle_rate: float = 0.0,
        async_configs: Mapping[str, AsyncInvokeConfig] | None = None,
    ) -> None:
        for name, rate in (
            ("duplicate_rate", duplicate_rate),
            ("late_duplicate_rate", late_duplicate_rate),
            ("throttle_rate", throttle_rate),
        ):
            if not 0 <= rate <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        self._scheduler = scheduler_client
        self._sqs = sqs_client
        self.group = group
        self._clock = clock
        self._duplicate_rate = duplicate_rate
        self._late_rate = late_duplicate_rate
        self._late_delay_ms = late_delay_ms
        self._throttle_rate = throttle_rate
        self._random = random.Random(seed)
        self._ids = random.Random(f"ids-{seed}")  # ids never disturb the behaviour's random draws
        configs = async_configs or {}
        # Lambda's side: one asynchronous queue per target function, configured as the template says.
        self.lambdas = {
            arn: LambdaAsync(target, arn, configs.get(arn, AsyncInvokeConfig()), clock, sqs_client, self._new_id)
            for arn, target in targets.items()
        }
        # what is scheduled and when it fires (its draws from the same seed, in the same order)
        self.book = ScheduleBook(scheduler_client, group, self._random, self._new_id)
        self._late: list[_Late] = []
        self._order = itertools.count()  # ties among late duplicates: the first made goes first
        self.on_delivery = on_delivery
        self.stats = EmulatorStats()
        self.deliveries: list[Delivery] = []
        # False: deliveries are only handed to on_delivery, not kept (a burst of 60,000 invocations
        # would hold every event and log line: gigabytes)
        self.keep_deliveries = True
        self.recorded = 0  # deliveries made, kept or not
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = lock or threading.RLock()

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    # --- what is scheduled: the book ---------------------------------------------------------

    def notice(self, name: str, group: str | None = None) -> None:
        self.book.notice(name, group)

    def created(self, params: dict[str, Any], arn: str) -> None:
        self.book.created(params, arn)

    def updated(self, params: dict[str, Any], arn: str) -> None:
        self.book.updated(params, arn)

    def deleted(self, name: str, group: str | None) -> None:
        self.book.deleted(name, group)

    def refresh(self, full: bool = True) -> dict[str, PendingSchedule]:
        return self.book.refresh(full)

    def pending(self) -> list[PendingSchedule]:
        """Schedules still to fire (a failed hand-off waiting for its retry included)."""
        return self.book.pending()

    def in_flight(self) -> int:
        """Events handed over but not finished with: Lambda retries and late duplicates to come."""
        return len(self._late) + sum(async_queue.pending() for async_queue in self.lambdas.values())

    def next_fire_ms(self) -> int | None:
        """When something happens next: a schedule fires, a late duplicate arrives, Lambda retries."""
        nxt = self._next()
        return nxt[0] if nxt else None

    def _next(self) -> tuple[int, int, Any] | None:
        """(due ms, rank, what): Lambda's runs first at a tie, then late duplicates, then schedules."""
        candidates: list[tuple[int, int, Any]] = []
        for async_queue in self.lambdas.values():
            due = async_queue.next_due_ms()
            if due is not None:
                candidates.append((due, 0, async_queue))
        if self._late:
            candidates.append((self._late[0].due_ms, 1, self._late[0]))
        first = self.book.first()
        if first is not None:
            candidates.append((first.fire_at_ms, 2, first))
        return min(candidates, key=lambda c: (c[0], c[1])) if candidates else None

    # --- firing --------------------------------------------------------------------------------

    def fire_due(self, refresh: bool = True) -> int:
        """Do everything whose moment has come; returns how many invocations were made (function
        runs and refused hand-offs)."""
        with self._lock:
            if refresh:
                self.refresh()
            before = self.recorded
            while (nxt := self._next()) is not None and nxt[0] <= self._clock.now_ms():
                what = nxt[2]
                if isinstance(what, LambdaAsync):
                    self._run_lambda(what)
                elif isinstance(what, _Late):
                    heapq.heappop(self._late)
                    self.stats.late_duplicates += 1
                    self._hand_over(what.target_arn, what.event, what.handoff)
                else:
                    self._fire(what)
            return self.recorded - before

    def _event(self, schedule: PendingSchedule) -> dict[str, Any]:
        text = (
            schedule.input.replace("<aws.scheduler.schedule-arn>", schedule.arn)
            .replace("<aws.scheduler.scheduled-time>", iso_utc(schedule.at_ms))
            .replace("<aws.scheduler.execution-id>", schedule.execution_id)
            .replace("<aws.scheduler.attempt-number>", str(schedule.attempts))
        )
        return json.loads(text)

    def _fire(self, schedule: PendingSchedule) -> None:
        schedule.attempts += 1
        now = self._clock.now_ms()
        event = self._event(schedule)
        handoff = Handoff(schedule.name, schedule.attempts, schedule.at_ms, schedule.execution_id)
        refused = self._refusal(schedule.target_arn)
        if refused is not None:
            self._record(
                Delivery(schedule.name, schedule.attempts, now, schedule.at_ms, event, refused,
                         invoke_count=0, handed_off=False, execution_id=schedule.execution_id)
            )  # fmt: skip
            self._after_refusal(schedule, refused, now)
            return
        self._hand_over(schedule.target_arn, event, handoff)
        self._complete(schedule)  # completion is the hand-off: DELETE removes it before the function runs
        if self._duplicate_rate and self._random.random() < self._duplicate_rate:
            self.stats.duplicates += 1
            self._hand_over(schedule.target_arn, event, replace(handoff, kind="duplicate"))
        if self._late_rate and self._random.random() < self._late_rate:
            delay = self._random.randint(*self._late_delay_ms)
            late = _Late(now + delay, next(self._order), schedule.target_arn, event, replace(handoff, kind="late"))
            heapq.heappush(self._late, late)

    def _refusal(self, target_arn: str) -> Invocation | None:
        """Why Lambda would not take the event (Invoke failed), or None when it accepts it."""
        if target_arn not in self.lambdas:
            function = target_arn.rsplit(":", 1)[-1]
            return Invocation(False, None, "ResourceNotFoundException", f"Function not found: {function}")
        if self._throttle_rate and self._random.random() < self._throttle_rate:
            self.stats.throttled += 1
            return Invocation(False, None, "TooManyRequestsException", "Rate Exceeded.")
        return None

    def _after_refusal(self, schedule: PendingSchedule, refused: Invocation, now: int) -> None:
        """The schedule's RetryPolicy: back off and try again, or dead-letter the event."""
        retries_used = schedule.attempts - 1
        next_try = now + min(RETRY_BASE_MS * 2**retries_used, RETRY_CAP_MS)
        if retries_used < schedule.max_retries and next_try - schedule.at_ms <= schedule.max_age_ms:
            schedule.fire_at_ms = next_try
            self.book.know(schedule)
            self.stats.retries += 1
            return
        self._dead_letter(schedule, refused)
        self._complete(schedule)

    def _hand_over(self, target_arn: str, event: dict[str, Any], handoff: Handoff) -> None:
        self.stats.handoffs += 1
        self.lambdas[target_arn].accept(event, handoff)

    def _run_lambda(self, async_queue: LambdaAsync) -> None:
        attempt = async_queue.run_next()
        if attempt is None:
            return
        if attempt.outcome == "retry scheduled":
            self.stats.lambda_retries += 1
        elif attempt.outcome in ("sent to OnFailure", "discarded"):
            self.stats.lambda_failures += 1
        self._record(self._delivery_of(attempt))

    @staticmethod
    def _delivery_of(attempt: AsyncAttempt) -> Delivery:
        tag = attempt.event.tag
        handoff = tag if isinstance(tag, Handoff) else Handoff("", 0, attempt.event.accepted_ms, "")
        outcome = attempt.outcome + (f" ({attempt.condition})" if attempt.condition else "")
        return Delivery(
            schedule=handoff.schedule,
            attempt=handoff.attempt,
            fired_at_ms=attempt.started_ms,
            due_at_ms=handoff.due_at_ms,
            event=attempt.event.event,
            result=attempt.result,
            duplicate=handoff.kind != "first",
            late=handoff.kind == "late",
            invoke_count=attempt.invoke_count,
            execution_id=handoff.execution_id,
            request_id=attempt.event.request_id,
            outcome=outcome,
        )

    def _record(self, delivery: Delivery) -> None:
        self.recorded += 1
        if self.keep_deliveries:
            self.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)

    def _complete(self, schedule: PendingSchedule) -> None:
        self.book.forget(schedule.name)
        if schedule.delete_after:
            try:
                self._scheduler.delete_schedule(Name=schedule.name, GroupName=self.group)
                self.stats.deleted += 1
            except ClientError:
                pass
        else:  # kept, as AWS keeps a finished schedule: remember not to fire it again
            self.book.finish(schedule.name)

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
