import pytest

from pollbridge import decisions
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, PollPayload
from pollbridge.timing import PollPolicy, VendorHints

NOW = 1_767_225_600_000
PAYLOAD = PollPayload(
    workId="j_1", isPollTask=True, origTaskId="t", origTdoId="d", origJobId="j", origCallTimeUTC=NOW,
    pollNumber=3, deadlineUTC=NOW + 3_600_000,
)  # fmt: skip


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING])
def test_unfinished_polls_again_with_the_next_number(status: JobStatus) -> None:
    decision = decisions.after_status(JobState(status=status), PAYLOAD, NOW, PollPolicy())
    assert isinstance(decision, decisions.PollAgain)
    assert decision.payload.pollNumber == 4
    assert decision.payload.workId == "j_1"
    assert decision.at_ms - NOW >= 60_000


def test_complete_fetches_the_result() -> None:
    assert isinstance(
        decisions.after_status(JobState(status=JobStatus.COMPLETE), PAYLOAD, NOW, PollPolicy()), decisions.FetchResult
    )


def test_vendor_failure_maps_to_a_task_failure_reason() -> None:
    state = JobState(status=JobStatus.FAILED, error_code="unsupported_media", error_message="bad codec")
    decision = decisions.after_status(state, PAYLOAD, NOW, PollPolicy())
    assert decision == decisions.Finish(
        "failed", "invalid_data", "third-party job j_1 failed (unsupported_media): bad codec"
    )
    unknown = decisions.after_status(JobState(status=JobStatus.FAILED), PAYLOAD, NOW, PollPolicy())
    assert isinstance(unknown, decisions.Finish)
    assert unknown.reason == "external_error"
    assert "no reason given" in (unknown.message or "")


def test_canceled_at_the_vendor_records_cancelled_without_cancelling_again() -> None:
    decision = decisions.after_status(JobState(status=JobStatus.CANCELED), PAYLOAD, NOW, PollPolicy())
    assert isinstance(decision, decisions.Finish)
    assert (decision.status, decision.cancel_vendor_job) == ("cancelled", False)


def test_transient_error_never_fails_the_task_before_the_deadline() -> None:
    decision = decisions.after_transient_error(TransientError("503", retry_after_s=300), PAYLOAD, NOW, PollPolicy())
    assert isinstance(decision, decisions.PollAgain)
    assert decision.payload.transientErrors == 1
    assert decision.at_ms - NOW >= 300_000


def test_the_deadline_fails_the_task_and_cancels_the_vendor_job() -> None:
    late = PAYLOAD.deadlineUTC
    for decision in (
        decisions.after_status(JobState(status=JobStatus.RUNNING), PAYLOAD, late, PollPolicy()),
        decisions.after_transient_error(TransientError("timeout"), PAYLOAD, late, PollPolicy()),
    ):
        assert isinstance(decision, decisions.Finish)
        assert decision.status == "failed" and decision.cancel_vendor_job
        assert "timed out" in (decision.message or "")


def test_permanent_error_fails_with_its_reason() -> None:
    decision = decisions.after_permanent_error(PermanentError("401 unauthorized", "api_authentication_error"), PAYLOAD)
    assert decision.reason == "api_authentication_error"
    assert "401 unauthorized" in (decision.message or "")


def test_what_the_vendor_said_travels_to_the_next_poll_and_reaches_the_policy() -> None:
    eta = NOW + 1_800_000
    state = JobState(status=JobStatus.QUEUED, progress=0.0, estimated_completion_utc=eta)
    decision = decisions.after_status(state, PAYLOAD, NOW, PollPolicy())
    assert isinstance(decision, decisions.PollAgain)
    sent = decision.payload
    assert (sent.lastPollUTC, sent.lastEtaUTC, sent.lastProgress, sent.lastQueued) == (NOW, eta, 0.0, True)
    assert (sent.firstEtaUTC, sent.firstEtaSeenUTC) == (eta, NOW)
    facts = decisions.poll_facts(sent)
    assert facts.last_poll_ms == NOW
    assert facts.previous == VendorHints(eta_ms=eta, progress=0.0, queued=True)
    assert decisions.poll_facts(sent, first=True).previous is None
    # the next poll: a later ETA replaces the last one, the first one stays
    later = decisions.after_status(JobState(status=JobStatus.RUNNING, estimated_completion_utc=eta + 5), sent,
                                   NOW + 600_000, PollPolicy())  # fmt: skip
    assert isinstance(later, decisions.PollAgain)
    assert (later.payload.lastEtaUTC, later.payload.lastQueued, later.payload.firstEtaUTC) == (eta + 5, None, eta)


