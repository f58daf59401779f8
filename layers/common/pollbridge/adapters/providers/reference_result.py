"""The reference vendor's result (docs/vendor-api.md `GET /v1/jobs/{id}/result`) and its conversion
to a vtn-standard transcript, with times placed on the TDO's timeline: the http provider's.

`result_to_vtn` converts the result while it is parsed: each word object becomes its series item as
the JSON parser finishes it, so the vendor's words are never held as dicts, nor as models, beside the
document (a result at its 8 MiB bound is ~120,000 words; BENCHMARKS.md, section 4). `TranscriptResult`
is the result as models, for tools and tests (`HttpJobProvider.transcript`, `to_vtn`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pollbridge.adapters.providers.documents import document
from pollbridge.models import VtnDocument
from pollbridge.models.common import CleanText
from pollbridge.models.vtn import word, words_item
from pollbridge.ports import ResultContext
from pollbridge.safe_text import scrub_text


class NotJsonError(ValueError):
    """The vendor's body is not JSON (or nests deeper than the parser goes)."""


class TimedWord(BaseModel):
    model_config = ConfigDict(defer_build=True)

    text: CleanText
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=0)
    confidence: float | None = Field(default=None, ge=0, le=1)


class TranscriptResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    language: CleanText | None = None
    duration_ms: int | None = Field(default=None, ge=0)
    words: list[TimedWord] = Field(default_factory=list)


def to_vtn(result: TranscriptResult, context: ResultContext) -> VtnDocument:
    """A TranscriptResult (the vendor's words as models) as a document: one series item per word."""
    offset = context.media_offset_ms
    series = [
        words_item(offset + w.start_ms, offset + max(w.end_ms, w.start_ms), [word(w.text, w.confidence)])
        for w in result.words
    ]
    return document(context, series, "transcript", result.language)


def result_to_vtn(raw: bytes, context: ResultContext) -> VtnDocument:
    """The reference vendor's result JSON (`{"language", "durationMs", "words": [{"text", "startMs",
    "endMs", "confidence"}]}`) as a document, converted while it is parsed. Raises NotJsonError for a
    body that is not JSON, ValueError for one that is not such a result."""
    offset = context.media_offset_ms

    def converted(obj: dict[str, Any]) -> Any:
        # A word object becomes its series item at once, in a tuple (which no JSON value is, so that
        # only what was converted here is taken for a word). Its problem, if any, is kept, and raised
        # only if the object is one of `words`.
        if "startMs" not in obj or "endMs" not in obj or "text" not in obj:
            return obj
        try:
            return (_series_item(obj, offset),)
        except (ValueError, TypeError) as error:
            return (None, str(error))

    try:
        body = json.loads(raw, object_hook=converted)
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser takes
        raise NotJsonError("not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the result is not an object")
    words = body.get("words", [])
    if not isinstance(words, list):
        raise ValueError("words is not a list")
    for index, item in enumerate(words):
        if type(item) is tuple and len(item) == 1:
            words[index] = item[0]  # in place: the parser's list is the document's series
        elif type(item) is tuple:
            raise ValueError(f"words[{index}]: {item[1]}")
        elif isinstance(item, dict):
            missing = next(key for key in ("text", "startMs", "endMs") if key not in item)
            raise ValueError(f"words[{index}] has no {missing}")
        else:
            raise ValueError(f"words[{index}] is not an object")
    language = body.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError("language is not a string")
    duration = body.get("durationMs")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration < 0):
        raise ValueError("durationMs is not a whole number of milliseconds >= 0")
    return document(context, words, "transcript", scrub_text(language) if language is not None else None)


def _series_item(obj: dict[str, Any], offset: int) -> dict[str, Any]:
    """One reference word as its series item: TimedWord's rules (text scrubbed, times whole numbers of
    ms >= 0, confidence 0..1), then the item's (an end before the start is read as the start)."""
    text, start, end = obj["text"], _whole(obj["startMs"], "startMs"), _whole(obj["endMs"], "endMs")
    if not isinstance(text, str):
        raise ValueError(f"text is a {type(text).__name__}, not a string")
    return words_item(offset + start, offset + max(start, end), [word(scrub_text(text), obj.get("confidence"))])


def _whole(value: Any, what: str) -> int:
    """A time in ms: an integer, or a float without a fraction (some vendors write 300.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} is not a whole number of milliseconds >= 0: {str(value)[:50]!r}")
    return value
