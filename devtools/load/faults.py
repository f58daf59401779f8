"""Faults injected around the production code, never inside it: the chaos harness's tools.

- **Crashes** (`InjectedCrash`): every adapter the handlers get from `pollbridge.wiring.container_ports()` is
  wrapped in a proxy that may raise before delegating a call (the container died before it) or
  after the call returned (it died right after: the vendor job exists, the schedule was created,
  the record was written). Ports are found generically: each field of the `Ports` dataclass whose
  value has public methods is wrapped, the others (policy, numbers) are left alone.
- **Crash before the reply**: `FaultInjector.around` runs a handler and may raise after it returned,
  as a container dying before Lambda got its answer (plug it into `LocalFunction.around`).
- **Listings that lag**: `lagging_listings` answers every ListSchedules of the adapters' scheduler
  clients with nothing, as a listing that never catches up would (AWS promises no bound on its lag):
  the loop must not depend on one. Counted in `injected` each time it answers.
- **AWS throttles**: a share of the API calls of a service (e.g. `scheduler`) fail with botocore's
  `ClientError` `ThrottlingException` before they are sent. The hook is on the botocore client
  the adapter holds (so the adapter handles the throttle as it would a real one); when an adapter
  holds no client the harness can see, the port's proxy raises the ClientError before delegating.

Every decision comes from one seeded random generator: the same seed and the same run make the
same faults. A plan may also promise coverage (`every_point_by`): each crash-after point it names,
and the crash before the reply, happens at least once by that point's n-th call, so a run proves
every kind of fault whatever the draws (a 3% rate over 60 calls misses a point one run in six).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

THROTTLE_CODES = {"s3": "SlowDown"}  # every other service says ThrottlingException


class InjectedCrash(Exception):  # noqa: N818 - it is the name the reports show
    """The harness killed the invocation here (not an error of the code under test)."""

    def __init__(self, point: str) -> None:
        super().__init__(f"injected crash {point}")
        self.point = point


@dataclass(frozen=True)
class FaultPlan:
    """Rates of faults. Keys of crash_before/crash_after are `port.method` patterns (fnmatch: `*`,
    `provider.*`, `sink.write_once`); the first pattern that matches a call gives its rate."""

    crash_before: Mapping[str, float] = field(default_factory=dict)
    crash_after: Mapping[str, float] = field(default_factory=dict)
    crash_before_reply: float = 0.0
    throttle: Mapping[str, float] = field(default_factory=dict)  # AWS service name -> share of its calls
    lagging_listings: bool = False  # every ListSchedules answers nothing (a listing that never catches up)
    every_point_by: int = 0  # >0: each crash_after point named exactly, and the reply crash, by that call
    seed: int = 1

    def __post_init__(self) -> None:
        rates = [*self.crash_before.values(), *self.crash_after.values(), *self.throttle.values()]
        if not all(0 <= rate <= 1 for rate in [*rates, self.crash_before_reply]):
            raise ValueError("fault rates must be between 0 and 1")
        if self.every_point_by < 0:
            raise ValueError("every_point_by must be 0 (no promise) or a call count")

    @classmethod
    def chaos(
        cls, crash_rate: float = 0.03, stray_crash_rate: float = 0.01, throttle_rate: float = 0.03, seed: int = 1
    ) -> FaultPlan:
        """The chaos harness's plan: crashes right after each step that changes the world (vendor job
        submitted, schedule created, record written) and before the reply, a few crashes before any
        adapter call, scheduler and S3 calls throttled (as after botocore's retries: the adapter gets
        the ClientError), and listings that never catch up. Each named crash happens at least once
        by its fifth call."""
        return cls(
            crash_before={"*": stray_crash_rate},
            crash_after={
                "provider.submit": crash_rate,
                "scheduler.schedule": crash_rate,
                "sink.write_once": crash_rate,
            },
            crash_before_reply=crash_rate,
            throttle={"scheduler": throttle_rate, "s3": throttle_rate},  # past botocore's retries
            lagging_listings=True,
            every_point_by=5,
            seed=seed,
        )


def _rate(patterns: Mapping[str, float], point: str) -> float:
    if point in patterns:
        return patterns[point]
    return next((rate for pattern, rate in patterns.items() if fnmatch.fnmatchcase(point, pattern)), 0.0)


def has_methods(value: Any) -> bool:
    """An adapter (something to call), as opposed to a setting or a policy record."""
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return False
    return any(callable(getattr(value, name, None)) for name in dir(value) if not name.startswith("_"))


class _OkResponse:
    """The HTTP response botocore expects beside a parsed answer a before-call hook gives."""

    status_code = 200
    headers: dict[str, str] = {}
    content = b""


class FaultInjector:
    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)
        self.injected: Counter[str] = Counter()  # what was injected where, e.g. "crash after provider.submit"
        self._hooks: list[tuple[Any, str, str]] = []  # (event emitter, event name, unique id) to take back
        self._paused = False
        self._calls: Counter[str] = Counter()  # calls seen per promised point (every_point_by)

    # --- decisions -----------------------------------------------------------------------------

    def _happens(self, rate: float, promised: str | None = None) -> bool:
        """A seeded draw; a promised point not yet injected by its `every_point_by`-th call happens."""
        if self._paused or rate <= 0:
            return False
        drawn = self._random.random() < rate
        if promised is None or not self.plan.every_point_by:
            return drawn
        self._calls[promised] += 1
        overdue = not self.injected[promised] and self._calls[promised] >= self.plan.every_point_by
        return drawn or overdue

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No fault while inside (and no random draw: the faults of the rest of the run stay the same),
        e.g. while the harness itself sends a request whose answer it checks."""
        previous, self._paused = self._paused, True
        try:
            yield
        finally:
            self._paused = previous

    def crash_point(self, when: str, point: str) -> None:
        """Maybe raise InjectedCrash `when` ("before" / "after") the call `point` (port.method)."""
        patterns = self.plan.crash_before if when == "before" else self.plan.crash_after
        name = f"crash {when} {point}"
        promised = name if when == "after" and point in patterns else None
        if self._happens(_rate(patterns, point), promised):
            self.injected[name] += 1
            raise InjectedCrash(f"{when} {point}")

    def throttle_point(self, service: str, operation: str) -> None:
        if self._happens(self.plan.throttle.get(service, 0.0)):
            self.injected[f"throttle {service}.{operation}"] += 1
            code = THROTTLE_CODES.get(service, "ThrottlingException")
            raise ClientError(
                {"Error": {"Code": code, "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                operation,
            )

    # --- the handler: crash before the reply ------------------------------------------------------

    def around(self, handler: Callable[[Any, Any], Any], event: Any, context: Any) -> Any:
        value = handler(event, context)
        if self._happens(self.plan.crash_before_reply, "crash before reply"):
            self.injected["crash before reply"] += 1
            raise InjectedCrash("before reply")
        return value

    # --- the ports: crashes around adapter calls, throttles on their AWS clients ----------------

    def wrap_ports[P](self, ports: P) -> P:
        """A copy of a Ports dataclass whose adapters are wrapped (fields without methods kept)."""
        changes: dict[str, Any] = {}
        for port in dataclasses.fields(ports):  # type: ignore[arg-type]
            value = getattr(ports, port.name)
            if isinstance(value, tuple):  # several adapters of one kind (the result sinks): each wrapped
                changes[port.name] = tuple(
                    self._wrap(f"{port.name}.{getattr(v, 'name', i)}", v) for i, v in enumerate(value)
                )
            elif has_methods(value):
                changes[port.name] = self._wrap(port.name, value)
        return dataclasses.replace(ports, **changes)  # type: ignore[type-var]

    def _wrap(self, name: str, adapter: Any) -> Any:
        if not has_methods(adapter):
            return adapter
        throttled_here = self._hook_clients(adapter)
        fallback = {
            service: rate
            for service, rate in self.plan.throttle.items()
            if service == name and service not in throttled_here
        }
        return FaultyPort(name, adapter, self, fallback)

    def _hook_clients(self, adapter: Any) -> set[str]:
        """Throttle the adapter's own botocore clients (attributes of the adapter); the services hooked."""
        hooked = set()
        from pollbridge.adapters.aws import LazyClient

        for value in list(vars(adapter).values()) if hasattr(adapter, "__dict__") else []:
            if isinstance(value, LazyClient):  # the functions make their clients on first use: make it now
                value = value.meta and value._client
            if not isinstance(value, BaseClient):
                continue
            service = value.meta.service_model.service_id.hyphenize()
            if service == "scheduler" and self.plan.lagging_listings:
                self._lag_listings(value)
            if self.plan.throttle.get(service, 0.0) <= 0:
                continue
            event_name, unique_id = f"before-call.{service}", f"fault-injector-{id(self)}-{id(value)}"

            def before_call(model: Any, _service: str = service, **_: Any) -> None:
                self.throttle_point(_service, model.name)

            value.meta.events.register(event_name, before_call, unique_id=unique_id)
            self._hooks.append((value.meta.events, event_name, unique_id))
            hooked.add(service)
        return hooked

    def _lag_listings(self, client: BaseClient) -> None:
        """ListSchedules answers an empty page, before anything is sent (botocore's before-call hook)."""
        event_name = "before-call.scheduler.ListSchedules"
        unique_id = f"fault-injector-listing-{id(self)}-{id(client)}"

        def empty_listing(**_: Any) -> tuple[Any, dict[str, Any]]:
            self.injected["listing answered empty"] += 1
            return _OkResponse(), {"Schedules": [], "ResponseMetadata": {"HTTPStatusCode": 200}}

        client.meta.events.register(event_name, empty_listing, unique_id=unique_id)
        self._hooks.append((client.meta.events, event_name, unique_id))

    @contextmanager
    def installed(self) -> Iterator[FaultInjector]:
        """Make every handler get wrapped ports, through the seam the composition root documents
        (`pollbridge.wiring.ports_overridden`): each build of the ports is wrapped once."""
        from pollbridge import wiring

        try:
            with wiring.ports_overridden(_WrapOncePerBuild(self)):
                yield self
        finally:
            for emitter, event_name, unique_id in self._hooks:
                emitter.unregister(event_name, unique_id=unique_id)
            self._hooks.clear()


class _WrapOncePerBuild:
    """The override: the ports a handler gets, wrapped (and their clients hooked) once per build."""

    def __init__(self, injector: FaultInjector) -> None:
        self._injector = injector
        self._source: Any = None
        self._wrapped: Any = None

    def __call__(self, built: Any) -> Any:
        if built is not self._source:
            self._source, self._wrapped = built, self._injector.wrap_ports(built)
        return self._wrapped


class FaultyPort:
    """A proxy for one adapter: its public methods may crash before or after they run."""

    def __init__(self, name: str, target: Any, injector: FaultInjector, throttle: Mapping[str, float]) -> None:
        self._name = name
        self._target = target
        self._injector = injector
        self._throttle = throttle

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._target, attribute)
        if attribute.startswith("_") or not callable(value):
            return value  # e.g. provider.name
        point = f"{self._name}.{attribute}"

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            self._injector.crash_point("before", point)
            for service in self._throttle:
                self._injector.throttle_point(service, attribute)
            result = value(*args, **kwargs)
            self._injector.crash_point("after", point)
            return result

        return call

    def __repr__(self) -> str:
        return f"FaultyPort({self._name}, {self._target!r})"
