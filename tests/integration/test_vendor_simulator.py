"""The vendor simulator over real HTTP: Idempotency-Key and job options as docs/vendor-api.md states them."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from devtools.standins.vendor_simulator import SimConfig, VendorSimulator
from pollbridge.clock import ManualClock

AUTH = {"Authorization": "Bearer sekret"}
DAY_MS = 24 * 3600 * 1000


def call(
    sim: VendorSimulator, path: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(sim.url + path, data=raw, method="POST", headers={**AUTH, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def job(options: dict[str, Any] | None = None, media_url: str = "http://vendor/u_1") -> dict[str, Any]:
    return {"mediaUrl": media_url, "mediaType": "audio/wav", "options": options or {}}


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def test_a_repeated_upload_with_its_key_creates_nothing_new(
    simulator: VendorSimulator, manual_clock: ManualClock
) -> None:
    first = call(simulator, "/v1/uploads", b"RIFF-1", key("upload-task-1"))
    assert first[0] == 201 and first[1]["uploadId"].startswith("u_")
    assert call(simulator, "/v1/uploads", b"RIFF-1", key("upload-task-1")) == (200, first[1])
    assert list(simulator.uploads) == [first[1]["uploadId"]]

    status, body = call(simulator, "/v1/uploads", b"RIFF-2", key("upload-task-1"))
    assert status == 409 and body["error"]["code"] == "idempotency_conflict"
    assert len(simulator.uploads) == 1
    stats = simulator.config.stats
    assert (stats["uploads"], stats["idempotent_replays"], stats["idempotency_conflicts"]) == (1, 1, 1)


def test_a_repeated_job_with_its_key_answers_the_first_job(
    simulator: VendorSimulator, manual_clock: ManualClock
) -> None:
    created = call(simulator, "/v1/jobs", job({"language": "en-US"}), key("task-1"))
    assert created[0] == 201 and created[1]["status"] == "queued"
    manual_clock.advance(60_000)
    assert call(simulator, "/v1/jobs", job({"language": "en-US"}), key("task-1")) == (200, created[1])
    assert list(simulator.jobs) == [created[1]["id"]]

    status, body = call(simulator, "/v1/jobs", job({"language": "fr-FR"}), key("task-1"))
    assert status == 409 and body["error"]["code"] == "idempotency_conflict" and "task-1" in body["error"]["message"]

    # keys are per endpoint: the same key on an upload is another request
    assert call(simulator, "/v1/uploads", b"RIFF", key("task-1"))[0] == 201
    # without a key every request creates
    assert call(simulator, "/v1/jobs", job({"language": "en-US"}))[0] == 201
    assert call(simulator, "/v1/jobs", job({"language": "en-US"}))[0] == 201
    stats = simulator.config.stats
    assert len(simulator.jobs) == stats["jobs_created"] == 3
    assert stats["idempotent_replays"] == 1 and stats["http_409"] == 1


def test_keys_are_scoped_by_api_key(manual_clock: ManualClock) -> None:
    with VendorSimulator(SimConfig(api_key=None)) as open_sim:
        one = call(open_sim, "/v1/jobs", job(), {**key("k"), "Authorization": "Bearer one"})
        two = call(open_sim, "/v1/jobs", job(), {**key("k"), "Authorization": "Bearer two"})
        assert (one[0], two[0]) == (201, 201) and one[1]["id"] != two[1]["id"]
        assert call(open_sim, "/v1/jobs", job(), {**key("k"), "Authorization": "Bearer one"}) == (200, one[1])
        assert len(open_sim.jobs) == 2


def test_keys_expire_after_24_hours_of_the_shared_clock(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    first = call(simulator, "/v1/jobs", job(), key("daily"))[1]
    manual_clock.advance(DAY_MS - 1)
    assert call(simulator, "/v1/jobs", job(), key("daily")) == (200, first)
    manual_clock.advance(1)
    again = call(simulator, "/v1/jobs", job(), key("daily"))
    assert again[0] == 201 and again[1]["id"] != first["id"]
    assert call(simulator, "/v1/jobs", job(), key("daily")) == (200, again[1])  # the new creation is remembered
    assert simulator.config.stats["jobs_created"] == 2


@pytest.mark.parametrize(("length", "status"), [(255, 201), (256, 400), (0, 400)])
def test_idempotency_key_length(
    simulator: VendorSimulator, manual_clock: ManualClock, length: int, status: int
) -> None:
    for path, body in (("/v1/uploads", b"RIFF"), ("/v1/jobs", job())):
        answered, answer = call(simulator, path, body, key("k" * length))
        assert answered == status
        if status == 400:
            assert answer["error"]["code"] == "bad_request" and "Idempotency-Key" in answer["error"]["message"]
    created = 1 if status == 201 else 0
    assert (len(simulator.uploads), len(simulator.jobs)) == (created, created)


def test_only_creations_are_remembered(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    assert call(simulator, "/v1/jobs", job({"speakers": 2}), key("retry-me"))[0] == 400
    simulator.config.flaky_rate = 1.0
    assert call(simulator, "/v1/jobs", job(), key("retry-me"))[0] in (429, 503)
    simulator.config.flaky_rate = 0.0
    created = call(simulator, "/v1/jobs", job(), key("retry-me"))
    assert created[0] == 201
    assert call(simulator, "/v1/jobs", job(), key("retry-me")) == (200, created[1])
    assert len(simulator.jobs) == simulator.config.stats["jobs_created"] == 1


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"speakers": 2}, "speakers"),
        ({"language": "en-US", "punctuate": True, "model": "x"}, "model, punctuate"),
        ({"language": 5}, "language"),
        ({"diarize": "yes"}, "diarize"),
        ({"vocabulary": "pollbridge"}, "vocabulary"),
        ({"vocabulary": ["w"] * 101}, "vocabulary"),
        ({"vocabulary": ["ok", 3]}, "vocabulary"),
        ({"simulate": "fast"}, "simulate"),
    ],
)
def test_an_option_the_api_does_not_know_is_a_bad_request(
    simulator: VendorSimulator, manual_clock: ManualClock, options: dict[str, Any], named: str
) -> None:
    status, body = call(simulator, "/v1/jobs", job(options))
    assert status == 400 and body["error"]["code"] == "bad_request" and named in body["error"]["message"]
    assert simulator.jobs == {} and "jobs_created" not in simulator.config.stats


def test_the_known_options_and_the_simulate_extension_are_accepted(
    simulator: VendorSimulator, manual_clock: ManualClock
) -> None:
    options = {
        "language": "en-US",
        "diarize": True,
        "vocabulary": ["pollbridge"] * 100,
        "simulate": {"durationSeconds": 90, "queueSeconds": 0, "outcome": "failed", "errorCode": "bad_audio"},
    }
    status, body = call(simulator, "/v1/jobs", job(options))
    assert status == 201
    created = simulator.jobs[body["id"]]
    assert (created.duration_ms, created.outcome, created.error_code) == (90_000, "failed", "bad_audio")


def test_concurrent_repeats_create_one_job(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    many_clients = 8
    answers: list[tuple[int, dict[str, Any]]] = []
    start = threading.Barrier(many_clients)

    def client() -> None:
        start.wait()
        answers.append(call(simulator, "/v1/jobs", job({"language": "en-US"}), key("racy")))

    threads = [threading.Thread(target=client) for _ in range(many_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(status for status, _ in answers) == [200] * (many_clients - 1) + [201]
    assert len({body["id"] for _, body in answers}) == 1 and len(simulator.jobs) == 1
