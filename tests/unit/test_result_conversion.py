"""Issue 15, finding 3: results converted in pieces, into documents that hold their items as dicts.

The memory itself is measured in tests/integration/test_result_memory.py; here, that the cheaper
paths give exactly what the models gave: the item builders check what VtnSeriesItem checks, a
document's dump is pydantic's (with the items shared, not copied), and each provider's converter
in pieces gives the document its converter gave on the whole answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from pollbridge.adapters.providers import rekognition_text, transcribe
from pollbridge.adapters.providers.aws import Staging
from pollbridge.adapters.providers.reference_result import (
    NotJsonError,
    TimedWord,
    TranscriptResult,
    result_to_vtn,
    to_vtn,
)
from pollbridge.models import VtnDocument, VtnSeriesItem
from pollbridge.models.vtn import point, text_item, word, words_item
from pollbridge.ports import ResultContext
from tests.conftest import ROOT, validate_vtn

FIXTURES = ROOT / "tests" / "fixtures"
CONTEXT = ResultContext("task-1", "job-1", 30_000, "pollbridge", 1_767_225_600_000)


# --- the item builders check what the models check ----------------------------------------------

VALID_ITEMS: list[tuple[dict[str, Any], Any]] = [
    ({"startTimeMs": 0, "stopTimeMs": 0, "words": [{"word": "hi"}]}, lambda: words_item(0, 0, [word("hi")])),
    (
        {"startTimeMs": 5, "stopTimeMs": 9, "speakerId": "spk_1", "words": [{"word": "hi", "confidence": 1.0}]},
        lambda: words_item(5, 9, [word("hi", 1)], "spk_1"),
    ),
    (
        {
            "startTimeMs": 1,
            "stopTimeMs": 2,
            "words": [
                {"word": "a", "confidence": 0.5, "utteranceLength": 1, "bestPath": True},
                {"word": "b", "confidence": 0.25, "utteranceLength": 1, "bestPath": False},
            ],
        },
        lambda: words_item(1, 2, [word("a", 0.5, 1, True), word("b", 0.25, 1, False)]),
    ),
    (
        {
            "startTimeMs": 1,
            "stopTimeMs": 2,
            "object": {
                "type": "text",
                "text": "OPEN",
                "confidence": 0.9,
                "boundingPoly": [{"x": 0.0, "y": 1.0}, {"x": 0.5, "y": 0.5}, {"x": 1.0, "y": 0.0}],
                "vendor": {"k": [1]},
            },
        },
        lambda: text_item(1, 2, "OPEN", 0.9, [point(0, 1), point(0.5, 0.5), point(1, 0)], {"k": [1]}),
    ),
    ({"startTimeMs": 3, "stopTimeMs": 3, "object": {"type": "text", "text": ""}}, lambda: text_item(3, 3, "")),
]

INVALID_ITEMS: list[tuple[dict[str, Any], Any]] = [
    ({"startTimeMs": -1, "stopTimeMs": 0, "words": [{"word": "x"}]}, lambda: words_item(-1, 0, [word("x")])),
    ({"startTimeMs": 5, "stopTimeMs": 4, "words": [{"word": "x"}]}, lambda: words_item(5, 4, [word("x")])),
    ({"startTimeMs": 0, "stopTimeMs": 1, "words": []}, lambda: words_item(0, 1, [])),
    (
        {"startTimeMs": 0, "stopTimeMs": 1, "words": [{"word": "x", "confidence": 1.5}]},
        lambda: words_item(0, 1, [word("x", 1.5)]),
    ),
    (
        {"startTimeMs": 0, "stopTimeMs": 1, "words": [{"word": "x", "confidence": float("nan")}]},
        lambda: words_item(0, 1, [word("x", float("nan"))]),
    ),
    (  # alternatives without utteranceLength
        {
            "startTimeMs": 0,
            "stopTimeMs": 1,
            "words": [{"word": "a", "confidence": 0.5}, {"word": "b", "confidence": 0.4}],
        },
        lambda: words_item(0, 1, [word("a", 0.5), word("b", 0.4)]),
    ),
    (  # the same alternative twice
        {"startTimeMs": 0, "stopTimeMs": 1, "words": [{"word": "a", "confidence": 0.5, "utteranceLength": 1}] * 2},
        lambda: words_item(0, 1, [word("a", 0.5, 1), word("a", 0.5, 1)]),
    ),
    (
        {
            "startTimeMs": 0,
            "stopTimeMs": 1,
            "object": {"type": "text", "text": "x", "boundingPoly": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]},
        },
        lambda: text_item(0, 1, "x", None, [point(0, 0), point(1, 1)]),
    ),
    (
        {
            "startTimeMs": 0,
            "stopTimeMs": 1,
            "object": {"type": "text", "text": "x", "boundingPoly": [{"x": 2, "y": 0}]},
        },
        lambda: text_item(0, 1, "x", None, [point(2, 0)]),
    ),
    (
        {"startTimeMs": 0, "stopTimeMs": 1, "object": {"type": "text", "text": "x", "confidence": -0.1}},
        lambda: text_item(0, 1, "x", -0.1),
    ),
]


@pytest.mark.parametrize(("raw", "build"), VALID_ITEMS)
def test_a_built_item_is_what_the_model_writes(raw: dict[str, Any], build: Any) -> None:
    assert build() == VtnSeriesItem.model_validate(raw).model_dump(mode="json", exclude_none=True)


@pytest.mark.parametrize(("raw", "build"), INVALID_ITEMS)
def test_a_builder_refuses_what_the_model_refuses(raw: dict[str, Any], build: Any) -> None:
    with pytest.raises(ValidationError):
        VtnSeriesItem.model_validate(raw)
    with pytest.raises(ValueError):
        build()


# --- a document: items held as dicts, dumped as pydantic dumps them, without copying them ---------


def document_of(items: list[dict[str, Any]]) -> VtnDocument:
    return VtnDocument.of(items, sourceEngineName="pollbridge", taskId="t", generatedDateUTC="2026-01-01T00:00:00.000Z")


@pytest.mark.parametrize("mode", ["json", "python"])
@pytest.mark.parametrize("exclude_none", [True, False])
def test_a_documents_dump_is_pydantics_with_the_items_shared(mode: Any, exclude_none: bool) -> None:
    document = document_of([build() for _, build in VALID_ITEMS])
    dumped = document.model_dump(mode=mode, exclude_none=exclude_none)
    assert dumped == BaseModel.model_dump(document, mode=mode, exclude_none=exclude_none)
    assert list(dumped) == list(BaseModel.model_dump(document, mode=mode, exclude_none=exclude_none))  # key order
    assert all(a is b for a, b in zip(dumped["series"], document.series, strict=True))  # not copied
    assert dumped["series"] is not document.series  # a list of its own
    assert json.loads(document.model_dump_json()) == BaseModel.model_dump(document, mode="json")


def test_a_dump_with_include_or_exclude_is_pydantics() -> None:
    document = document_of([build() for _, build in VALID_ITEMS])
    assert document.model_dump(exclude={"series"}) == BaseModel.model_dump(document, exclude={"series"})
    assert document.model_dump(include={"taskId"}) == {"taskId": "t"}


def test_a_document_from_outside_has_each_item_checked_and_kept_as_a_dict() -> None:
    fields = {"sourceEngineName": "e", "taskId": "t", "generatedDateUTC": "2026-01-01T00:00:00.000Z"}
    raw = [raw for raw, _ in VALID_ITEMS]
    document = VtnDocument.model_validate({**fields, "series": raw})
    assert document.series == [build() for _, build in VALID_ITEMS]
    as_model = VtnDocument.model_validate({**fields, "series": [VtnSeriesItem.model_validate(raw[0])]})
    assert as_model.series == [VALID_ITEMS[0][1]()]
    for bad, _ in INVALID_ITEMS:
        with pytest.raises(ValidationError):
            VtnDocument.model_validate({**fields, "series": [bad]})


# --- http: the reference vendor's result, converted while parsed ---------------------------------


def reference_words() -> list[dict[str, Any]]:
    return [
        {"text": "hello", "startMs": 0, "endMs": 300, "confidence": 0.94},
        {"text": "world", "startMs": 400, "endMs": 380},  # ends before it starts: read as its start
        {"text": "again", "startMs": 900.0, "endMs": 1200, "confidence": 1, "speaker": 2},  # 900.0: whole ms
    ]


def test_the_reference_result_converts_as_the_vendors_words_did(vtn_validator: Any) -> None:
    raw = json.dumps({"language": "en-US", "durationMs": 1500, "words": reference_words(), "extra": {"k": 1}})
    document = result_to_vtn(raw.encode(), CONTEXT)
    models = TranscriptResult(
        language="en-US",
        words=[TimedWord(text=w["text"], start_ms=int(w["startMs"]), end_ms=w["endMs"],
                         confidence=w.get("confidence")) for w in reference_words()],
    )  # fmt: skip
    assert document.model_dump(mode="json") == to_vtn(models, CONTEXT).model_dump(mode="json")
    dumped = document.model_dump(mode="json", exclude_none=True)
    vtn_validator.validate(dumped)
    assert dumped["series"][1] == {"startTimeMs": 30_400, "stopTimeMs": 30_400, "words": [{"word": "world"}]}


def test_a_word_object_outside_the_words_is_left_alone() -> None:
    """Only the `words` list is the transcript: a word-like object elsewhere neither converts nor fails."""
    elsewhere = {"text": "x", "startMs": -5, "endMs": "?"}
    raw = json.dumps({"words": reference_words()[:1], "segments": [elsewhere], "text": "hello"})
    assert len(result_to_vtn(raw.encode(), CONTEXT).series) == 1


def test_vendor_text_with_half_an_emoji_is_scrubbed() -> None:
    document = result_to_vtn(b'{"language":"en\\ud83d","words":[{"text":"hi \\ud83d","startMs":0,"endMs":5}]}', CONTEXT)
    assert document.language == "en\ufffd"
    assert document.series[0]["words"] == [{"word": "hi \ufffd"}]
    document.model_dump_json()  # writable as a record


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"words": [{"text": "x", "startMs": 0}]}, "words\\[0\\] has no endMs"),
        ({"words": [{"text": "x", "startMs": -1, "endMs": 3}]}, "words\\[0\\]: startMs"),
        ({"words": [{"text": "x", "startMs": 0.5, "endMs": 3}]}, "words\\[0\\]: startMs"),
        ({"words": [{"text": "x", "startMs": True, "endMs": 3}]}, "words\\[0\\]: startMs"),
        ({"words": [{"text": 7, "startMs": 0, "endMs": 3}]}, "words\\[0\\]: text"),
        ({"words": [{"text": "x", "startMs": 0, "endMs": 3, "confidence": 2}]}, "words\\[0\\]: a word's confidence"),
        ({"words": [{"text": "x", "startMs": 0, "endMs": 3}, "x"]}, "words\\[1\\] is not an object"),
        ({"words": {"text": "x"}}, "words is not a list"),
        ({"words": [], "language": 5}, "language"),
        ({"words": [], "durationMs": -1}, "durationMs"),
        ([], "not an object"),
    ],
)
def test_a_malformed_reference_result_is_named(body: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        result_to_vtn(json.dumps(body).encode(), CONTEXT)
    assert not isinstance(caught.value, NotJsonError)


@pytest.mark.parametrize("raw", [b"<html>", b"[" * 100_000, b'{"words": [}'])
def test_a_body_that_is_not_json_is_told_apart(raw: bytes) -> None:
    with pytest.raises(NotJsonError):
        result_to_vtn(raw, CONTEXT)


# --- transcribe: the output parsed into small tuples ----------------------------------------------


def test_a_transcribe_output_parsed_in_pieces_converts_as_the_whole_did(vtn_validators: Any) -> None:
    from devtools.bench.memory import transcribe_output

    for raw in ((FIXTURES / "transcribe_output.json").read_bytes(), transcribe_output(200_000)):
        whole = transcribe.transcript_to_vtn(json.loads(raw), "en-US", CONTEXT)
        pieces = transcribe.transcript_to_vtn(transcribe.parse_output(raw), "en-US", CONTEXT).model_dump(
            exclude_none=True
        )
        assert pieces == whole.model_dump(exclude_none=True) and pieces["series"]
        validate_vtn(vtn_validators, pieces)


def test_older_transcripts_name_speakers_from_their_segments_in_pieces_too() -> None:
    output = json.loads((FIXTURES / "transcribe_output.json").read_bytes())
    for item in output["results"]["items"]:
        item.pop("speaker_label", None)
    raw = json.dumps(output).encode()
    document = transcribe.transcript_to_vtn(transcribe.parse_output(raw), None, CONTEXT)
    assert [item["speakerId"] for item in document.series] == ["spk_0"] * 3 + ["spk_1"] * 3 + ["spk_0"]


@pytest.mark.parametrize("value", ["0", "1.2", "1.24", "12.345", "31622400", "1.2345", "1e2", "-1", " 1"])
def test_plain_seconds_read_fast_are_read_as_decimal_arithmetic_reads_them(value: str) -> None:
    from decimal import Decimal

    assert transcribe.seconds_to_ms(value) == round(Decimal(value) * 1000)


@pytest.mark.parametrize("raw", [b"[1, 2]", b"[" * 100_000])
def test_a_transcribe_output_that_is_no_object_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        transcribe.parse_output(raw)


# --- rekognition-text: pages converted as they come -----------------------------------------------


class Pages:
    """GetTextDetection answering the given pages, in order, NextToken between them."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def me(self) -> Pages:  # the provider's client factory
        return self

    def get_text_detection(self, JobId: str, MaxResults: int, NextToken: str | None = None) -> dict[str, Any]:
        number = int(NextToken) if NextToken else 0
        page = json.loads(json.dumps(self.pages[number]))  # a fresh answer per call, as botocore parses one
        if number + 1 < len(self.pages):
            page["NextToken"] = str(number + 1)
        return page


