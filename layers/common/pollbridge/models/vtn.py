"""The subset of vtn-standard pollbridge writes (schemas/vtn-standard/): a transcript (series items
with words) or text (series items with a `text` object). Each provider's converter builds one.

A document holds its series items as plain JSON-ready dicts, not as models, and hands them out
uncopied when dumped. A result at a provider's documented maximum has a hundred thousand items or
more: held as models (a model per item, per word, per point) they took ~1.1 KB a word, as dicts
~0.55 KB; and core dumps a finished task's document twice (its record, its reply), which copied
them again at ~0.7 KB a word each (BENCHMARKS.md, section 4). Converters build items with `word`,
`words_item`, `point` and `text_item` below, which check what the models check, and make the
document with `VtnDocument.of` (the items taken as they are); a document validated from outside
(`model_validate`) has each item checked as a `VtnSeriesItem`, which stays the items' schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

MASTER_SCHEMA_ID = "https://docs.veritone.com/schemas/vtn-standard/master.json"


class VtnWord(BaseModel):
    """One word of a time slice; with alternatives (several words in one slice) each carries its
    confidence and utteranceLength, and `bestPath` marks the one on the best path."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    word: str
    confidence: float | None = Field(default=None, ge=0, le=1)
    utteranceLength: int | None = Field(default=None, ge=1)
    bestPath: bool | None = None


class VtnPoint(BaseModel):
    """A point as a fraction of the frame: 0.0 (left/top edge) to 1.0 (right/bottom edge)."""

    model_config = ConfigDict(frozen=True)

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)


class VtnObject(BaseModel):
    """An object found in the media (vtn-standard's objectResult); pollbridge writes `text` ones."""

    model_config = ConfigDict(frozen=True)

    type: Literal["text", "object", "logo", "face", "keyword"]
    text: str | None = None
    label: str | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    boundingPoly: list[VtnPoint] | None = None
    vendor: dict[str, Any] | None = None  # kept and returned, never indexed

    @model_validator(mode="after")
    def _polygon_shape(self) -> Self:
        if self.boundingPoly is not None and len(self.boundingPoly) == 2:
            raise ValueError("boundingPoly needs 1 point (a centre) or at least 3")
        if self.type == "text" and self.text is None:
            raise ValueError("a text object needs its text")
        return self


