"""The use cases: start a task, poll a task, cancel a task.

Core asks the ports for facts, lets `decisions` and `timing` decide, and tells the ports what to do.
Every step is safe to repeat, and a task has exactly one chain of polls:

- the vendor job is started with an idempotency key derived from origTaskId (one job per task);
- poll n+1's schedule is created before poll n's is deleted, so a running task always has one;
- a poll whose schedule is gone, or that has a later one, is stale (a late or repeated delivery)
  and is dropped: it can neither fork the chain nor write a second record;
- records are written once; the schedules are cleaned up after the record exists.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from pollbridge import clock, decisions
from pollbridge.errors import InvalidEventError, PermanentError, TransientError
from pollbridge.models import (
    MediaChunk,
    PolledChunk,
    PollPayload,
    SchedulePollTask,
    SegmentEvent,
    TaskRecord,
)
from pollbridge.models.knobs import split_knobs
from pollbridge.naming import idempotency_key, schedule_name
from pollbridge.ports import MediaSource, PayloadSigner, PollScheduler, Provider, RecordSink
from pollbridge.timing import PollPolicy, next_poll_time
from pollbridge.transcript import to_vtn

# The bound on a taskPayload (documented in the README): far under the scheduler's 256 KB Input,
# checked before anything is submitted. Only numbers change between polls, so it cannot grow past it.
MAX_PAYLOAD_BYTES = 16 * 1024
_GROWTH_ALLOWANCE = 1024  # workId (at most 512 characters), signature and poll bookkeeping


@dataclass(frozen=True)
class Ports:
    provider: Provider
    scheduler: PollScheduler
    sink: RecordSink
    media: MediaSource
    signer: PayloadSigner
    policy: PollPolicy
    task_timeout_ms: int
    engine_name: str = "pollbridge"


type OutcomeKind = Literal["scheduled", "complete", "failed", "cancelled", "stale"]


@dataclass(frozen=True)
class Outcome:
    """What happened, for the caller's reply and for logs and metrics."""

    kind: OutcomeKind
    response: BaseModel
    orig_task_id: str
    poll_number: int
    repeated: bool = False  # a duplicate delivery: the schedule or record already existed
    record: TaskRecord | None = None
    detection_lag_ms: int | None = None  # completion seen: at most this long after it happened

    def reply(self) -> dict[str, object]:
        return self.response.model_dump(mode="json", exclude_none=True)


class StalePoll(BaseModel):
    """The reply to a poll that was already handled and left no later state to report."""

    model_config = ConfigDict(defer_build=True)

    type: Literal["stale_poll"] = "stale_poll"
    taskId: str
    pollNumber: int


def handle_segment(event: SegmentEvent, ports: Ports) -> Outcome:
    """The segment function: new work is submitted; a poll routed back as a segment is polled."""
    if isinstance(event, PolledChunk):
        return poll(event.taskPayload, ports, task_id=event.taskId)
    return start_task(event, ports)


def start_task(chunk: MediaChunk, ports: Ports) -> Outcome:
    # pollbridge's own knobs come out first: the provider never sees them, the vendor never gets them.
    knobs, engine_config = split_knobs(chunk.taskPayload, ports.policy.max_interval_s)
    options = ports.provider.options(engine_config)  # only declared options, before anything else
    ports.media.check(chunk)
    existing = _current_state(chunk.taskId, ports)
    if existing is not None:  # a repeated delivery: the task is running or finished
        return existing
    now = clock.now_ms()
    draft = PollPayload(
        workId="-",
        isPollTask=True,
        origTaskId=chunk.taskId,
        origTdoId=chunk.tdoId,
        origJobId=chunk.jobId,
        origCallTimeUTC=now,
        engineConfig=options,
        provider=ports.provider.name,
        pollNumber=1,
        deadlineUTC=now + ports.task_timeout_ms,
        mediaOffsetMs=chunk.startOffsetMs,
        mediaMs=chunk.media_ms,
        maxLagS=knobs.maxLagSeconds,
    )
    _check_payload_size(draft)
    try:
        media = ports.media.fetch(chunk)
        work_id = ports.provider.submit(media, options, idempotency_key(chunk.taskId, "job"))
    except PermanentError as error:
        finish = decisions.Finish("failed", error.reason, f"could not start the task: {error}")
        return _finish(finish, draft, ports, polls=0)
    payload = ports.signer.sign(draft.model_copy(update={"workId": work_id}))
    at = next_poll_time(now, decisions.poll_facts(payload, first=True), ports.policy)
    try:
        created = ports.scheduler.schedule(payload, at)
    except PermanentError as error:  # nothing will ever poll this job: stop it and say why
        finish = decisions.Finish("failed", error.reason, f"could not schedule the task: {error}", True)
        return _finish(finish, payload, ports, polls=0)
    if created:
        return _scheduled(payload, at, chunk.taskId, now=now)
    winner = ports.scheduler.find(chunk.taskId, 1)  # a concurrent duplicate scheduled it first
    if winner is None:
        raise TransientError(f"schedule {schedule_name(chunk.taskId, 1)} conflicted but is gone; retry")
    if winner.payload.workId != work_id:  # a vendor without idempotency started a twin: stop ours
        _cancel_quietly(ports, work_id)
    return _scheduled(winner.payload, winner.at_ms, chunk.taskId, repeated=True)


