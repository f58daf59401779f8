"""The providers pollbridge can run, keyed by PROVIDER: adding a service is one module plus one entry.

An entry names the settings (environment variables) the provider cannot run without, which the
Settings model then requires, and a builder that makes the provider from the settings and a boto3
client factory (clients are made on first use, with wiring.AWS_CLIENT_CONFIG).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pollbridge.adapters.providers.aws import ClientFactory
    from pollbridge.adapters.providers.http import HttpJobProvider
    from pollbridge.ports import Provider
    from pollbridge.settings import Settings

# The names PROVIDER may take (the template's `Provider` parameter allows the same).
type ProviderName = Literal["http", "transcribe", "rekognition-text"]


@dataclass(frozen=True)
class Registration:
    requires: tuple[str, ...]  # settings (environment variable names) this provider needs
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
    "http": Registration(("PROVIDER_URL",), _http, "the reference vendor job API (docs/vendor-api.md)"),
    "transcribe": Registration(("STAGING_BUCKET",), _transcribe, "Amazon Transcribe batch (speech to text)"),
    "rekognition-text": Registration(("STAGING_BUCKET",), _rekognition_text, "Amazon Rekognition Video text detection"),
}


def build_provider(settings: Settings, clients: ClientFactory) -> Provider:
    return REGISTRY[settings.provider].build(settings, clients)
