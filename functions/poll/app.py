"""Poll function: EventBridge Scheduler delivers a taskPayload; check the third party, then write
the record for origTaskId or schedule the next poll."""

from pollbridge import core
from pollbridge.entrypoint import lambda_handler
from pollbridge.models import PollEvent, parse_event

handler = lambda_handler(
    parse=lambda event: parse_event(event, PollEvent, "poll event"),
    use_case=lambda event, ports: core.poll(event.payload(), ports),
    correlation_id=lambda event: event.origTaskId,
)
