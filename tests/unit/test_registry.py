"""One registry keyed by PROVIDER: each entry builds its provider from the settings it requires."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from pollbridge.adapters.providers.http import HttpJobProvider
from pollbridge.adapters.providers.registry import REGISTRY, ProviderName, build_provider
from pollbridge.adapters.providers.rekognition_text import RekognitionTextProvider
from pollbridge.adapters.providers.transcribe import TranscribeProvider
from pollbridge.settings import Settings
from tests.unit.test_models import GOOD_ENV


def test_the_registry_has_exactly_the_names_provider_may_take() -> None:
    assert set(REGISTRY) == set(typing.get_args(ProviderName.__value__))


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({}, HttpJobProvider),
        ({"PROVIDER": "transcribe", "STAGING_BUCKET": "stage-bucket", "PROVIDER_URL": ""}, TranscribeProvider),
        ({"PROVIDER": "rekognition-text", "STAGING_BUCKET": "stage-bucket"}, RekognitionTextProvider),
    ],
)
def test_each_provider_is_built_with_no_aws_client_until_it_calls_its_service(env: dict[str, str], kind: type) -> None:
    made: list[str] = []

    def clients(service: str) -> Any:
        made.append(service)
        raise AssertionError("no client may be made while building")

    settings = Settings.from_env({**GOOD_ENV, **env})
    provider = build_provider(settings, clients)
    assert isinstance(provider, kind) and provider.name == settings.provider and made == []


def test_the_registry_builds_exactly_the_providers_settings_names() -> None:
    """settings owns the names and what each needs (it imports no adapter); the registry their builders."""
    from pollbridge.adapters.providers.registry import REGISTRY
    from pollbridge.settings import PROVIDER_REQUIRES

    assert set(REGISTRY) == set(PROVIDER_REQUIRES)
