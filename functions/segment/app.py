"""Segment function: a new media_chunk is submitted to the third party and its first poll scheduled;
a poll task routed back by aiWARE as a segment is polled instead, in the chain that holds it."""

from pollbridge import core
from pollbridge.entrypoint import lambda_handler
from pollbridge.models import parse_segment
from pollbridge.wiring import segment_ports

handler = lambda_handler(
    parse=parse_segment,
    use_case=lambda event, ports: core.handle_segment(event, segment_ports(event, ports)),
    correlation_id=lambda e: e.origTaskId,
)
