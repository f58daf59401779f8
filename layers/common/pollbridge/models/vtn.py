"""The subset of vtn-standard pollbridge writes: a transcript (schemas/vtn-standard/)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MASTER_SCHEMA_ID = "https://docs.veritone.com/schemas/vtn-standard/master.json"


class VtnWord(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    word: str
    confidence: float | None = Field(default=None, ge=0, le=1)


class VtnSeriesItem(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    startTimeMs: int = Field(ge=0)
    stopTimeMs: int = Field(ge=0)
    words: list[VtnWord] = Field(min_length=1)


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
