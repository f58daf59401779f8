"""The vendor simulator's quotas over real HTTP (127.0.0.1, an OS-chosen port): a concurrent-job limit
and a submit rate, each answered 429 with Retry-After; and how the http provider reads that answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.standins.vendor_simulator import SimConfig, VendorSimulator
from pollbridge.adapters.providers import HttpJobProvider
from pollbridge.clock import ManualClock
from pollbridge.errors import TransientError
from pollbridge.ports import Media

AUTH = {"Authorization": "Bearer sekret"}
MEDIA = Media(b"RIFF....WAVE", "audio/wav")


def call(
    sim: VendorSimulator, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) of a POST (with a body) or a GET."""
    raw = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        sim.url + path, data=raw, method="POST" if raw is not None else "GET", headers={**AUTH, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def submit(
    sim: VendorSimulator, key: str | None = None, seconds: float = 120
) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {
        "mediaUrl": "http://vendor/u_1",
        "mediaType": "audio/wav",
        "options": {"simulate": {"durationSeconds": seconds}},
    }
    return call(sim, "/v1/jobs", body, {"Idempotency-Key": key} if key else None)


def quota_sim(**limits: Any) -> VendorSimulator:
    return VendorSimulator(SimConfig(api_key="sekret", duration_s=(120, 120), queue_s=(0, 0), **limits))


@pytest.fixture
def limited(manual_clock: ManualClock) -> Iterator[VendorSimulator]:
    """At most 2 jobs at once; jobs take 120 s (no queue)."""
    with quota_sim(max_concurrent_jobs=2) as sim:
        yield sim


def test_past_the_concurrent_limit_a_submit_is_429_with_retry_after_and_creates_nothing(
    limited: VendorSimulator, manual_clock: ManualClock
) -> None:
    assert submit(limited, "a")[0] == 201
    manual_clock.advance(30_000)
    assert submit(limited, "b")[0] == 201

    status, body, headers = submit(limited, "c")
    assert status == 429
    assert body["error"]["code"] == "concurrent_job_limit" and "at most 2" in body["error"]["message"]
    assert headers["Retry-After"] == "90"  # job a ends 120 s after it started, 30 s ago
    assert headers["Content-Type"] == "application/json"
    assert len(limited.jobs) == 2 and limited.config.stats["jobs_created"] == 2
    assert limited.config.stats["refused_concurrency"] == 1 and limited.config.stats["http_429"] == 1
    assert limited.active_jobs() == 2 and limited.peak_active_jobs == 2


def test_a_refused_key_is_not_consumed_and_a_finished_job_frees_its_slot(
    limited: VendorSimulator, manual_clock: ManualClock
) -> None:
    first = submit(limited, "a")[1]
    manual_clock.advance(30_000)
    submit(limited, "b")
    assert submit(limited, "c")[0] == 429
    assert submit(limited, "c")[0] == 429  # still full: still refused, still nothing remembered

    manual_clock.advance(89_999)  # job a ends at 120 s: not yet
    assert submit(limited, "c")[0] == 429
    manual_clock.advance(1)
    assert limited.jobs[first["id"]].status(manual_clock.now_ms()) == "completed"
    assert limited.active_jobs() == 1
    status, created, _ = submit(limited, "c")
    assert status == 201  # the key refused three times creates its job now
    assert submit(limited, "c")[:2] == (200, created)  # and is remembered from now on
    assert len(limited.jobs) == 3 and limited.peak_active_jobs == 2


def test_a_replay_of_an_admitted_key_is_answered_while_the_vendor_is_full(
    limited: VendorSimulator, manual_clock: ManualClock
) -> None:
    created = submit(limited, "a")[1]
    submit(limited, "b")
    assert submit(limited, "a")[:2] == (200, created)  # creates nothing: no quota to pass
    assert submit(limited, "x")[0] == 429


def test_a_canceled_job_frees_its_slot_at_once(limited: VendorSimulator, manual_clock: ManualClock) -> None:
    job_id = submit(limited, "a")[1]["id"]
    submit(limited, "b")
    assert submit(limited, "c")[0] == 429
    request = urllib.request.Request(f"{limited.url}/v1/jobs/{job_id}", method="DELETE", headers=AUTH)
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204
    assert limited.active_jobs() == 1
    assert submit(limited, "c")[0] == 201


def test_failed_jobs_free_their_slots_too(manual_clock: ManualClock) -> None:
    with quota_sim(max_concurrent_jobs=1, failure_rate=1.0) as sim:
        job_id = submit(sim, "a")[1]["id"]
        assert submit(sim, "b")[0] == 429
        manual_clock.advance(120_000)
        assert sim.jobs[job_id].status(manual_clock.now_ms()) == "failed"
        assert submit(sim, "b")[0] == 201


def test_past_the_submit_rate_a_submit_is_429_with_retry_after(manual_clock: ManualClock) -> None:
    with quota_sim(submit_rate=2.0) as sim:  # a bucket of 2 tokens, one more every 500 ms
        assert [submit(sim, key)[0] for key in ("a", "b")] == [201, 201]
        status, body, headers = submit(sim, "c")
        assert (status, body["error"]["code"], headers["Retry-After"]) == (429, "rate_limited", "1")
        assert len(sim.jobs) == 2 and sim.config.stats["refused_rate"] == 1
        manual_clock.advance(499)
        assert submit(sim, "c")[0] == 429
        manual_clock.advance(1)
        assert submit(sim, "c")[0] == 201  # the refused key, admitted with the next token
        assert submit(sim, "d")[0] == 429  # that token is spent: refusals took none
        manual_clock.advance(10_000)  # the bucket refills up to its size, no further
        assert [submit(sim, key)[0] for key in ("d", "e", "f")] == [201, 201, 429]


def test_a_slow_rate_asks_for_a_longer_wait(manual_clock: ManualClock) -> None:
    with quota_sim(submit_rate=0.2, submit_burst=1) as sim:  # one submit every 5 s
        assert submit(sim, "a")[0] == 201
        manual_clock.advance(1_000)
        assert submit(sim, "b")[2]["Retry-After"] == "4"


def test_a_refusal_for_concurrency_spends_no_token(manual_clock: ManualClock) -> None:
    with quota_sim(max_concurrent_jobs=1, submit_rate=1.0) as sim:
        assert submit(sim, "a", seconds=1)[0] == 201
        assert submit(sim, "b")[2]["Retry-After"] == "1"  # the slot: job a ends in 1 s
        manual_clock.advance(1_000)
        assert submit(sim, "b")[0] == 201  # a slot and the token refilled since a


def test_the_peak_is_recorded_with_or_without_a_limit(manual_clock: ManualClock) -> None:
    with quota_sim() as sim:  # no limit: nothing is refused, the peak is still counted
        for key in "abc":
            assert submit(sim, key)[0] == 201
        manual_clock.advance(120_000)
        assert sim.active_jobs() == 0
        assert submit(sim, "d")[0] == 201
        status, stats, _ = call(sim, "/_simulator/stats")
        assert status == 200
        assert stats["activeJobs"] == 1 and stats["peakActiveJobs"] == 3 == sim.peak_active_jobs
        assert stats["limits"] == {"maxConcurrentJobs": None, "submitRate": None}
        assert stats["stats"]["jobs_created"] == 4
        assert call(sim, "/_simulator/stats", headers={"Authorization": "Bearer wrong"})[0] == 401


def test_the_peak_never_passes_the_limit_under_concurrent_submits(manual_clock: ManualClock) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with quota_sim(max_concurrent_jobs=5) as sim, ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda index: submit(sim, f"k{index}")[0], range(40)))
        assert statuses.count(201) == 5 and statuses.count(429) == 35
        assert sim.peak_active_jobs == 5 and len(sim.jobs) == 5


