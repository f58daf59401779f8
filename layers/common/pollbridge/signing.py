"""Signed taskPayloads: whoever may invoke a function still cannot forge or alter a poll.

A signature names the key that made it, so that every key a pending payload may still carry keeps
verifying however often the key is rotated (docs/operations.md, "Rotation"):

- `v2.<keyid>.<mac>`: mac = base64url(HMAC-SHA256(key, `v2.<keyid>.` + canonical payload)); keyid is
  the key's Secrets Manager VersionId (or, for a literal key, 8 hex digits of its SHA-256), 1 to 64
  letters, digits, `-` or `_`. What pollbridge signs.
- `v1.<mac>`: mac = base64url(HMAC-SHA256(key, canonical payload)), naming no key: what pollbridge
  signed before v2. Still verified (against the keys the secret holds by stage) so that payloads
  in flight when v2 came survive it.

The canonical payload is the model's JSON without `signature` and without fields at their default
value (so a later version that adds a field with a default still verifies payloads signed before
it), keys sorted, no whitespace, ASCII only, whole numbers written as integers (a hop that
re-encodes JSON the way JavaScript does turns 1.0 into 1). Pure: the keys are handed in (see
adapters/signing_keys.py).
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

VERSION = "v1"  # names no key
KEYED_VERSION = "v2"  # names its key
KEY_ID_MAX_CHARS = 64
_KEY_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


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


def is_key_id(text: str) -> bool:
    """Whether `text` can name a key in a v2 signature (a Secrets Manager VersionId, a UUID, can)."""
    return 0 < len(text) <= KEY_ID_MAX_CHARS and _KEY_ID_CHARS.issuperset(text)


def key_id_of(signature: str | None) -> str | None:
    """The key a v2 signature names; None for a v1 signature (or none, or one of no known form)."""
    if signature is None or not signature.startswith(KEYED_VERSION + "."):
        return None
    key_id, dot, _ = signature[len(KEYED_VERSION) + 1 :].rpartition(".")
    return key_id if dot and is_key_id(key_id) else None


def signature(payload: PollPayload, key: bytes, key_id: str | None = None) -> str:
    """The payload's signature with `key`: v2 naming `key_id`, or v1 when no id is given."""
    if key_id is None:
        return f"{VERSION}.{_mac(key, canonical(payload))}"
    if not is_key_id(key_id):
        raise ValueError(f"not a key id: {key_id!r}")
    prefix = f"{KEYED_VERSION}.{key_id}."
    return prefix + _mac(key, prefix.encode() + canonical(payload))


def _mac(key: bytes, message: bytes) -> str:
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(payload: PollPayload, key: bytes, key_id: str | None = None) -> PollPayload:
    return payload.model_copy(update={"signature": signature(payload, key, key_id)})


def is_valid(payload: PollPayload, keys: Sequence[bytes]) -> bool:
    """True when any of the keys signed exactly this payload, in the form its signature has (which
    key a v2 signature names is the caller's business: see adapters/signing_keys.py)."""
    if payload.signature is None:
        return False
    key_id = key_id_of(payload.signature)
    return any(hmac.compare_digest(signature(payload, key, key_id), payload.signature) for key in keys)


def verify(payload: PollPayload, keys: Sequence[bytes]) -> None:
    if not is_valid(payload, keys):
        raise forged(payload)


def forged(payload: PollPayload) -> ForgedPayloadError:
    state = "unsigned" if payload.signature is None else "forged or altered"
    return ForgedPayloadError(f"invalid poll event: taskPayload.signature: the payload is {state}")
