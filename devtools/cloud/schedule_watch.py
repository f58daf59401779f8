"""Tell the scheduler emulator which schedules the functions create, update or delete, from the
calls themselves: what AWS took and what it answered.

So the emulator neither reads each schedule back nor lists the whole group after every invocation
(a listing costs O(pending), a read one more call per schedule).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from devtools.cloud.scheduler_emulator import SchedulerEmulator

_PARAMS = "local_cloud_params"


class ScheduleCallWatch:
    """botocore hooks on pollbridge's session (`adapters.aws.session`). The functions' clients are
    made from it after `start()` (ports are built on the first invocation) and inherit the hooks."""

    def __init__(self, emulator: SchedulerEmulator) -> None:
        self.emulator = emulator
        self._registered: list[tuple[str, str]] = []
        self._events: Any = None

    def start(self) -> ScheduleCallWatch:
        from pollbridge.adapters.aws import session as aws_session

        self._events = aws_session().get_component("event_emitter")
        hooks: list[tuple[str, Callable[..., None]]] = [
            ("before-parameter-build.scheduler.CreateSchedule", _remember),
            ("before-parameter-build.scheduler.UpdateSchedule", _remember),
            ("before-parameter-build.scheduler.DeleteSchedule", _remember),
            ("after-call.scheduler.CreateSchedule", self._created),
            ("after-call.scheduler.UpdateSchedule", self._updated),
            ("after-call.scheduler.DeleteSchedule", self._deleted),
        ]
        for event_name, hook in hooks:
            unique_id = f"local-cloud-{id(self)}-{event_name}"
            self._events.register(event_name, hook, unique_id=unique_id)
            self._registered.append((event_name, unique_id))
        return self

    def stop(self) -> None:
        for event_name, unique_id in self._registered:
            self._events.unregister(event_name, unique_id=unique_id)
        self._registered.clear()

    def _created(self, parsed: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
        params = (context or {}).get(_PARAMS)
        if params and "ScheduleArn" in parsed:
            self.emulator.created(params, str(parsed["ScheduleArn"]))
        elif params:  # refused (a conflict, a throttle): look at the name later
            self.emulator.notice(str(params["Name"]), params.get("GroupName"))

    def _updated(self, parsed: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
        params = (context or {}).get(_PARAMS)
        if params and "ScheduleArn" in parsed:
            self.emulator.updated(params, str(parsed["ScheduleArn"]))
        elif params:
            self.emulator.notice(str(params["Name"]), params.get("GroupName"))

    def _deleted(self, parsed: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
        params = (context or {}).get(_PARAMS)
        if params and "Error" not in parsed:
            self.emulator.deleted(str(params["Name"]), params.get("GroupName"))
        elif params:
            self.emulator.notice(str(params["Name"]), params.get("GroupName"))


def _remember(params: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
    if isinstance(params, dict) and context is not None:
        context[_PARAMS] = copy.deepcopy(params)
