"""Red-team pass 3 (issue 15), findings 2 and 9: rotating the payload-signing key, end to end on the
local cloud (the real handlers, moto's Secrets Manager, the scheduler emulator, a manual clock).
Each failed on the code as first reviewed; each docstring keeps the finding as reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import ops
from devtools.cloud.local_cloud import LocalCloud
from devtools.cloud.local_values import LOCAL_ENVIRONMENT
from devtools.standins.vendor_simulator import SimConfig
from pollbridge import signing
from pollbridge.adapters.signing_keys import CACHE_SECONDS
from pollbridge.clock import ManualClock
from pollbridge.models import PollPayload
from pollbridge.settings import Settings
from pollbridge.wiring import build_ports

ETA_JOB_S = 31_320  # 8.7 h: the probe's vendor ETA
KEY_CHARS = 64


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(manual_clock=True, sim_config=SimConfig(duration_s=(200, 200), queue_s=(0, 0))) as running:
        yield running


def rotate(cloud: LocalCloud, value: str | None = None) -> str:
    """The documented rotation: put-secret-value without --version-stages (AWSCURRENT moves on)."""
    secrets = cloud.clients["secretsmanager"]
    new = value or secrets.get_random_password(PasswordLength=KEY_CHARS, ExcludePunctuation=True)["RandomPassword"]
    return str(secrets.put_secret_value(SecretId=cloud.payload_signing_secret, SecretString=new)["VersionId"])


def manual(cloud: LocalCloud) -> ManualClock:
    assert isinstance(cloud.clock, ManualClock)
    return cloud.clock


def step(cloud: LocalCloud) -> None:
    """Let the next thing that is due happen (a schedule fires, Lambda retries)."""
    cloud.emulator.refresh()
    upcoming = cloud.emulator.next_fire_ms()
    assert upcoming is not None, "nothing left to happen"
    manual(cloud).advance_to(upcoming)
    cloud.emulator.fire_due()
    cloud.emulator.refresh()


def start_long_eta_task(cloud: LocalCloud, chunk: dict[str, Any]) -> dict[str, Any]:
    """A task whose vendor job takes 8.7 h, run until its pending poll follows the vendor's ETA."""
    chunk["taskPayload"]["simulate"] = {"durationSeconds": ETA_JOB_S, "queueSeconds": 0}
    started = cloud.invoke("SegmentFunction", chunk)
    assert started.ok, started.error_message
    step(cloud)  # poll 1: the vendor says when it will be done; poll 2 is scheduled hours ahead
    [pending] = cloud.emulator.pending()
    assert pending.fire_at_ms - cloud.clock.now_ms() > 3_600_000  # far past PollMaxIntervalSeconds
    return chunk


def local_target(cloud: LocalCloud) -> ops.Target:
    """What `ops --local` connects to, for this cloud (the poll function's settings, its DLQ)."""
    settings = Settings.from_env({**LOCAL_ENVIRONMENT, **cloud.specs["PollFunction"].environment})
    url = cloud.clients["sqs"].get_queue_url(QueueName=cloud.dead_letter_queue)["QueueUrl"]
    return ops.Target(build_ports(settings), settings, url, None, cloud.clients["sqs"])


def test_a_poll_waiting_on_a_vendor_eta_survives_two_rotations_made_as_documented(
    cloud: LocalCloud, chunk: dict[str, Any]
) -> None:
    """Finding 2: "A second key rotation loses tasks that wait on a vendor ETA. A poll following an
    ETA can be scheduled hours ahead (8.7 h in the probe) and keeps the key it was signed with; the
    operations doc says every payload moves to the new key within PollMaxIntervalSeconds, so a
    second rotation made as documented rejects it as forged: DLQ, no record, and redrive cannot
    help." """
    start_long_eta_task(cloud, chunk)
    max_interval_ms = int(cloud.specs["PollFunction"].environment["POLL_MAX_INTERVAL_SECONDS"]) * 1000
    rotate(cloud)
    manual(cloud).advance(max_interval_ms + CACHE_SECONDS * 1000)  # "within PollMaxIntervalSeconds"
    rotate(cloud)
    manual(cloud).advance(CACHE_SECONDS * 1000)
    cloud.run_until_idle()
    assert cloud.dead_letter_count() == 0, "the poll signed two keys ago was rejected as forged"
    assert cloud.records()[chunk["taskId"]]["status"] == "complete"


