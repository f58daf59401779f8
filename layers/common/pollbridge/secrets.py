"""The vendor API key: plain setting locally, SSM SecureString or Secrets Manager when deployed."""

from __future__ import annotations

from pollbridge.settings import Settings

CACHE_SECONDS = 300  # a rotated key is picked up within five minutes, without a call per poll


def provider_api_key(settings: Settings) -> str | None:
    if settings.provider_api_key_parameter or settings.provider_api_key_secret:
        from aws_lambda_powertools.utilities import parameters  # only when a secret is read: cold start
    if settings.provider_api_key_parameter:
        return str(parameters.get_parameter(settings.provider_api_key_parameter, decrypt=True, max_age=CACHE_SECONDS))
    if settings.provider_api_key_secret:
        return str(parameters.get_secret(settings.provider_api_key_secret, max_age=CACHE_SECONDS))
    if settings.provider_api_key is not None:
        return settings.provider_api_key.get_secret_value()
    return None
