"""The use cases: start a task, poll a task, cancel a task.

Core asks the ports for facts, lets `decisions` and `timing` decide, and tells the ports what to do.
The unit of work is one chunk of a task (aiWARE's chunk mode sends a task as many chunks): each has
its own vendor job, chain of polls and record, keyed by `unit` (naming.unit_key); nothing one chunk
does touches another. Every step is safe to repeat, and a unit has exactly one chain of polls:

- the vendor job is started with an idempotency key derived from the unit (one job per chunk);
- a vendor that refuses a submit for now (busy, over its quota, a transient fault) or media that
  cannot be read for now never fails the task: poll 1 is scheduled to submit again (`awaitingSubmit`,
  the media re-read from its cacheURI, inline text carried in the payload), with backoff, the
  longest-waiting first (timing.next_submit_time), until the task's deadline;
- poll n+1's schedule is created before poll n's is retired (disabled, its name kept until the
  clean-up), so a running task always has an active one, and no poll's name is ever free while the
  task runs: no delivery can create a poll twice (no fork);
- a poll whose schedule is retired or gone is stale (a late or repeated delivery) and is dropped: it
  can neither fork the chain nor write a second record; a duplicate of a poll that is still running
  learns of its twin from the next poll's name conflict (CreateSchedule), and stands down;
- nothing in the loop lists (listings lag, and AWS promises nothing about by how much): a poll reads
  its own schedule by name, a repeated segment its unit's poll 1 and record by name;
- records are written once; the result sinks are told after the record exists (each at least once,
  a retry repeating only those that had not succeeded), and only then are the schedules deleted
  (every name 1..n+1, the poll's own last), so a failed delivery is retried by a poll that is not stale.

SCHEDULING_MODE=platform (`Ports.scheduling`): the platform schedules each poll task and sends it
back; pollbridge creates no schedule. There is no chain to tell a stale poll by, so a poll first
looks for the task's record instead: once it exists, every poll is answered with it and changes
nothing. Before that, duplicate poll tasks are harmless: the vendor job is found by its idempotency
key, records are written once, and every delivery only reads the vendor's state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pollbridge import clock, decisions
from pollbridge.admission import AdmissionWatch
from pollbridge.errors import DeliveryError, InvalidEventError, PermanentError, TransientError
from pollbridge.models import (
    MediaChunk,
    PolledChunk,
    PollPayload,
    SchedulePollTask,
    SegmentEvent,
    TaskRecord,
)
from pollbridge.models.knobs import split_knobs
from pollbridge.models.poll import MAX_CARRIED_CONTENT, MAX_STAGED_REF
from pollbridge.naming import idempotency_key, schedule_name
from pollbridge.ports import (
    DeliveryLedger,
    Heartbeat,
    HeartbeatReporter,
    Media,
    MediaSource,
    PayloadSigner,
    PollQueue,
    PollScheduler,
    Provider,
    RecordSink,
    ResultContext,
    ResultNotifier,
    ScheduledPoll,
)
from pollbridge.timing import PollPolicy, minute_of

# The bound on a taskPayload (documented in the README): far under the scheduler's 256 KB Input,
# checked before anything is submitted. Only numbers change between polls, so it cannot grow past it.
MAX_PAYLOAD_BYTES = 16 * 1024
LEDGER = "records-ledger"  # names the delivery ledger (tags on the record) in a DeliveryError
_GROWTH_ALLOWANCE = 1024  # workId (at most 512 characters), signature and poll bookkeeping
# A delivery this much before its schedule's minute is early (a replay of a signed payload), not clock skew.
EARLY_TOLERANCE_MS = 5_000
MIN_POLL_AHEAD_MS = 60_000  # the seed: nextPollTimeUTC at least a minute after the reply's timestampUTC
NO_JOB = "-"  # the workId of a payload whose job the vendor has not taken yet
# How long media a refused submit left at the vendor is started from instead of sent again: half the
# 24 hours the reference API keeps an Idempotency-Key's object (vendor-api.md), so it is still there.
STAGED_MEDIA_TRUSTED_MS = 12 * 3_600_000

type SchedulingMode = Literal["eventbridge", "platform"]


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
    scheduling: SchedulingMode = "eventbridge"  # platform: the scheduler creates nothing (see above)
    notifiers: tuple[ResultNotifier, ...] = ()  # the sinks told after the record (RESULT_SINKS but s3)
    ledger: DeliveryLedger | None = None  # remembers which notifiers have a task's result
    heartbeat: HeartbeatReporter | None = None  # reports progress to a chunk's heartbeatWebhook
    deployment: str = ""  # the stack (its schedule group): scopes vendor idempotency keys and job names
    precise: PollQueue | None = None  # PRECISE_POLL_QUEUE_URL: near polls also hop through a delay queue
    admission: AdmissionWatch = dataclasses.field(default_factory=AdmissionWatch)  # this container's view


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
    submit_deferred: bool = False  # the vendor did not take the job yet: a later poll submits again
    admitted_after_ms: int | None = None  # a deferred submit taken: how long after the task arrived
    eta_accuracy: float | None = None  # completion seen: the vendor's first ETA against it (decisions.eta_accuracy)
    hopped: bool | None = None  # precise polling: the next poll was handed to the delay queue (False: it failed)

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
    heartbeat_url = chunk.heartbeatWebhook if ports.heartbeat is not None else None
    if heartbeat_url is not None and ports.heartbeat is not None:
        ports.heartbeat.check(heartbeat_url)
    unit = chunk.unit
    existing = _current_state(unit, chunk.taskId, ports)
    if existing is not None:  # a repeated delivery: the chunk is running or finished
        return existing
    now = clock.now_ms()
    draft = PollPayload(
        workId=NO_JOB,  # a placeholder until the vendor answers: _finish_job is told the real job id
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
        heartbeatWebhook=heartbeat_url,
        chunk=chunk.chunk_key,
        chunkScoped=True if chunk.chunk_key is not None else None,
        mediaMs=chunk.media_ms,
        maxLagS=knobs.maxLagSeconds,
        scheduledBy="platform" if ports.scheduling == "platform" else None,
        # kept for a deferred submit: the media is read again from where the platform keeps it
        mediaUri=chunk.cacheURI,
        mediaType=chunk.mimeType if chunk.cacheURI else None,
    )
    _check_payload_size(draft)
    try:
        media = ports.media.fetch(chunk)
        work_id = _submit(ports, media, options, idempotency_key(unit, "job", ports.deployment), now)
    except PermanentError as error:
        finish = decisions.Finish("failed", error.reason, f"could not start the task: {error}")
        return _finish_job(finish, draft, ports, 0, work_id=None, scheduled=False)
    except TransientError as error:
        kept = _kept_for_later(draft, chunk, error, now)
        if kept is None:  # media that cannot wait here: the caller (or Lambda, or the toolkit) retries
            raise
        return _defer_first_submit(kept, error, ports, chunk.taskId, now)
    at = decisions.first_poll_time(draft, now, ports.policy)
    payload = _started(draft, work_id)
    if not isinstance(payload, PollPayload):
        return _finish_job(payload, draft, ports, 0, work_id=work_id, scheduled=False)
    return _schedule_first(payload.model_copy(update={"notBeforeUTC": minute_of(at)}), at, chunk.taskId, ports, now)


def _submit(ports: Ports, media: Media, options: dict[str, Any], key: str, now: int, staged: str | None = None) -> str:
    """The vendor's submit, its outcome remembered by the container's admission watch (a refusal for
    capacity or rate, or a job taken; a blip says nothing about the door)."""
    try:
        work_id = ports.provider.submit(media, options, key, staged)
    except TransientError as error:
        if error.refusal:
            ports.admission.saw(now, taken=False)
        raise
    ports.admission.saw(now, taken=True)
    return work_id


def _started(payload: PollPayload, work_id: str) -> PollPayload | decisions.Finish:
    """The payload that carries the vendor's job id, or the failure to record when it cannot: the id
    must fit the payload's contract, or no poll could ever read it back."""
    try:
        return payload.started(work_id)
    except ValueError:
        bad = f"the vendor's job id {work_id[:80]!r}... cannot be carried (at most 512 printable characters)"
        return decisions.Finish("failed", "external_error", f"could not start the task: {bad}", True)


