"""Vendor transcript -> vtn-standard, with times placed on the TDO's timeline."""

from __future__ import annotations

from pollbridge.models import TranscriptResult, VtnDocument, VtnSeriesItem, VtnWord
from pollbridge.ports import ResultContext
from pollbridge.timing import iso_utc


def to_vtn(result: TranscriptResult, context: ResultContext) -> VtnDocument:
    offset = context.media_offset_ms
    series = [
        VtnSeriesItem(
            startTimeMs=offset + word.start_ms,
            stopTimeMs=offset + max(word.end_ms, word.start_ms),
            words=[VtnWord(word=word.text, confidence=word.confidence)],
        )
        for word in result.words
    ]
    return VtnDocument(
        sourceEngineName=context.engine_name,
        taskId=context.orig_task_id,
        generatedDateUTC=iso_utc(context.now_ms),
        externalSourceId=context.work_id,
        language=result.language,
        validationContracts=["transcript"],
        series=series,
    )
