"""Payload signing keys: a literal (local runs, tests) or a Secrets Manager secret (deployed).

Signs with the secret's AWSCURRENT version, naming it in the signature (`v2.<VersionId>.<mac>`), so
that a payload verifies with the very key that signed it however many rotations happened since:
AWSCURRENT and AWSPREVIOUS are read by stage (cached five minutes), any older version by its
VersionId (GetSecretValue keeps answering for a version that lost its labels until Secrets Manager
removes it: it keeps the newest 100). A version labelled `revoked...` by an operator no longer
verifies. A `v1.` signature (made before signatures named their key) verifies against AWSCURRENT or
AWSPREVIOUS; when neither verifies, the secret is read again once (at most every 30 s), so a
container that missed a rotation catches up. A key that only ever verifies (AWSPREVIOUS, an older
version) and cannot be used (binary, too short, unreadable) is skipped with a warning and the metric
`SigningKeyUnusable`: it never blocks signing, nor payloads signed with another key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Literal

from pollbridge import clock, signing
from pollbridge.errors import ConfigurationError, TransientError
from pollbridge.models import PollPayload

CACHE_SECONDS = 300
REFRESH_AT_MOST_EVERY_MS = 30_000
MIN_KEY_BYTES = 16
# Versions looked up by the id a signature names (anyone who may invoke a function chooses it): at
# most LOOKUP_BURST at once, then one every LOOKUP_EVERY_MS, per container; answers (found or not)
# kept CACHE_SECONDS, at most MAX_REMEMBERED_VERSIONS of them.
LOOKUP_BURST = 4
LOOKUP_EVERY_MS = 1_000
MAX_REMEMBERED_VERSIONS = 256
VERSION_ID_MIN_CHARS = 32  # what GetSecretValue takes as a VersionId (a UUID has 36)
REVOKED_LABEL_PREFIX = "revoked"  # a staging label an operator puts on a leaked key's version
UNUSABLE_METRIC = "SigningKeyUnusable"


class SigningKey:
    """A key and the id a v2 signature names it by (None: it cannot be named, so it signs v1)."""

    __slots__ = ("key_id", "revoked", "secret")

    def __init__(self, secret: bytes, key_id: str | None, *, revoked: bool = False) -> None:
        self.secret = secret
        self.key_id = key_id
        self.revoked = revoked

    def __repr__(self) -> str:  # never the key itself
        return f"SigningKey(key_id={self.key_id!r}{', revoked' if self.revoked else ''})"


def literal_key_id(key: bytes) -> str:
    """A literal key's id: 8 hex digits of its SHA-256 (a local key; 32 bits say nothing of 64 characters)."""
    return hashlib.sha256(key).hexdigest()[:8]


class StaticKeys:
    def __init__(self, key: str) -> None:
        raw = key.encode()
        problem = _too_short(raw, "PAYLOAD_SIGNING_KEY")
        if problem:
            raise ConfigurationError(problem)
        self._key = SigningKey(raw, literal_key_id(raw))

    def current(self, refresh: bool = False) -> SigningKey:
        return self._key

    def previous(self, refresh: bool = False) -> SigningKey | None:
        return None

    def version(self, key_id: str) -> SigningKey | None:
        return None


