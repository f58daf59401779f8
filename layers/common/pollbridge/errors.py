"""Errors that cross module boundaries; each says which field or setting is at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pollbridge.safe_text import scrub_text

if TYPE_CHECKING:
    from pollbridge.models.record import TaskFailureReason, TaskRecord


class PollbridgeError(Exception):
    """Base class for every error pollbridge raises on purpose. Its message may quote a vendor or a
    caller: it is scrubbed so that it can always be logged and stored."""

    def __init__(self, message: str = "") -> None:
        super().__init__(scrub_text(str(message)))


class InvalidEventError(PollbridgeError, ValueError):
    """The incoming event does not match its model; nothing was done."""


class BodyTooLargeError(InvalidEventError):
    """The request (or its `chunk`) is over a size limit: the webhook answers 413."""


class UnsupportedMediaTypeError(InvalidEventError):
    """The request's Content-Type is not one the webhook takes: answered 415."""


class UnauthorizedError(PollbridgeError):
    """The caller did not prove who it is: the webhook answers 401, and nothing is done."""


class ConfigurationError(PollbridgeError):
    """A setting is missing or malformed; names the environment variable."""


class TransientError(PollbridgeError):
    """Worth retrying later: timeouts, connection errors, 429 and 5xx. `refusal`: the service said no
    for now (over its quota, its rate, its concurrent jobs: a 429): never retried in place, the
    scheduler brings the work back later (core's admission). `staged`: what a refused submit left at
    the service (the media it uploaded, by the provider's reference), for the next submit to start
    from instead of reading and sending the media again."""

    def __init__(self, message: str, retry_after_s: float | None = None, *, refusal: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.refusal = refusal
        self.staged: str | None = None


class PermanentError(PollbridgeError):
    """Retrying the same request will not help; carries an aiWARE TaskFailureReason."""

    def __init__(self, message: str, reason: TaskFailureReason = "api_error") -> None:
        super().__init__(message)
        self.reason = reason


class ForgedPayloadError(InvalidEventError):
    """A taskPayload whose signature does not verify: forged, altered or unsigned."""


class DeliveryError(PollbridgeError):
    """A result sink did not take a task's result. The record is written (it is the source of truth);
    the invocation fails so that it is retried, and the retry delivers only the sinks that had not
    succeeded. `failures` maps each failed sink to its error; a PermanentError among them (not
    allowed, not found) will fail the same way on every retry, so that invocation ends in the DLQ."""

    def __init__(self, task_id: str, failures: dict[str, Exception], record: TaskRecord | None = None) -> None:
        described = "; ".join(f"{sink}: {type(error).__name__}: {error}" for sink, error in failures.items())
        super().__init__(f"result of task {task_id} not delivered to {', '.join(failures)} ({described})")
        self.task_id = task_id
        self.failures = failures
        self.record = record  # the written record the sinks did not all take

    @property
    def permanent(self) -> list[str]:
        """The sinks that refused for good (retrying will not help: fix the cause, then redrive)."""
        return [sink for sink, error in self.failures.items() if isinstance(error, PermanentError)]


class InternalError(PollbridgeError):
    """An unexpected failure (a bug, or an AWS error no adapter classified); the cause is chained."""
