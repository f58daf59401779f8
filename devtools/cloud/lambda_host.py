"""Run a function the way Lambda lays it out: its folder and its layers on the import path,
the environment the template gives it, a Lambda-like context, and a JSON round trip of the event.

`LambdaAsync` is Lambda's queue for asynchronous invocations (what EventBridge Scheduler hands
events to): it retries an event the function failed per the function's EventInvokeConfig, on the
shared clock, and then sends Lambda's invocation record to the OnFailure destination.
"""

from __future__ import annotations

import heapq
import importlib.util
import itertools
import json
import sys
import traceback
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from devtools.cloud.template_stack import AsyncInvokeConfig, FunctionSpec
from pollbridge.clock import iso_utc

# Lambda waits about a minute before retrying a failed asynchronous event, two before the second retry.
ASYNC_RETRY_DELAYS_MS = (60_000, 120_000)


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_s: int = 3
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_s * 1000


@dataclass(frozen=True)
class Invocation:
    """What Lambda reports back: a result, or errorType/errorMessage like the real service."""

    ok: bool
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    trace: str | None = None
    stack_trace: tuple[str, ...] = ()  # as the Python runtime reports it (`stackTrace`)
    request_id: str | None = None


def import_handler(code_dir: Path, handler: str, layer_dirs: tuple[Path, ...], unique: str) -> Callable[..., Any]:
    """Import `module.function` from code_dir with the layers on sys.path (as /opt/python)."""
    for layer in layer_dirs:
        # `sam build` output keeps layer code under python/; the source tree does not.
        path = str(layer / "python" if (layer / "python").is_dir() else layer)
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, function_name = handler.rsplit(".", 1)
    source = code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{unique}_{module_name}", source)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no handler module at {source}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code_dir))
    return getattr(module, function_name)


class _Clock(Protocol):
    def real_time(self) -> AbstractContextManager[None]: ...


type Handler = Callable[[Any, Any], Any]
# Runs the handler for one invocation: around(handler, event, context) -> the handler's value. Tools
# (the chaos harness) put one in to observe invocations or to fail them as a dying container would.
type Around = Callable[[Handler, Any, Any], Any]


class LocalFunction:
    def __init__(self, spec: FunctionSpec, clock: _Clock | None = None) -> None:
        self.spec = spec
        self._clock = clock
        self._handler = import_handler(spec.code_dir, spec.handler, spec.layer_dirs, spec.logical_id)
        self.invocations = 0
        self.around: Around | None = None

    def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        self.invocations += 1
        payload = json.loads(json.dumps(event))  # Lambda hands the function JSON, never shared objects
        context = LambdaContext(
            function_name=self.spec.name,
            invoked_function_arn=self.spec.arn,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_s=self.spec.timeout_s,
            log_group_name=f"/aws/lambda/{self.spec.name}",
        )
        if request_id is not None:
            context.aws_request_id = request_id
        try:
            with self._clock.real_time() if self._clock else nullcontext():
                if self.around is not None:
                    value = self.around(self._handler, payload, context)
                else:
                    value = self._handler(payload, context)
        except Exception as error:
            frames = traceback.extract_tb(error.__traceback__)[1:]  # the runtime's own frame is not shown
            return Invocation(
                False,
                None,
                type(error).__name__,
                str(error),
                traceback.format_exc(),
                tuple(traceback.format_list(frames)),
                context.aws_request_id,
            )
        return Invocation(True, json.loads(json.dumps(value)), request_id=context.aws_request_id)


# --- Lambda's asynchronous invocation queue --------------------------------------------------------


class AsyncTarget(Protocol):
    def invoke(self, event: Any, request_id: str | None = None) -> Invocation: ...


class _Now(Protocol):
    def now_ms(self) -> int: ...


@dataclass
class AsyncEvent:
    """One event Lambda accepted (InvocationType=Event), with its attempts so far."""

    request_id: str
    event: Any
    accepted_ms: int
    tag: Any = None  # whoever handed the event over says where it came from (the scheduler: which schedule)
    invoke_count: int = 0
    last: Invocation | None = None


type AsyncOutcome = Literal["succeeded", "retry scheduled", "sent to OnFailure", "discarded"]


@dataclass(frozen=True)
class AsyncAttempt:
    """One run of the function for an asynchronous event, and what Lambda did next."""

    event: AsyncEvent
    invoke_count: int  # 1 for the first attempt, 2 and 3 for the retries
    started_ms: int
    result: Invocation
    outcome: AsyncOutcome
    condition: str | None = None  # RetriesExhausted / EventAgeExceeded when Lambda gave up


