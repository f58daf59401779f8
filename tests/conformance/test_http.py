"""The `http` provider against the vendor simulator (a real server speaking docs/vendor-api.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from devtools.standins.vendor_simulator import SimConfig, VendorSimulator
from pollbridge import clock
from pollbridge.adapters.providers import HttpJobProvider
from pollbridge.clock import ManualClock
from pollbridge.models import JobStatus
from pollbridge.ports import Media
from tests.conformance.kit import Failure, Harness, ProviderConformance

FAR = 10**9


class SimulatorHarness(Harness):
    media = Media(b"RIFF....WAVEfmt ", "audio/wav")
    engine_config = {"language": "en-US", "diarize": True, "vocabulary": ["pollbridge"]}
    bad_option = ("diarize", "yes")
    # docs/vendor-api.md: "Job status is one of queued, processing, completed, failed, canceled."
    service_statuses = {
        "queued": JobStatus.QUEUED,
        "processing": JobStatus.RUNNING,
        "completed": JobStatus.COMPLETE,
        "failed": JobStatus.FAILED,
        "canceled": JobStatus.CANCELED,
    }

    def __init__(self, simulator: VendorSimulator) -> None:
        self.simulator = simulator
        self.provider = HttpJobProvider(simulator.url, "sekret", submit_attempts=1)

    def jobs_started(self) -> int:
        return len(self.simulator.jobs)

    def set_status(self, work_id: str, service_status: str) -> None:
        job, now = self.simulator.jobs[work_id], clock.now_ms()
        job.canceled_at_ms = None
        job.created_ms, job.queued_ms, job.duration_ms = now - 10, 0, FAR
        match service_status:
            case "queued":
                job.queued_ms = FAR
            case "completed" | "failed":
                job.duration_ms, job.outcome = 5, service_status
            case "canceled":
                job.canceled_at_ms = now - 5

    def finish(self, work_id: str) -> None:
        self.set_status(work_id, "completed")

    @contextlib.contextmanager
    def failing(self, kind: Failure) -> Iterator[None]:
        code = 429 if kind == "throttling" else 503
        self.simulator.flaky_answer = lambda: code  # type: ignore[method-assign]
        try:
            yield
        finally:
            del self.simulator.flaky_answer

    def cancelled(self, work_id: str) -> bool:
        return self.simulator.jobs[work_id].canceled_at_ms is not None


class TestHttpConformance(ProviderConformance):
    @pytest.fixture
    def harness(self, manual_clock: ManualClock) -> Iterator[SimulatorHarness]:
        with VendorSimulator(SimConfig(api_key="sekret", duration_s=(600, 600), queue_s=(0, 0))) as simulator:
            yield SimulatorHarness(simulator)
