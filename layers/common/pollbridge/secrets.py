"""Credentials: a plain setting locally, an SSM SecureString (or Secrets Manager) when deployed.

The vendor API key, the aiWARE API key (the aiware result sink) and the webhook's bearer token.
"""

from __future__ import annotations

from pollbridge.errors import ConfigurationError
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


def aiware_api_key(settings: Settings) -> str:
    if settings.aiware_api_key_parameter:
        from aws_lambda_powertools.utilities import parameters  # only when a secret is read: cold start

        return str(parameters.get_parameter(settings.aiware_api_key_parameter, decrypt=True, max_age=CACHE_SECONDS))
    if settings.aiware_api_key is not None:
        return settings.aiware_api_key.get_secret_value()
    raise ConfigurationError("AIWARE_API_KEY or AIWARE_API_KEY_PARAMETER is required by the aiware result sink")


MIN_WEBHOOK_TOKEN = 16


def webhook_token(settings: Settings) -> str | None:
    """The bearer token /process callers must send; None when none is configured."""
    if settings.webhook_token_parameter:
        from aws_lambda_powertools.utilities import parameters  # only when a secret is read: cold start

        # stripped: a token stored with `--value file://token.txt` ends in the file's newline, which no
        # caller sends (it would lock every caller out while /ready says ready)
        token = str(
            parameters.get_parameter(settings.webhook_token_parameter, decrypt=True, max_age=CACHE_SECONDS)
        ).strip()
        if len(token) < MIN_WEBHOOK_TOKEN:
            raise ConfigurationError(
                f"WEBHOOK_TOKEN_PARAMETER {settings.webhook_token_parameter}: the token needs at least "
                f"{MIN_WEBHOOK_TOKEN} characters"
            )
        return token
    if settings.webhook_token is not None:
        return settings.webhook_token.get_secret_value().strip()
    return None