class VtnSeriesItem(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    startTimeMs: int = Field(ge=0)
    stopTimeMs: int = Field(ge=0)
    speakerId: str | None = None
    words: list[VtnWord] | None = Field(default=None, min_length=1)
    object: VtnObject | None = None

    @model_validator(mode="after")
    def _has_content(self) -> Self:
        if self.words is None and self.object is None:
            raise ValueError("a series item needs words or an object")
        if self.stopTimeMs < self.startTimeMs:
            raise ValueError("stopTimeMs is before startTimeMs")
        if self.words is not None and len(self.words) > 1:  # alternatives: the schema's extra rules
            if any(w.confidence is None or w.utteranceLength is None for w in self.words):
                raise ValueError("alternative words each need confidence and utteranceLength")
            if len({w.model_dump_json() for w in self.words}) != len(self.words):
                raise ValueError("alternative words must be unique")
        return self


def _checked_item(value: Any) -> dict[str, Any]:
    """A series item given from outside: checked as a VtnSeriesItem, kept as its JSON-ready dict."""
    return VtnSeriesItem.model_validate(value).model_dump(mode="json", exclude_none=True)


# A series item as the document holds it: the dict VtnSeriesItem.model_dump(exclude_none=True) gives.
SeriesItem = Annotated[dict[str, Any], BeforeValidator(_checked_item)]


class VtnDocument(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    schemaId: str = MASTER_SCHEMA_ID
    sourceEngineName: str
    taskId: str
    generatedDateUTC: str
    externalSourceId: str | None = None
    language: str | None = None
    taskPayload: dict[str, Any] | None = None
    validationContracts: list[str] = Field(default_factory=lambda: ["transcript"], min_length=1)
    series: list[SeriesItem]

    def model_dump(self, **options: Any) -> dict[str, Any]:
        """As BaseModel.model_dump, but the series items are handed out as the document holds them, not
        copied: they are JSON-ready dicts already, as pydantic would write them in either mode and with
        None left out. Core dumps a finished task's document twice (its record, its reply), and a copy of
        the items of a result at its maximum is ~0.7 KB a word (BENCHMARKS.md, section 4). The dump and
        the document share the items: treat both as read-only. With `include` or `exclude`, pydantic's."""
        if options.get("include") is not None or options.get("exclude") is not None:
            return super().model_dump(**options)
        dumped = super().model_dump(**options, exclude={"series"})
        dumped["series"] = list(self.series)  # a list of its own (8 bytes an item), the same items
        return dumped

    @classmethod
    def of(cls, series: list[dict[str, Any]], **fields: Any) -> VtnDocument:
        """A document of `series`, items built by this module's builders (already checked): the other
        fields are validated, the items are taken as they are (neither copied nor checked again)."""
        return cls.model_validate({**fields, "series": []}).model_copy(update={"series": series})


# --- series items as JSON-ready dicts, checked as the models above check them ------------------------
# Keys in the models' field order, None left out (as model_dump(exclude_none=True) writes them).


def _fraction(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{what} must be a number from 0 to 1, not {str(value)[:50]!r}")
    return float(value)


def _ms(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number of milliseconds >= 0, not {str(value)[:50]!r}")
    return value


def word(
    text: str, confidence: float | None = None, utterance_length: int | None = None, best_path: bool | None = None
) -> dict[str, Any]:
    """One word of a slice (VtnWord)."""
    if not isinstance(text, str):
        raise ValueError(f"a word must be a string, not {type(text).__name__}")
    found: dict[str, Any] = {"word": text}
    if confidence is not None:
        found["confidence"] = _fraction(confidence, "a word's confidence")
    if utterance_length is not None:
        if isinstance(utterance_length, bool) or not isinstance(utterance_length, int) or utterance_length < 1:
            raise ValueError("utteranceLength must be a whole number >= 1")
        found["utteranceLength"] = utterance_length
    if best_path is not None:
        found["bestPath"] = bool(best_path)
    return found


def words_item(
    start_ms: int, stop_ms: int, words: Sequence[dict[str, Any]], speaker_id: str | None = None
) -> dict[str, Any]:
    """A transcript slice (VtnSeriesItem with words): `words` from `word`, several being alternatives."""
    item = _slice(start_ms, stop_ms, speaker_id)
    if not words:
        raise ValueError("a series item needs words or an object")
    if len(words) > 1:  # alternatives: the schema's extra rules
        if any("confidence" not in w or "utteranceLength" not in w for w in words):
            raise ValueError("alternative words each need confidence and utteranceLength")
        if len({tuple(w.items()) for w in words}) != len(words):
            raise ValueError("alternative words must be unique")
    item["words"] = list(words)
    return item


def point(x: float, y: float) -> dict[str, float]:
    """A point of a polygon (VtnPoint): fractions of the frame."""
    return {"x": _fraction(x, "a point's x"), "y": _fraction(y, "a point's y")}


def text_item(
    start_ms: int,
    stop_ms: int,
    text: str,
    confidence: float | None = None,
    bounding_poly: list[dict[str, float]] | None = None,
    vendor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A slice with a `text` object (VtnSeriesItem with a VtnObject): `bounding_poly` from `point`."""
    item = _slice(start_ms, stop_ms, None)
    if not isinstance(text, str):
        raise ValueError(f"a text object's text must be a string, not {type(text).__name__}")
    found: dict[str, Any] = {"type": "text", "text": text}
    if confidence is not None:
        found["confidence"] = _fraction(confidence, "a text object's confidence")
    if bounding_poly is not None:
        if len(bounding_poly) == 2:
            raise ValueError("boundingPoly needs 1 point (a centre) or at least 3")
        found["boundingPoly"] = bounding_poly
    if vendor is not None:
        found["vendor"] = vendor
    item["object"] = found
    return item


def _slice(start_ms: int, stop_ms: int, speaker_id: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"startTimeMs": _ms(start_ms, "startTimeMs"), "stopTimeMs": _ms(stop_ms, "stopTimeMs")}
    if stop_ms < start_ms:
        raise ValueError("stopTimeMs is before startTimeMs")
    if speaker_id is not None:
        if not isinstance(speaker_id, str):
            raise ValueError("speakerId must be a string")
        item["speakerId"] = speaker_id
    return item
