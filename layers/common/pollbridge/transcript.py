"""Vendor transcript -> vtn-standard, with times placed on the TDO's timeline."""

from __future__ import annotations

from pollbridge.models import PollPayload, TranscriptResult, VtnDocument, VtnSeriesItem, VtnWord
from pollbridge.timing import iso_utc


def to_vtn(result: TranscriptResult, payload: PollPayload, engine_name: str, now_ms: int) -> VtnDocument:
    offset = payload.mediaOffsetMs
    series = [
        VtnSeriesItem(
            startTimeMs=offset + word.start_ms,
            stopTimeMs=offset + max(word.end_ms, word.start_ms),
            words=[VtnWord(word=word.text, confidence=word.confidence)],
        )
        for word in result.words
    ]
    return VtnDocument(
        sourceEngineName=engine_name,
        taskId=payload.origTaskId,
        generatedDateUTC=iso_utc(now_ms),
        externalSourceId=payload.workId,
        language=result.language,
        validationContracts=["transcript"],
        series=series,
    )
