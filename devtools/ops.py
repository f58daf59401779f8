"""Operations on running tasks, the same against the local cloud and a deployed stack.

    python -m devtools.ops --local list                  # in-flight tasks (pending schedules)
    python -m devtools.ops --stack pollbridge-dev status TASK_ID
    python -m devtools.ops --local cancel TASK_ID [--reason "..."]
    python -m devtools.ops --local redrive [--max 100]   # dead letters back to the poll function
    python -m devtools.ops --stack pollbridge-dev rotation-status   # is rotating the signing key safe now?
    python -m devtools.ops aiware-schema --api-url URL [--token-env AIWARE_API_KEY]

Against AWS it reads the stack's outputs and the poll function's own environment (so it uses the
settings the functions use), with your credentials. Locally it reads .localcloud/state.json.
`aiware-schema` needs neither: it asks an aiWARE API (GraphQL introspection) whether it has every
input field and enum value the aiware result sink sends, and prints those it lacks.
`rotation-status` says whether a rotation of the payload-signing secret now would strand a payload
(exit code 0: safe, 1: not now, and why); docs/operations.md, "Rotation".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import boto3

from devtools.cloud.local_values import LOCAL_ENVIRONMENT, ROOT
from pollbridge import clock, core
from pollbridge.adapters.sinks.aiware import (
    MUTATION_INPUTS,
    SENT_ENUM_VALUES,
    SENT_INPUT_FIELDS,
    graphql_url,
    post_graphql,
)
from pollbridge.clock import iso_utc
from pollbridge.core import Ports
from pollbridge.errors import PollbridgeError
from pollbridge.models import PollPayload
from pollbridge.settings import Settings
from pollbridge.wiring import build_ports

STATE_FILE = ROOT / ".localcloud" / "state.json"


@dataclass
class Target:
    ports: Ports
    settings: Settings
    queue_url: str
    lambda_client: Any
    sqs_client: Any


def connect_local(state_file: Any = STATE_FILE) -> Target:
    if not state_file.exists():
        raise SystemExit(f"no local cloud running ({state_file} is missing): start one with `make localcloud`")
    state = json.loads(state_file.read_text())
    os.environ.update(LOCAL_ENVIRONMENT)
    os.environ["AWS_ENDPOINT_URL"] = state["endpoint"]
    os.environ["AWS_ENDPOINT_URL_LAMBDA"] = state["lambdaEndpoint"]
    env = json.loads(state_file.with_name("env.json").read_text())["Parameters"]
    return _target(Settings.from_env({**LOCAL_ENVIRONMENT, **env}), state["outputs"]["PollDeadLetterQueueUrl"])


def connect_stack(stack_name: str) -> Target:
    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    config = boto3.client("lambda").get_function_configuration(FunctionName=outputs["PollFunctionArn"])
    return _target(Settings.from_env(config["Environment"]["Variables"]), outputs["PollDeadLetterQueueUrl"])


def _target(settings: Settings, queue_url: str) -> Target:
    return Target(build_ports(settings), settings, queue_url, boto3.client("lambda"), boto3.client("sqs"))


def list_in_flight(target: Target) -> list[dict[str, Any]]:
    rows = [
        {"origTaskId": s.payload.origTaskId, "chunk": s.payload.chunk if s.payload.chunkScoped else None,
         "poll": s.payload.pollNumber, "nextPollUTC": iso_utc(s.at_ms), "workId": s.payload.workId,
         "awaitingSubmit": bool(s.payload.awaitingSubmit), "schedule": s.name}
        for s in target.ports.scheduler.pending()
    ]  # fmt: skip
    return sorted(rows, key=lambda r: r["nextPollUTC"])


def task_status(target: Target, task_id: str) -> dict[str, Any]:
    """What became of a task: per unit of work (each named chunk is one), its record or its pending
    poll. One unit: its state at the top level, as before chunks were units; several: `chunks`."""
    units = [_unit_status(target, task_id, unit) for unit in _units_of(target, task_id)]
    if not units:
        return {
            "origTaskId": task_id,
            "state": "unknown: no pending schedule and no record (check the dead-letter queue)",
        }
    if len(units) == 1:
        return units[0]
    states = sorted({u["state"] for u in units})
    return {"origTaskId": task_id, "state": f"{len(units)} chunks: {', '.join(states)}", "chunks": units}


def _units_of(target: Target, task_id: str) -> list[str]:
    """The task's units of work: those with a record (results/<task>.json, results/<task>/...) and
    those with a pending schedule (the task's own names first, else the whole group: ops only)."""
    from pollbridge.naming import record_key, task_record_prefix, unit_key

    units: set[str] = set()
    s3 = boto3.client("s3")
    for prefix in (record_key(task_id), task_record_prefix(task_id)):
        listed = s3.list_objects_v2(Bucket=target.settings.results_bucket, Prefix=prefix).get("Contents", [])
        for obj in listed:
            body = s3.get_object(Bucket=target.settings.results_bucket, Key=obj["Key"])["Body"].read()
            record = json.loads(body)
            if record.get("taskId") == task_id:
                units.add(unit_key(task_id, record.get("chunk")))
    pending = target.ports.scheduler.pending(task_id) or [
        s for s in target.ports.scheduler.pending() if s.payload.origTaskId == task_id
    ]
    units.update(s.payload.unit for s in pending)
    return sorted(units)


def _unit_status(target: Target, task_id: str, unit: str) -> dict[str, Any]:
    from pollbridge.naming import split_unit

    chunk = {"chunk": split_unit(unit)[1]} if split_unit(unit)[1] is not None else {}
    record = target.ports.sink.read(unit)
    if record is not None:
        return {"origTaskId": task_id, **chunk, "state": f"record written: {record.status}",
                "record": record.model_dump(mode="json", exclude={"output"}, exclude_none=True)}  # fmt: skip
    pending = target.ports.scheduler.pending(unit)
    if pending:
        latest = max(pending, key=lambda s: s.payload.pollNumber)
        return {"origTaskId": task_id, **chunk, "state": "schedule pending", "poll": latest.payload.pollNumber,
                "nextPollUTC": iso_utc(latest.at_ms), "workId": latest.payload.workId}  # fmt: skip
    return {"origTaskId": task_id, **chunk, "state": "unknown: no pending schedule and no record"}


def cancel_task(target: Target, task_id: str, reason: str) -> dict[str, Any]:
    outcome = core.cancel(task_id, target.ports, reason)
    if outcome is None:
        return {"origTaskId": task_id, "cancelled": False, **task_status(target, task_id)}
    return {"origTaskId": task_id, "cancelled": not outcome.repeated, "record": outcome.reply()}


def poll_event_of(body: str) -> Any:
    """A dead letter is the poll event itself (Scheduler's DLQ) or Lambda's failure record around it."""
    message = json.loads(body)
    if isinstance(message, dict) and "requestPayload" in message:
        return message["requestPayload"]
    return message


def redrive(target: Target, limit: int) -> dict[str, int]:
    sent = 0
    while sent < limit:
        batch = target.sqs_client.receive_message(
            QueueUrl=target.queue_url, MaxNumberOfMessages=min(10, limit - sent), WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            target.lambda_client.invoke(
                FunctionName=target.settings.poll_function_arn,
                InvocationType="Event",
                Payload=json.dumps(poll_event_of(message["Body"])).encode(),
            )
            target.sqs_client.delete_message(QueueUrl=target.queue_url, ReceiptHandle=message["ReceiptHandle"])
            sent += 1
    return {"redriven": sent}


# --- rotation-status: may the payload-signing key be rotated now? ---------------------------------

# Secrets Manager removes versions beyond the newest 100 that have no staging label (never one made
# less than 24 h ago): a payload naming such a version would no longer verify.
SECRET_VERSIONS_KEPT = 100
LAMBDA_MAX_EVENT_AGE_S = 21_600  # the poll function's EventInvokeConfig (Lambda's longest)
DEFAULT_DLQ_RETENTION_S = 1_209_600
PEEK_VISIBILITY_S = 30  # dead letters read by rotation-status are hidden this long (they stay queued)


@dataclass
class SecretVersion:
    version_id: str
    stages: list[str]
    created_ms: int | None


def rotation_status(target: Target, limit: int = 1000) -> dict[str, Any]:
    """Whether rotating the payload-signing secret now strands a payload, and what is in flight.

    A rotation (put-secret-value) moves AWSCURRENT to a new version, AWSCURRENT's old version to
    AWSPREVIOUS, and takes the label off AWSPREVIOUS's. A v2 payload names its version, which keeps
    verifying while the secret holds it (`at risk`: it would be beyond the newest 100 unlabelled);
    a v1 payload verifies against AWSCURRENT or AWSPREVIOUS only: one signed with AWSPREVIOUS is
    stranded. Reads the pending schedules and up to `limit` dead letters; cannot see polls in
    Lambda's retry queue (up to 6 h) nor poll tasks the platform holds (platform scheduling)."""
    settings = target.settings
    longest_wait_s = (
        settings.task_timeout_seconds + _scheduler_max_event_age_s() + LAMBDA_MAX_EVENT_AGE_S + _dlq_retention_s(target)
    )
    if not settings.payload_signing_secret:
        return {"safe": True, "reasons": [], "signingKey": "PAYLOAD_SIGNING_KEY: a literal key, nothing to rotate",
                "longestWaitSeconds": longest_wait_s}  # fmt: skip
    secrets = boto3.client("secretsmanager")
    arn = settings.payload_signing_secret
    current = secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    previous = _previous_version(secrets, arn)
    versions = _secret_versions(secrets, arn)
    seen: list[tuple[str, PollPayload, int | None]] = [
        ("pending", s.payload, s.at_ms) for s in target.ports.scheduler.pending()
    ]
    seen += [("deadLetters", payload, None) for payload in _peek_dead_letters(target, limit)]
    return rotation_verdict(
        seen,
        current=_id_and_key(current),
        previous=None if previous is None else _id_and_key(previous),
        versions=versions,
        now_ms=clock.now_ms(),
        longest_wait_s=longest_wait_s,
    )


def rotation_verdict(
    seen: list[tuple[str, PollPayload, int | None]],
    *,
    current: tuple[str, bytes],
    previous: tuple[str, bytes] | None,
    versions: list[SecretVersion],
    now_ms: int,
    longest_wait_s: int,
) -> dict[str, Any]:
    """The verdict from what was read (pure): `seen` is (where, payload, due ms) per payload."""
    from pollbridge import signing

    by_id = {v.version_id: v for v in versions}
    at_risk = _at_risk_after_a_rotation(versions, current[0], previous[0] if previous else None, now_ms)
    groups: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for where, payload, due_ms in seen:
        key_id = signing.key_id_of(payload.signature)
        form = "unsigned" if payload.signature is None else ("v2" if key_id else "v1")
        if key_id is not None:
            signed_with = _named_version(key_id, current[0], previous[0] if previous else None, by_id)
        elif payload.signature is None:
            signed_with = "nothing"
        elif signing.is_valid(payload, [current[1]]):
            signed_with = "AWSCURRENT"
        elif previous is not None and signing.is_valid(payload, [previous[1]]):
            signed_with = "AWSPREVIOUS"
        else:
            signed_with = "no key of the secret"
        row = groups.setdefault((form, signed_with, key_id), {
            "form": form, "signedWith": signed_with, "keyId": key_id, "pending": 0, "deadLetters": 0,
            "latestNextPollUTC": None, "latestDeadlineUTC": None, "atRisk": key_id in at_risk,
        })  # fmt: skip
        row[where] += 1
        if due_ms is not None and (row["latestNextPollUTC"] is None or iso_utc(due_ms) > row["latestNextPollUTC"]):
            row["latestNextPollUTC"] = iso_utc(due_ms)
        if row["latestDeadlineUTC"] is None or iso_utc(payload.deadlineUTC) > row["latestDeadlineUTC"]:
            row["latestDeadlineUTC"] = iso_utc(payload.deadlineUTC)
    rows = sorted(groups.values(), key=lambda r: (r["form"], r["signedWith"], r["keyId"] or ""))
    reasons: list[str] = []
    unsafe_until: str | None = None
    for row in rows:
        count = f"{row['pending']} pending poll(s) and {row['deadLetters']} dead letter(s)"
        if row["form"] == "v1" and row["signedWith"] == "AWSPREVIOUS":
            reasons.append(
                f"{count} signed v1 with AWSPREVIOUS: a rotation takes the label off that version and v1 names "
                "no key; each is signed v2 at its next poll (redrive the dead letters), then run this again"
            )
        elif row["atRisk"]:
            reasons.append(
                f"{count} name version {row['keyId']}, which would be beyond the newest {SECRET_VERSIONS_KEPT} "
                "versions without a label: Secrets Manager may remove it"
            )
        else:
            continue
        latest = row["latestNextPollUTC"] if row["pending"] else None
        if latest is not None and (unsafe_until is None or latest > unsafe_until):
            unsafe_until = latest
    recent = [v for v in versions if v.created_ms is not None and v.created_ms >= now_ms - longest_wait_s * 1000]
    if len(recent) + 1 >= SECRET_VERSIONS_KEPT:  # with the rotation's own version
        reasons.append(
            f"{len(recent)} versions were made within the longest wait ({longest_wait_s} s): one more rotation and "
            f"a payload signed with the oldest may outlive its version (Secrets Manager keeps {SECRET_VERSIONS_KEPT})"
        )
    warnings = [
        f"{r['pending']} pending poll(s) and {r['deadLetters']} dead letter(s) already verify with no key "
        f"({r['form']}, {r['signedWith']}): rotating changes nothing for them"
        for r in rows
        if r["signedWith"] in ("nothing", "no key of the secret", "unknown version", "revoked version")
    ]
    if not signing.is_key_id(current[0]):
        warnings.append("AWSCURRENT's VersionId cannot name a key: payloads are signed v1 until the next rotation")
    return {
        "safe": not reasons,
        "reasons": reasons,
        "unsafeUntilUTC": unsafe_until,
        "warnings": warnings,
        "current": _describe(by_id.get(current[0]), current[0]),
        "previous": None if previous is None else _describe(by_id.get(previous[0]), previous[0]),
        "versions": len(versions),
        "longestWaitSeconds": longest_wait_s,
        "versionsWithinLongestWait": len(recent),
        "payloads": rows,
        "unseen": "polls in Lambda's retry queue (up to 6 h) and poll tasks the platform holds: v2 ones are safe "
        "by construction; v1 ones signed with AWSPREVIOUS are not",
    }


def _named_version(key_id: str, current_id: str, previous_id: str | None, by_id: dict[str, SecretVersion]) -> str:
    from pollbridge.adapters.signing_keys import REVOKED_LABEL_PREFIX

    if key_id == current_id:
        return "AWSCURRENT"
    if key_id == previous_id:
        return "AWSPREVIOUS"
    version = by_id.get(key_id)
    if version is None:
        return "unknown version"
    if any(label.lower().startswith(REVOKED_LABEL_PREFIX) for label in version.stages):
        return "revoked version"
    return "older version"


def _at_risk_after_a_rotation(
    versions: list[SecretVersion], current_id: str, previous_id: str | None, now_ms: int
) -> set[str]:
    """The versions Secrets Manager may remove once one more version is made: beyond the newest
    SECRET_VERSIONS_KEPT, without a label left (AWSPREVIOUS's label moves on), made over 24 h ago."""
    newest_first = sorted(versions, key=lambda v: v.created_ms or 0, reverse=True)
    kept = SECRET_VERSIONS_KEPT - 1  # the rotation's new version is the newest
    day_ago = now_ms - 86_400_000
    at_risk: set[str] = set()
    for version in newest_first[kept:]:
        labels = version.stages
        if version.version_id == previous_id:
            labels = [label for label in labels if label != "AWSPREVIOUS"]  # moves to AWSCURRENT's version
        if version.version_id != current_id and not labels and (version.created_ms or 0) < day_ago:
            at_risk.add(version.version_id)
    return at_risk


def _describe(version: SecretVersion | None, version_id: str) -> dict[str, Any]:
    created = version.created_ms if version is not None else None
    return {"versionId": version_id, "createdUTC": iso_utc(created) if created is not None else None}


def _id_and_key(answer: dict[str, Any]) -> tuple[str, bytes]:
    return str(answer["VersionId"]), str(answer.get("SecretString", "")).encode()


def _previous_version(secrets: Any, arn: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        answer: dict[str, Any] = secrets.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None  # never rotated
        raise
    return answer


def _secret_versions(secrets: Any, arn: str) -> list[SecretVersion]:
    """Every version, those without a label included (ListSecretVersionIds: your credentials)."""
    found: list[SecretVersion] = []
    token: str | None = None
    while True:
        page = secrets.list_secret_version_ids(
            SecretId=arn, IncludeDeprecated=True, MaxResults=100, **({"NextToken": token} if token else {})
        )
        for version in page.get("Versions", []):
            created = version.get("CreatedDate")
            found.append(SecretVersion(
                str(version["VersionId"]), [str(s) for s in version.get("VersionStages") or []],
                int(created.timestamp() * 1000) if hasattr(created, "timestamp") else None,
            ))  # fmt: skip
        token = page.get("NextToken") or None
        if token is None:
            return found


def _peek_dead_letters(target: Target, limit: int) -> list[PollPayload]:
    """The payloads of up to `limit` dead letters, left in the queue (hidden PEEK_VISIBILITY_S)."""
    from pydantic import ValidationError

    payloads: list[PollPayload] = []
    seen: set[str] = set()
    while len(seen) < limit:
        batch = target.sqs_client.receive_message(
            QueueUrl=target.queue_url, MaxNumberOfMessages=min(10, limit - len(seen)), WaitTimeSeconds=0,
            VisibilityTimeout=PEEK_VISIBILITY_S,
        ).get("Messages", [])  # fmt: skip
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return payloads
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                payloads.append(PollPayload.model_validate(poll_event_of(message["Body"])))
            except (ValueError, ValidationError):
                continue  # not a poll event: nothing signed to look at
    return payloads


def _dlq_retention_s(target: Target) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        attributes = target.sqs_client.get_queue_attributes(
            QueueUrl=target.queue_url, AttributeNames=["MessageRetentionPeriod"]
        )["Attributes"]
        return int(attributes["MessageRetentionPeriod"])
    except (BotoCoreError, ClientError, KeyError, ValueError):  # an estimate will do: the template's 14 days
        return DEFAULT_DLQ_RETENTION_S


def _scheduler_max_event_age_s() -> int:
    from pollbridge.adapters.scheduler import SchedulerTarget

    return SchedulerTarget("", "", "").max_event_age_s


_TYPE_REF = "name kind ofType { name kind ofType { name kind ofType { name kind } } }"
# One request: the mutations (with their arguments' types) and, aliased by name, each type the sink fills.
INTROSPECTION_QUERY = "\n".join(
    [
        "query pollbridgeSchemaCheck {",
        f"  __schema {{ mutationType {{ fields {{ name args {{ name type {{ {_TYPE_REF} }} }} }} }} }}",
        *(f'  {name}: __type(name: "{name}") {{ inputFields {{ name }} }}' for name in SENT_INPUT_FIELDS),
        *(
            f'  {name}: __type(name: "{name}") {{ enumValues(includeDeprecated: true) {{ name }} }}'
            for name in SENT_ENUM_VALUES
        ),
        "}",
    ]
)
SCHEMA_ANSWER_BYTES = 8 * 1024 * 1024  # every mutation with its arguments: a large API's is a few hundred KB


def missing_from_schema(introspection: dict[str, Any]) -> list[str]:
    """What the aiware sink sends that the schema lacks, one entry each (`mutation updateTask`,
    `updateTask(input: UpdateTask)`, `UpdateTask.jobId`, `TaskFailureReason.external_error`), in the
    order of the sink's description. `introspection` is INTROSPECTION_QUERY's `data` (or the whole
    answer). A type the schema does not have lacks every one of its fields or values."""
    data = _object(introspection.get("data", introspection))
    mutation_type = _object(_object(data.get("__schema")).get("mutationType"))
    mutations = {f.get("name"): f for f in mutation_type.get("fields") or [] if isinstance(f, dict)}
    missing: list[str] = []
    for mutation, input_type in MUTATION_INPUTS.items():
        if mutation not in mutations:
            missing.append(f"mutation {mutation}")
            continue
        args = {a.get("name"): a.get("type") for a in mutations[mutation].get("args") or [] if isinstance(a, dict)}
        if _named_type(args.get("input")) != input_type:
            missing.append(f"{mutation}(input: {input_type})")
    for type_name, fields in SENT_INPUT_FIELDS.items():
        present = _names(data.get(type_name), "inputFields")
        missing += [f"{type_name}.{field}" for field in fields if field not in present]
    for type_name, values in SENT_ENUM_VALUES.items():
        present = _names(data.get(type_name), "enumValues")
        missing += [f"{type_name}.{value}" for value in values if value not in present]
    return missing


def _object(value: Any) -> dict[str, Any]:
    """An introspection answer's object, or an empty one where the schema gave null (no such type)."""
    return value if isinstance(value, dict) else {}


def _names(introspected_type: Any, key: str) -> set[str]:
    return {str(item.get("name")) for item in _object(introspected_type).get(key) or [] if isinstance(item, dict)}


def _named_type(type_ref: Any) -> str | None:
    """The named type under NON_NULL / LIST wrappers."""
    for _ in range(8):
        if not isinstance(type_ref, dict):
            return None
        if type_ref.get("name"):
            return str(type_ref["name"])
        type_ref = type_ref.get("ofType")
    return None


def check_aiware_schema(api_url: str, token: str, timeout_s: float = 30.0) -> list[str]:
    """Introspects `<api_url>/v3/graphql` with the sink's own client (no redirect, bounded answer);
    raises PollbridgeError when the introspection fails (refused, disabled, unreachable)."""
    url = graphql_url(api_url)
    data = post_graphql(url, token, INTROSPECTION_QUERY, {}, timeout_s=timeout_s, what="introspection",
                        max_bytes=SCHEMA_ANSWER_BYTES)  # fmt: skip
    return missing_from_schema(data)


def aiware_schema(api_url: str, token_env: str) -> int:
    """0: the schema has everything sent; 1: something is missing (printed, one a line); 2: no answer."""
    token = os.environ.get(token_env, "").strip()
    if not token:
        print(f"aiware-schema: set {token_env} to an aiWARE token (never taken from the command line)", file=sys.stderr)
        return 2
    try:
        missing = check_aiware_schema(api_url, token)
    except PollbridgeError as error:
        print(f"aiware-schema: introspection failed: {error}", file=sys.stderr)
        return 2
    for entry in missing:
        print(entry)
    return 1 if missing else 0


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {value!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.ops", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group()  # required by every command but aiware-schema
    where.add_argument("--local", action="store_true", help="the local cloud started by `make localcloud`")
    where.add_argument("--stack", help="a deployed stack's name (uses your AWS credentials)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="in-flight tasks: every pending poll schedule")
    commands.add_parser("status", help="one task: schedule pending or record written").add_argument("task_id")
    cancel = commands.add_parser("cancel", help="delete the task's schedule, cancel the vendor job, record cancelled")
    cancel.add_argument("task_id")
    cancel.add_argument("--reason", default="cancelled by an operator")
    commands.add_parser("redrive", help="send dead-lettered polls back to the poll function").add_argument(
        "--max", type=int, default=1000
    )
    commands.add_parser(
        "rotation-status", help="whether rotating the payload-signing secret now would strand a payload (exit 1)"
    ).add_argument("--max", type=int, default=1000, help="dead letters to look at")
    schema = commands.add_parser(
        "aiware-schema",
        help="list the fields and values the aiware sink sends that an aiWARE API's schema lacks",
        allow_abbrev=False,  # `--token SECRET` must be refused, not read as --token-env
    )
    schema.add_argument("--api-url", required=True, type=_http_url, help="aiWARE's API base (as AIWARE_API_URL)")
    schema.add_argument("--token-env", default="AIWARE_API_KEY", help="the environment variable holding the token")
    args = parser.parse_args(argv)
    if args.command == "aiware-schema":
        if args.local or args.stack:
            parser.error("aiware-schema takes neither --local nor --stack")
        return aiware_schema(args.api_url, args.token_env)
    if not (args.local or args.stack):
        parser.error("one of the arguments --local --stack is required")
    target = connect_local() if args.local else connect_stack(args.stack)
    match args.command:
        case "list":
            result: Any = list_in_flight(target)
        case "status":
            result = task_status(target, args.task_id)
        case "cancel":
            result = cancel_task(target, args.task_id, args.reason)
        case "rotation-status":
            result = rotation_status(target, args.max)
            print(json.dumps(result, indent=2))
            return 0 if result["safe"] else 1
        case _:
            result = redrive(target, args.max)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
