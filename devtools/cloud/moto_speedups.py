"""moto's EventBridge Scheduler, made to answer a name-prefix query without a scan.

moto 5 answers `ListSchedules(NamePrefix=...)` by walking every schedule of every group: every poll
makes one such call (its stale-poll check), so with thousands of tasks in flight the local cloud
spent more of each invocation in that walk than in the handler, and a run grew faster than its
task count. AWS answers from an index; so does this: each schedule group keeps its names sorted,
and a prefix query reads the matching range. The answer is moto's own, element for element (the
same filter, the same newest-first order, moto's paginator on top); queries without a prefix still
take moto's path. `install()` is idempotent and applies per process (the local cloud's, and the
moto process's).
"""

from __future__ import annotations

import bisect
import weakref
from typing import Any

from moto.scheduler.models import EventBridgeSchedulerBackend, Schedule, ScheduleGroup
from moto.utilities.paginator import paginate

_INSTALLED = False
_SORTED_NAMES: weakref.WeakKeyDictionary[ScheduleGroup, list[str]] = weakref.WeakKeyDictionary()


def _names(group: ScheduleGroup, deleted: int = 0) -> list[str]:
    """The group's schedule names (plus `deleted` names just removed), sorted; rebuilt whenever the
    count says that something changed the group behind the index's back."""
    names = _SORTED_NAMES.get(group)
    if names is None or len(names) != len(group.schedules) + deleted:
        names = _SORTED_NAMES[group] = sorted(group.schedules)
    return names


def _add_schedule(group: ScheduleGroup, schedule: Schedule) -> None:
    names = _names(group)
    if schedule.name not in group.schedules:
        bisect.insort(names, schedule.name)
    group.schedules[schedule.name] = schedule


def _delete_schedule(group: ScheduleGroup, name: str) -> None:
    _ORIGINAL_DELETE(group, name)  # raises ScheduleNotFound as moto does
    names = _names(group, deleted=1)
    index = bisect.bisect_left(names, name)
    if index < len(names) and names[index] == name:
        del names[index]


def _list_schedules(
    backend: EventBridgeSchedulerBackend, group_names: Any, state: str | None, name_prefix: str | None = None
) -> list[Schedule]:
    if not name_prefix:
        return _ORIGINAL_LIST(backend, group_names, state, name_prefix)
    results = []
    for group in backend.schedule_groups.values():
        if group_names and group.name not in group_names:
            continue
        names = _names(group)
        for name in names[bisect.bisect_left(names, name_prefix) :]:
            if not name.startswith(name_prefix):
                break
            schedule = group.schedules[name]
            if not state or schedule.state == state:
                results.append(schedule)
    results.sort(key=lambda schedule: schedule.creation_date, reverse=True)  # moto's order: newest first
    return results


_ORIGINAL_DELETE = ScheduleGroup.delete_schedule
_ORIGINAL_PAGINATED = EventBridgeSchedulerBackend.list_schedules  # moto's, with its paginator (tests compare)
_ORIGINAL_LIST = _ORIGINAL_PAGINATED.__wrapped__  # type: ignore[attr-defined]  # functools.wraps keeps it


def install() -> None:
    """Patch moto's scheduler in this process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    # A monkeypatch of moto's classes, so set as attributes: their annotations describe moto's own.
    setattr(ScheduleGroup, "add_schedule", _add_schedule)  # noqa: B010
    setattr(ScheduleGroup, "delete_schedule", _delete_schedule)  # noqa: B010
    _list_schedules.__name__ = "list_schedules"  # moto's paginator finds its model by the method's name
    paginated = paginate(pagination_model=EventBridgeSchedulerBackend.PAGINATION_MODEL)(_list_schedules)
    setattr(EventBridgeSchedulerBackend, "list_schedules", paginated)  # noqa: B010
    _INSTALLED = True