def test_pages_converted_as_they_come_give_the_document_of_all_their_detections(vtn_validators: Any) -> None:
    from devtools.bench.memory import rekognition_pages

    recorded = json.loads((FIXTURES / "rekognition_text_pages.json").read_text())
    generated = [json.loads(page) for page in rekognition_pages(3, per_page=37)]  # frames cut by pages
    for pages in (recorded, generated):
        for page in pages:
            page.pop("NextToken", None)
        provider = rekognition_text.RekognitionTextProvider(Staging(lambda: None, "staging"), Pages(pages).me)
        paged = provider.result("job-1", CONTEXT).model_dump(exclude_none=True)
        detections = [detection for page in pages for detection in page["TextDetections"]]
        whole = rekognition_text.detections_to_vtn(detections, pages[0]["VideoMetadata"]["DurationMillis"], CONTEXT)
        assert paged == whole.model_dump(exclude_none=True)
        assert paged["series"]
        validate_vtn(vtn_validators, paged)


def test_a_polygon_point_that_is_not_a_number_is_not_vtn() -> None:
    detection = {"Timestamp": 0, "TextDetection": {"Type": "LINE", "Id": 0, "DetectedText": "x",
                 "Geometry": {"Polygon": [{"X": "nan", "Y": 0.1}]}}}  # fmt: skip
    with pytest.raises(ValueError):
        rekognition_text.detections_to_vtn([detection], None, CONTEXT)
