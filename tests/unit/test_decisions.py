import pytest

from pollbridge import decisions
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, PollPayload
from pollbridge.timing import PollPolicy

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
