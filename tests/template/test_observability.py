"""Alarms, the alarm topic and the dashboard: they watch the metrics the functions emit, under the
namespace and service dimension the functions are given."""

from __future__ import annotations

import json
import re
from typing import Any

# What the functions emit (EMF, one dimension `service`; TasksFailedByReason adds `failureReason`).
EMITTED = {
    "TasksStarted",
    "PollsScheduled",
    "TasksCompleted",
    "TasksFailed",
    "TasksCancelled",
    "PollsPerTask",
    "TransientErrors",
    "DuplicateDeliveries",
    "StalePolls",
    "InvalidEvents",
    "RejectedPayloads",
    "FailedInvocations",
    "DetectionLagSeconds",
    "TasksFailedByReason",
    "ResultDeliveryFailures",
    "UnauthorizedRequests",
    "EtaAccuracy",
    "SubmitsDeferred",
    "SubmitDelaySeconds",
    "SigningKeyUnusable",
    "VendorJobsNotCancelled",
}


def of_type(cfn: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == cfn_type}


def metrics_settings(cfn: dict[str, Any]) -> tuple[str, str]:
    variables = cfn["Resources"]["PollFunction"]["Properties"]["Environment"]["Variables"]
    return variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]


def alarm_on(cfn: dict[str, Any], namespace: str, metric: str, dimensions: dict[str, Any]) -> dict[str, Any]:
    found = [
        alarm["Properties"]
        for alarm in of_type(cfn, "AWS::CloudWatch::Alarm").values()
        if (alarm["Properties"]["Namespace"], alarm["Properties"]["MetricName"]) == (namespace, metric)
        and {d["Name"]: d["Value"] for d in alarm["Properties"]["Dimensions"]} == dimensions
    ]
    assert len(found) == 1, (namespace, metric, dimensions, found)
    return found[0]


def dashboard(cfn: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The dashboard body with every ${...} replaced by a marker, and the names it substitutes."""
    [resource] = of_type(cfn, "AWS::CloudWatch::Dashboard").values()
    body = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    names = set(re.findall(r"\$\{([^}!]+)\}", body))
    return json.loads(re.sub(r"\$\{([^}!]+)\}", r"<\1>", body)), names


def metric_rows(widget: dict[str, Any]) -> list[tuple[list[Any], dict[str, Any]]]:
    """Each metric row expanded (CloudWatch's "." repeats the row above), with its options."""
    rows, previous = [], []
    for row in widget["properties"].get("metrics", []):
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        values = [v for v in row if not isinstance(v, dict)]
        values = [previous[i] if v == "." else v for i, v in enumerate(values)]
        previous = values
        rows.append((values, options))
    return rows


def test_dead_letters_errors_throttles_and_failed_tasks_raise_alarms(cfn: dict[str, Any]) -> None:
    namespace, service = metrics_settings(cfn)
    queue = {"QueueName": {"Fn::GetAtt": ["PollDeadLetterQueue", "QueueName"]}}
    dlq = alarm_on(cfn, "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue)
    assert (dlq["Threshold"], dlq["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    for function in ("SegmentFunction", "PollFunction"):
        for metric in ("Errors", "Throttles"):
            alarm = alarm_on(cfn, "AWS/Lambda", metric, {"FunctionName": {"Ref": function}})
            condition = (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Statistic"])
            assert condition == (0, "GreaterThanThreshold", "Sum"), (function, metric)
    failed = alarm_on(cfn, namespace, "TasksFailed", {"service": service})
    assert failed["Threshold"] == {"Ref": "TasksFailedAlarmThreshold"}
    assert failed["Statistic"] == "Sum" and failed["ComparisonOperator"] == "GreaterThanThreshold"
    assert (namespace, service) == ("Pollbridge", "pollbridge")
    assert cfn["Parameters"]["TasksFailedAlarmThreshold"]["Type"] == "Number"


def test_every_alarm_notifies_the_topic_the_topic_policy_lets_them_publish_to(cfn: dict[str, Any]) -> None:
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 8  # the dead letters, tasks failed, each function's errors and throttles
    [policy] = of_type(cfn, "AWS::SNS::TopicPolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish" and statement["Resource"] == {"Ref": "AlarmTopic"}
    allowed = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert allowed.endswith(":alarm:${AWS::StackName}-*")
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name  # matched by the policy
        assert props["AlarmDescription"], name


def test_alarm_email_is_optional(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["AlarmEmail"]["Default"] == ""
    assert re.fullmatch(cfn["Parameters"]["AlarmEmail"]["AllowedPattern"], "")
    assert re.fullmatch(cfn["Parameters"]["AlarmEmail"]["AllowedPattern"], "ops@example.com")
    assert not re.fullmatch(cfn["Parameters"]["AlarmEmail"]["AllowedPattern"], "not an address")
    [subscription] = of_type(cfn, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert cfn["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def test_dashboard_shows_tasks_polls_lag_failures_dead_letters_and_the_functions(cfn: dict[str, Any]) -> None:
    namespace, service = metrics_settings(cfn)
    body, substituted = dashboard(cfn)
    assert substituted <= {"AWS::Region"} | set(cfn["Resources"]) | {f"{r}.Arn" for r in cfn["Resources"]} | {
        "PollDeadLetterQueue.QueueName"
    }
    widgets = body["widgets"]
    custom: dict[str, set[str]] = {}  # metric -> stats shown
    aws: set[tuple[str, str, str]] = set()
    for widget in widgets:
        for values, options in metric_rows(widget):
            if not values:
                continue
            stat = options.get("stat", widget["properties"].get("stat", ""))
            if values[0] == namespace:
                assert values[2:] == ["service", service], values  # the functions' only dimension
                custom.setdefault(values[1], set()).add(stat)
            else:
                aws.add((values[0], values[1], values[3]))
    assert set(custom) <= EMITTED
    assert {"TasksStarted", "TasksCompleted", "TasksFailed", "TasksCancelled", "PollsScheduled", "StalePolls"} <= set(
        custom
    )
    assert custom["DetectionLagSeconds"] == {"p50", "p95", "Maximum"}
    assert {"p10", "p50", "p90"} <= custom["EtaAccuracy"]  # how a vendor's hints behave (issue 17)
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "<PollDeadLetterQueue.QueueName>") in aws
    for function in ("SegmentFunction", "PollFunction"):
        for metric in ("Errors", "Throttles", "Duration"):
            assert ("AWS/Lambda", metric, f"<{function}>") in aws, (function, metric)

    expressions = [
        options["expression"]
        for widget in widgets
        for values, options in metric_rows(widget)
        if not values and "expression" in options
    ]
    [by_reason] = [e for e in expressions if "TasksFailedByReason" in e]
    match = re.fullmatch(r"SEARCH\('\{(\w+),failureReason,service\} (.*)', 'Sum', 300\)", by_reason)
    assert match, by_reason
    assert match.group(1) == namespace
    assert match.group(2) == f'MetricName="TasksFailedByReason" service="{service}"'


def test_dashboard_lists_every_alarm_and_outputs_point_at_it(cfn: dict[str, Any]) -> None:
    body, _ = dashboard(cfn)
    [alarm_widget] = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert set(alarm_widget["properties"]["alarms"]) == {
        f"<{name}.Arn>" for name in of_type(cfn, "AWS::CloudWatch::Alarm")
    }
    outputs = cfn["Outputs"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert outputs["DashboardName"]["Value"] == {"Ref": "OperationsDashboard"}
    assert outputs["DashboardUrl"]["Value"]["Fn::Sub"].endswith("#dashboards:name=${OperationsDashboard}")
