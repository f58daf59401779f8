"""The composition root: settings -> adapters -> core.Ports, built once per Lambda container."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from pollbridge.adapters.heartbeat import HttpHeartbeat
from pollbridge.adapters.media import MediaFetcher
from pollbridge.adapters.platform_scheduler import PlatformPollScheduler
from pollbridge.adapters.providers import registry
from pollbridge.adapters.scheduler import EventBridgePollScheduler, SchedulerTarget
from pollbridge.adapters.signing_keys import HmacSigner, SecretsManagerKeys, StaticKeys
from pollbridge.adapters.sinks import AiwareSink, EventBridgeSink, S3RecordSink
from pollbridge.core import Ports
from pollbridge.ports import PollScheduler, Provider, ResultNotifier
from pollbridge.secrets import aiware_api_key
from pollbridge.settings import Settings, load_settings
from pollbridge.timing import PollPolicy

# Well under the functions' timeouts (poll 60 s): a hung AWS call fails and is retried by the
# invoker instead of eating the whole invocation. `standard` retries throttles with backoff.
AWS_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3})


def aws_client(service: str) -> Any:
    """boto3 honours AWS_ENDPOINT_URL, so the same code runs against a local AWS emulation.
    Each client gets its own copy of the config: botocore rewrites the `retries` dict it is given."""
    return boto3.client(service, config=copy.deepcopy(AWS_CLIENT_CONFIG))


def build_provider(settings: Settings) -> Provider:
    """The provider PROVIDER names, from the registry (its AWS clients are made on first use)."""
    return registry.build_provider(settings, aws_client)


def build_signer(settings: Settings) -> HmacSigner:
    if settings.payload_signing_secret:
        return HmacSigner(SecretsManagerKeys(settings.payload_signing_secret, lambda: aws_client("secretsmanager")))
    assert settings.payload_signing_key is not None  # the settings model requires one of the two
    return HmacSigner(StaticKeys(settings.payload_signing_key.get_secret_value()))


def build_scheduler(settings: Settings) -> PollScheduler:
    if settings.scheduling_mode == "platform":
        return PlatformPollScheduler()
    return EventBridgePollScheduler(
        aws_client("scheduler"),
        settings.schedule_group_name,
        SchedulerTarget(settings.poll_function_arn, settings.scheduler_role_arn, settings.poll_dlq_arn),
    )


def build_notifiers(settings: Settings) -> tuple[ResultNotifier, ...]:
    """The sinks told after the S3 record, in RESULT_SINKS order."""
    notifiers: list[ResultNotifier] = []
    for name in settings.sinks:
        if name == "aiware":
            assert settings.aiware_api_url is not None  # the settings model requires it with this sink
            notifiers.append(AiwareSink(settings.aiware_api_url, lambda: aiware_api_key(settings)))
        elif name == "eventbridge":
            notifiers.append(EventBridgeSink(aws_client("events"), settings.results_bucket, settings.event_bus_name))
    return tuple(notifiers)


def build_ports(settings: Settings) -> Ports:
    s3 = aws_client("s3")
    records = S3RecordSink(s3, settings.results_bucket)
    return Ports(
        provider=build_provider(settings),
        scheduler=build_scheduler(settings),
        sink=records,
        media=MediaFetcher(
            lambda: s3,
            settings.media_max_bytes,
            media_bucket=settings.media_bucket,
            allow_private_hosts=settings.allow_private_media_hosts,
        ),
        signer=build_signer(settings),
        policy=PollPolicy(settings.poll_min_interval_seconds, settings.poll_max_interval_seconds),
        task_timeout_ms=settings.task_timeout_seconds * 1000,
        engine_name=settings.engine_name,
        scheduling=settings.scheduling_mode,
        notifiers=build_notifiers(settings),
        ledger=records,
        heartbeat=HttpHeartbeat(allow_private_hosts=settings.allow_private_media_hosts),
        deployment=settings.schedule_group_name,
    )


@cache
def ports() -> Ports:
    """Built on the first invocation (not at import), then reused while the container lives."""
    return build_ports(load_settings())
