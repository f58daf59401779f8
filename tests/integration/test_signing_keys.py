"""Payload signing keys from Secrets Manager (moto server): rotation never strands a task in flight."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.clocks import ManualClock
from pollbridge.adapters.signing_keys import REFRESH_AT_MOST_EVERY_MS, HmacSigner, SecretsManagerKeys
from pollbridge.errors import ConfigurationError, ForgedPayloadError, TransientError
from pollbridge.models import PollPayload

PAYLOAD = PollPayload(
    workId="j_1", isPollTask=True, origTaskId="task-1", origTdoId="d", origJobId="j", origCallTimeUTC=1,
    pollNumber=3, deadlineUTC=10**13,
)  # fmt: skip


@pytest.fixture
def secret(aws: dict[str, Any]) -> tuple[Any, str]:
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="pollbridge-signing", SecretString="first-key-" + "a" * 40)["ARN"]
    return client, arn


def signer_for(arn: str) -> HmacSigner:
    return HmacSigner(SecretsManagerKeys(arn, lambda: boto3.client("secretsmanager")))


def test_signs_with_current_and_accepts_previous_across_a_rotation(
    secret: tuple[Any, str], manual_clock: ManualClock
) -> None:
    client, arn = secret
    before = signer_for(arn).sign(PAYLOAD)  # in flight while the secret rotates
    client.put_secret_value(SecretId=arn, SecretString="second-key-" + "b" * 40)  # AWSCURRENT moves on
    fresh = signer_for(arn)  # a new container
    fresh.verify(before)  # signed with what is now AWSPREVIOUS
    after = fresh.sign(PAYLOAD)
    assert after.signature != before.signature
    fresh.verify(after)
    client.put_secret_value(SecretId=arn, SecretString="third-key-" + "c" * 40)
    manual_clock.advance(REFRESH_AT_MOST_EVERY_MS)
    with pytest.raises(ForgedPayloadError):
        signer_for(arn).verify(before)  # two rotations later the oldest key is gone
    signer_for(arn).verify(after)


def test_a_container_that_cached_the_old_key_catches_up_once(
    secret: tuple[Any, str], manual_clock: ManualClock
) -> None:
    client, arn = secret
    old_container = signer_for(arn)
    old_container.sign(PAYLOAD)  # caches the first key for five minutes
    client.put_secret_value(SecretId=arn, SecretString="second-key-" + "b" * 40)
    client.put_secret_value(SecretId=arn, SecretString="third-key-" + "c" * 40)
    from_new_container = signer_for(arn).sign(PAYLOAD)
    old_container.verify(from_new_container)  # no cached key verifies it: one refetch, then it does


def test_a_missing_or_short_secret_is_a_configuration_error(secret: tuple[Any, str]) -> None:
    client, arn = secret
    client.put_secret_value(SecretId=arn, SecretString="short")
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        signer_for(arn).sign(PAYLOAD)


def test_a_secret_never_rotated_costs_no_call_per_poll(secret: tuple[Any, str], manual_clock: ManualClock) -> None:
    _, arn = secret
    client = boto3.client("secretsmanager")
    calls: list[str] = []
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append("get"))
    signer = HmacSigner(SecretsManagerKeys(arn, lambda: client))
    signed = signer.sign(PAYLOAD)
    for _ in range(20):
        signer.verify(signed)
        signer.sign(PAYLOAD)
    assert len(calls) == 2  # AWSCURRENT once, AWSPREVIOUS found missing once (remembered for five minutes)


class _RefusingSecrets:
    """A Secrets Manager client that answers every read with one error."""

    def __init__(self, code: str, status: int) -> None:
        self.error = {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        self.calls = 0

    def get_secret_value(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls += 1
        raise ClientError(self.error, "GetSecretValue")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, TransientError),
        ("InternalServiceError", 500, TransientError),
        ("AccessDeniedException", 400, ConfigurationError),
        ("ResourceNotFoundException", 400, ConfigurationError),  # AWSCURRENT missing: the stack is broken
    ],
)
def test_an_unreadable_secret_is_retried_or_a_configuration_error(code: str, status: int, expected: type) -> None:
    client = _RefusingSecrets(code, status)
    with pytest.raises(expected, match=f"PAYLOAD_SIGNING_SECRET \\(AWSCURRENT\\) could not be read: {code}") as raised:
        HmacSigner(SecretsManagerKeys("arn:aws:secretsmanager:us-east-1:123456789012:secret:s", lambda: client)).sign(
            PAYLOAD
        )
    assert client.calls == 1
    assert "arn:" not in str(raised.value)  # the webhook answers with this text: no ARN in it


@pytest.mark.parametrize("error", ["NoCredentialsError", "NoRegionError", "EndpointConnectionError"])
def test_an_sdk_error_is_a_configuration_error_unless_a_retry_may_work(error: str) -> None:
    import botocore.exceptions

    raised = getattr(botocore.exceptions, error)(
        **({"endpoint_url": "https://secrets.example"} if "Endpoint" in error else {})
    )

    class Raising:
        def get_secret_value(self, **_: Any) -> dict[str, Any]:
            raise raised

    def broken_client() -> Any:
        if error == "NoRegionError":
            raise raised  # the client cannot even be made
        return Raising()

    expected = TransientError if error == "EndpointConnectionError" else ConfigurationError
    with pytest.raises(expected, match=f"could not be read: {error}$") as caught:
        HmacSigner(SecretsManagerKeys("arn:secret", broken_client)).sign(PAYLOAD)
    assert "secrets.example" not in str(caught.value)


class _TwoStages:
    def __init__(self, current: dict[str, Any]) -> None:
        self.current = current

    def get_secret_value(self, VersionStage: str, **_: Any) -> dict[str, Any]:
        return self.current if VersionStage == "AWSCURRENT" else {"SecretString": "previous-key-0123456789"}


def test_a_current_version_without_text_never_lets_the_previous_key_sign() -> None:
    keys = SecretsManagerKeys("arn:secret", lambda: _TwoStages({"SecretBinary": b"k" * 32}))
    with pytest.raises(ConfigurationError, match="no AWSCURRENT text value"):
        HmacSigner(keys).sign(PAYLOAD)
    good = SecretsManagerKeys("arn:secret", lambda: _TwoStages({"SecretString": "current-key-0123456789"}))
    assert good.keys() == [b"current-key-0123456789", b"previous-key-0123456789"]
