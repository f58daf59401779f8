"""Make real boto3 clients (talking to moto) fail like AWS does, and steer moto's Transcribe jobs.

`service_errors` answers every call of the clients with an AWS error before anything is sent, through
botocore's own `before-call` hook: the client raises the ClientError botocore would have parsed from
the service (no retries, as the error is the service's final answer)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from moto.moto_api import state_manager
from moto.transcribe.models import FakeTranscriptionJob, transcribe_backends

from tests.support.aws_fakes import FAILURES

MOTO_ACCOUNT = "123456789012"
_ids = itertools.count()


@contextlib.contextmanager
def service_errors(kind: str, *clients: Any) -> Iterator[None]:
    code, message, status = FAILURES[kind]

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        return SimpleNamespace(status_code=status, headers={}), {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    unique = f"pollbridge-fault-{next(_ids)}"
    for client in clients:
        client.meta.events.register("before-call.*.*", answer, unique_id=unique)
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", unique_id=unique)


@contextlib.contextmanager
def transcribe_jobs_stay_put() -> Iterator[None]:
    """moto advances a job one status per GetTranscriptionJob; inside, statuses change only when set."""
    state_manager.set_transition(
        model_name="transcribe::transcriptionjob", transition={"progression": "manual", "times": 10**9}
    )
    try:
        yield
    finally:
        state_manager.unset_transition("transcribe::transcriptionjob")


def moto_transcription_job(name: str, region: str = "us-east-1") -> FakeTranscriptionJob:
    return transcribe_backends[MOTO_ACCOUNT][region].transcriptions[name]