def test_the_http_provider_reads_the_refusal_as_transient_with_its_retry_after(
    limited: VendorSimulator, manual_clock: ManualClock
) -> None:
    provider = HttpJobProvider(limited.url, "sekret", submit_attempts=1)
    provider.submit(MEDIA, {}, "unit-1")
    manual_clock.advance(20_000)
    provider.submit(MEDIA, {}, "unit-2")
    with pytest.raises(TransientError, match="429 concurrent_job_limit") as caught:
        provider.submit(MEDIA, {}, "unit-3")
    assert caught.value.retry_after_s == 100.0
    assert len(limited.jobs) == 2

    manual_clock.advance(100_000)  # the first job is done: the same unit's key starts its job
    work_id = provider.submit(MEDIA, {}, "unit-3")
    assert work_id in limited.jobs and len(limited.jobs) == 3
    assert provider.submit(MEDIA, {}, "unit-3") == work_id  # one job per unit


def test_the_http_provider_never_retries_a_refusal_in_place(
    limited: VendorSimulator, manual_clock: ManualClock
) -> None:
    provider = HttpJobProvider(limited.url, "sekret")  # the segment's default: blips are retried in place
    provider.submit(MEDIA, {}, "unit-1")
    provider.submit(MEDIA, {}, "unit-2")
    before = manual_clock.now_ms()
    with pytest.raises(TransientError) as caught:
        provider.submit(MEDIA, {}, "unit-3")
    assert caught.value.retry_after_s == 120.0 and caught.value.refusal
    assert limited.config.stats["refused_concurrency"] == 1  # asked once: the scheduler brings it back
    assert manual_clock.now_ms() == before


