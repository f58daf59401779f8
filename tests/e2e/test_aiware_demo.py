"""`make demo MODE=aiware` end to end: aiWARE's toolkit calls -> engine/forwarder.py (a process) -> the
WebhookFunction behind a Function URL on loopback -> the vendor simulator. Every task must complete in
aiWARE and the stack must write exactly one record per chunk (tasks of two chunks included)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

from devtools.aiware.run import aiware_tasks, run_aiware
from devtools.cloud.local_cloud import LocalCloud
from devtools.load.workload import make_tasks
from devtools.standins.vendor_simulator import SimConfig
from pollbridge.naming import record_key, unit_key
from tests.conftest import ROOT


def test_the_aiware_demo_completes_every_task(tmp_path: Path) -> None:
    """As `make demo MODE=aiware` runs it: a process of its own, every step printed."""
    log = tmp_path / "demo.log"
    command = [sys.executable, "-m", "devtools.demo", "--mode", "aiware", "--tasks", "4", "--failure-rate", "0",
               "--speed", "1200", "--log-file", str(log)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    shown = done.stdout
    assert done.returncode == 0, shown + done.stderr
    assert "toolkit v0.2 -> engine http://127.0.0.1:" in shown
    assert "-> schedule_poll_task" in shown and "aiWARE runs a poll task at" in shown
    tasks = re.findall(r"^aiWARE task (\S+): (\w+) \[(.*)\]$", shown, re.MULTILINE)
    assert [status for _, status, _ in tasks] == ["complete"] * 4
    assert [chunks.count("chunk ") for _, _, chunks in tasks] == [1, 2, 1, 2]  # every other task in 2 chunks
    assert "records 6 for 6 chunks (0 written twice)" in shown
    assert "OK: every task ended and the stack wrote exactly one record per chunk" in shown
    assert (tmp_path / "forwarder.log").read_text().count("POST /process 200") >= 6
    pid = int(re.search(r"engine/forwarder\.py, pid (\d+)", shown).group(1))  # type: ignore[union-attr]
    try:
        os.kill(pid, 0)
        raise AssertionError(f"the engine forwarder (pid {pid}) outlived the demo")
    except ProcessLookupError:
        pass


def test_v3_toolkit_two_engines_flaky_vendor_one_record_per_chunk(tmp_path: Path) -> None:
    """The records checked here by their keys, independently of the demo's own report."""
    flaky = SimConfig(seed=4, failure_rate=0.0, flaky_rate=0.2, duration_s=(60, 600))
    with (
        contextlib.redirect_stdout(io.StringIO()),
        LocalCloud(speed=1200, sim_config=flaky, parameters=_platform(), moto="in-process") as cloud,
    ):
        events = make_tasks(5, arrival_window_ms=5 * 60_000)
        report = run_aiware(cloud, events, v3=True, engines=2, duplicate_rate=0.3, log_dir=tmp_path)
        versions = cloud.record_versions()
        leftover = cloud.pending_schedules()
    assert report.statuses == {"complete": 5}, report.tasks
    assert all(chunk["status"] == "complete" for task in report.tasks for chunk in task["chunks"])
    expected = {
        record_key(unit_key(task.task_id, chunk.uuid)) for _, task in aiware_tasks(events) for chunk in task.chunks
    }
    assert len(expected) == 7
    assert versions == dict.fromkeys(expected, 1)  # exactly one record per chunk, each written once
    assert leftover == []
    assert report.poll_tasks > 0 and report.stats.duplicates > 0
    assert report.healthy and not report.problems


def _platform() -> dict[str, str]:
    from devtools.demo import template_parameters

    return {"SchedulingMode": "platform"} if "SchedulingMode" in template_parameters() else {}