def _schedule_first(payload: PollPayload, at: int, task_id: str, ports: Ports, now: int) -> Outcome:
    """Poll 1's schedule (created once, whoever of two concurrent deliveries gets there first)."""
    payload = ports.signer.sign(payload)
    unit = payload.unit
    schedule_at, delay = _precise_plan(ports, at, now)
    try:
        created = ports.scheduler.schedule(payload, schedule_at)
    except PermanentError as error:  # nothing will ever poll this job: stop it and say why
        finish = decisions.Finish("failed", error.reason, f"could not schedule the task: {error}", True)
        return _finish(finish, payload, ports, polls=0)
    if created:
        outcome = _scheduled(payload, at, task_id, now=now, deferred=bool(payload.awaitingSubmit))
        return dataclasses.replace(outcome, hopped=_hop(ports, payload, delay))
    winner = ports.scheduler.find(unit, 1)  # a concurrent duplicate scheduled it first
    if winner is None:  # deleted since: the unit finished (a retry finds its record)
        raise TransientError(f"schedule {schedule_name(unit, 1)} conflicted but is gone; retry")
    if not payload.awaitingSubmit and winner.payload.workId != payload.workId:
        _cancel_quietly(ports, payload.workId)  # a vendor without idempotency started a twin: stop ours
    return _scheduled(winner.payload, winner.at_ms, task_id, repeated=True)


