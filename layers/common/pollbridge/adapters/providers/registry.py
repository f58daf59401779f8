"""The providers pollbridge can run, keyed by PROVIDER: adding a service is one module, one entry
here and its name (with the settings it cannot run without) in settings.PROVIDER_REQUIRES.

An entry is a builder that makes the provider from the settings and an AWS client factory
(adapters.aws.client: clients are made on first use, with the one client configuration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pollbridge.settings import ProviderName

if TYPE_CHECKING:
    from pollbridge.adapters.aws import ClientFactory
    from pollbridge.adapters.providers.http import HttpJobProvider
    from pollbridge.ports import Provider
    from pollbridge.settings import Settings


@dataclass(frozen=True)
class Registration:
    build: Callable[[Settings, ClientFactory], Provider]
    summary: str


# Each builder imports its module when it runs: a function pays at cold start only for its own provider.


def _http(settings: Settings, clients: ClientFactory) -> HttpJobProvider:
    from pollbridge.adapters.providers.http import HttpJobProvider
    from pollbridge.secrets import provider_api_key  # reads the key's parameter or secret when set

    assert settings.provider_url is not None  # Settings requires it for http
    return HttpJobProvider(
        settings.provider_url,
        provider_api_key(settings),
        settings.provider_timeout_seconds,
        extra_options=settings.extra_options,
    )


def _transcribe(settings: Settings, clients: ClientFactory) -> Provider:
    from pollbridge.adapters.providers import transcribe

    return transcribe.build(settings, clients)


def _rekognition_text(settings: Settings, clients: ClientFactory) -> Provider:
    from pollbridge.adapters.providers import rekognition_text

    return rekognition_text.build(settings, clients)


REGISTRY: dict[ProviderName, Registration] = {
    "http": Registration(_http, "the reference vendor job API (docs/vendor-api.md)"),
    "transcribe": Registration(_transcribe, "Amazon Transcribe batch (speech to text)"),
    "rekognition-text": Registration(_rekognition_text, "Amazon Rekognition Video text detection"),
}


def build_provider(settings: Settings, clients: ClientFactory) -> Provider:
    return REGISTRY[settings.provider].build(settings, clients)
