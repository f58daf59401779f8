"""Create the stack's resources in the local AWS, as CloudFormation would from the template, plus
what a deployer creates beforehand (the webhook token's SecureString)."""

from __future__ import annotations

import json
from typing import Any

from devtools.cloud.local_values import LOCAL_SIGNING_KEY, LOCAL_WEBHOOK_TOKEN
from devtools.cloud.template_stack import StackPlan


def create_stack_resources(plan: StackPlan, clients: dict[str, Any]) -> None:
    """The schedule group, buckets, queues and secrets the plan lays out; the media bucket chunks
    come from, which the deployment names (not the stack's); the webhook token parameter."""
    s3, sqs, secrets = clients["s3"], clients["sqs"], clients["secretsmanager"]
    media_bucket = plan.parameters.get("MediaBucketName")
    if media_bucket:
        s3.create_bucket(Bucket=media_bucket)
    for lid in plan.of_type("AWS::Scheduler::ScheduleGroup"):
        clients["scheduler"].create_schedule_group(Name=plan.physical[lid])
    for lid, resource in plan.of_type("AWS::S3::Bucket").items():
        s3.create_bucket(Bucket=plan.physical[lid])
        props = plan.resolve(resource.get("Properties") or {})
        if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=plan.physical[lid], VersioningConfiguration={"Status": "Enabled"})
    for lid, resource in plan.of_type("AWS::SQS::Queue").items():
        props = plan.resolve(resource.get("Properties") or {})
        attributes = {"MessageRetentionPeriod": str(props.get("MessageRetentionPeriod", 345600))}
        sqs.create_queue(QueueName=plan.physical[lid], Attributes=attributes)
    for lid, resource in plan.of_type("AWS::SecretsManager::Secret").items():
        props = plan.resolve(resource.get("Properties") or {})
        created = secrets.create_secret(
            Name=plan.physical[lid],
            Description=props.get("Description", ""),
            # The signing secret holds the development key, so that events/poll.json (signed with
            # it) verifies here too; every other secret is made as CloudFormation makes it.
            SecretString=LOCAL_SIGNING_KEY if lid == "PayloadSigningSecret" else secret_value(props, secrets),
        )
        plan.created_arns[lid] = created["ARN"]  # `Ref` gives the ARN, suffix and all, as in AWS

    token_parameter = plan.parameters.get("WebhookTokenParameterName")
    if token_parameter:  # what a deployer creates before deploying (the template cannot make a SecureString)
        clients["ssm"].put_parameter(
            Name=token_parameter, Value=LOCAL_WEBHOOK_TOKEN, Type="SecureString", Overwrite=True
        )


def secret_value(props: dict[str, Any], secrets: Any) -> str:
    """A secret's value as CloudFormation makes it: `SecretString`, or `GenerateSecretString` (a random
    password with the template's settings, alone or put into `SecretStringTemplate`)."""
    if "SecretString" in props:
        return str(props["SecretString"])
    spec = dict(props.get("GenerateSecretString") or {})
    template, key = spec.pop("SecretStringTemplate", None), spec.pop("GenerateStringKey", None)
    password = str(secrets.get_random_password(**spec)["RandomPassword"])
    if template is None:
        return password
    return json.dumps({**json.loads(template), str(key): password})
