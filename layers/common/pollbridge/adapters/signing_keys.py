"""Payload signing keys: a literal (local runs, tests) or a Secrets Manager secret (deployed).

Signs with the secret's AWSCURRENT version and also accepts AWSPREVIOUS, so a rotation never
strands a task in flight. Keys are cached for five minutes; a signature that verifies with no cached
key triggers one refetch (at most every 30 s), so a container that missed a rotation catches up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pollbridge import clock, signing
from pollbridge.errors import ConfigurationError, TransientError
from pollbridge.models import PollPayload

CACHE_SECONDS = 300
REFRESH_AT_MOST_EVERY_MS = 30_000
MIN_KEY_BYTES = 16


class StaticKeys:
    def __init__(self, key: str) -> None:
        self._key = _checked(key.encode(), "PAYLOAD_SIGNING_KEY")

    def keys(self, refresh: bool = False) -> list[bytes]:
        return [self._key]


class SecretsManagerKeys:
    """AWSCURRENT first, then AWSPREVIOUS (absent until the first rotation).

    GetSecretValue directly, with a cache of its own, rather than Powertools' SecretsProvider (which
    the vendor and aiWARE keys use): this read is on every cold start's path, and Parameters' import
    alone (every provider, AppConfig's included) cost ~17 ms of it; its cache keeps values by name
    only, so two stages needed two providers, and it keeps no absence, so a never-rotated secret cost
    one call per poll. Here each stage's answer, absence included, is kept for CACHE_SECONDS."""

    def __init__(self, secret_id: str, client_factory: Callable[[], Any]) -> None:
        self._secret_id = secret_id
        self._client_factory = client_factory
        self._client: Any = None
        self._cached: dict[Stage, tuple[int, str | None]] = {}  # stage -> (valid until ms, value or absent)

    def keys(self, refresh: bool = False) -> list[bytes]:
        current = self._get("AWSCURRENT", refresh)
        if current is None:  # a binary secret, say: never fall back to signing with the previous key
            raise ConfigurationError("PAYLOAD_SIGNING_SECRET has no AWSCURRENT text value")
        found = [_checked(current.encode(), "PAYLOAD_SIGNING_SECRET (AWSCURRENT)")]
        previous = self._get("AWSPREVIOUS", refresh)
        if previous is not None:
            found.append(_checked(previous.encode(), "PAYLOAD_SIGNING_SECRET (AWSPREVIOUS)"))
        return found

    def _get(self, stage: Stage, refresh: bool) -> str | None:
        now = clock.now_ms()
        cached = self._cached.get(stage)
        if cached is not None and not refresh and cached[0] > now:
            return cached[1]
        value = self._fetch(stage)
        self._cached[stage] = (now + CACHE_SECONDS * 1000, value)
        return value

    def _fetch(self, stage: Stage) -> str | None:
        """One GetSecretValue. Messages name the setting and the stage, never the secret's ARN or
        botocore's text (the webhook answers with them): the logs carry the detail."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            NoRegionError,
            ParamValidationError,
            PartialCredentialsError,
        )

        what = f"PAYLOAD_SIGNING_SECRET ({stage})"
        try:
            if self._client is None:
                self._client = self._client_factory()  # one client for both stages (~10 ms of a cold start)
            answer = self._client.get_secret_value(SecretId=self._secret_id, VersionStage=stage)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if stage == "AWSPREVIOUS" and code == "ResourceNotFoundException":
                return None  # never rotated yet
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            message = f"{what} could not be read: {code or status}"
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                raise TransientError(message) from None
            raise ConfigurationError(message) from None
        except (NoCredentialsError, PartialCredentialsError, NoRegionError, ParamValidationError) as error:
            raise ConfigurationError(f"{what} could not be read: {type(error).__name__}") from None
        except BotoCoreError as error:  # connection, timeout, HTTP client errors: the next try may work
            raise TransientError(f"{what} could not be read: {type(error).__name__}") from None
        value = answer.get("SecretString")
        return None if value is None else str(value)


type Stage = Literal["AWSCURRENT", "AWSPREVIOUS"]
_TRANSIENT_CODES = frozenset({"ThrottlingException", "InternalServiceError", "RequestTimeout", "ServiceUnavailable"})


class HmacSigner:
    """The PayloadSigner port over a key source."""

    def __init__(self, source: StaticKeys | SecretsManagerKeys) -> None:
        self._source = source
        self._refreshed_at_ms: int | None = None

    def sign(self, payload: PollPayload) -> PollPayload:
        return signing.sign(payload, self._source.keys()[0])

    def verify(self, payload: PollPayload) -> None:
        if signing.is_valid(payload, self._source.keys()):
            return
        now = clock.now_ms()
        if payload.signature is not None and (
            self._refreshed_at_ms is None or now - self._refreshed_at_ms >= REFRESH_AT_MOST_EVERY_MS
        ):
            self._refreshed_at_ms = now
            if signing.is_valid(payload, self._source.keys(refresh=True)):
                return
        signing.verify(payload, [])  # no key signed it: raises, saying whether it was unsigned or altered


def _checked(key: bytes, what: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"{what}: a signing key needs at least {MIN_KEY_BYTES} bytes")
    return key
