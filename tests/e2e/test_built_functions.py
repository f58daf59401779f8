"""`sam build`, then each built handler in a fresh process with events/ and an env-vars file,
as `sam local invoke` would run it (without Docker), against the local cloud."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.template_stack import StackPlan
from devtools.invoke import code_locations, invoke
from tests.conftest import as_if_due
from tests.template.conftest import ROOT, sam_tool

EVENTS = ROOT / "events"


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sam") / "build"
    python313 = Path(sys.base_prefix) / "bin"  # sam build wants python3.13 on PATH: the one behind this venv
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{python313}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(sam_tool("sam")), "build", "--build-dir", str(target), "--template-file", str(ROOT / "template.yaml")],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "CommonLayer" / "python" / "pollbridge" / "core.py").exists()
    assert (target / "CommonLayer" / "python" / "pydantic").is_dir()
    assert (target / "PollFunction" / "app.py").exists()
    # layers/common/Makefile ships bytecode, valid whatever the files' times (Lambda cannot write it)
    for package in ("pollbridge", "pydantic", "aws_lambda_powertools"):
        compiled = list((target / "CommonLayer" / "python" / package / "__pycache__").glob("*.cpython-313.pyc"))
        assert compiled, f"{package} has no bytecode"
        assert int.from_bytes(compiled[0].read_bytes()[4:8], "little") == 0b01, "not unchecked-hash bytecode"
    return target


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(speed=1.0) as running:  # the fresh processes read the system clock
        yield running


@pytest.fixture
def env_vars(cloud: LocalCloud, tmp_path: Path) -> Path:
    """events/env.json, pointed at this run's ports (the file names the default local ports)."""
    values = json.loads((EVENTS / "env.json").read_text())
    values["Parameters"].update(AWS_ENDPOINT_URL=cloud.endpoint, PROVIDER_URL=cloud.simulator.url)
    path = tmp_path / "env.json"
    path.write_text(json.dumps(values))
    return path


def test_env_vars_file_matches_the_local_stack_and_only_declared_variables() -> None:
    plan = StackPlan.from_template(ROOT / "template.yaml", "pollbridge-local", ProviderUrl="http://127.0.0.1:8081")
    values = json.loads((EVENTS / "env.json").read_text())["Parameters"]
    for spec in plan.functions().values():
        assert set(values) <= set(spec.environment), "sam local invoke ignores undeclared variables"
        for name in (
            "SCHEDULE_GROUP_NAME",
            "POLL_FUNCTION_ARN",
            "SCHEDULER_ROLE_ARN",
            "POLL_DLQ_ARN",
            "RESULTS_BUCKET",
        ):
            assert values[name] == spec.environment[name], name


def write_event(tmp_path: Path, name: str, event: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(event))
    return path


