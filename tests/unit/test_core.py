"""The use cases over in-memory ports: what gets submitted, scheduled and written."""

import dataclasses
from typing import Any

import pytest

from pollbridge import core
from pollbridge.clock import ManualClock
from pollbridge.errors import ForgedPayloadError, InvalidEventError, PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, MediaChunk, SchedulePollTask, TaskRecord, VtnDocument
from pollbridge.models.poll import MAX_CARRIED_CONTENT
from pollbridge.naming import schedule_name
from pollbridge.ports import Media, ScheduledPoll
from pollbridge.webhook.form import UploadedMedia
from tests.support.fakes import COMPLETE, PERMANENT, TRANSIENT, World, at_its_time, running, start, unit_of


def test_start_submits_and_schedules_the_first_poll(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    outcome = start(world, chunk)
    message = outcome.response
    assert isinstance(message, SchedulePollTask)
    assert message.timestampUTC == manual_clock.now_ms()
    assert message.nextPollTimeUTC - message.timestampUTC >= 60_000
    payload = message.taskPayload
    assert (payload.workId, payload.origTaskId, payload.origTdoId, payload.origJobId) == (
        "work-1",
        chunk["taskId"],
        chunk["tdoId"],
        chunk["jobId"],
    )
    assert payload.isPollTask is True and payload.pollNumber == 1
    assert payload.engineConfig == chunk["taskPayload"]
    assert payload.provider == "fake"
    assert payload.origCallTimeUTC == manual_clock.now_ms()  # when pollbridge took the call: the deadline cap
    assert payload.deadlineUTC == manual_clock.now_ms() + 86_400_000
    [scheduled] = world.scheduler.pending()
    assert (scheduled.at_ms, scheduled.payload) == (message.nextPollTimeUTC, payload)
    assert world.provider.submitted[0][1] == chunk["taskPayload"]
    assert world.sink.records == {}


def test_a_repeated_segment_is_answered_from_the_schedule_without_a_second_job(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    first = start(world, chunk)
    manual_clock.advance(5_000)
    again = start(world, chunk)
    assert again.repeated
    assert again.response.taskPayload == first.response.taskPayload  # type: ignore[attr-defined]
    assert len(world.provider.submitted) == 1
    assert len(world.scheduler.schedules) == 1


def looked_before(world: World) -> None:
    """The race: the duplicate's first look (is poll 1 there?) came before the other created it."""
    original, first_look = world.scheduler.find, [True]

    def find(unit: str, number: int) -> ScheduledPoll | None:
        if first_look.pop() if first_look else False:
            return None
        return original(unit, number)

    world.scheduler.find = find  # type: ignore[method-assign]


def test_a_concurrent_duplicate_shares_the_vendor_job_and_the_schedule(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    first = start(world, chunk)
    looked_before(world)
    outcome = start(world, chunk)
    assert outcome.repeated
    assert outcome.response.taskPayload == first.response.taskPayload  # type: ignore[attr-defined]
    assert len(world.provider.submitted) == 1 and world.provider.cancelled == []  # one job, never cancelled
    assert len(world.scheduler.schedules) == 1


def test_a_concurrent_duplicate_cancels_a_twin_job_of_a_vendor_without_idempotency(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    start(world, chunk)
    world.provider.jobs_by_key.clear()  # this vendor ignores Idempotency-Key
    looked_before(world)
    outcome = start(world, chunk)
    assert outcome.repeated
    assert world.provider.cancelled == ["work-2"]
    assert len(world.scheduler.schedules) == 1


def test_media_that_cannot_be_fetched_fails_the_task_without_a_schedule(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world.media.error = PermanentError("cacheURI answered 404", "url_not_found")
    outcome = start(world, chunk)
    assert outcome.kind == "failed"
    record = world.sink.record_of(chunk["taskId"])
    assert record.failureReason == "url_not_found" and "404" in (record.failureMessage or "")
    assert record.workId is None and record.polls == 0
    assert world.scheduler.schedules == {} and world.provider.submitted == []


def test_a_repeat_of_a_finished_task_returns_the_record_without_new_work(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = poll_payload(world, chunk)
    world.provider.states = [COMPLETE]
    finished = core.poll(payload, world.ports)
    world.scheduler.schedules.clear()  # the scheduler deleted the fired schedules
    again = start(world, chunk)
    assert again.repeated and again.kind == "complete"
    assert again.reply() == finished.reply()
    assert len(world.provider.submitted) == 1


def test_a_payload_the_scheduler_refuses_fails_the_task_and_cancels_the_job(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    def refuse(payload: Any, at_ms: int) -> bool:
        raise PermanentError("taskPayload is 300000 bytes", "invalid_data")

    world.scheduler.schedule = refuse  # type: ignore[method-assign]
    outcome = start(world, chunk)
    assert outcome.kind == "failed"
    assert world.provider.cancelled == ["work-1"]
    assert world.sink.record_of(chunk["taskId"]).failureReason == "invalid_data"


def poll_payload(world: World, chunk: dict[str, Any]) -> Any:
    return at_its_time(start(world, chunk).response.taskPayload)  # type: ignore[attr-defined]


def test_running_job_schedules_the_next_poll(world: World, chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    payload = poll_payload(world, chunk)
    manual_clock.advance(60_000)
    world.provider.states = [running(eta_ms=manual_clock.now_ms() + 300_000)]
    outcome = core.poll(payload, world.ports)
    message = outcome.response
    assert isinstance(message, SchedulePollTask)
    assert message.taskPayload.pollNumber == 2
    assert message.taskId == schedule_name(unit_of(chunk), 1)
    # A single ETA: approached a quarter of the way (the vendor's bias shows once the ETA moves), never past it.
    now = manual_clock.now_ms()
    eta = now + 300_000
    assert now + 0.25 * 300_000 - 60_000 <= message.nextPollTimeUTC <= eta
    # and what the vendor said travels to the next poll (timing.PollFacts.previous), its first ETA to the end
    sent = message.taskPayload
    assert (sent.lastPollUTC, sent.lastEtaUTC, sent.lastProgress, sent.lastQueued) == (now, eta, 0.5, None)
    assert (sent.firstEtaUTC, sent.firstEtaSeenUTC) == (eta, now)
    assert list(world.scheduler.schedules) == [schedule_name(unit_of(chunk), 2)]  # p1 deleted once p2 existed


def test_complete_job_writes_one_record_and_returns_vtn(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock, vtn_validator: Any
) -> None:
    payload = poll_payload(world, chunk)
    world.provider.states = [COMPLETE]
    outcome = core.poll(payload, world.ports)
    assert isinstance(outcome.response, VtnDocument)
    reply = outcome.reply()
    vtn_validator.validate(reply)
    assert reply["taskId"] == chunk["taskId"]
    record = world.sink.record_of(chunk["taskId"])
    assert (record.status, record.output, record.polls, record.workId) == ("complete", reply, 1, "work-1")
    assert (record.jobId, record.tdoId) == (chunk["jobId"], chunk["tdoId"])


def test_a_repeated_completing_poll_returns_the_stored_result(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = poll_payload(world, chunk)
    world.provider.states = [COMPLETE]
    first = core.poll(payload, world.ports)
    manual_clock.advance(1_000)
    second = core.poll(payload, world.ports)
    assert second.repeated and not first.repeated
    assert second.reply() == first.reply()
    assert len(world.sink.records) == 1


def test_vendor_failure_writes_a_failed_record(world: World, chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    payload = poll_payload(world, chunk)
    world.provider.states = [JobState(status=JobStatus.FAILED, error_code="unsupported_media", error_message="codec")]
    outcome = core.poll(payload, world.ports)
    assert isinstance(outcome.response, TaskRecord)
    assert outcome.response.status == "failed" and outcome.response.failureReason == "invalid_data"
    assert world.scheduler.schedules == {}  # no new schedule, and the fired one cleaned up


def test_transient_status_error_polls_again(world: World, chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    payload = poll_payload(world, chunk)
    world.provider.states = [TRANSIENT]
    outcome = core.poll(payload, world.ports)
    assert outcome.kind == "scheduled"
    assert outcome.response.taskPayload.transientErrors == 1  # type: ignore[attr-defined]
    assert world.sink.records == {}


def test_transient_result_error_polls_again_and_permanent_one_fails(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = poll_payload(world, chunk)
    world.provider.states = [COMPLETE]
    world.provider.result_answer = TRANSIENT
    again = core.poll(payload, world.ports)
    assert again.kind == "scheduled"
    world.provider.result_answer = PERMANENT
    outcome = core.poll(at_its_time(again.response.taskPayload), world.ports)  # type: ignore[attr-defined]
    assert outcome.kind == "failed"
    assert world.sink.record_of(chunk["taskId"]).failureReason == "api_not_found"


def test_a_payload_for_another_provider_ends_the_task_with_a_record(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """Validly signed by this deployment, for a provider it no longer runs (PROVIDER changed while the
    task ran): no vendor is asked, and the task ends with a record (never a dead letter without one)."""
    payload = world.signer.sign(poll_payload(world, chunk).model_copy(update={"provider": "other-vendor"}))
    outcome = core.poll(payload, world.ports)
    assert outcome.kind == "failed" and world.provider.status_calls == 0
    assert "'other-vendor'" in (world.sink.record_of(chunk["taskId"]).failureMessage or "")
    assert world.scheduler.schedules == {}


def test_permanent_status_error_fails_the_task(world: World, chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    payload = poll_payload(world, chunk)
    world.provider.states = [PERMANENT]
    assert core.poll(payload, world.ports).kind == "failed"


def test_the_deadline_cancels_the_vendor_job(world: World, chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    payload = poll_payload(world, chunk)
    manual_clock.advance_to(payload.deadlineUTC)
    world.provider.states = [running()]
    outcome = core.poll(payload, world.ports)
    assert outcome.kind == "failed"
    assert world.provider.cancelled == ["work-1"]


def test_a_poll_routed_back_as_a_segment_polls_instead_of_submitting(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = poll_payload(world, chunk)
    routed = {**chunk, "taskId": "aiware-poll-task-2", "taskPayload": payload.model_dump(mode="json")}
    world.provider.states = [running()]
    outcome = start(world, routed)
    assert outcome.kind == "scheduled"
    assert outcome.response.taskId == "aiware-poll-task-2"  # type: ignore[attr-defined]
    assert len(world.provider.submitted) == 1


def test_cancel_deletes_the_schedule_cancels_the_job_and_records_it(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    poll_payload(world, chunk)
    outcome = core.cancel(chunk["taskId"], world.ports)
    assert outcome is not None and outcome.kind == "cancelled"
    assert world.scheduler.schedules == {}
    assert world.provider.cancelled == ["work-1"]
    assert world.sink.record_of(chunk["taskId"]).status == "cancelled"
    assert core.cancel(chunk["taskId"], world.ports) is None


# The timing policy's knobs and memory -------------------------------------------------------------


def test_polling_knobs_are_taken_out_of_engine_config_and_kept_in_the_payload(
    world: World, chunk: dict[str, Any]
) -> None:
    chunk = {**chunk, "startOffsetMs": 5_000, "endOffsetMs": 65_000}
    chunk["taskPayload"] = {**chunk["taskPayload"], "maxLagSeconds": 300}
    payload = start(world, chunk).response.taskPayload  # type: ignore[attr-defined]
    assert "maxLagSeconds" not in world.provider.submitted[0][1]  # never forwarded to the vendor
    assert "maxLagSeconds" not in payload.engineConfig
    assert (payload.maxLagS, payload.mediaMs) == (300, 60_000)


@pytest.mark.parametrize("bad", [30, 10**6, "300", 1.5, None, True])
def test_a_bad_knob_is_rejected_by_name_and_nothing_is_done(world: World, chunk: dict[str, Any], bad: Any) -> None:
    chunk = {**chunk, "taskPayload": {**chunk["taskPayload"], "maxLagSeconds": bad}}
    if bad is None:  # null means "the deployment's default"
        assert start(world, chunk).kind == "scheduled"
        return
    with pytest.raises(InvalidEventError, match=r"taskPayload\.maxLagSeconds"):
        start(world, chunk)
    assert world.provider.submitted == [] and world.scheduler.schedules == {}


def test_unset_timing_fields_stay_out_of_the_signed_form(world: World, chunk: dict[str, Any]) -> None:
    from pollbridge.signing import canonical

    chunk = {k: v for k, v in chunk.items() if k != "endOffsetMs"}
    payload = start(world, chunk).response.taskPayload  # type: ignore[attr-defined]
    assert payload.mediaMs is None and payload.maxLagS is None
    assert b"mediaMs" not in canonical(payload) and b"maxLagS" not in canonical(payload)
    world.signer.verify(payload)  # a payload signed before these fields existed verifies the same way


def test_a_vendor_busy_at_submit_defers_the_submit_to_poll_one(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    fetched = {k: v for k, v in chunk.items() if k != "content"} | {"cacheURI": "https://cache.example/c.wav"}
    world.provider.submit_error = TransientError("vendor at its quota", retry_after_s=300)
    outcome = start(world, fetched)
    assert outcome.kind == "scheduled" and outcome.submit_deferred
    message = outcome.response
    assert isinstance(message, SchedulePollTask) and message.taskPayload.awaitingSubmit is True
    assert message.nextPollTimeUTC >= message.timestampUTC + 300_000  # the vendor's Retry-After
    assert message.taskPayload.mediaUri == "https://cache.example/c.wav" and world.provider.submitted == []
    world.provider.submit_error = None
    world.provider.states = [running()]
    manual_clock.advance_to(message.nextPollTimeUTC)
    admitted = core.poll(at_its_time(message.taskPayload), world.ports)
    assert isinstance(admitted.response, SchedulePollTask) and admitted.admitted_after_ms is not None
    after = admitted.response.taskPayload
    assert after.workId == "work-1" and after.awaitingSubmit is None and after.mediaUri is None
    assert len(world.provider.submitted) == 1 and list(world.scheduler.schedules) == [schedule_name(after.unit, 2)]


def test_media_a_refused_submit_left_at_the_vendor_is_neither_read_nor_sent_again(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """A burst's task waits up to hours for a slot: each try starts from the upload the vendor kept
    (carried, signed, in the payload) instead of fetching the media and uploading it again."""
    world = World()
    world.provider.stages = True
    fetched = {k: v for k, v in chunk.items() if k != "content"} | {"cacheURI": "https://cache.example/c.wav"}
    world.provider.submit_error = TransientError("429 concurrent_job_limit", retry_after_s=60, refusal=True)
    first = start(world, fetched).response
    assert isinstance(first, SchedulePollTask)
    staged, since = first.taskPayload.stagedMedia, first.taskPayload.stagedAtUTC
    assert staged is not None and staged.startswith("fake://uploads/") and since == manual_clock.now_ms()
    assert world.media.fetched == [chunk["taskId"]] and world.provider.media_read == 1

    manual_clock.advance_to(first.nextPollTimeUTC)
    refused = core.poll(at_its_time(first.taskPayload), world.ports).response
    assert isinstance(refused, SchedulePollTask) and refused.taskPayload.awaitingSubmit
    assert (refused.taskPayload.stagedMedia, refused.taskPayload.stagedAtUTC) == (staged, since)  # first taken
    assert world.provider.staged_starts == [staged] and world.media.fetched == [chunk["taskId"]]

    world.provider.submit_error = None
    world.provider.states = [running()]
    manual_clock.advance_to(refused.nextPollTimeUTC)
    admitted = core.poll(at_its_time(refused.taskPayload), world.ports).response
    assert isinstance(admitted, SchedulePollTask) and admitted.taskPayload.workId == "work-1"
    assert admitted.taskPayload.stagedMedia is None and admitted.taskPayload.stagedAtUTC is None
    assert world.provider.staged_starts == [staged, staged] and world.provider.media_read == 1
    assert world.media.fetched == [chunk["taskId"]]  # read once, at the segment

    with pytest.raises(ForgedPayloadError):
        core.poll(
            at_its_time(refused.taskPayload.model_copy(update={"stagedMedia": "https://evil.example/x"})), world.ports
        )


def uploaded_chunk(chunk: dict[str, Any]) -> MediaChunk:
    """A webhook's chunk whose bytes came as the form's file part: no cacheURI, no content."""
    event = {k: v for k, v in chunk.items() if k not in ("content", "cacheURI")} | {"mimeType": "audio/wav"}
    return MediaChunk.model_validate(event, context={"uploaded": True})


def with_upload(world: World) -> core.Ports:
    return dataclasses.replace(world.ports, media=UploadedMedia(Media(b"form-bytes", "audio/wav"), 10**6))


def test_bytes_that_came_with_the_request_wait_only_through_the_vendors_copy(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """They cannot be read again: a refused submit defers only when the vendor kept a copy, and the
    deferred submit starts from it (before, an empty body was carried and submitted later)."""
    world = World()
    world.provider.stages = True
    world.provider.submit_error = TransientError("429 concurrent_job_limit", refusal=True)
    first = core.start_task(uploaded_chunk(chunk), with_upload(world)).response
    assert isinstance(first, SchedulePollTask) and first.taskPayload.awaitingSubmit
    payload = first.taskPayload
    assert payload.stagedMedia and payload.mediaUri is None and payload.mediaContent is None
    assert payload.mediaType == "audio/wav"
    world.provider.submit_error = None
    world.provider.states = [running()]
    manual_clock.advance_to(first.nextPollTimeUTC)
    admitted = core.poll(at_its_time(payload), world.ports).response
    assert isinstance(admitted, SchedulePollTask) and admitted.taskPayload.workId == "work-1"
    assert world.provider.staged_starts == [payload.stagedMedia] and world.provider.media_read == 1


def test_bytes_that_came_with_the_request_and_no_vendor_copy_fail_the_invocation_for_a_retry(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()  # a provider that stages nothing
    world.provider.submit_error = TransientError("429 concurrent_job_limit", refusal=True)
    with pytest.raises(TransientError):
        core.start_task(uploaded_chunk(chunk), with_upload(world))
    assert world.scheduler.schedules == {} and world.sink.records == {}


def test_bytes_that_came_with_the_request_whose_copy_is_no_longer_trusted_end_the_task_with_a_record(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    world.provider.stages = True
    world.provider.submit_error = TransientError("429 concurrent_job_limit", refusal=True)
    first = core.start_task(uploaded_chunk(chunk), with_upload(world)).response
    assert isinstance(first, SchedulePollTask) and first.taskPayload.stagedAtUTC is not None
    world.provider.submit_error = None
    manual_clock.advance_to(first.taskPayload.stagedAtUTC + core.STAGED_MEDIA_TRUSTED_MS)
    late = world.signer.sign(first.taskPayload.model_copy(update={"notBeforeUTC": None}))
    outcome = core.poll(late, world.ports)
    assert outcome.kind == "failed"
    [record] = world.sink.records.values()
    assert record.status == "failed" and "came with the request" in (record.failureMessage or "")
    assert world.provider.submitted == []  # no job from an empty body


def test_a_blip_on_a_staged_start_keeps_the_copy_for_the_next_try(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """A 503 or a timeout says nothing about the vendor's copy: the next try starts from it, and its
    time stays the time the vendor got it."""
    world = World()
    world.provider.stages = True
    fetched = {k: v for k, v in chunk.items() if k != "content"} | {"cacheURI": "https://cache.example/c.wav"}
    world.provider.submit_error = TransientError("429 concurrent_job_limit", refusal=True)
    first = start(world, fetched).response
    assert isinstance(first, SchedulePollTask)
    staged, since = first.taskPayload.stagedMedia, first.taskPayload.stagedAtUTC
    world.provider.stages = False  # the blip names nothing
    world.provider.submit_error = TransientError("vendor answered 503")
    manual_clock.advance_to(first.nextPollTimeUTC)
    blip = core.poll(at_its_time(first.taskPayload), world.ports).response
    assert isinstance(blip, SchedulePollTask)
    assert (blip.taskPayload.stagedMedia, blip.taskPayload.stagedAtUTC) == (staged, since)
    assert world.provider.media_read == 1


def test_staged_media_older_than_the_vendor_surely_keeps_it_is_sent_again(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    world.provider.stages = True
    fetched = {k: v for k, v in chunk.items() if k != "content"} | {"cacheURI": "https://cache.example/c.wav"}
    world.provider.submit_error = TransientError("429 concurrent_job_limit", refusal=True)
    first = start(world, fetched).response
    assert isinstance(first, SchedulePollTask) and first.taskPayload.stagedMedia is not None
    world.provider.submit_error = None
    world.provider.states = [running()]
    manual_clock.advance_to(first.taskPayload.stagedAtUTC + core.STAGED_MEDIA_TRUSTED_MS)  # type: ignore[operator]
    late = first.taskPayload.model_copy(update={"notBeforeUTC": None})
    core.poll(at_its_time(world.signer.sign(late)), world.ports)
    assert world.provider.staged_starts == [] and world.provider.media_read == 2  # fetched and sent again
    assert world.media.fetched == [chunk["taskId"]] * 2


def test_inline_text_refused_by_a_busy_vendor_is_carried_in_the_payload_and_submitted_later(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """Issue 16: a chunk's inline `content` has no cacheURI to read again; it rides, signed, in the
    deferred payload (up to MAX_CARRIED_CONTENT) instead of failing the segment."""
    world = World()
    text = {k: v for k, v in chunk.items() if k != "cacheURI"} | {"content": "hello world", "mimeType": "text/plain"}
    world.provider.submit_error = TransientError("429 too many jobs", retry_after_s=120)
    message = start(world, text).response
    assert isinstance(message, SchedulePollTask) and message.taskPayload.awaitingSubmit is True
    assert message.taskPayload.mediaContent == "hello world" and message.taskPayload.mediaUri is None
    world.provider.submit_error = None
    world.provider.states = [running()]
    manual_clock.advance_to(message.nextPollTimeUTC)
    admitted = core.poll(at_its_time(message.taskPayload), world.ports)
    assert isinstance(admitted.response, SchedulePollTask) and admitted.response.taskPayload.mediaContent is None
    [(media, _)] = world.provider.submitted
    assert media.body == b"hello world" and media.media_type == "text/plain"
    tampered = message.taskPayload.model_copy(update={"mediaContent": "other words"})
    with pytest.raises(ForgedPayloadError):
        core.poll(at_its_time(tampered), world.ports)


def test_inline_text_too_large_to_carry_fails_the_invocation_for_a_retry_and_changes_nothing(
    chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    world = World()
    large = "x" * (MAX_CARRIED_CONTENT + 1)
    text = {k: v for k, v in chunk.items() if k != "cacheURI"} | {"content": large, "mimeType": "text/plain"}
    world.provider.submit_error = TransientError("429 too many jobs")
    with pytest.raises(TransientError):
        start(world, text)
    assert world.scheduler.schedules == {} and world.sink.records == {}


def test_two_chunks_of_one_task_are_two_units_of_work(chunk: dict[str, Any], manual_clock: ManualClock) -> None:
    world = World()
    world.provider.states = [COMPLETE]
    first = start(world, {**chunk, "chunkUUID": "a", "chunkIndex": 0})
    second = start(world, {**chunk, "chunkUUID": "b", "chunkIndex": 1})
    assert isinstance(first.response, SchedulePollTask) and isinstance(second.response, SchedulePollTask)
    assert first.response.taskPayload.workId != second.response.taskPayload.workId  # a vendor job each
    assert not second.repeated and len(world.provider.submitted) == 2
    done = core.poll(at_its_time(first.response.taskPayload), world.ports)
    assert done.kind == "complete" and done.record is not None and done.record.chunk == "a"
    assert world.scheduler.chain(second.response.taskPayload.unit) == [1]  # the other chunk runs on
    again = start(world, {**chunk, "chunkUUID": "a", "chunkIndex": 0})
    assert again.repeated and again.record == done.record  # a repeat: that chunk's own record


def test_a_repeated_delivery_still_answers_a_minute_after_its_timestamp(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """The schedule was made by the first delivery, a minute ahead of *its* time; a repeat 59 s later
    reports it no sooner than a minute after its own timestampUTC (the seed's rule, issue 17)."""
    first = start(world, chunk).response
    assert isinstance(first, SchedulePollTask)
    manual_clock.advance(59_000)
    again = start(world, chunk)
    message = again.response
    assert again.repeated and isinstance(message, SchedulePollTask)
    assert message.nextPollTimeUTC >= message.timestampUTC + 60_000
    assert message.taskPayload == first.taskPayload


def test_the_completion_measures_the_vendors_first_eta(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A vendor whose first ETA said 20 minutes for a job that took 10: EtaAccuracy 2 (twice too far),
    counted once, and not again for a repeated delivery of the completing poll."""
    from pollbridge import telemetry

    counted: list[tuple[str, float]] = []
    monkeypatch.setattr(telemetry, "count", lambda name, value=1, unit=None: counted.append((name, value)))
    payload = poll_payload(world, chunk)
    seen = manual_clock.now_ms()
    world.provider.states = [running(eta_ms=seen + 1_200_000)]
    following = core.poll(payload, world.ports).response.taskPayload  # type: ignore[attr-defined]
    assert (following.firstEtaUTC, following.firstEtaSeenUTC) == (seen + 1_200_000, seen)
    manual_clock.advance_to(seen + 540_000)
    world.provider.states = [running(eta_ms=seen + 540_000 + 2 * 60_000)]  # 2x too far still: 1 minute left
    last = core.poll(at_its_time(following), world.ports).response.taskPayload  # type: ignore[attr-defined]
    assert last.firstEtaUTC == seen + 1_200_000  # the first, kept
    manual_clock.advance_to(seen + 660_000)
    world.provider.states = [COMPLETE]
    done = core.poll(at_its_time(last), world.ports)
    # completed between the polls at 9 and 11 minutes: 10 minutes, against the 20 the first ETA said
    assert done.eta_accuracy == pytest.approx(2.0, abs=0.01)
    telemetry.observe(done)
    assert ("EtaAccuracy", done.eta_accuracy) in counted
    manual_clock.advance(1_000)
    repeated = core.poll(at_its_time(last), world.ports)
    counted.clear()
    telemetry.observe(repeated)
    assert not [name for name, _ in counted if name == "EtaAccuracy"]