def _kept_for_later(draft: PollPayload, chunk: MediaChunk, error: TransientError, now: int) -> PollPayload | None:
    """The draft, able to submit later: media by its cacheURI (read again then), inline text carried
    in the payload itself (signed with it), and what the refused submit left at the vendor (see
    _with_staged). Bytes that came with the request (a webhook's file part) can wait only through
    the vendor's copy of them. None when the media cannot wait: text too large to carry, bytes the
    vendor kept no copy of."""
    if chunk.cacheURI is not None:
        return _with_staged(draft, error, now)
    if chunk.content is None:  # the request's own bytes: nowhere to read them again
        kept = _with_staged(draft.model_copy(update={"mediaType": chunk.mimeType}), error, now)
        return kept if kept.stagedMedia is not None else None
    if len(chunk.content.encode()) > MAX_CARRIED_CONTENT:
        return None
    text = draft.model_copy(update={"mediaContent": chunk.content, "mediaType": chunk.mimeType or "text/plain"})
    return _with_staged(text, error, now)


def _with_staged(payload: PollPayload, error: TransientError, now: int, started_from: str | None = None) -> PollPayload:
    """The payload carrying what the failed submit left at the vendor (error.staged), so the next
    submit neither reads nor sends the media again: a burst's task waiting an hour for a slot would
    otherwise fetch and upload its media at every try. An error that names nothing leaves what was
    carried as it was (a blip says nothing about the copy). The time is when the vendor got that copy:
    kept when this submit started from it (`started_from`), else now (it was put again). Nothing
    carried when the reference is too long or the payload would outgrow MAX_PAYLOAD_BYTES (the media
    is then sent again)."""
    staged = error.staged
    if staged is None:
        return payload
    same = staged == started_from == payload.stagedMedia and payload.stagedAtUTC is not None
    carried = payload.model_copy(update={"stagedMedia": staged, "stagedAtUTC": payload.stagedAtUTC if same else now})
    if len(staged) <= MAX_STAGED_REF and _payload_bytes(carried) <= MAX_PAYLOAD_BYTES:
        return carried
    return payload.model_copy(update={"stagedMedia": None, "stagedAtUTC": None})


def _staged_for(payload: PollPayload, now: int) -> str | None:
    """The staged media a deferred submit may start from: while the vendor surely still keeps it."""
    if payload.stagedMedia is None or payload.stagedAtUTC is None:
        return None
    return payload.stagedMedia if now - payload.stagedAtUTC < STAGED_MEDIA_TRUSTED_MS else None


