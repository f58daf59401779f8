"""Where task results go: S3 (the record, the source of truth), then the sinks told after it
(RESULT_SINKS): aiWARE's GraphQL API and EventBridge.

Each sink is imported from its own module (`pollbridge.adapters.sinks.s3`, ...), and only when the
deployment uses it: the aiware sink alone loads urllib's HTTPS machinery. The names below resolve
lazily for callers that import them from the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pollbridge.adapters.sinks.aiware import AiwareSink
    from pollbridge.adapters.sinks.eventbridge import EventBridgeSink
    from pollbridge.adapters.sinks.s3 import S3RecordSink

_MODULES = {"AiwareSink": "aiware", "EventBridgeSink": "eventbridge", "S3RecordSink": "s3"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AiwareSink", "EventBridgeSink", "S3RecordSink"]
