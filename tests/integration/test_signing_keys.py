"""Payload signing keys from Secrets Manager (moto server): rotation never strands a task in flight."""

from __future__ import annotations

from typing import Any, ClassVar

import boto3
import pytest

from pollbridge import signing
from pollbridge.adapters.signing_keys import REFRESH_AT_MOST_EVERY_MS, HmacSigner, SecretsManagerKeys
from pollbridge.clock import ManualClock
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


def test_a_payload_verifies_with_the_key_it_names_however_many_rotations_later(
    secret: tuple[Any, str], manual_clock: ManualClock
) -> None:
    client, arn = secret
    first_version = client.get_secret_value(SecretId=arn)["VersionId"]
    before = signer_for(arn).sign(PAYLOAD)  # in flight while the secret rotates
    assert before.signature is not None and before.signature.startswith(f"v2.{first_version}.")
    client.put_secret_value(SecretId=arn, SecretString="second-key-" + "b" * 40)  # AWSCURRENT moves on
    fresh = signer_for(arn)  # a new container
    fresh.verify(before)  # signed with what is now AWSPREVIOUS
    after = fresh.sign(PAYLOAD)
    assert after.signature != before.signature
    fresh.verify(after)
    for n in range(3):  # the first key loses its last label: GetSecretValue still answers for its VersionId
        client.put_secret_value(SecretId=arn, SecretString=f"key-{n}-" + "c" * 40)
        manual_clock.advance(REFRESH_AT_MOST_EVERY_MS)
        signer_for(arn).verify(before)
        signer_for(arn).verify(after)


def test_a_v1_payload_verifies_against_awscurrent_and_awsprevious_only(
    secret: tuple[Any, str], manual_clock: ManualClock
) -> None:
    """Signed before signatures named their key: the stages are all it can be checked against."""
    client, arn = secret
    v1 = signing.sign(PAYLOAD, client.get_secret_value(SecretId=arn)["SecretString"].encode())
    assert v1.signature is not None and v1.signature.startswith("v1.")
    signer_for(arn).verify(v1)
    client.put_secret_value(SecretId=arn, SecretString="second-key-" + "b" * 40)
    signer_for(arn).verify(v1)  # AWSPREVIOUS
    client.put_secret_value(SecretId=arn, SecretString="third-key-" + "c" * 40)
    with pytest.raises(ForgedPayloadError):
        signer_for(arn).verify(v1)  # what `ops rotation-status` warns of before the second rotation


def test_a_container_that_cached_the_old_key_catches_up_once(
    secret: tuple[Any, str], manual_clock: ManualClock
) -> None:
    client, arn = secret
    old_container = signer_for(arn)
    old_container.sign(PAYLOAD)  # caches the first key for five minutes
    client.put_secret_value(SecretId=arn, SecretString="second-key-" + "b" * 40)
    client.put_secret_value(SecretId=arn, SecretString="third-key-" + "c" * 40)
    from_new_container = signer_for(arn).sign(PAYLOAD)
    old_container.verify(from_new_container)  # names a version it has not seen: looked up by its id
    v1_from_new_container = signing.sign(PAYLOAD, ("third-key-" + "c" * 40).encode())
    old_container.verify(v1_from_new_container)  # no cached key verifies it: one refetch, then it does


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
    assert len(calls) == 1  # AWSCURRENT once: the signature names it, AWSPREVIOUS is never needed
    v1 = signing.sign(PAYLOAD, client.get_secret_value(SecretId=arn)["SecretString"].encode())
    calls.clear()
    for _ in range(20):
        signer.verify(v1)
    assert len(calls) == 0  # a v1 signature made with AWSCURRENT needs nothing more either


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
    with pytest.raises(ConfigurationError, match=r"AWSCURRENT\) has no text value"):
        HmacSigner(keys).sign(PAYLOAD)
    good = SecretsManagerKeys("arn:secret", lambda: _TwoStages({"SecretString": "current-key-0123456789"}))
    previous = good.previous()
    assert good.current().secret == b"current-key-0123456789"
    assert previous is not None and previous.secret == b"previous-key-0123456789"


# --- issue 15, finding 9: a key that only ever verifies never blocks anything ---------------------


class _Stages:
    """A Secrets Manager client with a good AWSCURRENT and whatever AWSPREVIOUS answer is given."""

    current: ClassVar[dict[str, Any]] = {
        "SecretString": "current-key-0123456789",
        "VersionId": "c" * 36,
        "VersionStages": ["AWSCURRENT"],
    }

    def __init__(self, previous: dict[str, Any] | Exception) -> None:
        self.previous = previous
        self.calls: list[str] = []

    def get_secret_value(self, VersionStage: str = "", VersionId: str = "", **_: Any) -> dict[str, Any]:
        self.calls.append(VersionStage or VersionId)
        if VersionStage == "AWSCURRENT" or VersionId == self.current["VersionId"]:
            return self.current
        if isinstance(self.previous, Exception):
            raise self.previous
        return self.previous


def _client_error(code: str, status: int = 400) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetSecretValue")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from pollbridge import telemetry

    names: list[str] = []
    monkeypatch.setattr(telemetry, "count", lambda name, *_, **__: names.append(name))
    return names