def unreadable_media() -> Media:
    """Media whose bytes must not be needed: reading them fails the test."""

    def read() -> bytes:
        raise AssertionError("the media was read again")

    return Media(read, "audio/wav")


def refused_third(sim: VendorSimulator) -> tuple[HttpJobProvider, str | None]:
    """Two units' jobs fill the limit of 2; the third unit's is refused: the provider and its `staged`."""
    provider = HttpJobProvider(sim.url, "sekret", submit_attempts=1)
    provider.submit(MEDIA, {}, "unit-1")
    provider.submit(MEDIA, {}, "unit-2")
    with pytest.raises(TransientError) as caught:
        provider.submit(MEDIA, {}, "unit-3")
    return provider, caught.value.staged


def test_a_refused_job_says_where_its_upload_is_and_the_next_submit_starts_from_it(
    limited: VendorSimulator, manual_clock: ManualClock
) -> None:
    """A task waiting for a slot neither reads nor sends its media again at each try."""
    provider, staged = refused_third(limited)
    assert staged is not None and staged.removeprefix(f"{limited.url}/v1/uploads/") in limited.uploads
    assert limited.config.stats["uploads"] == 3

    with pytest.raises(TransientError) as again:  # still full: refused from the staged upload
        provider.submit(unreadable_media(), {}, "unit-3", staged)
    assert again.value.staged == staged and again.value.refusal

    manual_clock.advance(120_000)  # the first two jobs are done
    work_id = provider.submit(unreadable_media(), {}, "unit-3", staged)
    assert limited.jobs[work_id] and limited.config.stats["uploads"] == 3  # no upload since the first
    assert provider.submit(unreadable_media(), {}, "unit-3", staged) == work_id  # still one job per unit


def test_an_upload_the_vendor_no_longer_has_is_sent_again_once(
    limited: VendorSimulator, manual_clock: ManualClock
) -> None:
    provider, staged = refused_third(limited)
    manual_clock.advance(25 * 3_600_000)  # past the vendor's 24 hours: the upload (and its key) are gone
    assert staged is not None and not limited.has_upload(staged)

    work_id = provider.submit(MEDIA, {}, "unit-3", staged)
    assert work_id in limited.jobs and limited.config.stats["uploads"] == 4
    assert limited.config.stats["http_400"] == 1  # the stale upload, asked once


def test_an_upload_lost_while_the_vendor_still_remembers_its_key_is_sent_again_under_a_new_key(
    manual_clock: ManualClock,
) -> None:
    """A vendor that keeps uploads for an hour but keys for a day: the first upload's key would be
    answered with the lost upload's url (and the job refused again); the media goes under a key of
    its own, derived from the lost url (a redelivery finds the same new upload)."""
    with quota_sim(max_concurrent_jobs=2, upload_ttl_s=3600) as sim:
        provider, staged = refused_third(sim)
        manual_clock.advance(2 * 3_600_000)  # the jobs are done, the upload is gone, its key remembered
        assert staged is not None and not sim.has_upload(staged)
        work_id = provider.submit(MEDIA, {}, "unit-3", staged)
        assert work_id in sim.jobs and sim.config.stats["uploads"] == 4
        assert sim.config.stats.get("http_409", 0) == 0 and sim.config.stats["http_400"] == 1
        assert provider.submit(MEDIA, {}, "unit-3", staged) == work_id  # the same job, nothing new
        assert sim.config.stats["uploads"] == 4


@pytest.mark.parametrize(
    "url",
    [
        "https://media.example/u?X-Amz-Signature=abc",  # a presigned url
        "https://user:secret@media.example/u",
        "https://media.example/u#token=abc",
    ],
)
def test_an_upload_url_that_could_carry_a_credential_is_never_offered_for_later(
    manual_clock: ManualClock, url: str
) -> None:
    """It would ride in a payload aiWARE sees and logs: the media is sent again instead."""
    with quota_sim(max_concurrent_jobs=1) as sim:
        provider = HttpJobProvider(sim.url, "sekret", submit_attempts=1)
        provider.submit(MEDIA, {}, "unit-1")
        with pytest.raises(TransientError) as caught:
            provider.submit(Media(b"x", "audio/wav"), {}, "unit-2", url)
        assert caught.value.refusal and caught.value.staged is None
