"""`python -m devtools.burst`, scaled down: a burst of tasks against a vendor that admits a few jobs at
a time, through the real handlers on the local cloud. Every task ends with exactly one record, none
failed by pollbridge, the vendor never ran more jobs than its limit, nothing reached a dead letter."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from devtools import burst

TASKS, LIMIT = 100, 5
LABELS = ["tasks", "records", "failed by pollbridge", "peak vendor jobs", "dead letters"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[str]]:
    """The CLI as `make burst` runs it, scaled down: its exit status and its summary's lines."""
    log = tmp_path_factory.mktemp("burst") / "burst.log"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = burst.main(
            ["--tasks", str(TASKS), "--limit", str(LIMIT), "--rate", "2", "--quiet", "--log-file", str(log)]
        )
    return status, out.getvalue().splitlines()


def figures(lines: list[str]) -> dict[str, str]:
    """label -> figure, from the summary's lines (the figure last on each)."""
    found = {}
    for line in lines[1:]:
        match = re.fullmatch(r"(.+?)\s{2,}(\S+)", line)
        assert match, f"not 'label  figure': {line!r}"
        found[match[1]] = match[2]
    return found


def test_the_burst_keeps_every_invariant(run: tuple[int, list[str]]) -> None:
    status, lines = run
    summary = figures(lines)
    assert list(summary)[: len(LABELS)] == LABELS  # the labels, in this order, first
    assert list(summary)[5:8] == [
        "drain time (virtual minutes)",
        "ideal drain (total work / limit, minutes)",
        "drain vs ideal",
    ]
    assert int(summary["tasks"]) == int(summary["records"]) == TASKS
    assert int(summary["failed by pollbridge"]) == 0
    assert 0 < int(summary["peak vendor jobs"]) <= LIMIT
    assert int(summary["dead letters"]) == 0
    assert int(summary["records written twice"]) == 0 and int(summary["schedules left over"]) == 0
    assert status == 0


def test_the_vendor_limit_was_what_held_the_tasks_back(run: tuple[int, list[str]]) -> None:
    """Without refusals the run would prove nothing: most tasks were refused at first and waited."""
    summary = figures(run[1])
    assert int(summary["peak vendor jobs"]) == LIMIT
    assert int(summary["vendor refusals (concurrent-job limit)"]) > TASKS
    assert int(summary["segments deferred (vendor refused the first submit)"]) > TASKS // 2
    assert int(summary["invocations: deferred-submit retries"]) > 0
    assert float(summary["drain time (virtual minutes)"]) >= float(summary["ideal drain (total work / limit, minutes)"])
    assert float(summary["wait for the vendor max (virtual minutes)"]) > 0


def test_a_started_job_is_still_polled_on_time_amid_the_burst(run: tuple[int, list[str]]) -> None:
    """Deferred submits must not crowd out the status polls: a finished job is noticed within the lag
    budget (60 s) and the scheduler's minute, as without a burst (~70 s here). 236 s when the emulator,
    keeping no deliveries, told the driver nothing had run and the clock jumped past due polls."""
    summary = figures(run[1])
    assert float(summary["detection lag p95 (s)"]) <= 120
    assert float(summary["drain vs ideal"]) <= 1.4


def test_the_fairness_figures() -> None:
    """Overtaking and out-of-order pairs, on four tasks whose order is known."""
    result = burst.BurstResult.__new__(burst.BurstResult)
    minute = 60_000
    # a and b arrive together, c and d a minute later; d starts first, then a, c, b
    result.arrivals = {"a": 0, "b": 0, "c": minute, "d": minute}
    result.starts = {"d": 1, "a": 2, "c": 3, "b": 4}
    assert result.overtaken(30_000) == 2  # a and b: d arrived a minute later and started before them
    assert result.overtaken(2 * minute) == 0
    # pairs started in the other order than they arrived: (a,d) (b,c) (b,d); c and d arrived together
    assert result.out_of_order_share() == pytest.approx(3 / 6)
    assert burst._inversions([1, 2, 3]) == 0 and burst._inversions([3, 2, 1]) == 3


def test_the_tasks_carry_their_media_and_vendor_work() -> None:
    tasks = burst.make_burst_tasks(3, seed=1, arrival_ms=60_000, cache_uri="http://127.0.0.1:9/media/clip.wav")
    assert [offset for offset, _ in tasks] == [0, 20_000, 40_000]
    for _, chunk in tasks:
        assert chunk["cacheURI"] == "http://127.0.0.1:9/media/clip.wav" and "content" not in chunk
        simulate = chunk["taskPayload"]["simulate"]
        assert 30 <= simulate["durationSeconds"] <= 90
        assert simulate["mediaDurationMs"] == chunk["endOffsetMs"] - chunk["startOffsetMs"]
    assert len({chunk["taskId"] for _, chunk in tasks}) == 3
    assert burst.make_burst_tasks(1, seed=1, arrival_ms=0)[0][1]["cacheURI"].startswith("s3://")


def test_the_media_server_answers_every_read() -> None:
    import urllib.request

    with burst.MediaServer(b"RIFF") as server:
        for _ in range(2):
            with urllib.request.urlopen(server.url + burst.MEDIA_PATH, timeout=5) as response:
                assert (response.read(), response.headers["Content-Type"]) == (b"RIFF", "audio/wav")
        assert server.requests == 2


def test_a_small_burst_from_the_media_bucket(tmp_path: Path) -> None:
    """The same through s3:// media (the local media bucket): each deferred submit reads it again."""
    out = io.StringIO()
    argv = ["--tasks", "30", "--limit", "3", "--media", "s3", "--quiet", "--log-file", str(tmp_path / "burst.log")]
    with contextlib.redirect_stdout(out):
        assert burst.main(argv) == 0
    summary = figures(out.getvalue().splitlines())
    assert summary["records"] == "30" and summary["failed by pollbridge"] == "0"
    assert int(summary["invocations: deferred-submit retries"]) > 0


def test_a_waiting_task_uploads_its_media_once(run: tuple[int, list[str]]) -> None:
    """Its tries start from the upload the vendor kept (stagedMedia): one upload request per task,
    however many times the vendor refused it."""
    summary = figures(run[1])
    assert int(summary["vendor upload requests (POST /v1/uploads)"]) == TASKS
    assert int(summary["vendor job requests (POST /v1/jobs)"]) > 2 * TASKS