def test_built_segment_then_poll_in_fresh_processes(
    build_dir: Path, cloud: LocalCloud, env_vars: Path, tmp_path: Path, vtn_validator: Any
) -> None:
    spec = StackPlan.from_template(ROOT / "template.yaml", ProviderUrl="http://x").functions()["SegmentFunction"]
    code_dir, layers = code_locations(spec, build_dir)
    assert (code_dir, layers) == (build_dir / "SegmentFunction", [build_dir / "CommonLayer" / "python"])
    status, message, logs = invoke("SegmentFunction", EVENTS / "segment.json", env_vars, build_dir=build_dir)
    assert status == 0, logs
    assert message["type"] == "schedule_poll_task"
    assert '"correlation_id":"19041508_Xp2bKsUAs4Rm6I8"' in logs
    [name] = cloud.pending_schedules(polls_only=True)
    scheduled = cloud.clients["scheduler"].get_schedule(Name=name, GroupName=cloud.schedule_group)
    delivered = json.loads(scheduled["Target"]["Input"])
    assert {k: delivered[k] for k in message["taskPayload"]} == message["taskPayload"]

    # delivered at once, before the minute it is due in (a replay of the reply's payload): no effect.
    # Poll 1 is due in a later minute than the segment's, which may be only seconds away in real time:
    # replay a copy due well ahead, signed as the segment signed it.
    replay = as_if_due(delivered, due_in_ms=120_000)
    status, early, logs = invoke(
        "PollFunction", write_event(tmp_path, "replay.json", replay), env_vars, build_dir=build_dir
    )
    assert status == 0, logs
    assert early["alreadyScheduled"] is True and early["taskPayload"]["pollNumber"] == 1
    assert cloud.pending_schedules(polls_only=True) == [name]

    delivered = as_if_due(delivered)  # ... and when its time has come
    status, again, logs = invoke(
        "PollFunction", write_event(tmp_path, "poll.json", delivered), env_vars, build_dir=build_dir
    )
    assert status == 0, logs
    assert again["type"] == "schedule_poll_task" and again["taskPayload"]["pollNumber"] == 2  # the job takes 240 s

    # poll 1 delivered again (Lambda's async queue may): stale, answered with poll 2, nothing changes
    status, stale, logs = invoke(
        "PollFunction", write_event(tmp_path, "poll.json", delivered), env_vars, build_dir=build_dir
    )
    assert status == 0, logs
    assert stale["alreadyScheduled"] is True and stale["taskPayload"] == again["taskPayload"]
    assert '"StalePolls"' in logs

    job = cloud.simulator.jobs[message["taskPayload"]["workId"]]
    job.duration_ms = job.queued_ms = 0  # the vendor finishes now
    [name] = cloud.pending_schedules(polls_only=True)
    scheduled = cloud.clients["scheduler"].get_schedule(Name=name, GroupName=cloud.schedule_group)
    second = as_if_due(json.loads(scheduled["Target"]["Input"]))
    status, document, logs = invoke(
        "PollFunction", write_event(tmp_path, "poll2.json", second), env_vars, build_dir=build_dir
    )
    assert status == 0, logs
    vtn_validator.validate(document)
    assert cloud.pending_schedules() == []
    assert cloud.records()["19041508_Xp2bKsUAs4Rm6I8"]["status"] == "complete"


def test_events_for_the_webhook_are_what_make_events_writes() -> None:
    from devtools.make_events import main

    assert main(["--check"]) == 0  # events/process.json and ready.json come from devtools/make_events.py


def test_built_webhook_ready_and_process_in_fresh_processes(build_dir: Path, cloud: LocalCloud, env_vars: Path) -> None:
    assert (build_dir / "WebhookFunction" / "app.py").exists()
    status, ready, logs = invoke("WebhookFunction", EVENTS / "ready.json", env_vars, build_dir=build_dir)
    assert status == 0, logs
    assert ready["statusCode"] == 200 and json.loads(ready["body"])["ready"] is True
    status, reply, logs = invoke("WebhookFunction", EVENTS / "process.json", env_vars, build_dir=build_dir)
    assert status == 0, logs
    assert reply["statusCode"] == 200, reply
    message = json.loads(reply["body"])
    assert message["type"] == "schedule_poll_task"
    assert message["taskPayload"]["origTaskId"] == "19041508_WebhookChunk0"
    assert '"correlation_id":"19041508_WebhookChunk0"' in logs
    assert cloud.pending_schedules() == []  # aiWARE schedules the poll task, not the webhook
    assert list(cloud.simulator.uploads.values()) == [
        json.loads((EVENTS / "segment.json").read_text())["content"].encode()
    ]


def test_built_function_rejects_a_bad_event_in_a_fresh_process(
    build_dir: Path, cloud: LocalCloud, env_vars: Path, tmp_path: Path
) -> None:
    bad = json.loads((EVENTS / "poll.json").read_text())
    del bad["origTaskId"]
    status, error, _ = invoke("PollFunction", write_event(tmp_path, "bad.json", bad), env_vars, build_dir=build_dir)
    assert status == 1
    assert error["errorType"] == "InvalidEventError"
    assert "origTaskId: Field required" in error["errorMessage"]
    assert cloud.pending_schedules() == [] and cloud.records() == {}