@dataclass
class AsyncStats:
    accepted: int = 0
    succeeded: int = 0
    retries: int = 0
    sent_to_on_failure: int = 0
    discarded: int = 0  # gave up with no OnFailure destination


def invocation_record(function_arn: str, item: AsyncEvent, condition: str, now_ms: int) -> dict[str, Any]:
    """What Lambda sends to an OnFailure destination (an "invocation record", version 1.0)."""
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_utc(now_ms),
        "requestContext": {
            "requestId": item.request_id,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": item.invoke_count,
        },
        "requestPayload": item.event,
    }
    last = item.last
    if last is not None and not last.ok:
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        record["responsePayload"] = {
            "errorMessage": last.error_message or "",
            "errorType": last.error_type or "Unhandled",
            "requestId": item.request_id,
            "stackTrace": list(last.stack_trace),
        }
    return record


class LambdaAsync:
    """Lambda's asynchronous side for one function: accept an event now, run it, and retry a failed
    run per EventInvokeConfig (a minute, then two, within MaximumEventAgeInSeconds) on the shared
    clock; then send the invocation record to DestinationConfig.OnFailure (SQS), or discard it.

    Nothing runs by itself: whoever drives the clock calls `run_next()` when `next_due_ms()` has come.
    """

    def __init__(
        self,
        function: AsyncTarget,
        function_arn: str,
        config: AsyncInvokeConfig,
        clock: _Now,
        sqs_client: Any,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        if config.on_failure_arn is not None and (config.on_failure_type or "SQS") != "SQS":
            raise ValueError(f"the local cloud sends OnFailure records to SQS only, not {config.on_failure_type}")
        self.function = function
        self.function_arn = function_arn
        self.config = config
        self._clock = clock
        self._sqs = sqs_client
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._queue: list[tuple[int, int, AsyncEvent]] = []
        self._order = itertools.count()
        self.stats = AsyncStats()

    def accept(self, event: Any, tag: Any = None) -> AsyncEvent:
        """InvocationType=Event: queued at once (202); the first attempt is due now."""
        item = AsyncEvent(self._new_id(), event, self._clock.now_ms(), tag)
        self.stats.accepted += 1
        heapq.heappush(self._queue, (item.accepted_ms, next(self._order), item))
        return item

    def next_due_ms(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def pending(self) -> int:
        return len(self._queue)

    def run_next(self) -> AsyncAttempt | None:
        """Run the earliest attempt if it is due; None when nothing is."""
        if not self._queue or self._queue[0][0] > self._clock.now_ms():
            return None
        _, _, item = heapq.heappop(self._queue)
        started = self._clock.now_ms()
        max_age_ms = self.config.max_event_age_s * 1000
        if item.invoke_count and started - item.accepted_ms > max_age_ms:  # waited too long in the queue
            return self._give_up(item, "EventAgeExceeded", started, item.last or Invocation(False))
        item.invoke_count += 1
        result = self.function.invoke(item.event, request_id=item.request_id)
        item.last = result
        if result.ok:
            self.stats.succeeded += 1
            return AsyncAttempt(item, item.invoke_count, started, result, "succeeded")
        finished = self._clock.now_ms()
        retries_used = item.invoke_count - 1
        if retries_used >= self.config.max_retries:
            return self._give_up(item, "RetriesExhausted", started, result)
        next_try = finished + ASYNC_RETRY_DELAYS_MS[min(retries_used, len(ASYNC_RETRY_DELAYS_MS) - 1)]
        if next_try - item.accepted_ms > max_age_ms:
            return self._give_up(item, "EventAgeExceeded", started, result)
        self.stats.retries += 1
        heapq.heappush(self._queue, (next_try, next(self._order), item))
        return AsyncAttempt(item, item.invoke_count, started, result, "retry scheduled")

    def _give_up(self, item: AsyncEvent, condition: str, started: int, result: Invocation) -> AsyncAttempt:
        if self.config.on_failure_arn is None:
            self.stats.discarded += 1
            return AsyncAttempt(item, item.invoke_count, started, result, "discarded", condition)
        record = invocation_record(self.function_arn, item, condition, self._clock.now_ms())
        queue_name = self.config.on_failure_arn.rsplit(":", 1)[-1]
        url = self._sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
        self.stats.sent_to_on_failure += 1
        return AsyncAttempt(item, item.invoke_count, started, result, "sent to OnFailure", condition)
