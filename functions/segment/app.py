"""Segment function: a new media_chunk is submitted to the third party and its first poll scheduled;
a poll task routed back by aiWARE as a segment is polled instead."""

from pollbridge import core
from pollbridge.entrypoint import lambda_handler
from pollbridge.models import parse_segment

handler = lambda_handler(parse=parse_segment, use_case=core.handle_segment, correlation_id=lambda e: e.origTaskId)
