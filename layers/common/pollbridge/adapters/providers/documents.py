"""The vtn-standard document every provider's converter ends with: the task's header around its series."""

from __future__ import annotations

from typing import Any

from pollbridge.clock import iso_utc
from pollbridge.models import VtnDocument
from pollbridge.ports import ResultContext


def document(
    context: ResultContext, series: list[dict[str, Any]], contract: str, language: str | None = None
) -> VtnDocument:
    """The task's vtn-standard document of `series` (items from pollbridge.models.vtn's builders)."""
    return VtnDocument.of(
        series,
        sourceEngineName=context.engine_name,
        taskId=context.orig_task_id,
        generatedDateUTC=iso_utc(context.now_ms),
        externalSourceId=context.work_id,
        language=language,
        validationContracts=[contract],
    )
