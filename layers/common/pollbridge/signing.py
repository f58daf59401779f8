"""Signed taskPayloads: whoever may invoke a function still cannot forge or alter a poll.

The signature is `v1.` + base64url(HMAC-SHA256(key, canonical payload)). The canonical payload is
the model's JSON without `signature` and without fields at their default value (so a later
version that adds a field with a default still verifies payloads signed before it), keys sorted,
no whitespace, ASCII only, whole numbers written as integers (a hop that re-encodes JSON the way
JavaScript does turns 1.0 into 1). Pure: the keys are handed in (see adapters/signing_keys.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from pollbridge.errors import ForgedPayloadError
from pollbridge.models import PollPayload

VERSION = "v1"


def canonical(payload: PollPayload) -> bytes:
    data = _whole_numbers_as_integers(payload.model_dump(mode="json", exclude={"signature"}, exclude_defaults=True))
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _whole_numbers_as_integers(data: Any) -> Any:
    """1.0 -> 1, as RFC 8785 (and any JavaScript hop that re-encodes the payload) writes it."""
    if isinstance(data, float) and data.is_integer() and abs(data) < 2**53:
        return int(data)
    if isinstance(data, dict):
        return {key: _whole_numbers_as_integers(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_whole_numbers_as_integers(value) for value in data]
    return data


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
