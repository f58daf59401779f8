"""The subset of vtn-standard pollbridge writes (schemas/vtn-standard/): a transcript (series items
with words) or text (series items with a `text` object). Each provider's converter builds one."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    series: list[VtnSeriesItem]