def poll(payload: PollPayload, ports: Ports, task_id: str | None = None) -> Outcome:
    ports.signer.verify(payload)  # before anything else: a forged payload touches nothing
    if payload.provider != ports.provider.name:
        raise InvalidEventError(
            f"invalid poll event: taskPayload.provider is {payload.provider!r} "
            f"but this deployment's PROVIDER is {ports.provider.name!r}"
        )
    deadline = decisions.capped_deadline(payload, ports.task_timeout_ms)
    if deadline != payload.deadlineUTC:
        payload = payload.model_copy(update={"deadlineUTC": deadline})
    chain = ports.scheduler.chain(payload.origTaskId)
    if payload.pollNumber not in chain or max(chain) > payload.pollNumber:
        return _stale(payload, chain, ports, task_id)
    now = clock.now_ms()
    decision: decisions.Decision
    try:
        state = ports.provider.status(payload.workId)
    except TransientError as error:
        decision = decisions.after_transient_error(error, payload, now, ports.policy)
    except PermanentError as error:
        decision = decisions.after_permanent_error(error, payload, "status")
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
    finish = decisions.Finish("cancelled", message=reason, cancel_vendor_job=True)
    return _finish(finish, latest.payload, ports, polls=latest.payload.pollNumber - 1)


def _current_state(task_id: str, ports: Ports) -> Outcome | None:
    """What a repeated segment is answered with: the pending poll, or the record."""
    chain = ports.scheduler.chain(task_id)
    if chain:
        latest = ports.scheduler.find(task_id, max(chain))
        if latest is not None:
            return _scheduled(latest.payload, latest.at_ms, task_id, repeated=True)
    done = ports.sink.read(task_id)
    if done is not None:  # a late repeat of a finished task: answer with what was written
        return Outcome(done.status, _stored_response(done), task_id, done.polls, repeated=True, record=done)
    if chain:  # the latest schedule vanished between the listing and the read: the task moved on
        raise TransientError(f"task {task_id} is changing state; retry")
    return None


def _stale(payload: PollPayload, chain: list[int], ports: Ports, task_id: str | None) -> Outcome:
    """A delivery of a poll that already ran: answer with the task's current state, change nothing
    but the leftover of a crash (our own schedule when a later one exists)."""
    task = payload.origTaskId
    if payload.pollNumber in chain:
        ports.scheduler.unschedule(schedule_name(task, payload.pollNumber))
    later = max(chain, default=0)
    found = ports.scheduler.find(task, later) if later > payload.pollNumber else None
    if found is not None:
        message = SchedulePollTask(
            timestampUTC=clock.now_ms(),
            nextPollTimeUTC=found.at_ms,
            taskId=task_id or schedule_name(task, payload.pollNumber),
            taskPayload=found.payload,
            alreadyScheduled=True,
        )
        return Outcome("stale", message, task, payload.pollNumber, repeated=True)
    done = ports.sink.read(task)
    if done is not None:
        return Outcome("stale", _stored_response(done), task, payload.pollNumber, repeated=True, record=done)
    return Outcome("stale", StalePoll(taskId=task, pollNumber=payload.pollNumber), task, payload.pollNumber, True)


def _act(decision: decisions.Decision, payload: PollPayload, ports: Ports, task_id: str | None, now: int) -> Outcome:
    match decision:
        case decisions.PollAgain(payload=next_payload, at_ms=at):
            return _schedule_next(ports.signer.sign(next_payload), at, payload, ports, task_id, now)
        case decisions.FetchResult():
            return _complete(payload, ports, task_id)
        case decisions.Finish() as finish:
            return _finish(finish, payload, ports, polls=payload.pollNumber)


