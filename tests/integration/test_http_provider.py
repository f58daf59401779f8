"""The generic http provider against a real server speaking docs/vendor-api.md on loopback."""

import time

import pytest

from devtools.standins.vendor_simulator import VendorSimulator
from pollbridge.adapters.providers import HttpJobProvider
from pollbridge.clock import ManualClock
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobStatus
from pollbridge.ports import Media

MEDIA = Media(b"RIFF....WAVE", "audio/wav")


def test_submit_status_result_cancel(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    provider = HttpJobProvider(simulator.url, "sekret")
    work_id = provider.submit(MEDIA, {"simulate": {"durationSeconds": 120, "mediaDurationMs": 3000}}, "key-1")
    assert simulator.uploads and next(iter(simulator.uploads.values())) == MEDIA.body
    state = provider.status(work_id)
    assert state.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert state.estimated_completion_utc is not None
    assert state.estimated_completion_utc > manual_clock.now_ms()
    with pytest.raises(PermanentError, match="409"):
        provider.transcript(work_id)
    manual_clock.advance(121_000)
    assert provider.status(work_id).status is JobStatus.COMPLETE
    result = provider.transcript(work_id)
    assert result.language == "en-US" and result.words
    assert all(0 <= w.start_ms <= w.end_ms <= 3000 for w in result.words)

    other = provider.submit(MEDIA, {}, "key-2")
    provider.cancel(other)
    assert provider.status(other).status is JobStatus.CANCELED


def test_vendor_failure_carries_its_code(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    provider = HttpJobProvider(simulator.url, "sekret")
    work_id = provider.submit(
        MEDIA, {"simulate": {"durationSeconds": 60, "outcome": "failed", "errorCode": "unsupported_media"}}, "key-x"
    )
    manual_clock.advance(61_000)
    state = provider.status(work_id)
    assert (state.status, state.error_code) == (JobStatus.FAILED, "unsupported_media")


def test_wrong_key_is_a_permanent_authentication_error(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    with pytest.raises(PermanentError) as caught:
        HttpJobProvider(simulator.url, "wrong").status("j_1")
    assert caught.value.reason == "api_authentication_error"


def test_unknown_job_is_permanent_api_not_found(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    with pytest.raises(PermanentError) as caught:
        HttpJobProvider(simulator.url, "sekret").status("j_nope")
    assert caught.value.reason == "api_not_found"


def test_flaky_answers_are_transient_with_retry_after(simulator: VendorSimulator, manual_clock: ManualClock) -> None:
    simulator.config.flaky_rate = 1.0
    provider = HttpJobProvider(simulator.url, "sekret", submit_attempts=2)
    seen = set()
    for _ in range(12):
        with pytest.raises(TransientError) as caught:
            provider.status("j_1")
        seen.add(caught.value.retry_after_s)
    assert 30.0 in seen  # 429 carries Retry-After: 30
    with pytest.raises(TransientError):
        provider.submit(MEDIA, {}, "key-3")
    assert simulator.config.stats.get("uploads", 0) == 0


def test_submit_retries_a_blip_in_place_but_never_a_refusal(
    simulator: VendorSimulator, manual_clock: ManualClock
) -> None:
    """Issue 16: a 503 is retried in place (briefly, through the shared clock); a 429 (the vendor at
    its quota or rate) ends the submit at once as a refusal, for the scheduler to bring back."""
    simulator.config.flaky_rate = 0.5
    provider = HttpJobProvider(simulator.url, "sekret", submit_attempts=10)
    started = refusals = 0
    for n in range(20):
        try:
            assert provider.submit(MEDIA, {}, f"key-{n}").startswith("j_")
            started += 1
        except TransientError as error:
            assert error.refusal and "answered 429" in str(error) and error.retry_after_s == 30.0
            refusals += 1
    answered = simulator.config.stats
    assert started > 0 and refusals > 0
    assert answered.get("http_429", 0) == refusals  # each 429 ended its submit: never asked again in place
    assert answered.get("http_503", 0) > 0  # while the 503s were retried: the submits that saw one went on


def test_unreachable_vendor_and_timeouts_are_transient(manual_clock: ManualClock) -> None:
    import socket

    with socket.socket() as sock:  # a port that is certainly closed: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(TransientError, match="unreachable"):
            HttpJobProvider(f"http://127.0.0.1:{port}", None).status("j_1")
    with socket.socket() as silent:  # listening but never answering
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(TransientError, match="timed out"):
            HttpJobProvider(f"http://127.0.0.1:{silent.getsockname()[1]}", None, timeout_s=0.3).status("j_1")


class SlowFirstJobProxy:
    """Forwards to the vendor; the first POST /v1/jobs reaches it but its answer comes too late."""

    def __init__(self, upstream: str, delay_s: float) -> None:
        import threading
        import urllib.request
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = urllib.request.Request(upstream + self.path, data=body, method="POST")
                for name in ("Content-Type", "Authorization", "Idempotency-Key"):
                    if self.headers.get(name):
                        request.add_header(name, self.headers[name])
                with urllib.request.urlopen(request) as answer:
                    status, payload = answer.status, answer.read()
                if self.path == "/v1/jobs" and not proxy.delayed:
                    proxy.delayed = True
                    time.sleep(delay_s)  # the job exists at the vendor; the client gives up waiting
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.delayed = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_submit_that_timed_out_here_but_succeeded_at_the_vendor_starts_one_job(
    simulator: VendorSimulator, manual_clock: ManualClock
) -> None:
    proxy = SlowFirstJobProxy(simulator.url, delay_s=1.0)
    try:
        provider = HttpJobProvider(proxy.url, "sekret", timeout_s=0.3, submit_attempts=3)
        work_id = provider.submit(MEDIA, {"language": "en-US"}, "pollbridge-job-abc")
        again = provider.submit(MEDIA, {"language": "en-US"}, "pollbridge-job-abc")  # a replayed segment
    finally:
        proxy.server.shutdown()
    assert proxy.delayed
    assert work_id == again and list(simulator.jobs) == [work_id]  # one job at the vendor
    assert simulator.config.stats["jobs_created"] == 1
