"""The project's development cloud, assembled: the local AWS, the stack from template.yaml, the
vendor simulator, the real handlers, and the scheduler emulator that fires what they schedule.

Everything shares one clock, installed as pollbridge's clock, so the cloud can run compressed. The
parts are their own modules (`local_aws`, `stack_resources`, `container_env`, `schedule_watch`);
what tools and tests read from a running stack is `StackView`'s.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from devtools.cloud.clocks import CompressedClock, ManualClock
from devtools.cloud.container_env import ContainerEnvironment, forget_cached_wiring
from devtools.cloud.lambda_host import Invocation, LocalFunction
from devtools.cloud.local_aws import LocalAws, MotoMode
from devtools.cloud.local_values import LOCAL_ENVIRONMENT, LOCAL_WEBHOOK_TOKEN_PARAMETER, TEMPLATE
from devtools.cloud.schedule_watch import ScheduleCallWatch
from devtools.cloud.scheduler_emulator import SchedulerEmulator
from devtools.cloud.stack_resources import create_stack_resources
from devtools.cloud.stack_view import StackView
from devtools.cloud.template_stack import StackPlan
from devtools.standins.transcribe_completer import TranscribeCompleter
from devtools.standins.vendor_simulator import SimConfig, VendorSimulator
from pollbridge import clock as shared_clock


@dataclass
class LocalCloud(StackView):
    """Start with `with LocalCloud(...) as cloud:`; everything binds 127.0.0.1 on OS-chosen ports."""

    speed: float = 600.0
    sim_config: SimConfig = field(default_factory=SimConfig)
    duplicate_rate: float = 0.0
    late_duplicate_rate: float = 0.0  # share of polls handed to Lambda again 1-20 minutes later
    handoff_throttle_rate: float = 0.0  # share of hand-offs Lambda refuses (the scheduler retries them)
    emulator_seed: int = 11
    manual_clock: bool = False
    stack_name: str = "pollbridge-local"
    template: Path = TEMPLATE
    aws_port: int = 0  # 0: the OS picks (tests always); `make localcloud` fixes them for humans
    vendor_port: int = 0
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides
    moto: MotoMode = "thread"  # where AWS (moto) runs; see MotoMode

    def __post_init__(self) -> None:
        if self.parameters.get("PrecisePolling") == "true":
            # Not emulated yet: moto's SQS delays run on the wall clock, not the cloud's compressed one,
            # and nothing would play the event source mapping (every poll would wait for its fallback).
            raise ValueError("the local cloud does not emulate PrecisePolling's delay queue (issue 17, item 3)")
        self.clock: CompressedClock | ManualClock = ManualClock() if self.manual_clock else CompressedClock(self.speed)
        self.environment = ContainerEnvironment()
        # One warm container: invocations (scheduled, direct or through the Lambda endpoint) run
        # one at a time, so logs and correlation ids never interleave.
        self.invoke_lock = threading.RLock()

    @property
    def endpoint(self) -> str | None:
        """The local AWS's address; None when moto answers boto3 in this process."""
        return self.aws.endpoint

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        self._previous_clock = shared_clock.install(self.clock)
        self.aws = LocalAws(self.moto, self.aws_port).start()
        try:
            self.simulator = VendorSimulator(self.sim_config, port=self.vendor_port).start()
            self.plan = StackPlan.from_template(
                self.template,
                self.stack_name,
                **{
                    "ProviderUrl": self.simulator.url,
                    "ProviderExtraOptions": "simulate",
                    "WebhookTokenParameterName": LOCAL_WEBHOOK_TOKEN_PARAMETER,
                    **self.parameters,
                },
            )
            if self.endpoint is not None:
                self.plan.queue_url_base = self.endpoint
            self.environment.set({**LOCAL_ENVIRONMENT, **self.aws.endpoint_environment()})
            self.clients = {
                name: boto3.client(name, endpoint_url=self.endpoint)
                for name in ("s3", "scheduler", "sqs", "secretsmanager", "ssm", "events")
            }
            create_stack_resources(self.plan, self.clients)
            # moto's Transcribe writes no transcript: locally, a finished job gets a realistic one.
            self.completer = TranscribeCompleter(self.clients["s3"]) if self.provider == "transcribe" else None
            if self.completer is not None:
                self.completer.__enter__()
            self.specs = self.plan.functions()
            # The template's environment, then the local endpoint (as an env-vars file would set it).
            self.environment.set({**self._function_environment(), **self.aws.endpoint_environment()})
            self.functions = {lid: LocalFunction(spec, self.clock) for lid, spec in self.specs.items()}
            self.emulator = SchedulerEmulator(
                self.clients["scheduler"],
                self.clients["sqs"],
                self.schedule_group,
                {fn.spec.arn: fn for fn in self.functions.values()},
                self.clock,
                duplicate_rate=self.duplicate_rate,
                seed=self.emulator_seed,
                lock=self.invoke_lock,
                late_duplicate_rate=self.late_duplicate_rate,
                throttle_rate=self.handoff_throttle_rate,
                async_configs={fn.spec.arn: fn.spec.event_invoke for fn in self.functions.values()},
            )
            self.schedule_watch = ScheduleCallWatch(self.emulator).start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop what started, in reverse; parts that never started are skipped (a failed start
        calls this too)."""
        for part in ("emulator", "schedule_watch", "simulator"):
            started = getattr(self, part, None)
            if started is not None:
                started.stop()
        completer = getattr(self, "completer", None)
        if completer is not None:
            completer.__exit__(None, None, None)
        self.environment.restore()
        self.aws.stop()  # after the environment: an in-process moto restores what it changed itself
        shared_clock.install(self._previous_clock)
        forget_cached_wiring()

    def _function_environment(self) -> dict[str, str]:
        """One process hosts both functions: their template environments must agree."""
        merged: dict[str, str] = {}
        for spec in self.specs.values():
            for name, value in spec.environment.items():
                if merged.setdefault(name, value) != value:
                    raise ValueError(f"functions disagree on {name}; the local cloud hosts them in one process")
        return merged

    # --- running the functions -------------------------------------------------------------------

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        with self.invoke_lock:
            return self.functions[logical_id].invoke(event)

    def function_by_name(self, name_or_arn: str) -> LocalFunction | None:
        """Find a function by logical id, physical name or ARN (as Lambda's Invoke API accepts)."""
        for logical_id, function in self.functions.items():
            if name_or_arn in (logical_id, function.spec.name, function.spec.arn):
                return function
        return None

    def run_until_idle(self, max_virtual_ms: int = 7 * 86_400_000) -> None:
        """Manual clock: jump to each next moment (a schedule fires, Lambda retries, a late duplicate
        arrives) and let it happen, until nothing is left to happen."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("run_until_idle drives a manual clock; a compressed cloud runs by itself")
        limit = self.clock.now_ms() + max_virtual_ms
        while True:
            self.emulator.refresh()
            upcoming = self.emulator.next_fire_ms()
            if upcoming is None or upcoming > limit:
                return
            self.clock.advance_to(upcoming)
            self.emulator.fire_due()


__all__ = ["LocalCloud"]
