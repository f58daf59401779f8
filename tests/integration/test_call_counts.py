"""The loop's AWS calls, counted as BENCHMARKS.md section 5 counts them (devtools/bench/calls.py: a
hook on the functions' own botocore session, each call attributed to the invocation that made it),
held to what pollbridge/core.py's docstring promises:

- nothing in the loop lists: a poll reads its own schedule by name, a repeated segment its unit's
  poll 1 and record by name;
- poll n+1's schedule is created before poll n's is retired (disabled, its name kept);
- the record is written once, and only then are the schedules deleted, every name 1..n+1;
- a stale delivery (a duplicate, a late one) changes nothing.

A small workload with duplicate and late deliveries and repeated segments, so every path runs.
"""

from __future__ import annotations

from collections import Counter

import pytest

from devtools.bench.calls import Counts, Invoked, count

TASKS = 20
REPEATS = 4

WRITES = ("Create", "Update", "Delete", "Put", "Copy", "Tag", "Untag", "Rotate", "Restore")


@pytest.fixture(scope="module")
def counts() -> Counts:
    return count(tasks=TASKS, duplicate_rate=0.2, late_duplicate_rate=0.2, repeats=REPEATS)


def of(counts: Counts, function: str, outcome: str | None = None, repeated: bool | None = None) -> list[Invoked]:
    return [
        item
        for item in counts.invocations
        if item.function == function
        and (outcome is None or item.outcome == outcome)
        and (repeated is None or item.repeated == repeated)
    ]


def test_every_path_ran_and_every_task_ended_with_one_record(counts: Counts) -> None:
    assert counts.healthy and counts.records == TASKS
    assert counts.outside == Counter()  # every call of the functions' session was made by an invocation
    assert {item.outcome for item in counts.invocations} <= {"scheduled", "complete", "stale"}
    assert len(of(counts, "segment", repeated=False)) == TASKS
    assert len(of(counts, "segment", repeated=True)) == REPEATS
    assert len(of(counts, "poll", "complete")) == TASKS
    assert len(of(counts, "poll", "scheduled")) > TASKS
    assert len(of(counts, "poll", "stale")) > 5  # duplicates and late deliveries were told apart


def test_nothing_in_the_loop_lists(counts: Counts) -> None:
    listed = Counter(name for item in counts.invocations for name in item.sequence if ".List" in name)
    assert listed == Counter()
    total = Counter(name for item in counts.invocations for name in item.sequence)
    assert total["scheduler.ListSchedules"] == 0 and total["scheduler.GetSchedule"] > 0


def test_a_poll_that_is_not_stale_reads_its_own_schedule_once_by_name_before_anything_else(counts: Counts) -> None:
    current = [item for item in of(counts, "poll") if item.outcome != "stale"]
    assert current
    for item in current:
        assert item.calls["scheduler.GetSchedule"] == 1, item
        others = [name for name in item.sequence if not name.startswith("secretsmanager.")]  # the signing key
        assert others[0] == "scheduler.GetSchedule", item


def test_a_running_poll_creates_the_next_schedule_then_retires_its_own(counts: Counts) -> None:
    for item in of(counts, "poll", "scheduled"):
        scheduler = [name for name in item.sequence if name.startswith("scheduler.")]
        assert scheduler == ["scheduler.GetSchedule", "scheduler.CreateSchedule", "scheduler.UpdateSchedule"], item
        assert not any(name.startswith("s3.") for name in item.sequence), item
        assert item.vendor == Counter(status=1), item  # one look at the job


def test_the_completing_poll_writes_the_record_once_then_deletes_every_name(counts: Counts) -> None:
    for item in of(counts, "poll", "complete"):
        assert item.poll_number is not None
        assert item.calls["s3.PutObject"] == 1, item
        assert item.calls["scheduler.DeleteSchedule"] == item.poll_number + 1, item  # names 1..n+1, by name
        assert item.calls["scheduler.CreateSchedule"] == item.calls["scheduler.UpdateSchedule"] == 0, item
        written = item.sequence.index("s3.PutObject")
        assert all(name != "scheduler.DeleteSchedule" for name in item.sequence[:written]), item
        assert item.vendor == Counter(status=1, results=1), item


def test_a_stale_delivery_only_reads_by_name(counts: Counts) -> None:
    for item in of(counts, "poll", "stale"):
        assert not [name for name in item.sequence if name.split(".", 1)[1].startswith(WRITES)], item
        assert all(".Get" in name for name in item.sequence), item  # GetSchedule, GetObject, GetSecretValue
        assert 1 <= item.calls["scheduler.GetSchedule"] <= 2, item  # its own, then the next one
        assert item.vendor == Counter(), item  # the vendor is not asked either


def test_a_segment_reads_poll_1_and_the_record_by_name_and_a_repeat_changes_nothing(counts: Counts) -> None:
    for item in of(counts, "segment", repeated=False):
        assert item.calls["scheduler.GetSchedule"] == 1 and item.calls["s3.GetObject"] == 1, item
        assert item.calls["scheduler.CreateSchedule"] == 1, item  # poll 1
        assert sum(item.calls.values()) - item.calls["secretsmanager.GetSecretValue"] == 3, item
        assert item.vendor["uploads"] == item.vendor["jobs_created"] == 1, item
    for item in of(counts, "segment", repeated=True):
        assert item.calls["scheduler.GetSchedule"] == 1, item  # its poll 1 (kept, active or retired)
        assert not [name for name in item.sequence if name.split(".", 1)[1].startswith(WRITES)], item
        assert item.vendor == Counter(), item
