"""The use cases: start a task, poll a task, cancel a task.

Core asks the ports for facts, lets `decisions` and `timing` decide, and tells the ports what to do.
Every step is safe to repeat: schedules have deterministic names and records are written once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from pollbridge import clock, decisions
from pollbridge.errors import InvalidEventError, PermanentError, TransientError
from pollbridge.models import (
    MediaChunk,
    PolledChunk,
    PollPayload,
    SchedulePollTask,
    SegmentEvent,
    TaskFailureReason,
    TaskRecord,
)
from pollbridge.naming import schedule_name
from pollbridge.ports import MediaSource, PollScheduler, Provider, RecordSink
from pollbridge.timing import PollPolicy, next_poll_time
from pollbridge.transcript import to_vtn


@dataclass(frozen=True)
class Ports:
    provider: Provider
    scheduler: PollScheduler
    sink: RecordSink
    media: MediaSource
    policy: PollPolicy
    task_timeout_ms: int
    engine_name: str = "pollbridge"


type OutcomeKind = Literal["scheduled", "complete", "failed", "cancelled"]


@dataclass(frozen=True)
class Outcome:
    """What happened, for the caller's reply and for logs and metrics."""

    kind: OutcomeKind
    response: BaseModel
    orig_task_id: str
    poll_number: int
    repeated: bool = False  # a duplicate delivery: the schedule or record already existed
    record: TaskRecord | None = None

    def reply(self) -> dict[str, object]:
        return self.response.model_dump(mode="json", exclude_none=True)


def handle_segment(event: SegmentEvent, ports: Ports) -> Outcome:
    """The segment function: new work is submitted; a poll routed back as a segment is polled."""
    if isinstance(event, PolledChunk):
        return poll(event.taskPayload, ports, task_id=event.taskId)
    return start_task(event, ports)


def start_task(chunk: MediaChunk, ports: Ports) -> Outcome:
    existing = ports.scheduler.find(chunk.taskId, 1)
    if existing is not None:  # a repeated delivery: the task is already running
        return _scheduled(existing.payload, existing.at_ms, chunk.taskId, repeated=True)
    done = ports.sink.read(chunk.taskId)
    if done is not None:  # a late repeat of a finished task: answer with what was written
        response = _StoredOutput.model_validate(done.output) if done.output is not None else done
        return Outcome(done.status, response, chunk.taskId, done.polls, repeated=True, record=done)
    now = clock.now_ms()
    draft = PollPayload(
        workId="-",
        isPollTask=True,
        origTaskId=chunk.taskId,
        origTdoId=chunk.tdoId,
        origJobId=chunk.jobId,
        origCallTimeUTC=chunk.timestampUTC or now,
        engineConfig=chunk.taskPayload,
        provider=ports.provider.name,
        pollNumber=1,
        deadlineUTC=now + ports.task_timeout_ms,
        mediaOffsetMs=chunk.startOffsetMs,
    )
    try:
        media = ports.media.fetch(chunk)
        work_id = ports.provider.submit(media, chunk.taskPayload)
    except PermanentError as error:
        finish = decisions.Finish("failed", _reason(error), f"could not start the task: {error}")
        return _finish(finish, draft, ports, polls=0)
    payload = draft.model_copy(update={"workId": work_id})
    at = next_poll_time(now, 0, payload.deadlineUTC, ports.policy)
    try:
        created = ports.scheduler.schedule(payload, at)
    except PermanentError as error:  # e.g. a taskPayload too large for the scheduler
        finish = decisions.Finish("failed", _reason(error), f"could not schedule the task: {error}", True)
        return _finish(finish, payload, ports, polls=0)
    if created:
        return _scheduled(payload, at, chunk.taskId, now=now)
    # A concurrent duplicate won the race with its own vendor job: drop ours, answer with theirs.
    _cancel_quietly(ports, work_id)
    winner = ports.scheduler.find(chunk.taskId, 1)
    if winner is None:
        raise TransientError(f"schedule {schedule_name(chunk.taskId, 1)} conflicted but is gone; retry")
    return _scheduled(winner.payload, winner.at_ms, chunk.taskId, repeated=True)


def poll(payload: PollPayload, ports: Ports, task_id: str | None = None) -> Outcome:
    if payload.provider != ports.provider.name:
        raise InvalidEventError(
            f"invalid poll event: taskPayload.provider is {payload.provider!r} "
            f"but this deployment's PROVIDER is {ports.provider.name!r}"
        )
    now = clock.now_ms()
    decision: decisions.Decision
    try:
        state = ports.provider.status(payload.workId)
    except TransientError as error:
        decision = decisions.after_transient_error(error, payload, now, ports.policy)
    except PermanentError as error:
        decision = decisions.after_permanent_error(error, payload)
    else:
        decision = decisions.after_status(state, payload, now, ports.policy)
    return _act(decision, payload, ports, task_id, now)


