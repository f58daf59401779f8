"""The composition root: settings -> adapters -> core.Ports, built once per Lambda container.

Cold start matters here (BENCHMARKS.md): importing this module imports no adapter, no botocore and
no HTTP library. The ports are built on the first invocation, each AWS client on its first call, and
the media fetcher (urllib3's connection classes) only when a segment needs media.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from pollbridge.core import Ports, SchedulingMode
from pollbridge.settings import Settings, load_settings
from pollbridge.timing import PollPolicy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from pollbridge.adapters.signing_keys import HmacSigner
    from pollbridge.models import MediaChunk, SegmentEvent
    from pollbridge.ports import Media, MediaSource, PollQueue, PollScheduler, Provider, ResultNotifier


class LazyMedia:
    """The MediaSource port, built on first use: only segments fetch media."""

    def __init__(self, build: Callable[[], MediaSource]) -> None:
        self._build = build
        self._media: MediaSource | None = None

    def _source(self) -> MediaSource:
        if self._media is None:
            self._media = self._build()
        return self._media

    def check(self, chunk: MediaChunk) -> None:
        self._source().check(chunk)

    def fetch(self, chunk: MediaChunk) -> Media:
        return self._source().fetch(chunk)


def build_provider(settings: Settings) -> Provider:
    """The provider PROVIDER names, from the registry (its AWS clients are made on first use)."""
    from pollbridge.adapters import aws
    from pollbridge.adapters.providers import registry

    return registry.build_provider(settings, aws.client)


def build_signer(settings: Settings) -> HmacSigner:
    from pollbridge.adapters.signing_keys import HmacSigner, SecretsManagerKeys, StaticKeys

    if settings.payload_signing_secret:
        from pollbridge.adapters import aws

        return HmacSigner(SecretsManagerKeys(settings.payload_signing_secret, lambda: aws.client("secretsmanager")))
    assert settings.payload_signing_key is not None  # the settings model requires one of the two
    return HmacSigner(StaticKeys(settings.payload_signing_key.get_secret_value()))


def build_media(settings: Settings, s3: S3Client) -> MediaSource:
    from pollbridge.adapters.media import MediaFetcher

    return MediaFetcher(
        lambda: s3,
        settings.media_max_bytes,
        media_bucket=settings.media_bucket,
        allow_private_hosts=settings.allow_private_media_hosts,
    )


def build_scheduler(settings: Settings, scheduling: SchedulingMode | None = None) -> PollScheduler:
    if (scheduling or settings.scheduling_mode) == "platform":
        from pollbridge.adapters.platform_scheduler import PlatformPollScheduler

        return PlatformPollScheduler()
    from pollbridge.adapters.aws import lazy_client
    from pollbridge.adapters.scheduler import EventBridgePollScheduler, SchedulerTarget

    return EventBridgePollScheduler(
        lazy_client("scheduler"),
        settings.schedule_group_name,
        SchedulerTarget(settings.poll_function_arn, settings.scheduler_role_arn, settings.poll_dlq_arn),
    )


def build_poll_queue(settings: Settings) -> PollQueue | None:
    """The precise-polling hop, when PRECISE_POLL_QUEUE_URL is set (its SQS client made on first use)."""
    if not settings.precise_poll_queue_url:
        return None
    from pollbridge.adapters.aws import lazy_client
    from pollbridge.adapters.poll_queue import SqsPollQueue

    return SqsPollQueue(lazy_client("sqs"), settings.precise_poll_queue_url)


def build_notifiers(settings: Settings) -> tuple[ResultNotifier, ...]:
    """The sinks told after the S3 record, in RESULT_SINKS order."""
    notifiers: list[ResultNotifier] = []
    for name in settings.sinks:
        if name == "aiware":
            from pollbridge.adapters.sinks.aiware import AiwareSink
            from pollbridge.secrets import aiware_api_key

            assert settings.aiware_api_url is not None  # the settings model requires it with this sink
            notifiers.append(AiwareSink(settings.aiware_api_url, lambda: aiware_api_key(settings)))
        elif name == "eventbridge":
            from pollbridge.adapters.aws import lazy_client
            from pollbridge.adapters.sinks.eventbridge import EventBridgeSink

            notifiers.append(EventBridgeSink(lazy_client("events"), settings.results_bucket, settings.event_bus_name))
    return tuple(notifiers)


def build_ports(settings: Settings) -> Ports:
    from pollbridge.adapters.aws import lazy_client
    from pollbridge.adapters.heartbeat import HttpHeartbeat
    from pollbridge.adapters.sinks.s3 import S3RecordSink

    s3 = lazy_client("s3")
    records = S3RecordSink(s3, settings.results_bucket)
    return Ports(
        provider=build_provider(settings),
        scheduler=build_scheduler(settings),
        sink=records,
        media=LazyMedia(lambda: build_media(settings, s3)),
        signer=build_signer(settings),
        policy=PollPolicy(
            settings.poll_min_interval_seconds,
            settings.poll_max_interval_seconds,
            max_lag_s=settings.poll_max_lag_seconds,
            min_real_time_factor=settings.provider_min_real_time_factor,
        ),
        task_timeout_ms=settings.task_timeout_seconds * 1000,
        engine_name=settings.engine_name,
        scheduling=settings.scheduling_mode,
        notifiers=build_notifiers(settings),
        ledger=records,
        heartbeat=HttpHeartbeat(allow_private_hosts=settings.allow_private_media_hosts),
        deployment=settings.schedule_group_name,
        precise=build_poll_queue(settings),
    )


@cache
def _built() -> Ports:
    return build_ports(load_settings())


_override: Callable[[Ports], Ports] | None = None


def container_ports() -> Ports:
    """The ports every handler gets: built on the first invocation (not at import), then reused
    while the container lives; passed through the override a harness installed, if any."""
    built = _built()
    return built if _override is None else _override(built)


@contextmanager
def ports_overridden(override: Callable[[Ports], Ports]) -> Iterator[None]:
    """Every handler gets `override(ports)` while inside (the seam the chaos harness's fault injector
    wraps the adapters through; it is called at each invocation, so it may cache per build)."""
    global _override
    previous, _override = _override, override
    try:
        yield
    finally:
        _override = previous


def forget_ports() -> None:
    """The next invocation builds the ports anew (a new container, as the local cloud starts one)."""
    _built.cache_clear()


def with_scheduling(wired: Ports, scheduling: SchedulingMode) -> Ports:
    """`wired` with the scheduler of `scheduling`, whatever SCHEDULING_MODE says: a poll follows the
    chain that holds it (a payload says so, `scheduledBy`), so in-flight tasks keep working when the
    mode of a live stack changes (the poll function only ever runs EventBridge schedules)."""
    if wired.scheduling == scheduling:
        return wired
    return replace(wired, scheduler=_scheduler_for(scheduling), scheduling=scheduling)


@cache
def _scheduler_for(scheduling: SchedulingMode) -> PollScheduler:
    return build_scheduler(load_settings(), scheduling)


def segment_ports(event: SegmentEvent, wired: Ports) -> Ports:
    """The segment function's ports for an event: a new chunk follows SCHEDULING_MODE; a poll routed
    back as a segment follows the chain that holds it."""
    from pollbridge.models import PolledChunk

    if isinstance(event, PolledChunk):
        return with_scheduling(wired, "platform" if event.taskPayload.scheduledBy == "platform" else "eventbridge")
    return wired
