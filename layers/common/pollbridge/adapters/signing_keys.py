"""Payload signing keys: a literal (local runs, tests) or a Secrets Manager secret (deployed).

Signs with the secret's AWSCURRENT version and also accepts AWSPREVIOUS, so a rotation never
strands a task in flight. Keys are cached for five minutes; a signature that verifies with no cached
key triggers one refetch (at most every 30 s), so a container that missed a rotation catches up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pollbridge import clock, signing
from pollbridge.errors import ConfigurationError
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
    """AWSCURRENT first, then AWSPREVIOUS (absent until the first rotation)."""

    def __init__(self, secret_id: str, client_factory: Callable[[], Any]) -> None:
        self._secret_id = secret_id
        self._client_factory = client_factory
        self._providers: dict[str, Any] = {}
        self._client: Any = None
        # A stage found missing (AWSPREVIOUS before the first rotation) is not asked for again until
        # then: Powertools caches values, not absences, and every poll would pay one more call.
        self._missing_until_ms: dict[str, int] = {}

    def keys(self, refresh: bool = False) -> list[bytes]:
        found = []
        for stage in ("AWSCURRENT", "AWSPREVIOUS"):
            value = self._get(stage, refresh)
            if value is not None:
                found.append(_checked(value.encode(), f"PAYLOAD_SIGNING_SECRET ({stage})"))
        if not found:
            raise ConfigurationError(f"PAYLOAD_SIGNING_SECRET {self._secret_id} has no AWSCURRENT value")
        return found

    def _get(self, stage: str, refresh: bool) -> str | None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        if not refresh and self._missing_until_ms.get(stage, 0) > clock.now_ms():
            return None
        # One provider per stage: Powertools caches by name only, so stages must not share a cache.
        # They share one client (creating a client costs ~10 ms of a cold start).
        if stage not in self._providers:
            if self._client is None:
                self._client = self._client_factory()
            self._providers[stage] = SecretsProvider(boto3_client=self._client)
        try:
            value = self._providers[stage].get(
                self._secret_id, max_age=CACHE_SECONDS, force_fetch=refresh, VersionStage=stage
            )
        except GetParameterError as error:
            if stage == "AWSPREVIOUS" and "ResourceNotFoundException" in str(error):
                self._missing_until_ms[stage] = clock.now_ms() + CACHE_SECONDS * 1000
                return None
            raise
        return None if value is None else str(value)


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
