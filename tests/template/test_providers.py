"""The template deploys only what the chosen provider needs: per `Provider` value, the translated
CloudFormation (conditions evaluated as CloudFormation would) grants exactly that provider's actions."""

from __future__ import annotations

from typing import Any

import pytest

from pollbridge.adapters.providers.registry import REGISTRY
from pollbridge.settings import PROVIDER_REQUIRES
from tests.template.conftest import for_parameters
from tests.template.test_template import as_list, statements

JOBS = "arn:${AWS::Partition}:transcribe:${AWS::Region}:${AWS::AccountId}:transcription-job/pollbridge-job-*"
STAGED = "${StagingBucket.Arn}/media/*"
OUTPUTS = "${StagingBucket.Arn}/outputs/*"

# Beyond the grants every stack has (schedules, records, the signing secret, the media bucket): what
# each provider's functions may do, by statement id.
PROVIDER_GRANTS: dict[str, dict[str, dict[str, set[str]]]] = {
    "http": {"SegmentFunctionRole": {}, "PollFunctionRole": {}, "WebhookFunctionRole": {}},
    "transcribe": {
        "SegmentFunctionRole": {
            "StartTranscriptionJobs": {"transcribe:StartTranscriptionJob"},
            "ManageTranscriptionJobs": {"transcribe:GetTranscriptionJob", "transcribe:DeleteTranscriptionJob"},
            "StageMedia": {"s3:PutObject", "s3:GetObject"},
            "TranscriptionOutputs": {"s3:PutObject", "s3:GetObject"},
        },
        "PollFunctionRole": {
            "ManageTranscriptionJobs": {"transcribe:GetTranscriptionJob", "transcribe:DeleteTranscriptionJob"},
            "ReadTranscripts": {"s3:GetObject"},
        },
        # the webhook starts tasks and polls the poll tasks sent back: the segment function's grants
        "WebhookFunctionRole": {
            "StartTranscriptionJobs": {"transcribe:StartTranscriptionJob"},
            "ManageTranscriptionJobs": {"transcribe:GetTranscriptionJob", "transcribe:DeleteTranscriptionJob"},
            "StageMedia": {"s3:PutObject", "s3:GetObject"},
            "TranscriptionOutputs": {"s3:PutObject", "s3:GetObject"},
        },
    },
    "rekognition-text": {
        "SegmentFunctionRole": {
            "StageMedia": {"s3:PutObject", "s3:GetObject"},
            "DetectTextInVideos": {"rekognition:StartTextDetection", "rekognition:GetTextDetection"},
        },
        "PollFunctionRole": {"ReadTextDetections": {"rekognition:GetTextDetection"}},
        "WebhookFunctionRole": {
            "StageMedia": {"s3:PutObject", "s3:GetObject"},
            "DetectTextInVideos": {"rekognition:StartTextDetection", "rekognition:GetTextDetection"},
        },
    },
}
BASE_GRANTS = {
    "SegmentFunctionRole": {
        "ManagePollSchedules", "PassSchedulerRole", "WriteTaskRecords",
        "ReadPayloadSigningSecret", "ReadMediaChunks",
    },
    "PollFunctionRole": {
        "ManagePollSchedules", "PassSchedulerRole", "WriteTaskRecords",
        "ReadPayloadSigningSecret", "PollFunctionEventInvokeConfigOnFailureSQSPolicy",
    },
    "WebhookFunctionRole": {  # no scheduler grant: aiWARE schedules the webhook's poll tasks
        "WriteTaskRecords", "ReadPayloadSigningSecret", "ReadMediaChunks",
    },
}  # fmt: skip


def stack(cfn: dict[str, Any], provider: str) -> dict[str, Any]:
    return for_parameters(cfn, Provider=provider, MediaBucketName="media-bucket")


