"""Poll function: EventBridge Scheduler delivers a taskPayload; check the third party, then write
the record for origTaskId or schedule the next poll. Only EventBridge schedules invoke it, so it
keeps their chain whatever SCHEDULING_MODE says (a stack switched to platform mode drains)."""

from pollbridge import core
from pollbridge.entrypoint import lambda_handler
from pollbridge.models import PollEvent, parse_event
from pollbridge.wiring import with_scheduling

handler = lambda_handler(
    parse=lambda event: parse_event(event, PollEvent, "poll event"),
    use_case=lambda event, ports: core.poll(event.payload(), with_scheduling(ports, "eventbridge")),
    correlation_id=lambda event: event.origTaskId,
)
