"""Where task results go: S3 (the record, the source of truth), then the sinks told after it
(RESULT_SINKS): aiWARE's GraphQL API and EventBridge."""

from pollbridge.adapters.sinks.aiware import AiwareSink
from pollbridge.adapters.sinks.eventbridge import EventBridgeSink
from pollbridge.adapters.sinks.s3 import S3RecordSink

__all__ = ["AiwareSink", "EventBridgeSink", "S3RecordSink"]
