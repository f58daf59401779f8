"""Operations on running tasks, the same against the local cloud and a deployed stack.

    python -m devtools.ops --local list                  # in-flight tasks (pending schedules)
    python -m devtools.ops --stack pollbridge-dev status TASK_ID
    python -m devtools.ops --local cancel TASK_ID [--reason "..."]
    python -m devtools.ops --local redrive [--max 100]   # dead letters back to the poll function
    python -m devtools.ops aiware-schema --api-url URL [--token-env AIWARE_API_KEY]

Against AWS it reads the stack's outputs and the poll function's own environment (so it uses the
settings the functions use), with your credentials. Locally it reads .localcloud/state.json.
`aiware-schema` needs neither: it asks an aiWARE API (GraphQL introspection) whether it has every
input field and enum value the aiware result sink sends, and prints those it lacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import boto3

from devtools.local_cloud import LOCAL_ENVIRONMENT, ROOT
from pollbridge import core
from pollbridge.adapters.sinks.aiware import (
    MUTATION_INPUTS,
    SENT_ENUM_VALUES,
    SENT_INPUT_FIELDS,
    graphql_url,
    post_graphql,
)
from pollbridge.core import Ports
from pollbridge.errors import PollbridgeError
from pollbridge.settings import Settings
from pollbridge.timing import iso_utc
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
         "schedule": s.name}
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
        case _:
            result = redrive(target, args.max)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
