"""The AWS providers' options and converters: pure, on recorded-shape service answers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pollbridge.adapters.providers import rekognition_text, transcribe
from pollbridge.adapters.providers.aws import client_request_token, s3_location
from pollbridge.errors import InvalidEventError, PermanentError
from pollbridge.naming import idempotency_key
from pollbridge.ports import ResultContext
from tests.conftest import ROOT, validate_vtn

FIXTURES = ROOT / "tests" / "fixtures"
CONTEXT = ResultContext("task-1", "pollbridge-job-abc", 30_000, "pollbridge", 1_767_225_600_000)


def transcribe_output() -> dict[str, Any]:
    return json.loads((FIXTURES / "transcribe_output.json").read_text())  # type: ignore[no-any-return]


def rekognition_pages() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "rekognition_text_pages.json").read_text())  # type: ignore[no-any-return]


# --- Transcribe --------------------------------------------------------------------------------


def test_a_transcribe_transcript_becomes_a_valid_vtn_transcript(vtn_validators: Any) -> None:
    document = transcribe.transcript_to_vtn(transcribe_output(), "en-US", CONTEXT).model_dump(exclude_none=True)
    validate_vtn(vtn_validators, document)
    assert document["validationContracts"] == ["transcript"] and document["language"] == "en-US"
    assert document["externalSourceId"] == "pollbridge-job-abc" and document["taskId"] == "task-1"
    series = document["series"]
    assert len(series) == 7  # one per pronunciation item; punctuation is no timed item of its own
    # seconds as strings -> ms, on the TDO's timeline (the chunk starts 30 s in)
    assert series[0] == {
        "startTimeMs": 30_040,
        "stopTimeMs": 30_490,
        "speakerId": "spk_0",
        "words": [{"word": "Welcome", "confidence": 0.998}],
    }
    # alternatives: all of them, each with confidence and utteranceLength, the first on the best path;
    # the comma after "back" is attached to every alternative
    assert series[1]["words"] == [
        {"word": "back,", "confidence": 0.912, "utteranceLength": 1, "bestPath": True},
        {"word": "bach,", "confidence": 0.071, "utteranceLength": 1, "bestPath": False},
    ]
    best = [item["words"][0]["word"] for item in series]
    assert best == ["Welcome", "back,", "everyone.", "Shall", "we", "start?", "Yes."]
    assert [item["speakerId"] for item in series] == ["spk_0"] * 3 + ["spk_1"] * 3 + ["spk_0"]
    assert all(0 <= w["confidence"] <= 1 for item in series for w in item["words"])


def test_older_transcripts_name_speakers_only_in_speaker_label_segments(vtn_validators: Any) -> None:
    output = transcribe_output()
    for item in output["results"]["items"]:
        item.pop("speaker_label")
    document = transcribe.transcript_to_vtn(output, None, CONTEXT).model_dump(exclude_none=True)
    validate_vtn(vtn_validators, document)
    assert [item["speakerId"] for item in document["series"]] == ["spk_0"] * 3 + ["spk_1"] * 3 + ["spk_0"]
    assert "language" not in document  # neither the job nor the output said


def test_without_speaker_labels_no_speaker_id_and_language_from_the_output(vtn_validators: Any) -> None:
    output = transcribe_output()
    del output["results"]["speaker_labels"]
    for item in output["results"]["items"]:
        item.pop("speaker_label")
    output["results"]["language_code"] = "en-GB"
    document = transcribe.transcript_to_vtn(output, None, CONTEXT).model_dump(exclude_none=True)
    validate_vtn(vtn_validators, document)
    assert all("speakerId" not in item for item in document["series"]) and document["language"] == "en-GB"


def test_silence_is_an_empty_valid_transcript(vtn_validators: Any) -> None:
    output = {"results": {"transcripts": [{"transcript": ""}], "items": []}}
    document = transcribe.transcript_to_vtn(output, "de-DE", CONTEXT).model_dump(exclude_none=True)
    validate_vtn(vtn_validators, document)
    assert document["series"] == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda o: o.pop("results"),
        lambda o: o["results"]["items"][0].update(start_time="soon"),
        lambda o: o["results"]["items"][0]["alternatives"][0].update(confidence="1.7"),
        lambda o: o["results"].update(items=[["not", "an", "item"]]),
        lambda o: o["results"]["items"][0].update(end_time=None),
    ],
)
def test_an_output_that_is_not_a_transcript_is_a_value_error(damage: Any) -> None:
    output = transcribe_output()
    damage(output)
    with pytest.raises(ValueError):
        transcribe.transcript_to_vtn(output, "en-US", CONTEXT)


def test_transcribe_options_and_the_job_they_start() -> None:
    provider = transcribe.TranscribeProvider(None, None)  # type: ignore[arg-type]
    chosen = provider.options(
        {"languageCode": "en-US", "showSpeakerLabels": True, "maxSpeakerLabels": 4, "vocabularyName": "names_v2"}
    )
    request = transcribe.job_request(
        "pollbridge-job-1", "s3://stage/media/x.wav", "wav", "stage", transcribe.TranscribeOptions(**chosen)
    )
    assert request == {
        "TranscriptionJobName": "pollbridge-job-1",
        "Media": {"MediaFileUri": "s3://stage/media/x.wav"},
        "MediaFormat": "wav",
        "OutputBucketName": "stage",
        "OutputKey": "outputs/pollbridge-job-1.json",
        "LanguageCode": "en-US",
        "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 4, "VocabularyName": "names_v2"},
    }
    identify = transcribe.job_request(
        "j", "s3://b/k", "mp3", "b", transcribe.TranscribeOptions(languageOptions=["en-US", "es-US"])
    )
    assert identify["IdentifyLanguage"] is True and identify["LanguageOptions"] == ["en-US", "es-US"]
    assert "LanguageCode" not in identify and "Settings" not in identify
    assert transcribe.job_request("j", "s3://b/k", "mp3", "b", transcribe.TranscribeOptions())["IdentifyLanguage"]


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"languageCode": "english"}, "taskPayload.languageCode"),
        ({"languageCode": "en-US", "identifyLanguage": True}, "taskPayload.identifyLanguage"),
        ({"identifyLanguage": False}, "taskPayload.identifyLanguage"),
        ({"languageCode": "en-US", "languageOptions": ["fr-FR"]}, "taskPayload.languageOptions"),
        ({"languageOptions": []}, "taskPayload.languageOptions"),
        ({"showSpeakerLabels": True}, "taskPayload.maxSpeakerLabels"),
        ({"showSpeakerLabels": True, "maxSpeakerLabels": 31}, "taskPayload.maxSpeakerLabels"),
        ({"maxSpeakerLabels": 2}, "taskPayload.maxSpeakerLabels"),
        ({"showSpeakerLabels": "yes", "maxSpeakerLabels": 2}, "taskPayload.showSpeakerLabels"),
        ({"vocabularyName": "names"}, "taskPayload.vocabularyName"),
        ({"languageCode": "en-US", "vocabularyName": "no spaces"}, "taskPayload.vocabularyName"),
        ({"language": "en-US"}, "taskPayload.language"),
        ({"awsSecretKey": "AKIA-not-forwarded"}, "taskPayload.awsSecretKey"),
    ],
)
def test_bad_transcribe_options_are_named(config: dict[str, Any], named: str) -> None:
    provider = transcribe.TranscribeProvider(None, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError) as caught:
        provider.options(config)
    assert named in str(caught.value)
    assert "AKIA" not in str(caught.value)  # a credential's value is never echoed


def test_transcribe_reads_only_media_it_can_and_maps_failures() -> None:
    assert transcribe.media_format("audio/wav") == "wav" and transcribe.media_format("audio/mpeg; x=1") == "mp3"
    with pytest.raises(PermanentError) as caught:
        transcribe.media_format("text/plain")
    assert caught.value.reason == "invalid_data"
    assert transcribe.failure_code("The media format that you specified doesn't match") == "invalid_media"
    assert transcribe.failure_code("The S3 URI couldn't be found") == "media_unreachable"
    assert transcribe.failure_code("Internal failure") == "internal"
    name = idempotency_key("any task id, however long " * 20, "job")
    assert transcribe.JOB_NAME.fullmatch(name) and len(name) == 79  # the job name is the idempotency key


# --- Rekognition --------------------------------------------------------------------------------


def detections() -> list[dict[str, Any]]:
    return [d for page in rekognition_pages() for d in page["TextDetections"]]


def test_text_detections_across_pages_become_a_valid_vtn_text_document(vtn_validators: Any) -> None:
    document = rekognition_text.detections_to_vtn(detections(), 4200, CONTEXT).model_dump(exclude_none=True)
    validate_vtn(vtn_validators, document)
    assert document["validationContracts"] == ["text"]
    series = document["series"]
    assert [(s["startTimeMs"], s["stopTimeMs"], s["object"]["text"]) for s in series] == [
        (30_000, 30_500, "OPEN 24 HOURS"),  # until the next frame with text
        (30_500, 31_000, "OPEN 24 HOURS"),
        (31_000, 32_000, "EXIT"),  # the next frame is 3 s later: at most MAX_FRAME_SPAN_MS
        (31_000, 32_000, "pollbridge"),
        (34_000, 34_200, "Goodbye world"),  # never past the video's end (4,200 ms)
    ]
    first = series[0]["object"]
    assert first["type"] == "text" and first["confidence"] == pytest.approx(0.9931)
    assert first["boundingPoly"][0] == {"x": 0.12, "y": 0.08} and len(first["boundingPoly"]) == 4
    assert [w["text"] for w in first["vendor"]["words"]] == ["OPEN", "24", "HOURS"]
    assert first["vendor"]["words"][0]["confidence"] == pytest.approx(0.9982)
    assert "vendor" not in series[1]["object"]  # the repeated frame has no WORDs in the fixture
    cut = series[3]["object"]["boundingPoly"]  # points just outside the frame are clamped into it
    assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for p in cut) and cut[0]["x"] == 0.0 and cut[2]["y"] == 1.0


def test_no_text_is_a_valid_empty_text_document(vtn_validators: Any) -> None:
    document = rekognition_text.detections_to_vtn([], None, CONTEXT).model_dump(exclude_none=True)
    validate_vtn(vtn_validators, document)
    assert document["series"] == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[0].pop("Timestamp"),
        lambda d: d[0]["TextDetection"].update(Confidence=150),
        lambda d: d[0]["TextDetection"].pop("DetectedText"),
        lambda d: d.append("not a detection"),
    ],
)
def test_detections_that_are_not_rekognitions_are_a_value_error(damage: Any) -> None:
    found = copy.deepcopy(detections())
    damage(found)
    with pytest.raises(ValueError):
        rekognition_text.detections_to_vtn(found, 4200, CONTEXT)


def test_rekognition_options_filters_media_and_token() -> None:
    provider = rekognition_text.RekognitionTextProvider(None, None)  # type: ignore[arg-type]
    chosen = rekognition_text.RekognitionTextOptions(**provider.options({"minConfidence": 0.8}))
    request = rekognition_text.start_request("stage", "media/x.mp4", "t" * 64, chosen)
    assert request["Filters"] == {"WordFilter": {"MinConfidence": 80.0}}
    assert request["Video"] == {"S3Object": {"Bucket": "stage", "Name": "media/x.mp4"}}
    for bad in ({"minConfidence": 80}, {"languageCode": "en-US"}, {"token": "x"}):
        with pytest.raises(InvalidEventError, match=f"taskPayload.{next(iter(bad))}"):
            provider.options(bad)
    with pytest.raises(PermanentError, match="video/mp4"):
        rekognition_text.extension("audio/wav")
    token = client_request_token(idempotency_key("task", "job"))
    assert len(token) == 64 and token.isalnum() and token == client_request_token(idempotency_key("task", "job"))


@pytest.mark.parametrize(
    ("uri", "location"),
    [
        ("https://s3.us-east-1.amazonaws.com/stage/outputs/j.json", ("stage", "outputs/j.json")),
        ("https://stage.s3.eu-west-1.amazonaws.com/outputs/a%20b.json", ("stage", "outputs/a b.json")),
        ("s3://stage/outputs/j.json", ("stage", "outputs/j.json")),
    ],
)
def test_s3_locations_in_the_shapes_services_report(uri: str, location: tuple[str, str]) -> None:
    assert s3_location(uri) == location


@pytest.mark.parametrize("uri", ["https://evil.example.com/stage/x.json", "http://s3.amazonaws.com/b/k", "s3://b"])
def test_anything_else_is_no_s3_location(uri: str) -> None:
    with pytest.raises(ValueError):
        s3_location(uri)