def test_a_poll_that_heard_nothing_leaves_no_previous_hints() -> None:
    sent = decisions.after_status(JobState(status=JobStatus.QUEUED, estimated_completion_utc=NOW + 60_000), PAYLOAD,
                                  NOW, PollPolicy())  # fmt: skip
    assert isinstance(sent, decisions.PollAgain)
    errored = decisions.after_transient_error(TransientError("503"), sent.payload, NOW + 60_000, PollPolicy())
    assert isinstance(errored, decisions.PollAgain)
    after = errored.payload
    assert (after.lastPollUTC, after.lastEtaUTC, after.lastProgress, after.lastQueued) == (
        NOW + 60_000,
        None,
        None,
        None,
    )
    assert decisions.poll_facts(after).previous is None  # nothing said at lastPollUTC
    assert after.firstEtaUTC == NOW + 60_000  # kept to the end
    silent = decisions.after_status(JobState(status=JobStatus.RUNNING), PAYLOAD, NOW, PollPolicy())
    assert isinstance(silent, decisions.PollAgain)
    assert decisions.poll_facts(silent.payload).previous is None
    assert silent.payload.firstEtaUTC is None


@pytest.mark.parametrize(
    ("eta_left_s", "last_poll_s", "now_s", "expected"),
    [
        (600, 590, 610, 1.0),  # said 10 minutes, done between 9:50 and 10:10
        (1200, 540, 660, 2.0),  # said 20 minutes, took 10: twice too far
        (300, 540, 660, 0.5),  # said 5 minutes, took 10: twice too near
    ],
)
def test_eta_accuracy_is_the_time_the_first_eta_said_over_the_time_taken(
    eta_left_s: int, last_poll_s: int, now_s: int, expected: float
) -> None:
    seen = NOW + 60_000
    payload = PAYLOAD.model_copy(
        update={
            "firstEtaUTC": seen + eta_left_s * 1000,
            "firstEtaSeenUTC": seen,
            "lastPollUTC": seen + last_poll_s * 1000,
        }
    )
    assert decisions.eta_accuracy(payload, seen + now_s * 1000) == pytest.approx(expected, abs=0.001)


def test_eta_accuracy_needs_an_eta_that_was_still_ahead() -> None:
    assert decisions.eta_accuracy(PAYLOAD, NOW + 600_000) is None
    passed = PAYLOAD.model_copy(update={"firstEtaUTC": NOW - 1, "firstEtaSeenUTC": NOW})
    assert decisions.eta_accuracy(passed, NOW + 600_000) is None
    same_poll = PAYLOAD.model_copy(update={"firstEtaUTC": NOW + 60_000, "firstEtaSeenUTC": NOW})
    assert decisions.eta_accuracy(same_poll, NOW) is None


def test_the_new_fields_are_signed_when_set_and_left_out_while_unset() -> None:
    from pollbridge.signing import canonical, is_valid, sign

    key = b"k" * 32
    assert not any(
        name.encode() in canonical(PAYLOAD) for name in ("lastEta", "lastProgress", "lastQueued", "firstEta")
    )
    state = JobState(status=JobStatus.RUNNING, progress=1.0, estimated_completion_utc=NOW + 60_000)
    decision = decisions.after_status(state, PAYLOAD, NOW, PollPolicy())
    assert isinstance(decision, decisions.PollAgain)
    signed = sign(decision.payload, key)
    assert b'"lastProgress":1,' in canonical(signed)  # whole numbers as integers, as a JavaScript hop writes them
    # a hop that re-encodes 1.0 as 1 changes nothing; altering what the vendor said breaks the signature
    sent = signed.model_dump_json()
    assert '"lastProgress":1.0' in sent
    hopped = PollPayload.model_validate_json(sent.replace('"lastProgress":1.0', '"lastProgress":1'))
    assert hopped.lastProgress == 1.0 and is_valid(hopped, [key])
    assert not is_valid(signed.model_copy(update={"lastEtaUTC": NOW + 1}), [key])
