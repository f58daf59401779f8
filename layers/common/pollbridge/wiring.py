"""The composition root: settings -> adapters -> core.Ports, built once per Lambda container."""

from __future__ import annotations

from functools import cache

import boto3

from pollbridge.adapters.media import MediaFetcher
from pollbridge.adapters.providers import HttpJobProvider
from pollbridge.adapters.scheduler import EventBridgePollScheduler, SchedulerTarget
from pollbridge.adapters.sinks import S3RecordSink
from pollbridge.core import Ports
from pollbridge.ports import Provider
from pollbridge.secrets import provider_api_key
from pollbridge.settings import Settings, load_settings
from pollbridge.timing import PollPolicy


def build_provider(settings: Settings) -> Provider:
    match settings.provider:
        case "http":
            return HttpJobProvider(settings.provider_url, provider_api_key(settings), settings.provider_timeout_seconds)


def build_ports(settings: Settings) -> Ports:
    """boto3 honours AWS_ENDPOINT_URL, so the same code runs against a local AWS emulation."""
    s3 = boto3.client("s3")
    return Ports(
        provider=build_provider(settings),
        scheduler=EventBridgePollScheduler(
            boto3.client("scheduler"),
            settings.schedule_group_name,
            SchedulerTarget(settings.poll_function_arn, settings.scheduler_role_arn, settings.poll_dlq_arn),
        ),
        sink=S3RecordSink(s3, settings.results_bucket),
        media=MediaFetcher(lambda: s3, settings.media_max_bytes),
        policy=PollPolicy(settings.poll_min_interval_seconds, settings.poll_max_interval_seconds),
        task_timeout_ms=settings.task_timeout_seconds * 1000,
        engine_name=settings.engine_name,
    )


@cache
def ports() -> Ports:
    """Built on the first invocation (not at import), then reused while the container lives."""
    return build_ports(load_settings())