def _schedule_next(
    next_payload: PollPayload, at: int, payload: PollPayload, ports: Ports, task_id: str | None, now: int
) -> Outcome:
    try:
        created = ports.scheduler.schedule(next_payload, at)
    except PermanentError as error:
        finish = decisions.after_permanent_error(error, payload, f"scheduling poll {next_payload.pollNumber}")
        return _finish(finish, payload, ports, polls=payload.pollNumber)
    if not created:  # a concurrent delivery of this poll got there first: report its schedule
        existing = ports.scheduler.find(payload.origTaskId, next_payload.pollNumber)
        if existing is not None:
            next_payload, at = existing.payload, existing.at_ms
    # Only now that poll n+1 exists: the chain is never empty while the task runs.
    ports.scheduler.unschedule(schedule_name(payload.origTaskId, payload.pollNumber))
    own_id = task_id or schedule_name(payload.origTaskId, payload.pollNumber)
    return _scheduled(next_payload, at, own_id, now=now, repeated=not created)


def _complete(payload: PollPayload, ports: Ports, task_id: str | None) -> Outcome:
    now = clock.now_ms()
    try:
        result = ports.provider.result(payload.workId)
        document = to_vtn(result, payload, ports.engine_name, now)
    except TransientError as error:  # never FetchResult again: polls later, or gives up
        return _act(decisions.after_transient_error(error, payload, now, ports.policy), payload, ports, task_id, now)
    except PermanentError as error:
        return _act(decisions.after_permanent_error(error, payload, "result"), payload, ports, task_id, now)
    except ValueError as error:  # a result that cannot be vtn-standard (pydantic's ValidationError)
        invalid = PermanentError(f"result is not convertible to vtn-standard: {error}", "invalid_data")
        return _act(decisions.after_permanent_error(invalid, payload, "result"), payload, ports, task_id, now)
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
    _clean_up(payload.origTaskId, ports)
    repeated = stored != record
    response = document if not repeated else _stored_response(stored)
    lag = now - (payload.lastPollUTC or payload.origCallTimeUTC)
    return Outcome(stored.status, response, payload.origTaskId, payload.pollNumber, repeated, stored, lag)


class _StoredOutput(BaseModel):
    """The vtn-standard document an earlier delivery already wrote, returned as it was."""

    model_config = ConfigDict(extra="allow", defer_build=True)


def _stored_response(record: TaskRecord) -> BaseModel:
    return _StoredOutput.model_validate(record.output) if record.output is not None else record


def _finish(finish: decisions.Finish, payload: PollPayload, ports: Ports, polls: int) -> Outcome:
    if finish.cancel_vendor_job and payload.workId != "-":
        _cancel_quietly(ports, payload.workId)
    record = TaskRecord(
        taskId=payload.origTaskId,
        jobId=payload.origJobId,
        tdoId=payload.origTdoId,
        status=finish.status,
        failureReason=finish.reason if finish.status == "failed" else None,
        failureMessage=(finish.message or "")[:4096] or None,
        workId=payload.workId if payload.workId != "-" else None,
        polls=polls,
        completedAtUTC=clock.now_ms(),
    )
    stored = ports.sink.write_once(record)
    _clean_up(payload.origTaskId, ports)
    return Outcome(stored.status, stored, payload.origTaskId, payload.pollNumber, stored != record, stored)


def _clean_up(task: str, ports: Ports) -> None:
    """After the record exists: no schedule of the task may fire again."""
    for number in ports.scheduler.chain(task):
        ports.scheduler.unschedule(schedule_name(task, number))


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


def _check_payload_size(draft: PollPayload) -> None:
    size = len(json.dumps(draft.model_dump(mode="json")).encode()) + _GROWTH_ALLOWANCE
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidEventError(
            f"invalid media_chunk: taskPayload: the task's payload would be {size} bytes; "
            f"pollbridge carries at most {MAX_PAYLOAD_BYTES}"
        )


def _cancel_quietly(ports: Ports, work_id: str) -> None:
    """Best effort: a job we cannot cancel only costs the vendor's compute, never correctness."""
    with contextlib.suppress(TransientError, PermanentError):
        ports.provider.cancel(work_id)


__all__ = ["MAX_PAYLOAD_BYTES", "Outcome", "Ports", "StalePoll", "cancel", "handle_segment", "poll", "start_task"]
