"""Environment -> one validated, immutable settings model, read once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from pollbridge.errors import ConfigurationError
from pollbridge.models.common import looks_like_credential

SCHEDULER_NAME_PATTERN = r"^[0-9a-zA-Z\-_.]{1,64}$"
ARN = r"^arn:aws[a-z-]*:"
RESULT_SINK_NAMES = ("s3", "aiware", "eventbridge")

# The names PROVIDER may take (the template's `Provider` parameter allows the same), and the settings
# each cannot run without. The providers themselves (builders) are the registry's
# (adapters/providers/registry.py, which tests holds to these names): settings imports no adapter.
type ProviderName = Literal["http", "transcribe", "rekognition-text"]
PROVIDER_REQUIRES: dict[ProviderName, tuple[str, ...]] = {
    "http": ("PROVIDER_URL",),
    "transcribe": ("STAGING_BUCKET",),
    "rekognition-text": ("STAGING_BUCKET",),
}
SSM_PATH = r"^/[a-zA-Z0-9_.\-/]+$"


class Settings(BaseModel):
    """Every setting pollbridge reads; field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    schedule_group_name: str = Field(alias="SCHEDULE_GROUP_NAME", pattern=SCHEDULER_NAME_PATTERN)
    poll_function_arn: str = Field(alias="POLL_FUNCTION_ARN", pattern=ARN + r"lambda:")
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN", pattern=ARN + r"iam::")
    poll_dlq_arn: str = Field(alias="POLL_DLQ_ARN", pattern=ARN + r"sqs:")
    results_bucket: str = Field(alias="RESULTS_BUCKET", pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

    provider: ProviderName = Field(default="http", alias="PROVIDER")
    # Required by the providers that name them in the registry (PROVIDER_URL: http; STAGING_BUCKET:
    # the AWS services, whose media and outputs are staged there).
    provider_url: str | None = Field(default=None, alias="PROVIDER_URL", pattern=r"^https?://[^\s/]+")
    staging_bucket: str | None = Field(
        default=None, alias="STAGING_BUCKET", pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
    )
    provider_api_key: SecretStr | None = Field(default=None, alias="PROVIDER_API_KEY")
    provider_api_key_parameter: str | None = Field(default=None, alias="PROVIDER_API_KEY_PARAMETER")
    provider_api_key_secret: str | None = Field(default=None, alias="PROVIDER_API_KEY_SECRET")
    provider_timeout_seconds: float = Field(default=10.0, alias="PROVIDER_TIMEOUT_SECONDS", gt=0, le=30)
    provider_extra_options: str = Field(
        default="", alias="PROVIDER_EXTRA_OPTIONS", pattern=r"^[A-Za-z0-9_]*(,[A-Za-z0-9_]+)*$"
    )

    payload_signing_secret: str | None = Field(default=None, alias="PAYLOAD_SIGNING_SECRET", min_length=1)
    payload_signing_key: SecretStr | None = Field(default=None, alias="PAYLOAD_SIGNING_KEY", min_length=16)

    media_bucket: str | None = Field(default=None, alias="MEDIA_BUCKET", pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    allow_private_media_hosts: bool = Field(default=False, alias="ALLOW_PRIVATE_MEDIA_HOSTS")

    poll_min_interval_seconds: int = Field(default=60, alias="POLL_MIN_INTERVAL_SECONDS", ge=60, le=86_400)
    poll_max_interval_seconds: int = Field(default=900, alias="POLL_MAX_INTERVAL_SECONDS", ge=60, le=86_400)
    # The timing policy (pollbridge.timing): the lag budget without vendor hints (a task may set its
    # own, engineConfig maxLagSeconds) and the vendor's fastest processing time per second of media.
    poll_max_lag_seconds: int = Field(default=60, alias="POLL_MAX_LAG_SECONDS", ge=60, le=86_400)
    provider_min_real_time_factor: float = Field(default=0.0, alias="PROVIDER_MIN_REAL_TIME_FACTOR", ge=0, le=100)
    task_timeout_seconds: int = Field(default=86_400, alias="TASK_TIMEOUT_SECONDS", ge=60, le=31_536_000)
    media_max_bytes: int = Field(default=200 * 1024 * 1024, alias="MEDIA_MAX_BYTES", gt=0)
    engine_name: str = Field(default="pollbridge", alias="ENGINE_NAME", min_length=1)

    # Precise polling (issue 17): near polls also hop through this SQS delay queue (empty: off).
    precise_poll_queue_url: str | None = Field(
        default=None, alias="PRECISE_POLL_QUEUE_URL", pattern=r"^https?://[^\s/]+/[0-9]+/[A-Za-z0-9_-]{1,80}$"
    )
    # The engine webhook, the scheduling mode and the result sinks (issue 8).
    scheduling_mode: Literal["eventbridge", "platform"] = Field(default="eventbridge", alias="SCHEDULING_MODE")
    result_sinks: str = Field(default="s3", alias="RESULT_SINKS", pattern=r"^[a-z0-9]+(,[a-z0-9]+)*$")
    event_bus_name: str | None = Field(default=None, alias="EVENT_BUS_NAME", pattern=r"^[A-Za-z0-9._\-/:]{1,1600}$")
    aiware_api_url: str | None = Field(default=None, alias="AIWARE_API_URL", pattern=r"^https?://[^\s/]+")
    aiware_api_key: SecretStr | None = Field(default=None, alias="AIWARE_API_KEY")
    aiware_api_key_parameter: str | None = Field(default=None, alias="AIWARE_API_KEY_PARAMETER", pattern=SSM_PATH)
    # token: `Authorization: Bearer` (engine/forwarder.py adds it); iam: SigV4 through the Function URL;
    # aiware-token: the form's task token, checked with aiWARE at AIWARE_API_URL (no shared secret)
    webhook_auth: Literal["token", "iam", "aiware-token"] = Field(default="token", alias="WEBHOOK_AUTH")
    webhook_token: SecretStr | None = Field(default=None, alias="WEBHOOK_TOKEN", min_length=16)
    webhook_token_parameter: str | None = Field(default=None, alias="WEBHOOK_TOKEN_PARAMETER", pattern=SSM_PATH)

    @model_validator(mode="after")
    def _intervals_ordered(self) -> Self:
        if self.poll_max_interval_seconds < self.poll_min_interval_seconds:
            raise ValueError("POLL_MAX_INTERVAL_SECONDS must be >= POLL_MIN_INTERVAL_SECONDS")
        return self

    @model_validator(mode="after")
    def _provider_url_is_a_url(self) -> Self:
        """The pattern checks the scheme; this, that the rest parses (a port in range, a host), so a
        bad value is refused here, named, rather than on the first vendor call."""
        if self.provider_url is not None:
            try:
                parts = urlsplit(self.provider_url)
                parts.port  # noqa: B018 - raises ValueError out of range or not a number
            except ValueError as error:
                raise ValueError(f"PROVIDER_URL is not a URL: {error}") from None
            if not parts.hostname:
                raise ValueError("PROVIDER_URL is not a URL: no host")
        return self

    @model_validator(mode="after")
    def _has_signing_key(self) -> Self:
        if self.payload_signing_secret is None and self.payload_signing_key is None:
            raise ValueError("PAYLOAD_SIGNING_SECRET (a Secrets Manager secret) or PAYLOAD_SIGNING_KEY is required")
        return self

    @model_validator(mode="after")
    def _extra_options_are_not_credentials(self) -> Self:
        credentials = [name for name in self.extra_options if looks_like_credential(name)]
        if credentials:
            raise ValueError(f"PROVIDER_EXTRA_OPTIONS: {', '.join(credentials)} look like credentials, never forwarded")
        return self

    @model_validator(mode="after")
    def _known_sinks(self) -> Self:
        sinks = self.sinks
        unknown = [name for name in sinks if name not in RESULT_SINK_NAMES]
        if unknown:
            raise ValueError(f"RESULT_SINKS: unknown sink {unknown[0]!r} (known: {', '.join(RESULT_SINK_NAMES)})")
        if "s3" not in sinks:
            raise ValueError("RESULT_SINKS must include s3: the record is the source of truth, written first")
        if len(set(sinks)) != len(sinks):
            raise ValueError("RESULT_SINKS names a sink twice")
        if self.webhook_auth == "aiware-token" and self.aiware_api_url is None:
            raise ValueError(
                "AIWARE_API_URL is required when WEBHOOK_AUTH is aiware-token (task tokens are checked there)"
            )
        if "aiware" in sinks and self.aiware_api_url is None:
            raise ValueError("AIWARE_API_URL is required when RESULT_SINKS includes aiware")
        if "aiware" in sinks and self.aiware_api_key is None and self.aiware_api_key_parameter is None:
            raise ValueError("AIWARE_API_KEY or AIWARE_API_KEY_PARAMETER is required when RESULT_SINKS includes aiware")
        return self

    @property
    def sinks(self) -> tuple[str, ...]:
        """RESULT_SINKS in order: s3 first (it is written by core itself), then the ones told after it."""
        return tuple(name for name in self.result_sinks.split(",") if name)

    @model_validator(mode="after")
    def _provider_has_its_settings(self) -> Self:
        by_alias = self.model_dump(by_alias=True)
        missing = [name for name in PROVIDER_REQUIRES[self.provider] if by_alias.get(name) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)}: missing setting (PROVIDER {self.provider} needs it)")
        return self

    @property
    def extra_options(self) -> tuple[str, ...]:
        return tuple(name for name in self.provider_extra_options.split(",") if name)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Validate the environment; empty values count as unset."""
        values = {k: v for k, v in env.items() if v != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
                f"{'missing setting' if e['type'] == 'missing' else e['msg']}"
                for e in exc.errors()
            )
            raise ConfigurationError(f"invalid configuration: {problems}") from None


@cache
def load_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env(os.environ)
