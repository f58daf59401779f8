"""Issue 15, finding 11: Transcribe refuses to delete a running job, and that is not "already gone".

DeleteTranscriptionJob answers BadRequestException both for a job Transcribe does not know and for
one it will not delete because it is queued or running (AWS's API reference); there is no API that
stops a batch job. The provider took every BadRequestException for "already gone": the job ran on,
billed, and nothing said so. Now GetTranscriptionJob tells the two apart, and a job that runs on is
logged as a warning and counted (VendorJobsNotCancelled)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from pollbridge.adapters.providers import transcribe
from pollbridge.adapters.providers.aws import Staging
from pollbridge.adapters.providers.transcribe import TranscribeProvider
from pollbridge.errors import TransientError
from pollbridge.ports import Media
from tests.conformance.test_transcribe import STAGING, transcribe_keeps_unfinished_jobs
from tests.support.aws_faults import moto_transcription_job, transcribe_jobs_stay_put

NOT_DELETED = "The job is in progress and can't be deleted. Try again when it ends."
UNKNOWN = "The requested job couldn't be found. Check the job name and try your request again."


def client_error(code: str, message: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "X"
    )


class Said:
    """What the provider logged and counted."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []
        self.counted: list[str] = []

    def warning(self, message: str, extra: dict[str, Any] | None = None, **_: Any) -> None:
        self.warnings.append((message, extra or {}))


@pytest.fixture
def said(monkeypatch: pytest.MonkeyPatch) -> Said:
    found = Said()
    monkeypatch.setattr(transcribe, "logger", found, raising=False)
    monkeypatch.setattr(transcribe, "count", found.counted.append, raising=False)
    return found


class FakeTranscribe:
    """Transcribe's answers to DeleteTranscriptionJob and GetTranscriptionJob, as given."""

    def __init__(self, delete: Exception | None, job: dict[str, Any] | Exception) -> None:
        self.delete, self.job = delete, job
        self.calls: list[str] = []

    def delete_transcription_job(self, TranscriptionJobName: str) -> dict[str, Any]:
        self.calls.append("delete")
        if self.delete is not None:
            raise self.delete
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def get_transcription_job(self, TranscriptionJobName: str) -> dict[str, Any]:
        self.calls.append("get")
        if isinstance(self.job, Exception):
            raise self.job
        return {"TranscriptionJob": {"TranscriptionJobName": TranscriptionJobName, **self.job}}


def provider_of(service: FakeTranscribe) -> TranscribeProvider:
    return TranscribeProvider(Staging(lambda: None, "staging"), lambda: service)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["QUEUED", "IN_PROGRESS"])
def test_a_running_job_transcribe_refuses_to_delete_is_logged_and_counted(said: Said, status: str) -> None:
    service = FakeTranscribe(client_error("BadRequestException", NOT_DELETED), {"TranscriptionJobStatus": status})
    provider_of(service).cancel("pollbridge-job-1")  # best effort: nothing raised
    assert service.calls == ["delete", "get"]
    assert said.counted == ["VendorJobsNotCancelled"]
    [(message, extra)] = said.warnings
    assert "cannot be stopped" in message and "billed" in message
    assert extra == {"workId": "pollbridge-job-1", "jobStatus": status}


@pytest.mark.parametrize(
    "gone",
    [client_error("BadRequestException", UNKNOWN), client_error("NotFoundException", UNKNOWN)],
)
def test_a_job_already_gone_is_fine_and_says_nothing(said: Said, gone: ClientError) -> None:
    service = FakeTranscribe(client_error("BadRequestException", UNKNOWN), gone)
    provider_of(service).cancel("pollbridge-job-1")
    assert service.calls == ["delete", "get"] and said.warnings == [] and said.counted == []


def test_a_deleted_job_is_not_asked_about(said: Said) -> None:
    service = FakeTranscribe(None, {"TranscriptionJobStatus": "COMPLETED"})
    provider_of(service).cancel("pollbridge-job-1")
    assert service.calls == ["delete"] and said.warnings == [] and said.counted == []


def test_a_throttled_look_at_the_refused_job_is_transient(said: Said) -> None:
    """core cancels quietly (a TransientError is dropped there); the provider does not guess."""
    service = FakeTranscribe(client_error("BadRequestException", NOT_DELETED), client_error("ThrottlingException", ""))
    with pytest.raises(TransientError):
        provider_of(service).cancel("pollbridge-job-1")
    assert said.counted == []


# --- against moto, made to refuse as Transcribe does ------------------------------------------------


@pytest.fixture
def moto_transcribe(moto_endpoint: str) -> Iterator[tuple[TranscribeProvider, Any]]:
    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="x")  # fmt: skip

    s3, service = client("s3"), client("transcribe")
    s3.create_bucket(Bucket=STAGING)
    with transcribe_jobs_stay_put(), transcribe_keeps_unfinished_jobs():
        yield TranscribeProvider(Staging(lambda: s3, STAGING), lambda: service), service


def test_cancel_keeps_a_running_job_and_says_so_then_deletes_it_once_finished(
    said: Said, moto_transcribe: tuple[TranscribeProvider, Any]
) -> None:
    provider, service = moto_transcribe
    work_id = provider.submit(Media(b"RIFF$\x00\x00\x00WAVEfmt ", "audio/wav"), {}, "pollbridge-job-cancel")
    moto_transcription_job(work_id).status = "IN_PROGRESS"

    provider.cancel(work_id)
    assert service.get_transcription_job(TranscriptionJobName=work_id)  # still there, running on
    assert said.counted == ["VendorJobsNotCancelled"]
    assert said.warnings[0][1] == {"workId": work_id, "jobStatus": "IN_PROGRESS"}

    moto_transcription_job(work_id).status = "COMPLETED"
    provider.cancel(work_id)
    with pytest.raises(ClientError):
        service.get_transcription_job(TranscriptionJobName=work_id)  # deleted
    provider.cancel(work_id)  # and gone: fine, nothing more said
    assert said.counted == ["VendorJobsNotCancelled"] and len(said.warnings) == 1