def _media_for_retry(payload: PollPayload, chunk: MediaChunk, ports: Ports, staged: str | None) -> Media:
    """The media of a deferred submit: read now, or, when the vendor has a copy to start from, only
    if the provider asks for it after all. Bytes that came with the request exist only as that copy."""
    if payload.mediaUri is None and payload.mediaContent is None:

        def gone() -> bytes:
            raise PermanentError(
                "the chunk's bytes came with the request and the vendor's copy of them is no longer trusted",
                "external_error",
            )

        return Media(gone, chunk.mimeType)
    if staged is not None:
        return Media(lambda: ports.media.fetch(chunk).body, chunk.mimeType)
    return ports.media.fetch(chunk)


def _defer_first_submit(draft: PollPayload, error: TransientError, ports: Ports, task_id: str, now: int) -> Outcome:
    """The vendor did not take the job (or the media could not be read) for now: poll 1 submits again."""
    crowding = ports.admission.crowding(now)
    decision = decisions.after_refused_submit(error, draft, now, ports.policy, first=True, crowding=crowding)
    if isinstance(decision, decisions.Finish):
        return _finish_job(decision, draft, ports, 0, work_id=None, scheduled=False)
    deferred = decision.payload.model_copy(update={"awaitingSubmit": True, "notBeforeUTC": minute_of(decision.at_ms)})
    return _schedule_first(deferred, decision.at_ms, task_id, ports, now)


def _retry_submit(
    payload: PollPayload, ports: Ports, task_id: str | None, now: int, own: ScheduledPoll | None
) -> Outcome:
    """A poll of a unit the vendor has not taken yet: read the media again and submit it (with the
    unit's idempotency key: still one job per chunk, however many times this runs)."""
    chunk = MediaChunk.model_validate(
        {
            "type": "media_chunk",
            "taskId": payload.origTaskId,
            "tdoId": payload.origTdoId,
            "jobId": payload.origJobId,
            "mimeType": payload.mediaType or "application/octet-stream",
            "cacheURI": payload.mediaUri,
            "content": payload.mediaContent if payload.mediaUri is None else None,
            "startOffsetMs": payload.mediaOffsetMs,
        },
        context={"uploaded": payload.mediaUri is None and payload.mediaContent is None},  # see _media_for_retry
    )
    staged = _staged_for(payload, now)
    try:
        media = _media_for_retry(payload, chunk, ports, staged)
        work_id = _submit(
            ports, media, payload.engineConfig, idempotency_key(payload.unit, "job", ports.deployment), now, staged
        )
    except PermanentError as error:
        finish = decisions.Finish("failed", error.reason, f"could not start the task: {error}")
        return _finish(finish, payload, ports, polls=payload.pollNumber)
    except TransientError as error:
        crowding = ports.admission.crowding(now)
        retry = _with_staged(payload, error, now, started_from=staged)
        decision = decisions.after_refused_submit(error, retry, now, ports.policy, crowding=crowding)
        return _act(decision, payload, ports, task_id, now, own)
    started = _started(payload, work_id)
    if not isinstance(started, PollPayload):
        return _finish_job(started, payload, ports, payload.pollNumber, work_id=work_id)
    first = decisions.PollAgain(started.next(now), decisions.first_poll_time(started, now, ports.policy))
    outcome = _act(first, payload, ports, task_id, now, own)
    return dataclasses.replace(outcome, admitted_after_ms=now - payload.origCallTimeUTC)


