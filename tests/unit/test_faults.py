"""One test per finding of the reliability review (issue 6), over the in-memory ports.

Each of these failed on the code before the fix: the comment on each says what happened then.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from pollbridge import core, decisions, signing
from pollbridge.adapters.http_policy import retry_after_s as _retry_after
from pollbridge.adapters.providers.http import HttpJobProvider, _fraction
from pollbridge.clock import ManualClock
from pollbridge.errors import ForgedPayloadError, InvalidEventError, PermanentError, TransientError
from pollbridge.models import PollPayload, SchedulePollTask, parse_segment
from pollbridge.naming import poll_number_of, record_key, schedule_name
from pollbridge.timing import PollFacts, PollPolicy, next_poll_time
from tests.support.fakes import COMPLETE, SIGNING_KEY, World, at_its_time, running, start, unit_of


def first_payload(world: World, chunk: dict[str, Any]) -> PollPayload:
    message = start(world, chunk).response
    assert isinstance(message, SchedulePollTask)
    return at_its_time(message.taskPayload)


def next_payload(outcome: core.Outcome) -> PollPayload:
    assert isinstance(outcome.response, SchedulePollTask), outcome
    return at_its_time(outcome.response.taskPayload)


# 1. Forgeable payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"deadlineUTC": 0}, {"pollNumber": 5}, {"workId": "someone-elses-job"}, {"signature": None}],
    ids=["deadline-zero", "skip-ahead", "other-job", "unsigned"],
)
def test_an_altered_payload_is_rejected_before_anything_is_called(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock, change: dict[str, Any]
) -> None:
    # Before: deadlineUTC 0 cancelled the victim's job; pollNumber 5 started a second chain.
    payload = first_payload(world, chunk).model_copy(update=change)
    before = dict(world.scheduler.schedules)
    with pytest.raises(ForgedPayloadError, match=r"taskPayload\.signature"):
        core.poll(payload, world.ports)
    polled = {**chunk, "taskId": "aiware-poll-2", "taskPayload": payload.model_dump(mode="json")}
    with pytest.raises(ForgedPayloadError):
        start(world, polled)  # the same payload routed back as a segment
    assert world.provider.status_calls == 0 and world.provider.cancelled == []
    assert world.scheduler.schedules == before and world.sink.records == {}


def test_a_validly_signed_deadline_is_still_capped_by_the_task_timeout(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = first_payload(world, chunk)
    generous = world.signer.sign(payload.model_copy(update={"deadlineUTC": payload.deadlineUTC * 2}))
    manual_clock.advance(86_400_000)  # the task timeout of World's ports
    world.provider.states = [running()]
    outcome = core.poll(generous, world.ports)
    assert outcome.kind == "failed" and "timed out" in (world.sink.record_of(chunk["taskId"]).failureMessage or "")
    assert world.provider.cancelled == ["work-1"]


def test_signatures_cover_every_field_and_survive_added_defaults() -> None:
    payload = PollPayload(
        workId="w", isPollTask=True, origTaskId="t", origTdoId="d", origJobId="j", origCallTimeUTC=1,
        pollNumber=1, deadlineUTC=2,
    )  # fmt: skip
    signed = signing.sign(payload, SIGNING_KEY.encode())
    signing.verify(signed, [SIGNING_KEY.encode()])
    # A field at its default is left out of the canonical form: a later version's new defaults verify.
    assert b"transientErrors" not in signing.canonical(signed)
    for field, value in {"mediaOffsetMs": 1, "engineConfig": {"language": "fr"}, "transientErrors": 1}.items():
        with pytest.raises(ForgedPayloadError):
            signing.verify(signed.model_copy(update={field: value}), [SIGNING_KEY.encode()])
    with pytest.raises(ForgedPayloadError):
        signing.verify(signed, [b"another-key-of-enough-length!!"])


# 3. Schedule-name collisions -----------------------------------------------------------------------


def test_a_plain_id_never_takes_a_hashed_ids_schedule(world: World, chunk: dict[str, Any], manual_clock: Any) -> None:
    # Before: 'tenantA/job-42' was hashed to h-61bd…, exactly the plain id of the second task,
    # which was answered alreadyScheduled with the first task's payload and never ran.
    hashed = "tenantA/job-42"
    lookalike = schedule_name(hashed, 1).removesuffix("-p1")
    assert schedule_name(lookalike, 1) != schedule_name(hashed, 1)
    first = start(world, {**chunk, "taskId": hashed})
    second = start(world, {**chunk, "taskId": lookalike})
    assert not first.repeated and not second.repeated
    assert next_payload(second).origTaskId == lookalike
    assert len(world.provider.submitted) == 2


def test_the_mapping_from_task_and_poll_to_name_is_one_to_one() -> None:
    ids = ["a", "a-p1", "a-p", "a-p-p1", "h-abc", "t-a", "a/b", "a:b", "x" * 53, "x" * 54, "ü"]
    names = {(task, n): schedule_name(task, n) for task in ids for n in (1, 2, 10, 11, 9_999_999)}
    assert len(set(names.values())) == len(names)
    for (task, n), name in names.items():
        assert poll_number_of(name, task) == n
        assert all(poll_number_of(name, other) is None for other in ids if other != task)


def test_find_never_returns_another_tasks_schedule(world: World, chunk: dict[str, Any], manual_clock: Any) -> None:
    first_payload(world, chunk)
    [(_, scheduled)] = world.scheduler.schedules.items()
    world.scheduler.schedules[schedule_name("intruder", 1)] = scheduled  # a name shared only by tampering
    assert world.scheduler.find("intruder", 1) is None


@pytest.mark.parametrize(
    ("task_id", "why"),
    [
        ("  task-7\t", "whitespace"),
        ("task\u202e7", "U\\+202E"),
        ("task\x007", "U\\+0000"),
        ("task\n7", "U\\+000A"),
        ("\u00e9" * 400, "512 characters|1024 bytes"),
        ("x" * 1020, "512 characters|1024 bytes"),
    ],
)
def test_ids_are_taken_exactly_as_given_or_refused(chunk: dict[str, Any], task_id: str, why: str) -> None:
    # Before: '  task-7\t' collapsed into 'task-7' (another task's id), U+202E and NUL were accepted,
    # and an id whose record key exceeds S3's 1,024 bytes failed only when the record was written.
    with pytest.raises(InvalidEventError, match=rf"taskId: .*({why})"):
        parse_segment({**chunk, "taskId": task_id})


def test_the_longest_accepted_id_has_a_valid_record_key(chunk: dict[str, Any]) -> None:
    longest = "é" * 113  # 113 x 9 bytes percent-encoded + 'results/' + '.json' <= 1,024
    assert len(record_key(longest).encode()) <= 1024
    assert parse_segment({**chunk, "taskId": longest}).taskId == longest


# 4. Every task ends with a record --------------------------------------------------------------------


def test_the_backoff_is_bounded_at_any_poll_number() -> None:
    # Before: 1.5 ** (polls - 1) raised OverflowError after about 1,750 polls.
    policy = PollPolicy()
    for polls in (1_750, 10**6, 9_999_999):
        for errors in (0, polls):
            facts = PollFacts("task", polls, 0, 10**13, last_poll_ms=0, transient_errors=errors)
            at = next_poll_time(0, facts, policy)
            assert 60_000 <= at <= policy.max_interval_s * 1000 + 60_000


def test_a_payload_the_scheduler_refuses_mid_task_fails_with_a_record(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    # Before: the PermanentError escaped the poll: retries, then the DLQ, no record, job left running.
    payload = first_payload(world, chunk)

    def refuse(payload: PollPayload, at_ms: int) -> bool:
        raise PermanentError("taskPayload is 300000 bytes; the scheduler takes 262144", "invalid_data")

    world.scheduler.schedule = refuse  # type: ignore[method-assign]
    world.provider.states = [running()]
    outcome = core.poll(payload, world.ports)
    assert outcome.kind == "failed"
    record = world.sink.record_of(chunk["taskId"])
    assert record.failureReason == "invalid_data" and "scheduling poll 2" in (record.failureMessage or "")
    assert world.provider.cancelled == ["work-1"] and world.scheduler.schedules == {}


def test_a_vendor_out_of_contract_is_retried_within_a_budget_then_the_task_fails(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    # Before: a 200 with `[]` raised AttributeError in every poll: DLQ, no record, job left running.
    payload = first_payload(world, chunk)
    world.provider.states = [TransientError("vendor answered the status with a list, not an object")]
    outcomes = []
    for _ in range(decisions.MAX_CONSECUTIVE_VENDOR_ERRORS):
        manual_clock.advance(900_000)
        outcome = core.poll(payload, world.ports)
        outcomes.append(outcome.kind)
        if outcome.kind == "scheduled":
            payload = next_payload(outcome)
    assert outcomes == ["scheduled"] * (decisions.MAX_CONSECUTIVE_VENDOR_ERRORS - 1) + ["failed"]
    record = world.sink.record_of(chunk["taskId"])
    assert record.failureReason == "external_error" and "consecutive vendor errors" in (record.failureMessage or "")
    assert world.provider.cancelled == ["work-1"] and world.scheduler.schedules == {}


def test_an_answer_in_between_resets_the_error_budget(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = first_payload(world, chunk)
    world.provider.states = [TransientError("503")] * 9 + [running(), TransientError("503")]
    for _ in range(10):
        manual_clock.advance(900_000)
        payload = next_payload(core.poll(payload, world.ports))
    assert payload.transientErrors == 0 and world.sink.records == {}


def test_a_result_that_cannot_be_vtn_fails_with_a_record(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    from pollbridge.adapters.providers.reference_result import TimedWord, TranscriptResult

    payload = first_payload(world, chunk)
    world.provider.states = [COMPLETE]
    world.provider.result_answer = TranscriptResult(words=[TimedWord(text="", start_ms=0, end_ms=1)])
    world.provider.result_answer.words[0].__dict__["start_ms"] = -5  # a value only a broken vendor sends
    outcome = core.poll(payload, world.ports)
    assert outcome.kind == "failed"
    assert world.sink.record_of(chunk["taskId"]).failureReason == "invalid_data"


def test_a_record_sink_that_refuses_can_only_retry(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = first_payload(world, chunk)
    world.provider.states = [COMPLETE]

    def denied(record: Any) -> Any:
        raise RuntimeError("AccessDenied")

    world.sink.write_once = denied  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        core.poll(payload, world.ports)
    assert list(world.scheduler.schedules) == [schedule_name(unit_of(chunk), 1)]  # kept for the redrive


# 5. One vendor job per task --------------------------------------------------------------------


def test_a_segment_replayed_after_a_throttled_schedule_reuses_the_job(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    original = world.scheduler.schedule
    calls = {"n": 0}

    def throttled_once(payload: PollPayload, at_ms: int) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("scheduler CreateSchedule: ThrottlingException")
        return original(payload, at_ms)

    world.scheduler.schedule = throttled_once  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        start(world, chunk)
    outcome = start(world, chunk)  # Lambda's retry
    assert outcome.kind == "scheduled" and next_payload(outcome).workId == "work-1"
    assert len(world.provider.submitted) == 1 and world.provider.cancelled == []


def test_a_segment_redelivered_after_poll_one_fired_starts_nothing(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = first_payload(world, chunk)
    manual_clock.advance(60_000)
    world.provider.states = [running()]
    next_payload(core.poll(payload, world.ports))  # poll 1 ran; its schedule is gone
    again = start(world, chunk)
    # Told by the unit's start marker (read by name), which holds poll 1: no listing needed.
    assert again.repeated and next_payload(again) == payload
    assert len(world.provider.submitted) == 1
    assert list(world.scheduler.schedules) == [schedule_name(unit_of(chunk), 2)]


def test_an_engine_config_too_deep_or_too_large_is_refused_before_submitting(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5_000):  # before: RecursionError when the schedule was serialised, after submitting
        node["x"] = {}
        node = node["x"]
    for config in (deep, {"blob": "x" * 20_000}, {"n": math.nan}):
        with pytest.raises(InvalidEventError, match=r"taskPayload"):
            start(world, {**chunk, "taskPayload": config})
    assert world.provider.submitted == [] and world.media.fetched == [] and world.scheduler.schedules == {}


# 6. Forked chains ----------------------------------------------------------------------------------


def test_a_late_redelivery_of_an_earlier_poll_is_dropped(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    # Before: poll 8 redelivered after poll 9 fired re-created poll 9: two chains until the end.
    payloads = [first_payload(world, chunk)]
    world.provider.states = [running()]
    for _ in range(9):
        manual_clock.advance(900_000)
        payloads.append(next_payload(core.poll(payloads[-1], world.ports)))
    assert list(world.scheduler.schedules) == [schedule_name(unit_of(chunk), 10)]
    status_calls = world.provider.status_calls
    late = core.poll(payloads[7], world.ports)  # poll 8, again: its schedule is gone (read by name)
    assert late.kind == "stale" and late.repeated
    assert late.reply() == {"type": "stale_poll", "taskId": chunk["taskId"], "pollNumber": 8}
    assert world.provider.status_calls == status_calls
    assert list(world.scheduler.schedules) == [schedule_name(unit_of(chunk), 10)]


def test_a_crash_between_creating_the_next_poll_and_retiring_its_own_leaves_one_chain(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = first_payload(world, chunk)
    world.provider.states = [running()]
    original = world.scheduler.retire
    world.scheduler.retire = lambda poll: (_ for _ in ()).throw(RuntimeError("crash"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        core.poll(payload, world.ports)
    world.scheduler.retire = original  # type: ignore[method-assign]
    assert world.scheduler.chain(unit_of(chunk)) == [1, 2]
    second = world.scheduler.find(unit_of(chunk), 2)
    retried = core.poll(payload, world.ports)  # Lambda's retry of poll 1: poll 2's name conflicts
    assert retried.kind == "scheduled" and retried.repeated
    assert second is not None and next_payload(retried) == at_its_time(second.payload)
    assert world.scheduler.chain(unit_of(chunk)) == [2]


def test_a_late_duplicate_of_a_crashed_poll_cannot_create_a_poll_again(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    """Before (issue 16, first cut): poll 1 crashed between creating poll 2 and giving up its own
    schedule, every retry failed, poll 2 ran and gave up its own; a late duplicate of poll 1 then
    found its schedule, created poll 2 again (its name free) and forked the chain. Names are now
    kept (retired) until the clean-up, so the duplicate's poll 2 conflicts."""
    payload = first_payload(world, chunk)
    world.provider.states = [running()]
    original = world.scheduler.retire
    world.scheduler.retire = lambda poll: (_ for _ in ()).throw(RuntimeError("crash"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        core.poll(payload, world.ports)  # poll 1: created poll 2, then died
    world.scheduler.retire = original  # type: ignore[method-assign]
    manual_clock.advance(900_000)
    second = world.scheduler.find(unit_of(chunk), 2)
    assert second is not None
    third = next_payload(core.poll(at_its_time(second.payload), world.ports))  # poll 2 runs on
    created = world.scheduler.create_calls
    late = core.poll(payload, world.ports)  # the late duplicate of poll 1
    assert late.repeated and world.scheduler.create_calls == created + 1  # tried poll 2: its name conflicted
    assert world.scheduler.chain(unit_of(chunk)) == [third.pollNumber]  # one chain, poll 1 retired now


def test_a_poll_after_the_record_was_written_is_stale_and_answers_with_it(
    world: World, chunk: dict[str, Any], manual_clock: ManualClock
) -> None:
    payload = first_payload(world, chunk)
    world.provider.states = [COMPLETE]
    done = core.poll(payload, world.ports)
    again = core.poll(payload, world.ports)
    assert again.kind == "stale" and again.reply() == done.reply()
    assert world.sink.write_calls == 1


# 8. Only declared options reach the vendor -----------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"token": "eyJhbGciOi"}, r"taskPayload\.token: looks like a credential"),
        ({"apiKey": "sk-123"}, r"taskPayload\.apiKey: looks like a credential"),
        ({"colour": "blue"}, r"taskPayload\.colour: is not an option of provider http"),
        ({"language": "english please"}, r"taskPayload\.language"),
        ({"diarize": "yes"}, r"taskPayload\.diarize"),
        ({"vocabulary": ["w"] * 101}, r"taskPayload\.vocabulary"),
    ],
)
def test_the_http_provider_takes_only_its_declared_options(config: dict[str, Any], named: str) -> None:
    provider = HttpJobProvider("http://127.0.0.1:9", None, extra_options=("simulate", "accessToken"))
    with pytest.raises(InvalidEventError, match=named):
        provider.options(config)