def grants(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for policy in role["Properties"].get("Policies", []):
        for statement in statements({"Properties": {"Policies": [policy]}}):
            found[statement.get("Sid", policy["PolicyName"])] = statement
    return found


def test_the_parameter_offers_exactly_the_registry(cfn: dict[str, Any]) -> None:
    assert set(cfn["Parameters"]["Provider"]["AllowedValues"]) == set(REGISTRY)
    assert cfn["Parameters"]["Provider"]["Default"] == "http"
    assert set(PROVIDER_GRANTS) == set(REGISTRY)


@pytest.mark.parametrize("provider", sorted(PROVIDER_GRANTS))
def test_each_provider_is_granted_exactly_its_actions(cfn: dict[str, Any], provider: str) -> None:
    deployed = stack(cfn, provider)
    for role_name, expected in PROVIDER_GRANTS[provider].items():
        found = grants(deployed["Resources"][role_name])
        own = {sid: set(as_list(s["Action"])) for sid, s in found.items() if sid not in BASE_GRANTS[role_name]}
        assert own == expected, (provider, role_name)
        assert BASE_GRANTS[role_name] <= set(found)
    actions = {
        action
        for resource in deployed["Resources"].values()
        if resource["Type"] == "AWS::IAM::Role"
        for statement in statements(resource)
        for action in as_list(statement["Action"])
    }
    services = {action.split(":")[0] for action in actions}
    assert ("transcribe" in services) == (provider == "transcribe")
    assert ("rekognition" in services) == (provider == "rekognition-text")


@pytest.mark.parametrize("provider", sorted(PROVIDER_GRANTS))
def test_the_staging_bucket_exists_only_where_a_service_needs_it(cfn: dict[str, Any], provider: str) -> None:
    deployed = stack(cfn, provider)
    staging = provider != "http"
    assert ("StagingBucket" in deployed["Resources"]) == staging
    assert ("StagingBucketPolicy" in deployed["Resources"]) == staging
    assert ("StagingBucketName" in deployed["Outputs"]) == staging
    for name in ("SegmentFunction", "PollFunction"):
        variables = deployed["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["PROVIDER"] == provider
        assert variables["STAGING_BUCKET"] == ({"Ref": "StagingBucket"} if staging else "")
        for required in PROVIDER_REQUIRES[provider]:  # what Settings demands for this provider is given
            assert required in variables


@pytest.mark.parametrize("provider", ["transcribe", "rekognition-text"])
def test_the_staging_bucket_is_private_encrypted_tls_only_and_expiring(cfn: dict[str, Any], provider: str) -> None:
    resources = stack(cfn, provider)["Resources"]
    props = resources["StagingBucket"]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    rules = {rule.get("Prefix"): rule for rule in props["LifecycleConfiguration"]["Rules"]}
    for prefix in ("media/", "outputs/"):  # staged media and service outputs expire
        assert rules[prefix]["Status"] == "Enabled"
        assert rules[prefix]["ExpirationInDays"] == "7"  # StagingRetentionDays at its default
    [deny] = resources["StagingBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": ["StagingBucket", "Arn"]}, {"Fn::Sub": "${StagingBucket.Arn}/*"}]


@pytest.mark.parametrize("provider", ["transcribe", "rekognition-text"])
def test_staging_grants_reach_the_staging_bucket_only(cfn: dict[str, Any], provider: str) -> None:
    deployed = stack(cfn, provider)
    for role_name in ("SegmentFunctionRole", "PollFunctionRole", "WebhookFunctionRole"):
        for sid, statement in grants(deployed["Resources"][role_name]).items():
            if sid in PROVIDER_GRANTS[provider][role_name] and any(
                a.startswith("s3:") for a in as_list(statement["Action"])
            ):
                # Transcribe and Rekognition Video read (and Transcribe writes) S3 with the caller's
                # permissions: the caller holds exactly these, on the staging bucket's prefixes.
                assert statement["Resource"] in ({"Fn::Sub": STAGED}, {"Fn::Sub": OUTPUTS}), (sid, statement)


def test_transcribe_jobs_are_held_to_pollbridges_names_and_the_staging_bucket(cfn: dict[str, Any]) -> None:
    deployed = stack(cfn, "transcribe")
    segment = grants(deployed["Resources"]["SegmentFunctionRole"])
    start = segment["StartTranscriptionJobs"]
    assert start["Resource"] == "*"  # StartTranscriptionJob has no resource-level permission ...
    assert start["Condition"] == {  # ... so its output is held to the staging bucket's outputs/
        "StringEquals": {"transcribe:OutputBucketName": {"Ref": "StagingBucket"}},
        "StringLike": {"transcribe:OutputKey": "outputs/*"},
    }
    for role_name in ("SegmentFunctionRole", "PollFunctionRole"):
        manage = grants(deployed["Resources"][role_name])["ManageTranscriptionJobs"]
        assert manage["Resource"] == {"Fn::Sub": JOBS}
    assert segment["StageMedia"]["Resource"] == {"Fn::Sub": STAGED}
    assert segment["TranscriptionOutputs"]["Resource"] == {"Fn::Sub": OUTPUTS}
    poll = grants(deployed["Resources"]["PollFunctionRole"])
    assert poll["ReadTranscripts"]["Resource"] == {"Fn::Sub": OUTPUTS}


def test_a_provider_url_is_required_for_http_only(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["ProviderUrl"]["Default"] == ""
    rule = cfn["Rules"]["HttpProviderNeedsUrl"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Provider"}, "http"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ProviderUrl"}, ""]}]}
