"""`PROVIDER=transcribe` and `PROVIDER=rekognition-text` through the real handlers on the local cloud
(the stack built from the template with that Provider, moto for AWS): a segment to a schema-valid record."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.stack_view import sample_wav
from pollbridge.naming import idempotency_key
from tests.conftest import ROOT, validate_vtn
from tests.support.fakes import unit_of

MEDIA_BUCKET = "pollbridge-local-media"


def event(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())  # type: ignore[no-any-return]


def cloud_for(provider: str) -> LocalCloud:
    return LocalCloud(manual_clock=True, parameters={"Provider": provider, "MediaBucketName": MEDIA_BUCKET})


@pytest.fixture
def media_server() -> Iterator[str]:
    class Media(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = sample_wav(0.5)
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Media)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/chunk.wav"
    server.shutdown()
    server.server_close()


def test_transcribe_takes_a_segment_to_a_schema_valid_record(vtn_validators: Any, media_server: str) -> None:
    with cloud_for("transcribe") as cloud:
        assert cloud.staging_bucket
        assert cloud.specs["PollFunction"].environment["STAGING_BUCKET"] == cloud.staging_bucket
        in_bucket = event("segment-transcribe.json")
        cloud.put_sample_media(in_bucket)
        fetched = {**event("segment-transcribe.json"), "taskId": "transcribe-over-https", "cacheURI": media_server}
        for chunk in (in_bucket, fetched):
            started = cloud.invoke("SegmentFunction", chunk)
            assert started.ok, started.error_message
            assert started.value["taskPayload"]["provider"] == "transcribe"
            repeated = cloud.invoke("SegmentFunction", chunk)  # a repeated segment finds the job
            assert repeated.value["alreadyScheduled"] is True
        cloud.run_until_idle()
        s3, transcribe = cloud.clients["s3"], _client(cloud, "transcribe")
        jobs = {j["TranscriptionJobName"]: j for j in transcribe.list_transcription_jobs()["TranscriptionJobSummaries"]}
        assert set(jobs) == {
            idempotency_key(unit_of(c), "job", cloud.schedule_group) for c in (in_bucket, fetched)
        }  # one job per task
        staged = [o["Key"] for o in s3.list_objects_v2(Bucket=cloud.staging_bucket).get("Contents", [])]
        # the media bucket's chunk is read where it lies; the fetched one is staged; both outputs land here
        assert sorted(k.split("/")[0] for k in staged) == ["media", "outputs", "outputs"]
        assert f"media/{idempotency_key(unit_of(fetched), 'job', cloud.schedule_group)}.wav" in staged
        records = cloud.records()
        for chunk in (in_bucket, fetched):
            record = records[chunk["taskId"]]
            assert record["status"] == "complete" and record["polls"] == 3  # QUEUED, IN_PROGRESS, COMPLETED
            output = record["output"]
            validate_vtn(vtn_validators, output)
            assert output["validationContracts"] == ["transcript"] and output["language"] == "en-US"
            assert all(item["startTimeMs"] >= chunk["startOffsetMs"] for item in output["series"])
            assert {item["speakerId"] for item in output["series"]} == {"spk_0", "spk_1"}
            assert output["series"][4]["words"][0]["word"] == "cloud."  # punctuation on the word before it
        assert cloud.pending_schedules() == [] and cloud.dead_letter_count() == 0


def test_rekognition_text_takes_a_video_segment_to_a_schema_valid_record(vtn_validators: Any) -> None:
    with cloud_for("rekognition-text") as cloud:
        chunk = event("segment-video.json")
        cloud.put_sample_media(chunk)
        started = cloud.invoke("SegmentFunction", chunk)
        assert started.ok, started.error_message
        cloud.run_until_idle()
        record = cloud.records()[chunk["taskId"]]
        assert record["status"] == "complete"
        output = record["output"]
        validate_vtn(vtn_validators, output)
        assert output["validationContracts"] == ["text"]
        # moto's canned detections: two lines, at 0 and 1,000 ms of the chunk (which starts 60 s in)
        assert [(s["startTimeMs"], s["object"]["text"]) for s in output["series"]] == [
            (60_000, "Hello world"),
            (61_000, "Goodbye world"),
        ]
        assert [w["text"] for w in output["series"][0]["object"]["vendor"]["words"]] == ["Hello", "world"]
        assert cloud.pending_schedules() == []


def test_a_transcribe_stack_refuses_bad_options_before_anything_is_staged() -> None:
    with cloud_for("transcribe") as cloud:
        chunk = {**event("segment-transcribe.json"), "taskPayload": {"languageCode": "en-US", "maxSpeakerLabels": 2}}
        result = cloud.invoke("SegmentFunction", chunk)
        assert not result.ok and "taskPayload.maxSpeakerLabels" in (result.error_message or "")
        assert cloud.clients["s3"].list_objects_v2(Bucket=cloud.staging_bucket).get("KeyCount", 0) == 0
        assert _client(cloud, "transcribe").list_transcription_jobs()["TranscriptionJobSummaries"] == []
        assert cloud.pending_schedules() == []


def _client(cloud: LocalCloud, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=cloud.endpoint)