def test_declared_extra_options_pass_but_never_credentials() -> None:
    provider = HttpJobProvider("http://127.0.0.1:9", None, extra_options=("simulate", "accessToken"))
    assert provider.options({"language": "en-US", "simulate": {"outcome": "failed"}}) == {
        "language": "en-US",
        "simulate": {"outcome": "failed"},
    }
    with pytest.raises(InvalidEventError, match=r"taskPayload\.accessToken: looks like a credential"):
        provider.options({"accessToken": "x"})


# 9. Smaller ones ---------------------------------------------------------------------------------


def test_vendor_hints_out_of_range_are_read_sensibly() -> None:
    # Before: progress 55 failed the task; Retry-After NaN crashed the submit.
    assert _fraction(55) == 0.55 and _fraction(0.4) == 0.4
    assert _fraction(-1) is None and _fraction(1e9) is None and _fraction(math.nan) is None and _fraction(True) is None
    assert _retry_after("NaN") is None and _retry_after("inf") is None and _retry_after("-3") == 0.0
    assert _retry_after("1e300") == 86_400.0 and _retry_after("12") == 12.0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"timestampUTC": 10**40}, "timestampUTC"),
        ({"startOffsetMs": 10**30}, "startOffsetMs"),
        ({"endOffsetMs": -1}, "endOffsetMs"),
        ({"chunkIndex": 10**12}, "chunkIndex"),
        ({"cacheURI": "https://cache.example/x.wav"}, "cacheURI or content, not both"),
    ],
)
def test_out_of_range_segments_are_refused(chunk: dict[str, Any], change: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidEventError, match=named):
        parse_segment({**chunk, **change})
