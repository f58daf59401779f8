"""The contract: every message, payload, record and document pollbridge reads or writes."""

from pollbridge.models.job import JobState, JobStatus
from pollbridge.models.parsing import parse_event
from pollbridge.models.poll import MAX_POLLS, PollEvent, PollPayload, SchedulePollTask, SchedulerContext
from pollbridge.models.record import TaskFailureReason, TaskRecord
from pollbridge.models.segment import MediaChunk, PolledChunk, SegmentEvent, parse_segment
from pollbridge.models.vtn import VtnDocument, VtnObject, VtnPoint, VtnSeriesItem, VtnWord

__all__ = [
    "MAX_POLLS",
    "JobState",
    "JobStatus",
    "MediaChunk",
    "PollEvent",
    "PollPayload",
    "PolledChunk",
    "SchedulePollTask",
    "SchedulerContext",
    "SegmentEvent",
    "TaskFailureReason",
    "TaskRecord",
    "VtnDocument",
    "VtnObject",
    "VtnPoint",
    "VtnSeriesItem",
    "VtnWord",
    "parse_event",
    "parse_segment",
]