def cancel(orig_task_id: str, ports: Ports, reason: str = "cancelled by an operator") -> Outcome | None:
    """Stop a running task: delete its pending schedule, cancel the vendor job, record `cancelled`.

    Returns None when no schedule is pending for the task (it finished, or never started).
    """
    pending = ports.scheduler.pending(orig_task_id)
    if not pending:
        return None
    latest = max(pending, key=lambda s: s.payload.pollNumber)
    for scheduled in pending:
        ports.scheduler.unschedule(scheduled.name)
    finish = decisions.Finish("cancelled", message=reason, cancel_vendor_job=True)
    return _finish(finish, latest.payload, ports, polls=latest.payload.pollNumber - 1)


def _act(decision: decisions.Decision, payload: PollPayload, ports: Ports, task_id: str | None, now: int) -> Outcome:
    match decision:
        case decisions.PollAgain(payload=next_payload, at_ms=at):
            created = ports.scheduler.schedule(next_payload, at)
            own_id = task_id or schedule_name(payload.origTaskId, payload.pollNumber)
            return _scheduled(next_payload, at, own_id, now=now, repeated=not created)
        case decisions.FetchResult():
            return _complete(payload, ports, task_id)
        case decisions.Finish() as finish:
            return _finish(finish, payload, ports, polls=payload.pollNumber)


def _complete(payload: PollPayload, ports: Ports, task_id: str | None) -> Outcome:
    now = clock.now_ms()
    try:
        result = ports.provider.result(payload.workId)
    except TransientError as error:  # never FetchResult again: polls later, or times out
        return _act(decisions.after_transient_error(error, payload, now, ports.policy), payload, ports, task_id, now)
    except PermanentError as error:
        return _act(decisions.after_permanent_error(error, payload), payload, ports, task_id, now)
    document = to_vtn(result, payload, ports.engine_name, now)
    record = TaskRecord(
        taskId=payload.origTaskId,
        jobId=payload.origJobId,
        tdoId=payload.origTdoId,
        status="complete",
        output=document.model_dump(mode="json", exclude_none=True),
        workId=payload.workId,
        polls=payload.pollNumber,
        completedAtUTC=now,
    )
    stored = ports.sink.write_once(record)
    repeated = stored != record
    response = document if not repeated or stored.output is None else _StoredOutput.model_validate(stored.output)
    return Outcome(stored.status, response, payload.origTaskId, payload.pollNumber, repeated, stored)


class _StoredOutput(BaseModel):
    """The vtn-standard document an earlier delivery already wrote, returned as it was."""

    model_config = {"extra": "allow"}


def _finish(finish: decisions.Finish, payload: PollPayload, ports: Ports, polls: int) -> Outcome:
    if finish.cancel_vendor_job:
        _cancel_quietly(ports, payload.workId)
    record = TaskRecord(
        taskId=payload.origTaskId,
        jobId=payload.origJobId,
        tdoId=payload.origTdoId,
        status=finish.status,  # type: ignore[arg-type]
        failureReason=finish.reason if finish.status == "failed" else None,
        failureMessage=finish.message,
        workId=payload.workId if payload.workId != "-" else None,
        polls=polls,
        completedAtUTC=clock.now_ms(),
    )
    stored = ports.sink.write_once(record)
    return Outcome(stored.status, stored, payload.origTaskId, payload.pollNumber, stored != record, stored)


def _scheduled(
    payload: PollPayload, at_ms: int, task_id: str, now: int | None = None, repeated: bool = False
) -> Outcome:
    message = SchedulePollTask(
        timestampUTC=now if now is not None else clock.now_ms(),
        nextPollTimeUTC=at_ms,
        taskId=task_id,
        taskPayload=payload,
        alreadyScheduled=True if repeated else None,
    )
    return Outcome("scheduled", message, payload.origTaskId, payload.pollNumber, repeated)


def _cancel_quietly(ports: Ports, work_id: str) -> None:
    """Best effort: a job we cannot cancel only costs the vendor's compute, never correctness."""
    with contextlib.suppress(TransientError, PermanentError):
        ports.provider.cancel(work_id)


def _reason(error: PermanentError) -> TaskFailureReason:
    return error.reason  # type: ignore[return-value]


__all__ = ["Outcome", "Ports", "cancel", "handle_segment", "poll", "start_task"]
