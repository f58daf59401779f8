"""`devtools.ops rotation-status`'s verdict from what it read (pure), and its command line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devtools import ops
from pollbridge import signing
from pollbridge.models import PollPayload

DAY_MS = 86_400_000
NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CURRENT = ("c0000000-0000-4000-8000-000000000000", b"current-key-" + b"c" * 40)
PREVIOUS = ("b0000000-0000-4000-8000-000000000000", b"previous-key-" + b"b" * 40)
PAYLOAD = PollPayload(
    workId="w", isPollTask=True, origTaskId="t", origTdoId="d", origJobId="j", origCallTimeUTC=NOW - DAY_MS,
    pollNumber=2, deadlineUTC=NOW + DAY_MS,
)  # fmt: skip


def version_id(n: int) -> str:
    return f"{n:08d}-0000-4000-8000-000000000000"


def history(older: int) -> list[ops.SecretVersion]:
    """AWSCURRENT, AWSPREVIOUS and `older` unlabelled versions, one made a day before the next."""
    versions = [
        ops.SecretVersion(CURRENT[0], ["AWSCURRENT"], NOW - DAY_MS),
        ops.SecretVersion(PREVIOUS[0], ["AWSPREVIOUS"], NOW - 2 * DAY_MS),
    ]
    versions += [ops.SecretVersion(version_id(n), [], NOW - (3 + n) * DAY_MS) for n in range(older)]
    return versions


def verdict(seen: list[tuple[str, PollPayload, int | None]], versions: list[ops.SecretVersion]) -> dict[str, Any]:
    return ops.rotation_verdict(
        seen, current=CURRENT, previous=PREVIOUS, versions=versions, now_ms=NOW, longest_wait_s=86_400 + 15 * 86_400
    )


def test_payloads_naming_their_key_are_safe_whatever_key_it_is() -> None:
    seen: list[tuple[str, PollPayload, int | None]] = [
        ("pending", signing.sign(PAYLOAD, CURRENT[1], CURRENT[0]), NOW + 3_600_000),
        ("pending", signing.sign(PAYLOAD, PREVIOUS[1], PREVIOUS[0]), NOW + 7_200_000),
        ("deadLetters", signing.sign(PAYLOAD, b"x" * 32, version_id(3)), None),
        ("pending", signing.sign(PAYLOAD, CURRENT[1]), NOW + 60_000),  # v1 with AWSCURRENT: one rotation keeps it
    ]
    status = verdict(seen, history(5))
    assert status["safe"] is True and status["reasons"] == [] and status["unsafeUntilUTC"] is None
    assert {(r["form"], r["signedWith"], r["pending"], r["deadLetters"]) for r in status["payloads"]} == {
        ("v2", "AWSCURRENT", 1, 0),
        ("v2", "AWSPREVIOUS", 1, 0),
        ("v2", "older version", 0, 1),
        ("v1", "AWSCURRENT", 1, 0),
    }
    assert status["versionsWithinLongestWait"] == 7 and status["versions"] == 7


def test_v1_payloads_signed_with_awsprevious_make_a_rotation_unsafe_until_their_next_poll() -> None:
    v1 = signing.sign(PAYLOAD, PREVIOUS[1])
    seen: list[tuple[str, PollPayload, int | None]] = [
        ("pending", v1, NOW + 3_600_000),
        ("pending", signing.sign(PAYLOAD.model_copy(update={"origTaskId": "u"}), PREVIOUS[1]), NOW + 8 * 3_600_000),
        ("deadLetters", v1, None),
    ]
    status = verdict(seen, history(0))
    assert status["safe"] is False
    [reason] = status["reasons"]
    assert reason.startswith("2 pending poll(s) and 1 dead letter(s) signed v1 with AWSPREVIOUS")
    assert status["unsafeUntilUTC"] == "2026-01-01T08:00:00.000Z"


def test_a_version_secrets_manager_may_remove_after_one_more_rotation_is_at_risk() -> None:
    versions = history(ops.SECRET_VERSIONS_KEPT)  # 102 versions: the oldest three are beyond the newest 99
    oldest = versions[-1].version_id
    seen: list[tuple[str, PollPayload, int | None]] = [
        ("pending", signing.sign(PAYLOAD, b"x" * 32, oldest), NOW + 60_000),
        ("pending", signing.sign(PAYLOAD, b"x" * 32, versions[50].version_id), NOW + 60_000),
    ]
    status = verdict(seen, versions)
    assert status["safe"] is False
    at_risk = [r for r in status["payloads"] if r["atRisk"]]
    assert [r["keyId"] for r in at_risk] == [oldest]
    assert any(oldest in reason for reason in status["reasons"])


def test_too_many_rotations_within_the_longest_wait_are_unsafe_even_with_nothing_seen() -> None:
    versions = [ops.SecretVersion(version_id(n), [], NOW - n * 60_000) for n in range(ops.SECRET_VERSIONS_KEPT)]
    status = ops.rotation_verdict(
        [], current=(versions[0].version_id, b"k" * 32), previous=None, versions=versions, now_ms=NOW,
        longest_wait_s=86_400,
    )  # fmt: skip
    assert status["safe"] is False and "longest wait" in status["reasons"][0]


def test_payloads_no_key_verifies_are_reported_but_do_not_block_a_rotation() -> None:
    seen: list[tuple[str, PollPayload, int | None]] = [
        ("deadLetters", signing.sign(PAYLOAD, b"y" * 32), None),  # v1, a key long gone
        ("deadLetters", signing.sign(PAYLOAD, b"y" * 32, version_id(999)), None),  # names no version of the secret
    ]
    status = verdict(seen, history(1))
    assert status["safe"] is True
    assert len(status["warnings"]) == 2 and all("already verify with no key" in w for w in status["warnings"])


def test_the_command_exits_1_when_a_rotation_is_not_safe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ops, "connect_stack", lambda name: name)
    for safe, code in ((True, 0), (False, 1)):
        monkeypatch.setattr(ops, "rotation_status", lambda target, limit, safe=safe: {"safe": safe, "target": target})
        assert ops.main(["--stack", "deployed", "rotation-status"]) == code
        assert json.loads(capsys.readouterr().out) == {"safe": safe, "target": "deployed"}
