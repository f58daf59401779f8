"""The `transcribe` provider against moto's Transcribe and S3 (in server mode), with a recorded-shape
transcript where the job says it wrote it (moto writes none)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.transcribe.exceptions import BadRequestException
from moto.transcribe.models import TranscribeBackend

from pollbridge.adapters.providers.aws import Staging, s3_location
from pollbridge.adapters.providers.transcribe import TranscribeProvider
from pollbridge.models import JobStatus
from pollbridge.ports import Media
from tests.conformance.kit import Failure, Harness, ProviderConformance
from tests.conftest import ROOT
from tests.support.aws_faults import moto_transcription_job, service_errors, transcribe_jobs_stay_put

TRANSCRIPT = (ROOT / "tests" / "fixtures" / "transcribe_output.json").read_bytes()
STAGING = "pollbridge-test-staging"


def moto_client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="x"
    )


@contextlib.contextmanager
def transcribe_keeps_unfinished_jobs() -> Iterator[None]:
    """DeleteTranscriptionJob as Amazon Transcribe answers it and moto does not: a queued or running
    job is not deleted but refused with BadRequestException (the error it gives for an unknown job
    too); a batch job cannot be stopped."""
    original = TranscribeBackend.delete_transcription_job

    def delete(self: TranscribeBackend, transcription_job_name: str) -> None:
        job = self.transcriptions.get(transcription_job_name)
        if job is not None and job.status not in ("COMPLETED", "FAILED"):
            raise BadRequestException(message="The job is in progress and can't be deleted. Try again when it ends.")
        original(self, transcription_job_name)

    TranscribeBackend.delete_transcription_job = delete  # type: ignore[method-assign]
    try:
        yield
    finally:
        TranscribeBackend.delete_transcription_job = original  # type: ignore[method-assign]


class MotoTranscribeHarness(Harness):
    media = Media(b"RIFF$\x00\x00\x00WAVEfmt ", "audio/wav")
    cancel_supported = False  # a queued or running job cannot be stopped; only a finished one is deleted
    engine_config = {"languageCode": "en-US", "showSpeakerLabels": True, "maxSpeakerLabels": 2}
    bad_option = ("maxSpeakerLabels", 1)
    service_statuses = {
        "QUEUED": JobStatus.QUEUED,
        "IN_PROGRESS": JobStatus.RUNNING,
        "COMPLETED": JobStatus.COMPLETE,
        "FAILED": JobStatus.FAILED,
    }

    def __init__(self, endpoint: str) -> None:
        self.s3, self.transcribe = moto_client("s3", endpoint), moto_client("transcribe", endpoint)
        self.s3.create_bucket(Bucket=STAGING)
        self.provider = TranscribeProvider(Staging(lambda: self.s3, STAGING), lambda: self.transcribe)

    def jobs_started(self) -> int:
        return len(self.transcribe.list_transcription_jobs()["TranscriptionJobSummaries"])

    def set_status(self, work_id: str, service_status: str) -> None:
        job = moto_transcription_job(work_id)
        job.status = service_status
        job.failure_reason = "The media format that you specified doesn't match the detected media format."

    def finish(self, work_id: str) -> None:
        """What Transcribe does: write the transcript, then report COMPLETED with its location."""
        job = moto_transcription_job(work_id)
        uri = f"https://s3.us-east-1.amazonaws.com/{STAGING}/{job.output_key}"
        bucket, key = s3_location(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=TRANSCRIPT)
        job.status, job.transcript = "COMPLETED", {"TranscriptFileUri": uri}

    def failing(self, kind: Failure) -> contextlib.AbstractContextManager[None]:
        return service_errors(kind, self.s3, self.transcribe)

    def cancelled(self, work_id: str) -> bool:
        jobs = self.transcribe.list_transcription_jobs()["TranscriptionJobSummaries"]
        return work_id not in {job["TranscriptionJobName"] for job in jobs}


class TestTranscribeConformance(ProviderConformance):
    @pytest.fixture
    def harness(self, moto_endpoint: str) -> Iterator[MotoTranscribeHarness]:
        with transcribe_jobs_stay_put(), transcribe_keeps_unfinished_jobs():
            yield MotoTranscribeHarness(moto_endpoint)


def test_a_failed_jobs_reason_becomes_the_records_failure_message(moto_endpoint: str, manual_clock: Any) -> None:
    """moto's GetTranscriptionJob leaves FailureReason out: the answer Transcribe gives, recorded."""
    from types import SimpleNamespace

    from pollbridge import core
    from tests.conformance.kit import _chunk, _payload, _ports

    harness = MotoTranscribeHarness(moto_endpoint)
    ports, scheduler, sink = _ports(harness)
    payload = _payload(core.start_task(_chunk(harness), ports))
    reason = "The media format that you specified doesn't match the detected media format. Check the format."

    def failed(**_: Any) -> Any:
        job = {"TranscriptionJobName": payload.workId, "TranscriptionJobStatus": "FAILED", "FailureReason": reason}
        return SimpleNamespace(status_code=200, headers={}), {"TranscriptionJob": job}

    harness.transcribe.meta.events.register("before-call.*.GetTranscriptionJob", failed)
    manual_clock.advance(120_000)
    outcome = core.poll(payload, ports)
    record = sink.record_of(payload.origTaskId)
    assert outcome.kind == "failed" and record.failureReason == "invalid_data"
    assert reason in (record.failureMessage or "") and "(invalid_media)" in (record.failureMessage or "")
    assert scheduler.schedules == {}
