"""Tell the scheduler emulator which schedules the functions create, update or delete, from the
calls themselves: what AWS took and what it answered.

So the emulator neither reads each schedule back nor lists the whole group after every invocation
(a listing costs O(pending), a read one more call per schedule).
"""

from __future__ import annotations

import copy
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
        for operation in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule"):
            for event_name, hook in (
                (f"before-parameter-build.scheduler.{operation}", _remember),
                (f"after-call.scheduler.{operation}", self._answered),
            ):
                unique_id = f"local-cloud-{id(self)}-{event_name}"
                self._events.register(event_name, hook, unique_id=unique_id)
                self._registered.append((event_name, unique_id))
        return self

    def stop(self) -> None:
        for event_name, unique_id in self._registered:
            self._events.unregister(event_name, unique_id=unique_id)
        self._registered.clear()

    def _answered(
        self, parsed: dict[str, Any], event_name: str, context: dict[str, Any] | None = None, **_: Any
    ) -> None:
        """What AWS answered a schedule call: the emulator learns it, or looks at the name later."""
        params = (context or {}).get(_PARAMS)
        if not params:
            return
        operation = event_name.rsplit(".", 1)[-1]
        if operation == "DeleteSchedule" and "Error" not in parsed:
            self.emulator.deleted(str(params["Name"]), params.get("GroupName"))
        elif operation == "CreateSchedule" and "ScheduleArn" in parsed:
            self.emulator.created(params, str(parsed["ScheduleArn"]))
        elif operation == "UpdateSchedule" and "ScheduleArn" in parsed:
            self.emulator.updated(params, str(parsed["ScheduleArn"]))
        else:  # refused (a conflict, a throttle): the emulator looks at the name later
            self.emulator.notice(str(params["Name"]), params.get("GroupName"))


def _remember(params: dict[str, Any], context: dict[str, Any] | None = None, **_: Any) -> None:
    if isinstance(params, dict) and context is not None:
        context[_PARAMS] = copy.deepcopy(params)