def poll(payload: PollPayload, ports: Ports, task_id: str | None = None) -> Outcome:
    ports.signer.verify(payload)  # before anything else: a forged payload touches nothing
    if payload.provider != ports.provider.name:  # PROVIDER changed while the task ran: end it with a record
        done = ports.sink.read(payload.unit)
        if done is not None:
            return Outcome("stale", _stored_response(done), done.taskId, payload.pollNumber, True, done)
        moved = (
            f"this deployment's PROVIDER changed from {payload.provider!r} to {ports.provider.name!r} while the "
            f"task ran; its job {payload.workId} at {payload.provider!r} is no longer polled (resubmit the task)"
        )
        return _finish_job(decisions.Finish("failed", "system_error", moved), payload, ports, payload.pollNumber, None)
    deadline = decisions.capped_deadline(payload, ports.task_timeout_ms)
    if deadline != payload.deadlineUTC:
        payload = payload.model_copy(update={"deadlineUTC": deadline})
    own: ScheduledPoll | None = None
    if ports.scheduling == "platform":  # no schedules to tell a stale poll by: the record tells
        done = ports.sink.read(payload.unit)
        if done is not None:
            _notify(done, ports)  # a retried poll task delivers what an earlier one could not
            return Outcome("stale", _stored_response(done), done.taskId, payload.pollNumber, True, done)
    else:
        own = ports.scheduler.find(payload.unit, payload.pollNumber)  # by name: no listing
        if own is None or not own.active:  # handled already (retired once the next existed), or done
            return _stale(payload, ports, task_id)
    now = clock.now_ms()
    if payload.notBeforeUTC is not None and now < payload.notBeforeUTC - EARLY_TOLERANCE_MS:
        return _stale(payload, ports, task_id, early=True, own=own)  # a replay before its time: no effect
    if payload.awaitingSubmit:
        return _retry_submit(payload, ports, task_id, now, own)
    decision: decisions.Decision
    try:
        state = ports.provider.status(payload.workId)
    except TransientError as error:
        decision = decisions.after_transient_error(error, payload, now, ports.policy)
    except PermanentError as error:
        decision = decisions.after_permanent_error(error, payload, "status")
    else:
        decision = decisions.after_status(state, payload, now, ports.policy)
        _report_progress(payload, state.status.value, state.progress, ports)
    return _act(decision, payload, ports, task_id, now, own)


def cancel(orig_task_id: str, ports: Ports, reason: str = "cancelled by an operator") -> Outcome | None:
    """Stop a running task, every chunk of it: delete each unit's pending schedule, cancel its vendor
    job, record `cancelled`. Returns the first unit's outcome, or None when no schedule is pending for
    the task (it finished, or never started). An operator's action: it may list the whole group."""
    pending = ports.scheduler.pending(orig_task_id)  # a task of one unnamed chunk: by its names
    if not pending:
        pending = [s for s in ports.scheduler.pending() if s.payload.origTaskId == orig_task_id]
    latest: dict[str, ScheduledPoll] = {}
    for scheduled in pending:
        unit = scheduled.payload.unit
        if unit not in latest or scheduled.payload.pollNumber > latest[unit].payload.pollNumber:
            latest[unit] = scheduled
    outcomes = [
        _finish(
            decisions.Finish("cancelled", message=reason, cancel_vendor_job=True),
            scheduled.payload,
            ports,
            polls=scheduled.payload.pollNumber - 1,
        )
        for scheduled in latest.values()
    ]
    return outcomes[0] if outcomes else None


def _current_state(unit: str, task_id: str, ports: Ports) -> Outcome | None:
    """What a repeated segment is answered with: its chunk's poll 1 while it runs (its schedule,
    active or retired, is kept until the clean-up), or its chunk's record (another chunk of the same
    task is new work, its own unit). Both are read by name; the schedules are deleted only after the
    record exists, so neither means not started (or a first delivery still in flight: its submit is
    idempotent and poll 1's name conflicts, so the two converge on one job and one chain)."""
    first = ports.scheduler.find(unit, 1)
    if first is not None:
        return _scheduled(first.payload, first.at_ms, task_id, repeated=True)
    done = ports.sink.read(unit)
    if done is not None:  # a late repeat of a finished chunk: answer with what was written
        _notify(done, ports)
        return Outcome(done.status, _stored_response(done), task_id, done.polls, repeated=True, record=done)
    return None


