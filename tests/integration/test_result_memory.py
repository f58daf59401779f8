"""Issue 15, finding 3: a result within its provider's documented bound must fit the poll function.

Lambda kills a function that exceeds its MemorySize: no record, two retries, the dead-letter queue,
and a redrive fails the same way. Each provider's largest result (README, Providers) goes through
core's real poll in a fresh interpreter laid out as the poll function (devtools/bench/memory.py, the
benchmark of BENCHMARKS.md's section 4), and its peak resident set must stay under 70% of
PollFunction's MemorySize in template.yaml. Memory is deterministic enough for a generous margin;
this is no timing test. The three cases run side by side (~15 s)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devtools.bench import memory

# The densest result each bound admits: 8 MiB of one-letter words, a 64 MiB Transcribe transcript,
# 200 full pages of Rekognition text detections.
CASES = ("http-dense", "transcribe", "rekognition-max")


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, Any]]:
    chosen = [case for case in memory.cases() if case.name in CASES]
    with ThreadPoolExecutor(len(chosen)) as pool:
        return dict(zip((case.name for case in chosen), pool.map(memory.run, chosen), strict=True))


@pytest.mark.parametrize("case", CASES)
def test_a_result_at_its_documented_maximum_fits_the_poll_function(
    measured: dict[str, dict[str, Any]], case: str
) -> None:
    found = measured[case]
    limit_mb = memory.MARGIN * memory.memory_size_mb("PollFunction")
    assert found["kind"] == "complete", found  # converted, written, answered: not failed for its size
    assert found["peak_mib"] <= limit_mb, (
        f"{case}: the poll peaked at {found['peak_mib']:.0f} MB, over {limit_mb:.0f} MB"
        f" ({memory.MARGIN:.0%} of PollFunction's MemorySize)"
    )


def test_the_functions_that_can_complete_a_task_have_the_poll_functions_memory() -> None:
    """The segment function polls a routed-back poll task and the webhook polls in platform mode:
    each can convert a result as the poll function does."""
    sizes = {name: memory.memory_size_mb(name) for name in ("PollFunction", "SegmentFunction", "WebhookFunction")}
    assert min(sizes.values()) == sizes["PollFunction"], sizes