class SecretsManagerKeys:
    """AWSCURRENT signs; AWSPREVIOUS (absent until the first rotation) and older versions verify.

    GetSecretValue directly, with a cache of its own, rather than Powertools' SecretsProvider (which
    the vendor and aiWARE keys use): this read is on every cold start's path, and Parameters' import
    alone (every provider, AppConfig's included) cost ~17 ms of it; its cache keeps values by name
    only, so two stages needed two providers, and it keeps no absence, so a never-rotated secret cost
    one call per poll. Here each stage's answer, absence included, is kept for CACHE_SECONDS; signing
    reads AWSCURRENT only, and a v2 payload reads only the version it names."""

    def __init__(self, secret_id: str, client_factory: Callable[[], Any]) -> None:
        self._secret_id = secret_id
        self._client_factory = client_factory
        self._client: Any = None
        self._stages: dict[Stage, tuple[int, SigningKey | str | None]] = {}  # stage -> (valid until ms, key)
        self._versions: dict[str, tuple[int, SigningKey | None]] = {}  # VersionId -> (valid until ms, key)
        self._lookup_tokens = float(LOOKUP_BURST)
        self._tokens_at_ms: int | None = None

    def current(self, refresh: bool = False) -> SigningKey:
        key = self._stage("AWSCURRENT", refresh)
        if isinstance(key, str):  # never fall back to signing with the previous key
            raise ConfigurationError(key)
        assert key is not None  # AWSCURRENT is never absent: its absence is an error of its own
        return key

    def previous(self, refresh: bool = False) -> SigningKey | None:
        key = self._stage("AWSPREVIOUS", refresh)
        return key if isinstance(key, SigningKey) else None

    def version(self, key_id: str) -> SigningKey | None:
        """The version a v2 signature names, whatever its labels, while the secret holds it."""
        if not VERSION_ID_MIN_CHARS <= len(key_id) <= signing.KEY_ID_MAX_CHARS:
            return None  # not a VersionId: no such version (a literal key's id, say)
        now = clock.now_ms()
        cached = self._versions.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        if not self._may_look_up(now):
            return None
        what = "PAYLOAD_SIGNING_SECRET (an older version)"  # never the id: anyone may have chosen it
        key: SigningKey | None = None
        try:
            answer = self._fetch(what, _NO_SUCH_VERSION, VersionId=key_id)
        except ConfigurationError as error:  # access denied, a key KMS no longer decrypts...
            _unusable(str(error))
        else:
            key = None if answer is None else _usable(self._key_of(answer, what))
        if len(self._versions) >= MAX_REMEMBERED_VERSIONS:
            self._versions.clear()
        self._versions[key_id] = (now + CACHE_SECONDS * 1000, key)
        return key

    def _may_look_up(self, now: int) -> bool:
        if self._tokens_at_ms is not None:
            earned = max(0, now - self._tokens_at_ms) / LOOKUP_EVERY_MS
            self._lookup_tokens = min(float(LOOKUP_BURST), self._lookup_tokens + earned)
        self._tokens_at_ms = now
        if self._lookup_tokens < 1:
            return False
        self._lookup_tokens -= 1
        return True

    def _stage(self, stage: Stage, refresh: bool) -> SigningKey | str | None:
        now = clock.now_ms()
        cached = self._stages.get(stage)
        if cached is not None and not refresh and cached[0] > now:
            return cached[1]
        what = f"PAYLOAD_SIGNING_SECRET ({stage})"
        key: SigningKey | str | None = None
        if stage == "AWSCURRENT":
            answer = self._fetch(what, frozenset(), VersionStage=stage)
            key = self._key_of(answer, what) if answer is not None else None
            if isinstance(key, SigningKey) and key.key_id is None:
                from pollbridge.observability import logger

                logger.warning(
                    "AWSCURRENT's VersionId cannot name the key in a signature: payloads are signed v1, "
                    "which a second rotation strands (put the next value with a UUID --client-request-token)"
                )
        else:
            try:
                answer = self._fetch(what, frozenset({"ResourceNotFoundException"}), VersionStage=stage)
            except ConfigurationError as error:  # it only ever verifies: it must not block anything
                _unusable(str(error))
            else:
                key = None if answer is None else _usable(self._key_of(answer, what))  # None: never rotated
        self._stages[stage] = (now + CACHE_SECONDS * 1000, key)
        return key

    @staticmethod
    def _key_of(answer: dict[str, Any], what: str) -> SigningKey | str:
        """The answer's key, or what makes it unusable."""
        value = answer.get("SecretString")
        if value is None:  # a binary secret, say
            return f"{what} has no text value"
        raw = str(value).encode()
        problem = _too_short(raw, what)
        if problem:
            return problem
        version_id = str(answer.get("VersionId") or "")
        labels = [str(label) for label in answer.get("VersionStages") or []]
        revoked = "AWSCURRENT" not in labels and any(label.lower().startswith(REVOKED_LABEL_PREFIX) for label in labels)
        return SigningKey(raw, version_id if signing.is_key_id(version_id) else None, revoked=revoked)

    def _fetch(self, what: str, absent_codes: frozenset[str], **selector: str) -> dict[str, Any] | None:
        """One GetSecretValue; None when AWS answers with one of `absent_codes`. Messages name the
        setting and the stage, never the secret's ARN or botocore's text (the webhook answers with
        them): the logs carry the detail."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            NoRegionError,
            ParamValidationError,
            PartialCredentialsError,
        )

        from pollbridge.adapters import aws  # with botocore's exceptions: on first use, not at import

        try:
            if self._client is None:
                self._client = self._client_factory()  # one client for every read (~10 ms of a cold start)
            answer: dict[str, Any] = self._client.get_secret_value(SecretId=self._secret_id, **selector)
        except ClientError as error:
            code = aws.error_code(error)
            if code in absent_codes:
                return None
            message = f"{what} could not be read: {code or aws.http_status(error)}"
            if aws.is_transient(error):
                raise TransientError(message) from None
            raise ConfigurationError(message) from None
        except (NoCredentialsError, PartialCredentialsError, NoRegionError, ParamValidationError) as error:
            if "VersionId" in selector and isinstance(error, ParamValidationError):
                return None  # an id AWS would refuse: no such version
            raise ConfigurationError(f"{what} could not be read: {type(error).__name__}") from None
        except BotoCoreError as error:  # connection, timeout, HTTP client errors: the next try may work
            raise TransientError(f"{what} could not be read: {type(error).__name__}") from None
        return answer


type Stage = Literal["AWSCURRENT", "AWSPREVIOUS"]
type KeySource = StaticKeys | SecretsManagerKeys
# What GetSecretValue answers for a VersionId the secret does not hold (or that cannot be one).
_NO_SUCH_VERSION = frozenset(
    {"ResourceNotFoundException", "InvalidParameterException", "ValidationException", "InvalidRequestException"}
)


class HmacSigner:
    """The PayloadSigner port over a key source."""

    def __init__(self, source: KeySource) -> None:
        self._source = source
        self._refreshed_at_ms: int | None = None

    def sign(self, payload: PollPayload) -> PollPayload:
        key = self._source.current()
        return signing.sign(payload, key.secret, key.key_id)

    def verify(self, payload: PollPayload) -> None:
        """Raises ForgedPayloadError unless a key of the secret that is not revoked signed exactly
        this payload: the one a v2 signature names, else (v1) AWSCURRENT or AWSPREVIOUS."""
        if payload.signature is None:
            raise signing.forged(payload)
        key_id = signing.key_id_of(payload.signature)
        if key_id is not None:
            if not _signed_by(payload, self._named(key_id)):
                raise signing.forged(payload)
            return
        if self._v1_verifies(payload, refresh=False):
            return
        now = clock.now_ms()
        if self._refreshed_at_ms is None or now - self._refreshed_at_ms >= REFRESH_AT_MOST_EVERY_MS:
            self._refreshed_at_ms = now
            if self._v1_verifies(payload, refresh=True):
                return
        raise signing.forged(payload)

    def _named(self, key_id: str) -> SigningKey | None:
        """The key a v2 signature names: a stage's (cached) when it is one, else looked up by id
        (which also finds a version this container has not seen become AWSCURRENT)."""
        current = self._source.current()
        if key_id == current.key_id:
            return current
        previous = self._source.previous()
        if previous is not None and key_id == previous.key_id:
            return previous
        return self._source.version(key_id)

    def _v1_verifies(self, payload: PollPayload, refresh: bool) -> bool:
        if _signed_by(payload, self._source.current(refresh)):
            return True
        return _signed_by(payload, self._source.previous(refresh))


def _signed_by(payload: PollPayload, key: SigningKey | None) -> bool:
    return key is not None and not key.revoked and signing.is_valid(payload, [key.secret])


def _too_short(key: bytes, what: str) -> str | None:
    return f"{what}: a signing key needs at least {MIN_KEY_BYTES} bytes" if len(key) < MIN_KEY_BYTES else None


def _usable(key: SigningKey | str) -> SigningKey | None:
    """A key that only ever verifies, or None (warned about and counted) when it cannot be used."""
    if isinstance(key, str):
        _unusable(key)
        return None
    return key


def _unusable(problem: str) -> None:
    """A key that only ever verifies cannot be used: say so, count it, and go on without it."""
    from pollbridge.observability import logger
    from pollbridge.telemetry import count

    logger.warning("a payload-signing key that only verifies is unusable: skipped", extra={"problem": problem})
    count(UNUSABLE_METRIC)