@pytest.mark.parametrize(
    "previous",
    [
        {"SecretString": "short", "VersionId": "p" * 36, "VersionStages": ["AWSPREVIOUS"]},
        {"SecretBinary": b"k" * 32, "VersionId": "p" * 36, "VersionStages": ["AWSPREVIOUS"]},
        _client_error("DecryptionFailure"),
        _client_error("AccessDeniedException"),
    ],
    ids=["too-short", "binary", "not-decryptable", "access-denied"],
)
def test_an_unusable_previous_key_is_skipped_with_a_warning_and_a_metric(
    previous: dict[str, Any] | Exception, counted: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 9: "An unusable AWSPREVIOUS signing key blocks every start and poll even after a good
    rotation; it only ever verifies, so skip it with a warning and a metric." """
    signer = HmacSigner(SecretsManagerKeys("arn:secret", lambda: _Stages(previous)))
    signed = signer.sign(PAYLOAD)  # a start
    signer.verify(signed)  # a poll
    v1 = signing.sign(PAYLOAD, _Stages.current["SecretString"].encode())
    signer.verify(v1)  # a v1 payload signed with AWSCURRENT
    assert counted == []  # nothing needed AWSPREVIOUS yet
    for _ in range(3):
        with pytest.raises(ForgedPayloadError):
            signer.verify(signing.sign(PAYLOAD, b"another-key-of-enough-length"))  # only AWSPREVIOUS could
    # read (and counted) once, and once more by the one re-read a v1 signature no key verifies earns
    assert counted == ["SigningKeyUnusable"] * 2
    assert any("unusable" in record.getMessage() and record.levelname == "WARNING" for record in caplog.records)


def test_a_previous_key_that_cannot_be_read_for_now_is_retried_not_skipped() -> None:
    """Throttled: the payload that needs it is worth retrying (TransientError), and signing never needs it."""
    signer = HmacSigner(SecretsManagerKeys("arn:secret", lambda: _Stages(_client_error("ThrottlingException"))))
    signer.verify(signer.sign(PAYLOAD))
    with pytest.raises(TransientError, match=r"\(AWSPREVIOUS\) could not be read: ThrottlingException"):
        signer.verify(signing.sign(PAYLOAD, b"another-key-of-enough-length"))


# --- keys named by a signature: bounded lookups, revocation ----------------------------------------


def test_a_revoked_version_no_longer_verifies(secret: tuple[Any, str], manual_clock: ManualClock) -> None:
    """An operator revokes a leaked key by labelling its version `revoked...`: as AWSPREVIOUS or older."""
    client, arn = secret
    leaked = client.get_secret_value(SecretId=arn)["VersionId"]
    signed = signer_for(arn).sign(PAYLOAD)
    client.put_secret_value(SecretId=arn, SecretString="second-key-" + "b" * 40)
    signer_for(arn).verify(signed)
    client.update_secret_version_stage(SecretId=arn, VersionStage="revoked-leak-1", MoveToVersionId=leaked)
    with pytest.raises(ForgedPayloadError):
        signer_for(arn).verify(signed)  # as AWSPREVIOUS
    client.put_secret_value(SecretId=arn, SecretString="third-key-" + "c" * 40)
    with pytest.raises(ForgedPayloadError):
        signer_for(arn).verify(signed)  # as an older version, looked up by its id


def test_versions_named_by_signatures_are_looked_up_sparingly(
    secret: tuple[Any, str], manual_clock: ManualClock
) -> None:
    """Whoever may invoke a function chooses the id a signature names: each id is looked up once
    (found or not, for five minutes), at most a few at once, then one a second per container."""
    from pollbridge.adapters.signing_keys import CACHE_SECONDS, LOOKUP_BURST, LOOKUP_EVERY_MS

    client, arn = secret
    calls: list[str] = []
    counting = boto3.client("secretsmanager")
    counting.meta.events.register(  # lookups by VersionId only (not the stages')
        "before-parameter-build.secrets-manager.GetSecretValue",
        lambda params, **_: calls.extend([params["VersionId"]] if "VersionId" in params else []),
    )
    signer = HmacSigner(SecretsManagerKeys(arn, lambda: counting))
    signed = signer.sign(PAYLOAD)
    calls.clear()

    def named(key_id: str) -> PollPayload:
        assert signed.signature is not None
        return signed.model_copy(update={"signature": f"v2.{key_id}.{signed.signature.rsplit('.', 1)[1]}"})

    made_up = [f"{n:08d}-0000-4000-8000-000000000000" for n in range(LOOKUP_BURST + 3)]
    for key_id in made_up:
        with pytest.raises(ForgedPayloadError):
            signer.verify(named(key_id))
    assert calls == made_up[:LOOKUP_BURST]  # then no more for now
    with pytest.raises(ForgedPayloadError):
        signer.verify(named("short-id"))  # cannot be a VersionId: no call at all
    manual_clock.advance(LOOKUP_EVERY_MS)
    for key_id in made_up[:2]:
        with pytest.raises(ForgedPayloadError):
            signer.verify(named(key_id))  # remembered as missing
    with pytest.raises(ForgedPayloadError):
        signer.verify(named(made_up[-1]))
    assert calls == [*made_up[:LOOKUP_BURST], made_up[-1]]
    manual_clock.advance(CACHE_SECONDS * 1000)
    client.put_secret_value(SecretId=arn, SecretString="second-key-" + "b" * 40)
    client.put_secret_value(SecretId=arn, SecretString="third-key-" + "c" * 40)
    calls.clear()
    signer.verify(signed)  # now an older version: one lookup...
    signer.verify(signed)  # ...remembered
    assert calls == [signed.signature.split(".")[1]]  # type: ignore[union-attr]
