"""The local cloud's indexed ListSchedules answers exactly what moto's own scan answers."""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.scheduler.models import EventBridgeSchedulerBackend

from devtools.cloud import moto_speedups

TARGET = {
    "Arn": "arn:aws:lambda:us-east-1:123456789012:function:poll",
    "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
    "Input": "{}",
}


def _create(client: Any, name: str, group: str) -> None:
    client.create_schedule(
        Name=name,
        GroupName=group,
        ScheduleExpression="at(2030-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=TARGET,
    )


def _listing(client: Any, group: str, prefix: str, page_size: int | None = None) -> list[str]:
    query: dict[str, Any] = {"GroupName": group, "NamePrefix": prefix}
    if page_size:
        query["PaginationConfig"] = {"PageSize": page_size}
    pages = client.get_paginator("list_schedules").paginate(**query)
    return [summary["Name"] for page in pages for summary in page["Schedules"]]


@pytest.fixture
def scheduler() -> Any:
    with mock_aws():
        client = boto3.client("scheduler", region_name="us-east-1")
        client.create_schedule_group(Name="g")
        client.create_schedule_group(Name="other")
        yield client


def test_prefix_queries_answer_what_moto_answers_through_creates_and_deletes(scheduler: Any) -> None:
    rnd = random.Random(3)
    names = [f"t-task{rnd.randrange(40)}-p{rnd.randrange(12)}" for _ in range(300)]
    prefixes = ["t-task1-p", "t-task1", "t-task39-p", "t-", "t-task7-p1", "zzz", "t-task10-p"]

    def both(group: str, prefix: str, page_size: int | None = None) -> tuple[list[str], list[str]]:
        moto_speedups.install()
        fast = _listing(scheduler, group, prefix, page_size)
        patched = EventBridgeSchedulerBackend.list_schedules
        try:  # moto's own scan, on the same state
            EventBridgeSchedulerBackend.list_schedules = moto_speedups._ORIGINAL_PAGINATED  # type: ignore[method-assign]
            slow = _listing(scheduler, group, prefix, page_size)
        finally:
            EventBridgeSchedulerBackend.list_schedules = patched  # type: ignore[method-assign]
        return fast, slow

    moto_speedups.install()
    existing: set[str] = set()
    for step, name in enumerate(names):
        group = "g" if step % 5 else "other"
        key = f"{group}/{name}"
        if key in existing:
            scheduler.delete_schedule(Name=name, GroupName=group)
            existing.discard(key)
        else:
            _create(scheduler, name, group)
            existing.add(key)
        if step % 50 == 49:
            for prefix in prefixes:
                for group_name in ("g", "other"):
                    fast, slow = both(group_name, prefix)
                    assert fast == slow  # the same names in the same order (newest first)
    fast, slow = both("g", "t-task1", page_size=3)  # moto's paginator on top, pages of 3
    assert fast == slow and len(fast) > 3
    expected = sorted(n.split("/", 1)[1] for n in existing if n.startswith("g/t-task1"))
    assert sorted(fast) == expected


def test_deleting_a_missing_schedule_still_fails_as_in_moto(scheduler: Any) -> None:
    moto_speedups.install()
    _create(scheduler, "t-a-p1", "g")
    scheduler.delete_schedule(Name="t-a-p1", GroupName="g")
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.delete_schedule(Name="t-a-p1", GroupName="g")
    assert _listing(scheduler, "g", "t-a-p") == []
