"""The whole loop at scale on the local cloud: mixed durations, vendor failures, flaky answers and
duplicate deliveries. Every task must end with exactly one record, no schedule left, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

import pytest

from devtools.cloud.lambda_endpoint import LambdaEndpoint
from devtools.cloud.local_cloud import LocalCloud
from devtools.load.workload import make_tasks, run_workload
from devtools.serve import env_vars_of
from devtools.standins.vendor_simulator import SimConfig
from pollbridge.timing import minute_of
from tests.conftest import ROOT, as_if_due

HOSTILE = SimConfig(seed=3, duration_s=(30, 1800), queue_s=(0, 120), failure_rate=0.2, flaky_rate=0.2)


def assert_nothing_lost(report: Any) -> None:
    assert report.missing_records == []
    assert report.records == report.tasks
    assert report.records_written_twice == 0
    assert report.leftover_schedules == 0
    assert report.dead_letters == 0
    assert report.healthy


def test_many_tasks_manual_clock(vtn_validator: Any) -> None:
    with LocalCloud(manual_clock=True, sim_config=HOSTILE, duplicate_rate=0.3) as cloud:
        report = run_workload(cloud, make_tasks(120, arrival_window_ms=30 * 60_000))
        assert_nothing_lost(report)
        assert report.statuses.get("failed", 0) > 5 and report.statuses.get("complete", 0) > 60
        assert report.duplicates_delivered > 20
        assert report.extra["vendor"].get("http_503", 0) + report.extra["vendor"].get("http_429", 0) > 10
        for record in cloud.records().values():
            if record["status"] == "complete":
                vtn_validator.validate(record["output"])
            else:
                assert record["failureReason"] and record["failureMessage"]
        # no vendor job was started twice for one task (duplicate segments found poll 1 scheduled)
        assert len(cloud.simulator.jobs) == report.tasks
        # a poll never ran before the minute of its schedule's at() time (EventBridge Scheduler's
        # promise: anywhere within that minute; pollbridge no longer rounds times up to a minute)
        assert all(d.fired_at_ms >= minute_of(d.due_at_ms) for d in cloud.emulator.deliveries)


def test_many_tasks_compressed_real_time() -> None:
    with LocalCloud(speed=1200, sim_config=HOSTILE, duplicate_rate=0.2) as cloud:
        report = run_workload(cloud, make_tasks(40, arrival_window_ms=10 * 60_000))
    assert_nothing_lost(report)
    assert report.virtual_s > 1800  # hours of polling ...
    assert report.wall_s < report.virtual_s / 20  # ... in a fraction of the time


@pytest.mark.parametrize("moto", ["in-process", "process"])
def test_the_same_loop_with_moto_in_process_or_in_its_own(moto: Literal["in-process", "process"]) -> None:
    """`make load` and the demo answer AWS calls in-process (no HTTP) by default: the same guarantees
    hold, nothing listens for AWS, and the environment is as it was afterwards."""
    names = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SCHEDULER", "AWS_ACCESS_KEY_ID")
    before = {name: os.environ.get(name) for name in names}
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # a developer's shell pointing elsewhere
    os.environ["AWS_ENDPOINT_URL_SCHEDULER"] = "http://127.0.0.1:9"  # which would win over the cloud's
    try:
        with LocalCloud(manual_clock=True, sim_config=HOSTILE, duplicate_rate=0.3, moto=moto) as cloud:
            assert (cloud.endpoint is None) == (moto == "in-process")
            assert "AWS_ENDPOINT_URL_SCHEDULER" not in os.environ
            if moto == "in-process":
                assert "AWS_ENDPOINT_URL" not in os.environ  # the functions' clients use AWS's addresses
                with pytest.raises(ValueError, match="moto='thread' or 'process'"):
                    env_vars_of(cloud)  # nothing outside this process can reach it: no env-vars file
            report = run_workload(cloud, make_tasks(30, arrival_window_ms=10 * 60_000))
            assert_nothing_lost(report)
            assert report.duplicates_delivered > 3
            assert len(cloud.simulator.jobs) == report.tasks
        assert os.environ["AWS_ENDPOINT_URL"] == os.environ["AWS_ENDPOINT_URL_SCHEDULER"] == "http://127.0.0.1:9"
        assert os.environ.get("AWS_ACCESS_KEY_ID") == before["AWS_ACCESS_KEY_ID"]
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_timed_out_tasks_fail_and_cancel_the_vendor_job(chunk: dict[str, Any]) -> None:
    chunk["taskPayload"]["simulate"] = {"durationSeconds": 7200}
    with LocalCloud(manual_clock=True, parameters={"TaskTimeoutSeconds": "600"}) as cloud:
        report = run_workload(cloud, [(0, chunk)])
        record = cloud.records()[chunk["taskId"]]
        assert record["status"] == "failed" and "timed out" in record["failureMessage"]
        assert cloud.simulator.jobs[record["workId"]].canceled_at_ms is not None
        assert report.leftover_schedules == 0


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_local_cloud_starts_and_stops_cleanly_on_loopback_only() -> None:
    before = set(threading.enumerate())
    with LocalCloud(manual_clock=True) as cloud:
        endpoint = LambdaEndpoint(cloud).start()
        cloud.emulator.start(real_interval_s=0.01)
        ports = [int(url.rsplit(":", 1)[1]) for url in (cloud.endpoint, cloud.simulator.url, endpoint.url)]
        for url in (cloud.endpoint, cloud.simulator.url, endpoint.url):
            assert url.startswith("http://127.0.0.1:")
        assert all(listening(port) for port in ports)
        endpoint.stop()
    time.sleep(0.2)
    assert not any(listening(port) for port in ports)
    leftover = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftover == [], leftover
    assert "AWS_ENDPOINT_URL" not in os.environ or os.environ["AWS_ENDPOINT_URL"] != cloud.endpoint


def wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def run(*args: str) -> Any:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_served_cloud_with_invoke_and_operations(tmp_path: Path) -> None:
    """`make localcloud` in a process of its own; devtools.invoke and devtools.ops talk to it."""
    state_dir = ROOT / ".localcloud"
    if (state_dir / "state.json").exists():
        pytest.skip("a local cloud is already running in this checkout")
    server = subprocess.Popen(
        [sys.executable, "-m", "devtools.serve"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(state_dir / "env.json")
        state = json.loads((state_dir / "state.json").read_text())
        message = run(
            "-m",
            "devtools.invoke",
            "SegmentFunction",
            "-e",
            "events/segment.json",
            "--env-vars",
            str(state_dir / "env.json"),
            "--quiet",
        )
        task = message["taskId"]
        [listed] = run("-m", "devtools.ops", "--local", "list")
        assert (listed["origTaskId"], listed["poll"]) == (task, 1)
        assert run("-m", "devtools.ops", "--local", "status", task)["state"] == "schedule pending"

        # a dead letter (Lambda's failure-record shape) goes back to the poll function
        import boto3

        sqs = boto3.client(
            "sqs",
            endpoint_url=state["endpoint"],
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        lost = as_if_due(message["taskPayload"])  # poll 1, as if every delivery of it had failed, at its time
        sqs.send_message(
            QueueUrl=state["outputs"]["PollDeadLetterQueueUrl"], MessageBody=json.dumps({"requestPayload": lost})
        )
        assert run("-m", "devtools.ops", "--local", "redrive") == {"redriven": 1}
        deadline = time.monotonic() + 20
        while run("-m", "devtools.ops", "--local", "status", task).get("poll") != 2:
            assert time.monotonic() < deadline, "the redriven poll never ran"
            time.sleep(0.2)

        cancelled = run("-m", "devtools.ops", "--local", "cancel", task)
        assert cancelled["cancelled"] is True and cancelled["record"]["status"] == "cancelled"
        assert run("-m", "devtools.ops", "--local", "status", task)["state"] == "record written: cancelled"
        assert run("-m", "devtools.ops", "--local", "cancel", task)["cancelled"] is False
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "local cloud stopped" in output
    assert not (state_dir / "state.json").exists()
    ports = [int(state[k].rsplit(":", 1)[1]) for k in ("endpoint", "lambdaEndpoint", "vendorUrl")]
    assert not any(listening(port) for port in ports)


def test_the_main_job_prints_steps_and_a_healthy_summary(tmp_path: Path) -> None:
    """As the README runs it: a process of its own."""
    log = tmp_path / "demo.log"
    command = [sys.executable, "-m", "devtools.demo", "--tasks", "3", "--speed", "2000", "--log-file", str(log)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    shown = done.stdout
    assert done.returncode == 0, shown + done.stderr
    assert "schedule_poll_task, poll 1 at" in shown
    assert "record results/19041508_Xp2bKsUAs4Rm6I8.json" in shown
    assert "schedules left over             0" in shown
    assert "OK: every task has exactly one record and no schedule is left" in shown
    logs = log.read_text()
    assert '"correlation_id":"19041508_Xp2bKsUAs4Rm6I8"' in logs  # handler logs went to the file
    assert '"Namespace":"Pollbridge"' in logs  # and so did the EMF metrics
    assert '"correlation_id"' not in shown


@pytest.mark.parametrize(
    ("argv", "named"), [(["--failure-rate", "2"], "--failure-rate"), (["--tasks", "0"], "--tasks")]
)
def test_the_main_job_rejects_bad_options(argv: list[str], named: str, capsys: pytest.CaptureFixture[str]) -> None:
    from devtools import demo

    with pytest.raises(SystemExit):
        demo.main(argv)
    assert named in capsys.readouterr().err


def test_a_listing_that_never_catches_up_loses_no_task() -> None:
    """Issue 16: every ListSchedules the functions could make answers nothing (AWS promises no bound on
    a listing's lag). Before, each poll listed its unit's schedules to know it was current, and no
    task finished. Now the loop reads by name only, so every task still ends with one record."""
    from devtools.load.faults import FaultInjector, FaultPlan

    injector = FaultInjector(FaultPlan(lagging_listings=True))
    with LocalCloud(manual_clock=True, sim_config=HOSTILE, duplicate_rate=0.3) as cloud, injector.installed():
        report = run_workload(cloud, make_tasks(60, arrival_window_ms=20 * 60_000))
        assert_nothing_lost(report)
        assert report.duplicates_delivered > 5 and report.statuses.get("complete", 0) > 20
        assert injector.injected["listing answered empty"] == 0  # the loop never asked
        # The fault is live: the same adapter's listing (what `ops` uses) sees nothing of a pending poll.
        from pollbridge import wiring

        started = cloud.invoke("SegmentFunction", make_tasks(1)[0][1] | {"taskId": "listing-lag-probe"})
        assert started.ok and cloud.pending_schedules(polls_only=True) != []
        assert wiring.container_ports().scheduler.pending() == []
        assert injector.injected["listing answered empty"] >= 1
