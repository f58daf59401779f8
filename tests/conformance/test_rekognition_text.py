"""The `rekognition-text` provider against a fake Rekognition that answers in recorded shapes
(several pages of text detections); tests/integration runs it against moto too."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from pollbridge.adapters.providers.aws import Staging
from pollbridge.adapters.providers.rekognition_text import RekognitionTextProvider
from pollbridge.models import JobStatus
from pollbridge.ports import Media
from tests.conformance.kit import Failure, Harness, ProviderConformance
from tests.conftest import ROOT
from tests.support.aws_fakes import FakeRekognition, FakeS3

PAGES = json.loads((ROOT / "tests" / "fixtures" / "rekognition_text_pages.json").read_text())


class FakeRekognitionHarness(Harness):
    media = Media(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    engine_config = {"minConfidence": 0.8, "minBoundingBoxHeight": 0.02}
    bad_option = ("minConfidence", 80)
    service_statuses = {"IN_PROGRESS": JobStatus.RUNNING, "SUCCEEDED": JobStatus.COMPLETE, "FAILED": JobStatus.FAILED}
    cancel_supported = False  # Rekognition Video has no way to stop a job

    def __init__(self) -> None:
        self.s3, self.rekognition = FakeS3(), FakeRekognition(PAGES)
        self.provider = RekognitionTextProvider(Staging(lambda: self.s3, "staging"), lambda: self.rekognition)

    def jobs_started(self) -> int:
        return len(self.rekognition.jobs)

    def set_status(self, work_id: str, service_status: str) -> None:
        message = "The video codec is not supported." if service_status == "FAILED" else None
        self.rekognition.jobs[work_id].update(status=service_status, message=message)

    def finish(self, work_id: str) -> None:
        self.set_status(work_id, "SUCCEEDED")

    @contextlib.contextmanager
    def failing(self, kind: Failure) -> Iterator[None]:
        self.s3.failure = self.rekognition.failure = kind
        try:
            yield
        finally:
            self.s3.failure = self.rekognition.failure = None

    def cancelled(self, work_id: str) -> bool:
        return self.rekognition.jobs[work_id]["status"] != "IN_PROGRESS"


class TestRekognitionTextConformance(ProviderConformance):
    @pytest.fixture
    def harness(self) -> FakeRekognitionHarness:
        return FakeRekognitionHarness()


def test_the_chunk_is_staged_and_the_job_started_with_the_tasks_token() -> None:
    harness = FakeRekognitionHarness()
    work_id = harness.provider.submit(harness.media, {"minConfidence": 0.8}, "pollbridge-job-" + "a" * 64)
    [(bucket, key)] = harness.s3.objects
    assert (bucket, key) == ("staging", "media/pollbridge-job-" + "a" * 64 + ".mp4")
    assert harness.s3.objects[(bucket, key)] == (harness.media.body, "video/mp4")
    request = harness.rekognition.jobs[work_id]["request"]
    assert request["Video"] == {"S3Object": {"Bucket": "staging", "Name": key}}
    assert len(request["ClientRequestToken"]) == 64 and request["Filters"]["WordFilter"]["MinConfidence"] == 80.0


def test_an_s3_chunk_of_the_media_bucket_is_read_where_it_lies() -> None:
    harness = FakeRekognitionHarness()

    def never() -> bytes:
        raise AssertionError("the provider must not read a chunk the service reads itself")

    media = Media(never, "video/quicktime", s3_uri="s3://media-bucket/chunks/0.mov")
    work_id = harness.provider.submit(media, {}, "pollbridge-job-" + "b" * 64)
    assert harness.s3.objects == {}
    assert harness.rekognition.jobs[work_id]["request"]["Video"]["S3Object"] == {
        "Bucket": "media-bucket",
        "Name": "chunks/0.mov",
    }
