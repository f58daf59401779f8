"""The composition root: settings -> adapters -> core.Ports, built once per Lambda container."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from pollbridge.adapters.media import MediaFetcher
from pollbridge.adapters.providers import HttpJobProvider
from pollbridge.adapters.scheduler import EventBridgePollScheduler, SchedulerTarget
from pollbridge.adapters.signing_keys import HmacSigner, SecretsManagerKeys, StaticKeys
from pollbridge.adapters.sinks import S3RecordSink
from pollbridge.core import Ports
from pollbridge.ports import Provider
from pollbridge.secrets import provider_api_key
from pollbridge.settings import Settings, load_settings
from pollbridge.timing import PollPolicy

# Well under the functions' timeouts (poll 60 s): a hung AWS call fails and is retried by the
# invoker instead of eating the whole invocation. `standard` retries throttles with backoff.
AWS_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3})


def aws_client(service: str) -> Any:
    """boto3 honours AWS_ENDPOINT_URL, so the same code runs against a local AWS emulation."""
    return boto3.client(service, config=AWS_CLIENT_CONFIG)


def build_provider(settings: Settings) -> Provider:
    match settings.provider:
        case "http":
            return HttpJobProvider(
                settings.provider_url,
                provider_api_key(settings),
                settings.provider_timeout_seconds,
                extra_options=settings.extra_options,
            )


def build_signer(settings: Settings) -> HmacSigner:
    if settings.payload_signing_secret:
        return HmacSigner(SecretsManagerKeys(settings.payload_signing_secret, lambda: aws_client("secretsmanager")))
    assert settings.payload_signing_key is not None  # the settings model requires one of the two
    return HmacSigner(StaticKeys(settings.payload_signing_key.get_secret_value()))


def build_ports(settings: Settings) -> Ports:
    s3 = aws_client("s3")
    return Ports(
        provider=build_provider(settings),
        scheduler=EventBridgePollScheduler(
            aws_client("scheduler"),
            settings.schedule_group_name,
            SchedulerTarget(settings.poll_function_arn, settings.scheduler_role_arn, settings.poll_dlq_arn),
        ),
        sink=S3RecordSink(s3, settings.results_bucket),
        media=MediaFetcher(
            lambda: s3,
            settings.media_max_bytes,
            media_bucket=settings.media_bucket,
            allow_private_hosts=settings.allow_private_media_hosts,
        ),
        signer=build_signer(settings),
        policy=PollPolicy(
            settings.poll_min_interval_seconds,
            settings.poll_max_interval_seconds,
            max_lag_s=settings.poll_max_lag_seconds,
            min_real_time_factor=settings.provider_min_real_time_factor,
        ),
        task_timeout_ms=settings.task_timeout_seconds * 1000,
        engine_name=settings.engine_name,
    )


@cache
def ports() -> Ports:
    """Built on the first invocation (not at import), then reused while the container lives."""
    return build_ports(load_settings())
