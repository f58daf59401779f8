"""The vendor API key: from the setting, an SSM SecureString or a Secrets Manager secret."""

from typing import Any

import boto3
import pytest

from pollbridge.secrets import provider_api_key
from pollbridge.settings import Settings
from tests.unit.test_models import GOOD_ENV


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    from aws_lambda_powertools.utilities.parameters import clear_caches

    clear_caches()


def test_plain_setting(aws: dict[str, Any]) -> None:
    assert provider_api_key(Settings.from_env({**GOOD_ENV, "PROVIDER_API_KEY": "plain"})) == "plain"
    assert provider_api_key(Settings.from_env(GOOD_ENV)) is None


def test_ssm_secure_string_wins(aws: dict[str, Any]) -> None:
    boto3.client("ssm").put_parameter(Name="/pollbridge/key", Value="from-ssm", Type="SecureString")
    env = {**GOOD_ENV, "PROVIDER_API_KEY": "plain", "PROVIDER_API_KEY_PARAMETER": "/pollbridge/key"}
    assert provider_api_key(Settings.from_env(env)) == "from-ssm"


def test_secrets_manager(aws: dict[str, Any]) -> None:
    boto3.client("secretsmanager").create_secret(Name="pollbridge-key", SecretString="from-secret")
    assert (
        provider_api_key(Settings.from_env({**GOOD_ENV, "PROVIDER_API_KEY_SECRET": "pollbridge-key"})) == "from-secret"
    )
