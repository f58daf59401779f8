"""Signed taskPayloads: whoever may invoke a function still cannot forge or alter a poll.

The signature is `v1.` + base64url(HMAC-SHA256(key, canonical payload)). The canonical payload is
the model's JSON without `signature` and without fields at their default value (so a later
version that adds a field with a default still verifies payloads signed before it), keys sorted,
no whitespace, ASCII only. Pure: the keys are handed in (see adapters/signing_keys.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence

from pollbridge.errors import ForgedPayloadError
from pollbridge.models import PollPayload

VERSION = "v1"


def canonical(payload: PollPayload) -> bytes:
    data = payload.model_dump(mode="json", exclude={"signature"}, exclude_defaults=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signature(payload: PollPayload, key: bytes) -> str:
    digest = hmac.new(key, canonical(payload), hashlib.sha256).digest()
    return f"{VERSION}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def sign(payload: PollPayload, key: bytes) -> PollPayload:
    return payload.model_copy(update={"signature": signature(payload, key)})


def is_valid(payload: PollPayload, keys: Sequence[bytes]) -> bool:
    """True when any of the keys (current first, then previous) signed exactly this payload."""
    if payload.signature is None:
        return False
    return any(hmac.compare_digest(signature(payload, key), payload.signature) for key in keys)


def verify(payload: PollPayload, keys: Sequence[bytes]) -> None:
    if not is_valid(payload, keys):
        state = "unsigned" if payload.signature is None else "forged or altered"
        raise ForgedPayloadError(f"invalid poll event: taskPayload.signature: the payload is {state}")
