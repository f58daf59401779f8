"""Operations on running tasks, the same against the local cloud and a deployed stack.

    python -m devtools.ops --local list                  # in-flight tasks (pending schedules)
    python -m devtools.ops --stack pollbridge-dev status TASK_ID
    python -m devtools.ops --local cancel TASK_ID [--reason "..."]
    python -m devtools.ops --local redrive [--max 100]   # dead letters back to the poll function

Against AWS it reads the stack's outputs and the poll function's own environment (so it uses the
settings the functions use), with your credentials. Locally it reads .localcloud/state.json.
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
from pollbridge.core import Ports
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
        {"origTaskId": s.payload.origTaskId, "poll": s.payload.pollNumber, "nextPollUTC": iso_utc(s.at_ms),
         "workId": s.payload.workId, "schedule": s.name}
        for s in target.ports.scheduler.pending()
    ]  # fmt: skip
    return sorted(rows, key=lambda r: r["nextPollUTC"])


def task_status(target: Target, task_id: str) -> dict[str, Any]:
    record = target.ports.sink.read(task_id)
    if record is not None:
        return {"origTaskId": task_id, "state": f"record written: {record.status}",
                "record": record.model_dump(mode="json", exclude={"output"}, exclude_none=True)}  # fmt: skip
    pending = target.ports.scheduler.pending(task_id)
    if pending:
        latest = max(pending, key=lambda s: s.payload.pollNumber)
        return {"origTaskId": task_id, "state": "schedule pending", "poll": latest.payload.pollNumber,
                "nextPollUTC": iso_utc(latest.at_ms), "workId": latest.payload.workId}  # fmt: skip
    return {"origTaskId": task_id, "state": "unknown: no pending schedule and no record (check the dead-letter queue)"}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.ops", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
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
    args = parser.parse_args(argv)
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