def _stale(
    payload: PollPayload, ports: Ports, task_id: str | None, early: bool = False, own: ScheduledPoll | None = None
) -> Outcome:
    """A delivery of a poll that already ran (or, `early`, whose time has not come; `own` is its
    schedule, None in platform mode): answer with the task's current state (its pending poll: the
    next one, or when early its own; else the record) and change nothing."""
    task, unit = payload.origTaskId, payload.unit
    found = own if early else ports.scheduler.find(unit, payload.pollNumber + 1)
    if found is not None and not found.active:  # the chain moved further on: the record, or nothing
        found = None
    if found is None and early and payload.notBeforeUTC is not None:
        # No schedule to show (platform mode: the platform holds the only copy): hand the same poll
        # task back with its time, so that whoever schedules it can do so again.
        found = ScheduledPoll(schedule_name(unit, payload.pollNumber), payload.notBeforeUTC, payload)
    if found is not None:
        message = SchedulePollTask(
            timestampUTC=clock.now_ms(),
            nextPollTimeUTC=max(found.at_ms, clock.now_ms() + MIN_POLL_AHEAD_MS),
            taskId=task_id or schedule_name(unit, payload.pollNumber),
            taskPayload=found.payload,
            alreadyScheduled=True,
        )
        return Outcome("stale", message, task, payload.pollNumber, repeated=True)
    done = ports.sink.read(unit)
    if done is not None:
        _notify(done, ports)
        return Outcome("stale", _stored_response(done), task, payload.pollNumber, repeated=True, record=done)
    return Outcome("stale", StalePoll(taskId=task, pollNumber=payload.pollNumber), task, payload.pollNumber, True)


def _act(
    decision: decisions.Decision,
    payload: PollPayload,
    ports: Ports,
    task_id: str | None,
    now: int,
    own: ScheduledPoll | None = None,
) -> Outcome:
    """Carry out a poll's decision. `own`: the poll's schedule (None in platform mode), retired once
    the next poll's exists."""
    match decision:
        case decisions.PollAgain(payload=next_payload, at_ms=at):
            due = next_payload.model_copy(update={"notBeforeUTC": minute_of(at)})
            return _schedule_next(ports.signer.sign(due), at, payload, ports, task_id, now, own)
        case decisions.FetchResult():
            return _complete(payload, ports, task_id, own)
        case decisions.Finish() as finish:
            return _finish(finish, payload, ports, polls=payload.pollNumber)


def _schedule_next(
    next_payload: PollPayload,
    at: int,
    payload: PollPayload,
    ports: Ports,
    task_id: str | None,
    now: int,
    own: ScheduledPoll | None,
) -> Outcome:
    schedule_at, delay = _precise_plan(ports, at, now)
    try:
        created = ports.scheduler.schedule(next_payload, schedule_at)
    except PermanentError as error:
        finish = decisions.after_permanent_error(error, payload, f"scheduling poll {next_payload.pollNumber}")
        return _finish(finish, payload, ports, polls=payload.pollNumber)
    unit = payload.unit
    if not created:  # a concurrent delivery of this poll got there first: report its schedule
        existing = ports.scheduler.find(unit, next_payload.pollNumber)
        if existing is not None:
            next_payload, at = existing.payload, existing.at_ms
    # Only now that poll n+1 exists: the chain is never without an active poll while the task runs.
    if own is None or not ports.scheduler.retire(own):
        # Someone removed our schedule meanwhile: a duplicate of this poll (harmless), or whoever
        # finished the task (a duplicate that saw it complete, an operator's cancel), who wrote the
        # record before clearing the chain. Then n+1 must not outlive the record.
        done = ports.sink.read(unit)
        if done is not None:
            _clean_up(payload, ports)
            return Outcome("stale", _stored_response(done), payload.origTaskId, payload.pollNumber, True, done)
    own_id = task_id or schedule_name(unit, payload.pollNumber)
    outcome = _scheduled(
        next_payload, at, own_id, now=now, repeated=not created, deferred=bool(next_payload.awaitingSubmit)
    )
    # A concurrent delivery that made the schedule also sent its hop: one is enough (more are harmless).
    return dataclasses.replace(outcome, hopped=_hop(ports, next_payload, delay if created else None))


def _precise_plan(ports: Ports, at: int, now: int) -> tuple[int, int | None]:
    """(the schedule's time, the hop's delay in seconds or None). With precise polling, a poll the
    delay queue can carry (decisions.hop_delay_s) is sent there to run at `at` to the second, and
    its schedule, still created first (the ledger the chain check reads), is set two minutes later:
    the hop's poll deletes it before its minute, so it fires only if the hop was lost."""
    if ports.precise is None or ports.scheduling != "eventbridge":
        return at, None
    delay = decisions.hop_delay_s(at, now)
    return (at + decisions.PRECISE_FALLBACK_MS, delay) if delay is not None else (at, None)


