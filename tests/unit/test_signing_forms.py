"""The two signature forms: `v2.<key id>.<mac>` (names its key) and `v1.<mac>` (what was signed
before; still verified), the model's pattern for both, and the literal key's signer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from pollbridge import signing
from pollbridge.adapters.signing_keys import HmacSigner, StaticKeys, literal_key_id
from pollbridge.errors import ForgedPayloadError
from pollbridge.models import PollPayload

KEY = b"unit-test-signing-key-0123456789"
VERSION_ID = "3f2c6a0e-6b1d-4e58-9a57-0d1c2b3a4f5e"
PAYLOAD = PollPayload(
    workId="w", isPollTask=True, origTaskId="t", origTdoId="d", origJobId="j", origCallTimeUTC=1,
    pollNumber=2, deadlineUTC=10**13, lastPollUTC=5,
)  # fmt: skip


def test_v2_names_its_key_and_the_mac_covers_the_name() -> None:
    signed = signing.sign(PAYLOAD, KEY, VERSION_ID)
    assert signed.signature is not None
    version, key_id, mac = signed.signature.split(".")
    assert (version, key_id, len(mac)) == ("v2", VERSION_ID, 43)
    assert signing.key_id_of(signed.signature) == VERSION_ID
    expected = hmac.new(KEY, f"v2.{VERSION_ID}.".encode() + signing.canonical(PAYLOAD), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(mac + "=") == expected
    signing.verify(signed, [KEY])
    renamed = f"v2.{'0' * 36}.{mac}"  # another key's name on this key's mac
    as_v1 = f"v1.{mac}"
    for signature in (renamed, as_v1):
        with pytest.raises(ForgedPayloadError):
            signing.verify(signed.model_copy(update={"signature": signature}), [KEY])


def test_v1_payloads_in_flight_still_verify() -> None:
    """canonical() is unchanged: a v1 signature computed as before (stdlib only) verifies."""
    data = PAYLOAD.model_dump(mode="json", exclude={"signature"}, exclude_defaults=True)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    mac = base64.urlsafe_b64encode(hmac.new(KEY, canonical, hashlib.sha256).digest()).rstrip(b"=").decode()
    old = PollPayload.model_validate({**PAYLOAD.model_dump(mode="json"), "signature": f"v1.{mac}"})
    assert signing.key_id_of(old.signature) is None
    signing.verify(old, [KEY])
    assert signing.signature(PAYLOAD, KEY) == f"v1.{mac}"  # no key id: the v1 form, as before


@pytest.mark.parametrize(
    "signature",
    ["v1." + "A" * 43, f"v2.{VERSION_ID}." + "A" * 43, "v2.a." + "-" * 43, f"v2.{'k' * 64}." + "_" * 43],
)
def test_the_model_takes_both_forms(signature: str) -> None:
    assert PollPayload.model_validate({**PAYLOAD.model_dump(), "signature": signature}).signature == signature


@pytest.mark.parametrize(
    "signature",
    [
        "v2." + "A" * 43,  # no key id
        f"v2.{'k' * 65}." + "A" * 43,  # too long an id
        "v2.a.b." + "A" * 43,  # a dot in the id
        "v2.a b." + "A" * 43,
        "v3.a." + "A" * 43,
        "v1.a." + "A" * 43,
        f"v2.{VERSION_ID}." + "A" * 42,
    ],
)
def test_the_model_refuses_other_forms(signature: str) -> None:
    with pytest.raises(ValidationError):
        PollPayload.model_validate({**PAYLOAD.model_dump(), "signature": signature})


def test_a_literal_key_signs_v2_with_its_fingerprint_and_still_verifies_v1() -> None:
    signer = HmacSigner(StaticKeys(KEY.decode()))
    signed = signer.sign(PAYLOAD)
    assert signing.key_id_of(signed.signature) == literal_key_id(KEY) == hashlib.sha256(KEY).hexdigest()[:8]
    signer.verify(signed)
    signer.verify(signing.sign(PAYLOAD, KEY))  # v1
    elsewhere = signing.sign(PAYLOAD, KEY, "deadbeef")  # the right key under another name
    with pytest.raises(ForgedPayloadError, match="forged or altered"):
        signer.verify(elsewhere)
    with pytest.raises(ForgedPayloadError, match="unsigned"):
        signer.verify(PAYLOAD)


def test_a_key_id_must_be_nameable() -> None:
    with pytest.raises(ValueError, match="not a key id"):
        signing.signature(PAYLOAD, KEY, "has.a.dot")
    assert not signing.is_key_id("") and not signing.is_key_id("k" * 65) and signing.is_key_id(VERSION_ID)
