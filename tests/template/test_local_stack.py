"""The local cloud builds the payload-signing secret from the template, as CloudFormation would, and
the functions find it through Secrets Manager exactly as in AWS."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_SIGNING_KEY
from devtools.cloud.stack_resources import secret_value
from devtools.cloud.template_stack import StackPlan
from tests.template.conftest import ROOT


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(manual_clock=True) as running:
        yield running


def test_the_signing_secret_holds_the_development_key(cloud: LocalCloud) -> None:
    """So that events/poll.json, signed with it, verifies under `make localcloud` too."""
    secrets = cloud.clients["secretsmanager"]
    value = secrets.get_secret_value(SecretId=cloud.payload_signing_secret)
    assert value["VersionStages"] == ["AWSCURRENT"]
    assert value["SecretString"] == LOCAL_SIGNING_KEY


def test_other_secrets_are_generated_with_the_templates_settings(cloud: LocalCloud) -> None:
    props = cloud.plan.resolve(cloud.plan.resources["PayloadSigningSecret"]["Properties"])
    secrets = cloud.clients["secretsmanager"]
    generated = secret_value(props, secrets)
    assert re.fullmatch(r"[A-Za-z0-9]{64}", generated)  # PasswordLength 64, ExcludePunctuation
    assert secret_value(props, secrets) != generated


def test_ref_gives_both_functions_the_created_secrets_arn(cloud: LocalCloud) -> None:
    arn = cloud.payload_signing_secret
    # Secrets Manager appends a random suffix: only creation tells the full ARN, as in AWS.
    assert re.fullmatch(r"arn:aws:secretsmanager:us-east-1:123456789012:secret:[\w-]+-[A-Za-z0-9]{6}", arn)
    for spec in cloud.specs.values():
        assert spec.environment["PAYLOAD_SIGNING_SECRET"] == arn
        assert spec.environment["PAYLOAD_SIGNING_KEY"] == ""  # the local cloud reads the secret, not a literal
        assert spec.environment["MEDIA_BUCKET"] == ""
        assert "ALLOW_PRIVATE_MEDIA_HOSTS" not in spec.environment
    assert cloud.plan.outputs()["PayloadSigningSecretArn"] == arn


def test_before_creation_the_plan_names_the_secret_by_a_partial_arn_secrets_manager_accepts(
    cloud: LocalCloud,
) -> None:
    """devtools.invoke plans the stack without creating it: its functions still find the secret."""
    plan = StackPlan.from_template(ROOT / "template.yaml", cloud.stack_name, ProviderUrl="http://127.0.0.1:8081")
    partial = plan.functions()["PollFunction"].environment["PAYLOAD_SIGNING_SECRET"]
    assert cloud.payload_signing_secret.startswith(partial + "-")
    found = cloud.clients["secretsmanager"].get_secret_value(SecretId=partial)
    assert found["ARN"] == cloud.payload_signing_secret