def test_ops_says_a_rotation_is_safe_for_payloads_that_name_their_key(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    """`ops rotation-status`: the pending poll names the key that signed it, which every later
    rotation keeps reachable (its version stays in the secret): safe, exit code 0."""
    start_long_eta_task(cloud, chunk)
    new_version = rotate(cloud)
    manual(cloud).advance(CACHE_SECONDS * 1000)
    target = local_target(cloud)
    status = ops.rotation_status(target)
    assert status["safe"] is True, status
    [row] = status["payloads"]
    assert row["signedWith"] == "AWSPREVIOUS" and row["form"] == "v2" and row["pending"] == 1
    assert status["current"]["versionId"] == new_version and row["keyId"] == status["previous"]["versionId"]
    assert status["longestWaitSeconds"] >= int(target.settings.task_timeout_seconds)


def test_ops_says_a_rotation_would_strand_v1_payloads_signed_with_awsprevious(
    cloud: LocalCloud, chunk: dict[str, Any]
) -> None:
    """Payloads signed before signatures named their key (v1, in flight when this version came)
    verify only against AWSCURRENT and AWSPREVIOUS: while one signed with AWSPREVIOUS is pending,
    a rotation would strand it, and ops says so (and until when, at the latest)."""
    start_long_eta_task(cloud, chunk)
    [pending] = cloud.emulator.pending()
    scheduler = cloud.clients["scheduler"]
    schedule = scheduler.get_schedule(Name=pending.name, GroupName=cloud.schedule_group)
    body = json.loads(schedule["Target"]["Input"])
    secrets = cloud.clients["secretsmanager"]
    key = secrets.get_secret_value(SecretId=cloud.payload_signing_secret)["SecretString"].encode()
    body["signature"] = signing.signature(PollPayload.model_validate(body), key)  # as signed before v2
    scheduler.update_schedule(
        **{k: schedule[k] for k in ("Name", "GroupName", "ScheduleExpression", "FlexibleTimeWindow")},
        Target={**schedule["Target"], "Input": json.dumps(body)},
    )
    target = local_target(cloud)
    assert ops.rotation_status(target)["safe"] is True  # v1 with AWSCURRENT: one rotation keeps it
    rotate(cloud)
    status = ops.rotation_status(target)
    assert status["safe"] is False
    [row] = status["payloads"]
    assert (row["form"], row["signedWith"], row["pending"]) == ("v1", "AWSPREVIOUS", 1)
    assert "AWSPREVIOUS" in " ".join(status["reasons"])
    assert status["unsafeUntilUTC"] == row["latestNextPollUTC"]


def test_an_unusable_previous_key_blocks_neither_starts_nor_polls(cloud: LocalCloud, chunk: dict[str, Any]) -> None:
    """Finding 9: "An unusable AWSPREVIOUS signing key blocks every start and poll even after a good
    rotation; it only ever verifies, so skip it with a warning and a metric." """
    rotate(cloud, "too-short")  # refused as AWSCURRENT, as it should be...
    rotate(cloud)  # ...and fixed by a good rotation: the short value is now AWSPREVIOUS
    manual(cloud).advance(CACHE_SECONDS * 1000)
    started = cloud.invoke("SegmentFunction", chunk)
    assert started.ok, started.error_message
    cloud.run_until_idle()
    assert cloud.records()[chunk["taskId"]]["status"] == "complete"
    assert cloud.dead_letter_count() == 0
