"""The SAM application: lint-clean, and the translated CloudFormation is what we promise."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from pollbridge.settings import Settings
from tests.template.conftest import ROOT, for_parameters, sam_tool


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            found += statement["Fn::If"][1:2] if "Fn::If" in statement else [statement]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_by_sid(role: dict[str, Any]) -> dict[str, set[str]]:
    """Each statement's actions by Sid, or by policy name for SAM's own one-statement policies
    (conditional statements as if their condition held)."""
    found: dict[str, set[str]] = {}
    for policy in role["Properties"].get("Policies", []):
        for statement in statements({"Properties": {"Policies": [policy]}}):
            name = statement.get("Sid", policy["PolicyName"])
            assert name not in found, f"two statements named {name}"
            found[name] = set(as_list(statement["Action"]))
    return found


SCHEDULE_ARN = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${PollScheduleGroup}/*"
MEDIA_OBJECTS = "arn:${AWS::Partition}:s3:::${MediaBucketName}/*"
RECORDS = "${ResultsBucket.Arn}/results/*"
STAGING_OBJECTS = ("${StagingBucket.Arn}/media/*", "${StagingBucket.Arn}/outputs/*")
# Actions with no resource-level permission: "*" is their only resource (tests/template/test_providers.py
# asserts which stack grants them).
UNSCOPED_ACTIONS = {
    "transcribe:StartTranscriptionJob",  # held by a condition to the staging bucket's outputs/
    "rekognition:StartTextDetection",
    "rekognition:GetTextDetection",
}

# Least privilege, per function: exactly these statements and actions (API-key and media statements
# exist only when their parameter is set).
COMMON_GRANTS = {
    "PassSchedulerRole": {"iam:PassRole"},
    "WriteTaskRecords": {"s3:PutObject", "s3:GetObject"},
    "ReadPayloadSigningSecret": {"secretsmanager:GetSecretValue"},
    "ReadApiKeyParameter": {"ssm:GetParameter"},
    "ReadApiKeySecret": {"secretsmanager:GetSecretValue"},
    # the result sinks (RESULT_SINKS): every function may write a record, so every one tells the sinks
    "RememberResultDeliveries": {"s3:GetObjectTagging", "s3:PutObjectTagging"},
    "PublishTaskEvents": {"events:PutEvents"},
    "ReadAiwareApiKeyParameter": {"ssm:GetParameter"},
}
SEGMENT_GRANTS = {
    **COMMON_GRANTS,
    # DeleteSchedule too: a poll task routed back by aiWARE as a segment is polled by this function
    "ManagePollSchedules": {
        "scheduler:CreateSchedule",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
    },
    "ReadMediaChunks": {"s3:GetObject"},
}
POLL_GRANTS = {
    **COMMON_GRANTS,
    "ManagePollSchedules": {
        "scheduler:CreateSchedule",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
        "scheduler:DeleteSchedule",
    },
    # SAM's, for EventInvokeConfig's OnFailure destination (asserted in the dead-letter test)
    "PollFunctionEventInvokeConfigOnFailureSQSPolicy": {"sqs:SendMessage"},
}


WEBHOOK_GRANTS = {
    # it starts tasks and polls the poll tasks sent back, as the segment function does, but never
    # schedules: aiWARE runs every poll task it answers with
    **{sid: actions for sid, actions in SEGMENT_GRANTS.items() if "Schedule" not in sid and sid != "PassSchedulerRole"},
    "ReadWebhookTokenParameter": {"ssm:GetParameter"},
}


def test_sam_validate_lint_is_clean() -> None:
    done = subprocess.run(
        [str(sam_tool("sam")), "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        capture_output=True, text=True, check=False, cwd=ROOT, env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is a valid SAM Template" in done.stdout + done.stderr


def test_functions_run_python_313_with_the_shared_layer(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    layer = next(name for name, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion")
    assert resources[layer]["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    for name in ("SegmentFunction", "PollFunction"):
        props = resources[name]["Properties"]
        assert props["Runtime"] == "python3.13"
        assert props["Handler"] == "app.handler"
        assert props["Layers"] == [{"Ref": layer}]
        assert props["TracingConfig"] == {"Mode": "Active"}


def test_payload_signing_secret_is_generated_and_its_arn_given_to_both_functions(cfn: dict[str, Any]) -> None:
    secret = cfn["Resources"]["PayloadSigningSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 64 and generated["ExcludePunctuation"] is True
    assert "SecretString" not in secret["Properties"]  # never a value in the template
    for name in ("SegmentFunction", "PollFunction"):
        variables = cfn["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["PAYLOAD_SIGNING_SECRET"] == {"Ref": "PayloadSigningSecret"}  # Ref gives the ARN
        assert variables["PAYLOAD_SIGNING_KEY"] == ""  # declared for sam local invoke, empty in AWS
        assert variables["MEDIA_BUCKET"] == {"Ref": "MediaBucketName"}
        assert "ALLOW_PRIVATE_MEDIA_HOSTS" not in variables  # a local-only switch: never set by the stack
    assert cfn["Parameters"]["MediaBucketName"]["Default"] == ""
    assert cfn["Outputs"]["PayloadSigningSecretArn"]["Value"] == {"Ref": "PayloadSigningSecret"}


def test_every_required_setting_is_given_to_both_functions(cfn: dict[str, Any]) -> None:
    required = {f.alias for f in Settings.model_fields.values() if f.is_required()}
    assert required == {
        "SCHEDULE_GROUP_NAME",
        "POLL_FUNCTION_ARN",
        "SCHEDULER_ROLE_ARN",
        "POLL_DLQ_ARN",
        "RESULTS_BUCKET",
    }  # and what the chosen provider requires (PROVIDER_URL, STAGING_BUCKET): test_providers.py
    required |= {"PROVIDER", "PROVIDER_URL", "STAGING_BUCKET"}
    for name in ("SegmentFunction", "PollFunction"):
        variables = cfn["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert required <= set(variables)
        assert variables["POWERTOOLS_SERVICE_NAME"] == "pollbridge"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"]
        assert variables["AWS_ENDPOINT_URL"] == ""


def test_poll_function_arn_setting_names_the_poll_function(cfn: dict[str, Any]) -> None:
    props = cfn["Resources"]["PollFunction"]["Properties"]
    assert props["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-poll"}
    assert props["Environment"]["Variables"]["POLL_FUNCTION_ARN"]["Fn::Sub"].endswith(
        ":function:${AWS::StackName}-poll"
    )


def test_scheduler_role_is_trusted_by_scheduler_in_this_account_only(cfn: dict[str, Any]) -> None:
    role = cfn["Resources"]["SchedulerRole"]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    actions = {a for s in statements(role) for a in as_list(s["Action"])}
    assert actions == {"lambda:InvokeFunction", "sqs:SendMessage"}
    invoke = next(s for s in statements(role) if s["Action"] == "lambda:InvokeFunction")
    assert all("${AWS::StackName}-poll" in r["Fn::Sub"] for r in invoke["Resource"])


def test_no_wildcard_actions_and_resources_scoped_to_the_stack(cfn: dict[str, Any]) -> None:
    roles = {n: r for n, r in cfn["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert set(roles) == {"SchedulerRole", "SegmentFunctionRole", "PollFunctionRole", "WebhookFunctionRole"}
    for name, role in roles.items():
        for statement in statements(role):
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in as_list(statement["Action"])), (name, statement)
            for resource in as_list(statement["Resource"]):
                if resource == "*":  # only actions with no resource-level permission
                    assert set(as_list(statement["Action"])) <= UNSCOPED_ACTIONS, (name, statement)
        managed = role["Properties"].get("ManagedPolicyArns", [])
        assert set(managed) <= {
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        }


def test_each_function_is_granted_exactly_what_it_does(cfn: dict[str, Any]) -> None:
    # the http stack with every optional parameter set (the other providers: test_providers.py)
    deployed = for_parameters(
        cfn,
        MediaBucketName="media",
        ProviderApiKeyParameterName="/vendor/key",
        ProviderApiKeySecretName="key",
        ResultSinks="s3,aiware,eventbridge",
        AiwareApiKeyParameterName="/aiware/key",
        WebhookTokenParameterName="/webhook/token",
    )
    assert actions_by_sid(deployed["Resources"]["SegmentFunctionRole"]) == SEGMENT_GRANTS
    assert actions_by_sid(deployed["Resources"]["PollFunctionRole"]) == POLL_GRANTS
    assert actions_by_sid(deployed["Resources"]["WebhookFunctionRole"]) == WEBHOOK_GRANTS


def conditional(role: dict[str, Any], sid: str) -> tuple[str, dict[str, Any]]:
    """(condition, statement) of a statement that exists only when its condition holds."""
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement and statement["Fn::If"][1].get("Sid") == sid:
                assert statement["Fn::If"][2] == {"Ref": "AWS::NoValue"}
                return statement["Fn::If"][0], statement["Fn::If"][1]
    raise AssertionError(f"no conditional statement {sid}")


def test_sink_grants_exist_only_with_their_sinks_and_name_their_targets(cfn: dict[str, Any]) -> None:
    conditions = cfn["Conditions"]
    assert conditions["HasNotifiedSinks"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ResultSinks"}, "s3"]}]}
    assert {c["Fn::Equals"][1] for c in conditions["HasEventBridgeSink"]["Fn::Or"]} == {
        v for v in cfn["Parameters"]["ResultSinks"]["AllowedValues"] if "eventbridge" in v
    }
    assert all(v.startswith("s3") for v in cfn["Parameters"]["ResultSinks"]["AllowedValues"])  # s3 always first
    for name in ("SegmentFunctionRole", "PollFunctionRole", "WebhookFunctionRole"):
        role = cfn["Resources"][name]
        condition, tagging = conditional(role, "RememberResultDeliveries")
        assert condition == "HasNotifiedSinks" and tagging["Resource"] == {"Fn::Sub": RECORDS}
        condition, publish = conditional(role, "PublishTaskEvents")
        assert condition == "HasEventBridgeSink"
        bus_arn, names = publish["Resource"]["Fn::Sub"]
        assert bus_arn.endswith(":event-bus/${Bus}")
        assert names["Bus"] == {"Fn::If": ["HasEventBusName", {"Ref": "EventBusName"}, "default"]}
        condition, key = conditional(role, "ReadAiwareApiKeyParameter")
        assert condition == "HasAiwareKeyParameter" and "${AiwareApiKeyParameterName}" in key["Resource"]["Fn::Sub"]
    condition, token = conditional(cfn["Resources"]["WebhookFunctionRole"], "ReadWebhookTokenParameter")
    assert condition == "HasWebhookTokenParameter" and "${WebhookTokenParameterName}" in token["Resource"]["Fn::Sub"]


def test_webhook_function_url_auth_follows_the_webhook_auth_parameter(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    url = resources["WebhookFunctionUrl"]
    assert url["Type"] == "AWS::Lambda::Url"
    assert url["Properties"]["TargetFunctionArn"] == {"Ref": "WebhookFunction"}
    assert url["Properties"]["AuthType"] == {"Fn::If": ["WebhookIamAuth", "AWS_IAM", "NONE"]}
    assert cfn["Parameters"]["WebhookAuth"]["AllowedValues"] == ["token", "iam", "aiware-token"]
    public = {n: r for n, r in resources.items() if r["Type"] == "AWS::Lambda::Permission"}
    assert {r["Condition"] for r in public.values()} == {"WebhookPublicUrl"}  # with IAM: no public permission
    assert {r["Properties"]["Action"] for r in public.values()} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for permission in public.values():
        props = permission["Properties"]
        assert props["FunctionName"] == {"Ref": "WebhookFunction"} and props["Principal"] == "*"
        assert props.get("FunctionUrlAuthType") == "NONE" or props.get("InvokedViaFunctionUrl") is True
    variables = resources["WebhookFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["WEBHOOK_AUTH"] == {"Ref": "WebhookAuth"}
    assert variables["WEBHOOK_TOKEN_PARAMETER"] == {"Ref": "WebhookTokenParameterName"}
    assert variables["WEBHOOK_TOKEN"] == ""  # declared for sam local invoke, never a value in AWS
    for setting, parameter in (
        ("SCHEDULING_MODE", "SchedulingMode"),
        ("RESULT_SINKS", "ResultSinks"),
        ("EVENT_BUS_NAME", "EventBusName"),
        ("AIWARE_API_URL", "AiwareApiUrl"),
        ("AIWARE_API_KEY_PARAMETER", "AiwareApiKeyParameterName"),
    ):
        assert variables[setting] == {"Ref": parameter}
    assert cfn["Outputs"]["WebhookUrl"]["Value"] == {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]}
    assert resources["WebhookLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert resources["WebhookFunction"]["DependsOn"] == "WebhookLogGroup"


def test_functions_may_create_schedules_only_in_their_group_and_pass_only_the_scheduler_role(
    cfn: dict[str, Any],
) -> None:
    for name in ("SegmentFunctionRole", "PollFunctionRole"):
        by_sid = {s.get("Sid"): s for s in statements(cfn["Resources"][name])}
        assert by_sid["ManagePollSchedules"]["Resource"] == {"Fn::Sub": SCHEDULE_ARN}
        assert "scheduler:ListSchedules" not in str(by_sid)  # the loop never lists (listings lag)
        passing = by_sid["PassSchedulerRole"]
        assert passing["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
        assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
        assert by_sid["WriteTaskRecords"]["Resource"] == {"Fn::Sub": RECORDS}
        assert by_sid["ReadPayloadSigningSecret"]["Resource"] == {"Ref": "PayloadSigningSecret"}


def test_secrets_and_objects_are_readable_only_where_meant(cfn: dict[str, Any]) -> None:
    for name in ("SegmentFunctionRole", "PollFunctionRole", "WebhookFunctionRole"):
        for statement in statements(cfn["Resources"][name]):
            actions, resource = set(as_list(statement["Action"])), statement["Resource"]
            if "s3:GetObject" in actions:  # records (results/ only), media (media only), or staged objects
                allowed = [{"Fn::Sub": RECORDS}, {"Fn::Sub": MEDIA_OBJECTS}] + [{"Fn::Sub": o} for o in STAGING_OBJECTS]
                assert resource in allowed, statement
                assert (statement.get("Sid") == "ReadMediaChunks") == (resource == {"Fn::Sub": MEDIA_OBJECTS})
            if statement.get("Sid") == "ReadMediaChunks":
                assert actions == {"s3:GetObject"} and "ResultsBucket" not in str(resource)
            if resource == {"Ref": "PayloadSigningSecret"}:
                assert actions == {"secretsmanager:GetSecretValue"}


def test_results_bucket_is_encrypted_private_and_tls_only(cfn: dict[str, Any]) -> None:
    props = cfn["Resources"]["ResultsBucket"]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    [deny] = cfn["Resources"]["ResultsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_failed_polls_end_in_the_dead_letter_queue(cfn: dict[str, Any]) -> None:
    config = cfn["Resources"]["PollFunctionEventInvokeConfig"]["Properties"]
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["PollDeadLetterQueue", "Arn"]}
    [sending] = [
        s for s in statements(for_parameters(cfn)["Resources"]["PollFunctionRole"]) if s["Action"] == "sqs:SendMessage"
    ]  # the poll function may send to the dead-letter queue only (PrecisePolling: test_precise_polling.py)
    assert sending["Resource"] == {"Fn::GetAtt": ["PollDeadLetterQueue", "Arn"]}
    queue = cfn["Resources"]["PollDeadLetterQueue"]["Properties"]
    assert queue["MessageRetentionPeriod"] == 1209600 and queue["SqsManagedSseEnabled"] is True


def test_log_groups_have_retention_and_outputs_are_declared(cfn: dict[str, Any]) -> None:
    for name in ("SegmentLogGroup", "PollLogGroup"):
        assert cfn["Resources"][name]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert {
        "SegmentFunctionArn",
        "PollFunctionArn",
        "ScheduleGroupName",
        "ResultsBucketName",
        "PollDeadLetterQueueUrl",
    } <= set(cfn["Outputs"])


def test_the_timing_policy_knobs_are_parameters_with_the_settings_defaults(cfn: dict[str, Any]) -> None:
    fields = {f.alias: f for f in Settings.model_fields.values()}
    for parameter, variable in (
        ("PollMaxLagSeconds", "POLL_MAX_LAG_SECONDS"),
        ("ProviderMinRealTimeFactor", "PROVIDER_MIN_REAL_TIME_FACTOR"),
    ):
        assert float(cfn["Parameters"][parameter]["Default"]) == fields[variable].default
        for name in ("SegmentFunction", "PollFunction"):
            variables = cfn["Resources"][name]["Properties"]["Environment"]["Variables"]
            assert variables[variable] == {"Ref": parameter}
