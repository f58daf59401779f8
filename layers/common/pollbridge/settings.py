"""Environment -> one validated, immutable settings model, read once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from pollbridge.errors import ConfigurationError

SCHEDULER_NAME_PATTERN = r"^[0-9a-zA-Z\-_.]{1,64}$"
ARN = r"^arn:aws[a-z-]*:"


class Settings(BaseModel):
    """Every setting pollbridge reads; field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    schedule_group_name: str = Field(alias="SCHEDULE_GROUP_NAME", pattern=SCHEDULER_NAME_PATTERN)
    poll_function_arn: str = Field(alias="POLL_FUNCTION_ARN", pattern=ARN + r"lambda:")
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN", pattern=ARN + r"iam::")
    poll_dlq_arn: str = Field(alias="POLL_DLQ_ARN", pattern=ARN + r"sqs:")
    results_bucket: str = Field(alias="RESULTS_BUCKET", pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

    provider: Literal["http"] = Field(default="http", alias="PROVIDER")
    provider_url: str = Field(alias="PROVIDER_URL", pattern=r"^https?://[^\s/]+")
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

    @model_validator(mode="after")
    def _intervals_ordered(self) -> Self:
        if self.poll_max_interval_seconds < self.poll_min_interval_seconds:
            raise ValueError("POLL_MAX_INTERVAL_SECONDS must be >= POLL_MIN_INTERVAL_SECONDS")
        return self

    @model_validator(mode="after")
    def _has_signing_key(self) -> Self:
        if self.payload_signing_secret is None and self.payload_signing_key is None:
            raise ValueError("PAYLOAD_SIGNING_SECRET (a Secrets Manager secret) or PAYLOAD_SIGNING_KEY is required")
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