def _hop(ports: Ports, payload: PollPayload, delay: int | None) -> bool | None:
    """Best effort, after the schedule exists: a hop that cannot be sent leaves the schedule to poll."""
    if ports.precise is None or delay is None:
        return None
    try:
        ports.precise.send(payload, delay)
    except (TransientError, PermanentError):
        return False
    return True


def _complete(payload: PollPayload, ports: Ports, task_id: str | None, own: ScheduledPoll | None) -> Outcome:
    now = clock.now_ms()
    try:
        # The provider converts its service's output into its own vtn-standard document.
        document = ports.provider.result(payload.workId, ResultContext.of(payload, ports.engine_name, now))
    except TransientError as error:  # never FetchResult again: polls later, or gives up
        retry = decisions.after_transient_error(error, payload, now, ports.policy)
        return _act(retry, payload, ports, task_id, now, own)
    except PermanentError as error:
        return _act(decisions.after_permanent_error(error, payload, "result"), payload, ports, task_id, now, own)
    except (ValueError, ArithmeticError) as error:  # a result that cannot be vtn-standard (pydantic, overflow)
        invalid = PermanentError(f"result is not convertible to vtn-standard: {error}", "invalid_data")
        return _act(decisions.after_permanent_error(invalid, payload, "result"), payload, ports, task_id, now, own)
    record = TaskRecord(
        taskId=payload.origTaskId,
        jobId=payload.origJobId,
        tdoId=payload.origTdoId,
        status="complete",
        output=document.model_dump(mode="json", exclude_none=True),
        workId=payload.workId,
        chunk=payload.chunk if payload.chunkScoped else None,
        polls=payload.pollNumber,
        completedAtUTC=now,
    )
    stored = ports.sink.write_once(record)
    _notify(stored, ports)  # between the record and the clean-up: a failed delivery retries a live poll
    _clean_up(payload, ports)
    repeated = stored != record
    response = document if not repeated else _stored_response(stored)
    lag = now - (payload.lastPollUTC or payload.origCallTimeUTC)
    accuracy = decisions.eta_accuracy(payload, now)
    return Outcome(
        stored.status, response, payload.origTaskId, payload.pollNumber, repeated, stored, lag, eta_accuracy=accuracy
    )


class _StoredOutput(BaseModel):
    """The vtn-standard document an earlier delivery already wrote, returned as it was."""

    model_config = ConfigDict(extra="allow", defer_build=True)


def _stored_response(record: TaskRecord) -> BaseModel:
    return _StoredOutput.model_validate(record.output) if record.output is not None else record


def _finish(finish: decisions.Finish, payload: PollPayload, ports: Ports, polls: int) -> Outcome:
    return _finish_job(finish, payload, ports, polls, None if payload.awaitingSubmit else payload.workId)


def _finish_job(
    finish: decisions.Finish,
    payload: PollPayload,
    ports: Ports,
    polls: int,
    work_id: str | None,
    scheduled: bool = True,
) -> Outcome:
    """Write the task's record (and stop its vendor job when asked). `work_id` is the vendor's job:
    None when the task never got one (the draft payload's workId is a placeholder). `scheduled`:
    False when the unit never got a schedule (it failed at its start), so there is none to delete."""
    if finish.cancel_vendor_job and work_id is not None:
        _cancel_quietly(ports, work_id)
    record = TaskRecord(
        taskId=payload.origTaskId,
        jobId=payload.origJobId,
        tdoId=payload.origTdoId,
        status=finish.status,
        failureReason=finish.reason if finish.status == "failed" else None,
        failureMessage=(finish.message or "")[:4096] or None,
        workId=work_id[:512] if work_id is not None else None,
        chunk=payload.chunk if payload.chunkScoped else None,
        polls=polls,
        completedAtUTC=clock.now_ms(),
    )
    stored = ports.sink.write_once(record)
    _notify(stored, ports)  # between the record and the clean-up: a failed delivery retries a live poll
    if scheduled:
        _clean_up(payload, ports)
    return Outcome(stored.status, stored, payload.origTaskId, payload.pollNumber, stored != record, stored)


