"""The precise-polling hop (PRECISE_POLL_QUEUE_URL): an SQS queue whose DelaySeconds holds a poll
until its second, and whose event source mapping delivers it to the poll function (at least once).

A message is the signed taskPayload itself, as the scheduler's Input carries it: the poll function
runs it like a scheduled delivery (chain check, stale and duplicate handling unchanged), and a
message that lands in the dead-letter queue is redriven by `ops redrive` like any other.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pollbridge.adapters.aws import aws_call
from pollbridge.errors import PermanentError
from pollbridge.models import PollPayload

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_DELAY_S = 900  # SQS's longest DelaySeconds


class SqsPollQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client  # a LazyClient: created on the first hop
        self._url = queue_url

    def send(self, payload: PollPayload, delay_s: int) -> None:
        if not 0 <= delay_s <= MAX_DELAY_S:
            raise PermanentError(f"a hop of {delay_s} s: SQS delays 0-{MAX_DELAY_S} s", "system_error")
        body = json.dumps(payload.model_dump(mode="json"))
        aws_call(
            "sqs SendMessage",
            lambda: self._client.send_message(QueueUrl=self._url, MessageBody=body, DelaySeconds=delay_s),
            infrastructure=True,
        )