def _notify(record: TaskRecord, ports: Ports) -> None:
    """Tell every configured sink about a written record, each independently and at least once.

    The ledger (beside the record) says which sinks already have it; only the others are told, and
    each success is remembered at once. Any failure fails the invocation (DeliveryError) after every
    sink was tried, so the retry repeats only what had not succeeded."""
    if not ports.notifiers:
        return
    if ports.ledger is None:
        raise TypeError("Ports.notifiers need a Ports.ledger to remember their deliveries")
    done = ports.ledger.delivered(record.unit)
    failures: dict[str, Exception] = {}
    for notifier in ports.notifiers:
        if notifier.name in done:
            continue
        try:
            notifier.deliver(record)
        except Exception as error:  # one sink's failure must not stop the others
            failures[notifier.name] = error
            continue
        try:
            ports.ledger.mark_delivered(record.unit, notifier.name)
        except Exception as error:  # the sink has it: it is the ledger that failed (a retry tells it again)
            failures[f"{LEDGER}/{notifier.name}"] = error
    if failures:
        raise DeliveryError(record.taskId, failures, record)


def _report_progress(payload: PollPayload, job_status: str, progress: float | None, ports: Ports) -> None:
    """The heartbeat of a poll: best effort, it can never fail the poll."""
    if payload.heartbeatWebhook is None or ports.heartbeat is None:
        return
    beat = Heartbeat(payload.origTaskId, payload.pollNumber, job_status, progress)
    with contextlib.suppress(Exception):
        ports.heartbeat.report(payload.heartbeatWebhook, beat)


def _clean_up(payload: PollPayload, ports: Ports) -> None:
    """After the record exists: no schedule of the unit may fire again, and none is kept. By name,
    no listing: polls 1..n-1 (retired), n+1 (a duplicate's, a precise poll's fallback), and this
    poll's own last, so that a clean-up cut short is redone by the retried poll, which still finds
    its schedule active."""
    if ports.scheduling == "platform":
        return  # nothing was scheduled by pollbridge
    unit, number = payload.unit, payload.pollNumber
    for other in [*range(1, number), number + 1, number]:
        ports.scheduler.unschedule(schedule_name(unit, other))


def _scheduled(
    payload: PollPayload,
    at_ms: int,
    task_id: str,
    now: int | None = None,
    repeated: bool = False,
    deferred: bool = False,
) -> Outcome:
    stamp = now if now is not None else clock.now_ms()
    message = SchedulePollTask(
        timestampUTC=stamp,
        # The policy's times are a minute ahead of `now`; a repeated delivery reports a schedule made
        # earlier, whose time may be nearer than a minute from this reply's timestamp.
        nextPollTimeUTC=max(at_ms, stamp + MIN_POLL_AHEAD_MS),
        taskId=task_id,
        taskPayload=payload,
        alreadyScheduled=True if repeated else None,
    )
    return Outcome("scheduled", message, payload.origTaskId, payload.pollNumber, repeated, submit_deferred=deferred)


def _payload_bytes(payload: PollPayload) -> int:
    """The payload's size as carried, with room for what later polls add (_GROWTH_ALLOWANCE)."""
    return len(json.dumps(payload.model_dump(mode="json")).encode()) + _GROWTH_ALLOWANCE


def _check_payload_size(draft: PollPayload) -> None:
    size = _payload_bytes(draft)
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidEventError(
            f"invalid media_chunk: taskPayload: the task's payload would be {size} bytes; "
            f"pollbridge carries at most {MAX_PAYLOAD_BYTES}"
        )


def _cancel_quietly(ports: Ports, work_id: str) -> None:
    """Best effort: a job we cannot cancel only costs the vendor's compute, never correctness."""
    with contextlib.suppress(TransientError, PermanentError):
        ports.provider.cancel(work_id)


__all__ = [
    "MAX_PAYLOAD_BYTES",
    "Outcome",
    "Ports",
    "SchedulingMode",
    "StalePoll",
    "cancel",
    "handle_segment",
    "poll",
    "start_task",
]
