"""A real HTTP server speaking the reference vendor job API v1 (docs/vendor-api.md), on loopback.

Jobs take realistic time on the shared clock (so a compressed local cloud compresses them too),
and switches make it fail jobs, answer flakily (429/503) or demand an API key. It remembers when
each job truly finished, so the local cloud can measure how late pollbridge noticed.

As the reference API does, `POST /v1/uploads` and `POST /v1/jobs` honour an `Idempotency-Key`
header (1 to 255 characters, else 400): a repeat with the same key and the same body, within 24 hours
of the shared clock, creates nothing and answers 200 with the first answer; the same key with another
body answers 409 `idempotency_conflict`. Keys are scoped per API key and per endpoint (a key used for
an upload does not collide with the same key used for a job). Only successful creations are
remembered: a request refused (400, 413, a flaky 429/503) may be repeated with its key. An upload is
kept `upload_ttl_s` (by default as long as its key's answer, 24 hours): a job whose `mediaUrl` is one
of this vendor's uploads that it does not have (unknown, or older) is a 400 `bad_request`; any other
url is taken as fetchable.

Job `options` are the reference API's (`language`: a string, `diarize`: a boolean, `vocabulary`: up to
100 strings) plus the simulator's own extension `simulate`, per-job overrides of the simulation:
`durationSeconds`, `queueSeconds`, `outcome` ("completed" | "failed"), `errorCode`, `mediaDurationMs`.
Any other option is a 400 `bad_request` naming it.

Quotas, both off by default (`SimConfig.max_concurrent_jobs`, `SimConfig.submit_rate`), as real
vendors have them: a job is *active* from its creation until it is completed, failed or canceled (on
the shared clock: a queued job holds its slot too). A `POST /v1/jobs` that would create a job while
`max_concurrent_jobs` are active is answered `429 {"error": {"code": "concurrent_job_limit", ...}}`
with `Retry-After` (whole seconds until the first active job ends, at least 1); past `submit_rate`
(creations per second, a token bucket of `submit_burst` tokens, by default one second's worth) it is
`429 rate_limited` with `Retry-After` (seconds until the next token, at least 1). Only a creation is
admitted or refused: a replay of a key that already created its job is answered as always, and a
refused submit creates nothing, takes no token and leaves its Idempotency-Key unused (a later submit
with it may create the job). `active_jobs()` and `peak_active_jobs` (the most jobs ever active at
once, counted whether or not a limit is set) say how close the vendor came; `GET /_simulator/stats`
answers them, the limits and `config.stats` over HTTP (the API key is checked, flakiness is not).

`config.stats` counts requests: `uploads` and `jobs_created` (real creations only), `upload_requests`
and `upload_bytes` (every `POST /v1/uploads` past the gate, and its body), `job_requests` (every
`POST /v1/jobs` past the gate), `idempotent_replays`, `idempotency_conflicts`, `status`,
`results`, `cancels`, `http_<code>`, `refused_concurrency` and `refused_rate` (submits the quotas refused).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pollbridge import clock

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
IDEMPOTENCY_KEY_MAX = 255
KNOWN_OPTIONS = ("language", "diarize", "vocabulary")
SIMULATOR_OPTIONS = ("simulate",)
VOCABULARY_MAX = 100
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "engines", "poll", "patiently"]


@dataclass
class SimJob:
    id: str
    created_ms: int
    queued_ms: int
    duration_ms: int
    outcome: str  # "completed" | "failed"
    error_code: str = "internal"
    media_duration_ms: int = 30_000
    canceled_at_ms: int | None = None
    eta_skew: float = 1.0

    @property
    def completes_at_ms(self) -> int:
        return self.created_ms + self.queued_ms + self.duration_ms

    def status(self, now_ms: int) -> str:
        if self.canceled_at_ms is not None and self.canceled_at_ms < self.completes_at_ms:
            return "canceled"
        if now_ms < self.created_ms + self.queued_ms:
            return "queued"
        if now_ms < self.completes_at_ms:
            return "processing"
        return self.outcome


@dataclass(frozen=True)
class Remembered:
    """The first answer to an idempotent request."""

    fingerprint: str  # sha256 of the request body
    created_ms: int
    body: dict[str, Any]


@dataclass
class SimConfig:
    api_key: str | None = None
    seed: int = 7
    duration_s: tuple[float, float] = (60.0, 900.0)  # processing time, uniform in this range
    queue_s: tuple[float, float] = (0.0, 30.0)
    failure_rate: float = 0.0  # share of jobs that end `failed`
    flaky_rate: float = 0.0  # share of requests answered 429/503
    max_upload_bytes: int = 50 * 1024 * 1024
    max_concurrent_jobs: int | None = None  # active (queued or processing) jobs at most; None: no limit
    submit_rate: float | None = None  # job creations per second (token bucket); None: no limit
    submit_burst: float | None = None  # the bucket's size; None: one second's worth (at least 1)
    upload_ttl_s: float = IDEMPOTENCY_TTL_MS / 1000  # how long an upload is kept (a vendor may keep it less)
    stats: dict[str, int] = field(default_factory=dict)


class Refused(Exception):  # noqa: N818 - an answer, not a failure
    """A submit the quotas do not admit now: 429 with this code and Retry-After (whole seconds)."""

    def __init__(self, code: str, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


class VendorSimulator:
    def __init__(
        self,
        config: SimConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """`tls`: (certificate chain, key) to serve https instead of http (devtools/standins/tls.py)."""
        self.config = config or SimConfig()
        self.jobs: dict[str, SimJob] = {}
        self.uploads: dict[str, bytes] = {}
        self.upload_times: dict[str, int] = {}  # kept config.upload_ttl_s (by default as long as their key)
        self.idempotency: dict[tuple[str, str, str], Remembered] = {}  # (API key, path, Idempotency-Key)
        self._idempotency_lock = threading.Lock()  # held from lookup to creation: one creation per key
        self._ids = itertools.count(1)
        self._random = random.Random(self.config.seed)
        self._lock = threading.Lock()
        # The quotas: the active jobs (ids), a heap of (end ms, id) to retire them as the clock passes
        # their end (a cancel retires one at once), and the submit rate's token bucket.
        self._active: set[str] = set()
        self._ends: list[tuple[int, str]] = []
        self.peak_active_jobs = 0
        burst = self.config.submit_burst
        rate = self.config.submit_rate
        self._bucket_size = float(burst if burst is not None else max(rate or 1.0, 1.0))
        self._tokens = self._bucket_size
        self._tokens_at_ms: int | None = None
        self._server = _Server((host, port), self)
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def start(self) -> VendorSimulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="vendor-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> VendorSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.config.stats[key] = self.config.stats.get(key, 0) + amount

    # --- the API's behaviour, independent of HTTP -------------------------------------------

    def active_jobs(self) -> int:
        """Jobs created and not yet completed, failed or canceled, now."""
        with self._lock:
            self._retire(clock.now_ms())
            return len(self._active)

    def _retire(self, now_ms: int) -> None:
        """Forget the jobs that ended by now; the heap's first entry is then the next active job to end."""
        while self._ends and (self._ends[0][0] <= now_ms or self._ends[0][1] not in self._active):
            self._active.discard(heapq.heappop(self._ends)[1])

    def _admit(self, now_ms: int) -> None:
        """Raise Refused unless the quotas admit a creation now; take its token when they do."""
        config = self.config
        self._retire(now_ms)
        if config.max_concurrent_jobs is not None and len(self._active) >= config.max_concurrent_jobs:
            config.stats["refused_concurrency"] = config.stats.get("refused_concurrency", 0) + 1
            first_end = self._ends[0][0] if self._ends else now_ms
            raise Refused(
                "concurrent_job_limit",
                f"{len(self._active)} jobs are active; at most {config.max_concurrent_jobs} at once",
                max(1, math.ceil((first_end - now_ms) / 1000)),
            )
        if config.submit_rate is not None and config.submit_rate > 0:
            if self._tokens_at_ms is not None and now_ms > self._tokens_at_ms:
                refill = (now_ms - self._tokens_at_ms) / 1000 * config.submit_rate
                self._tokens = min(self._bucket_size, self._tokens + refill)
            self._tokens_at_ms = now_ms if self._tokens_at_ms is None else max(now_ms, self._tokens_at_ms)
            if self._tokens < 1.0:
                config.stats["refused_rate"] = config.stats.get("refused_rate", 0) + 1
                raise Refused(
                    "rate_limited",
                    f"at most {config.submit_rate:g} job submits per second",
                    max(1, math.ceil((1.0 - self._tokens) / config.submit_rate)),
                )
            self._tokens -= 1.0

    def create_job(self, options: dict[str, Any], admit: bool = False) -> SimJob:
        """A new job; with `admit`, only if the quotas admit it now (else Refused, and nothing changes)."""
        requested = options.get("simulate")
        sim: dict[str, Any] = requested if isinstance(requested, dict) else {}
        with self._lock:
            now = clock.now_ms()
            if admit:
                self._admit(now)
            rnd = self._random
            job_id = f"j_{next(self._ids):06d}"
            duration_s = sim.get("durationSeconds", rnd.uniform(*self.config.duration_s))
            failed = sim.get("outcome") == "failed" or (
                "outcome" not in sim and rnd.random() < self.config.failure_rate
            )
            job = SimJob(
                id=job_id,
                created_ms=now,
                queued_ms=int(sim.get("queueSeconds", rnd.uniform(*self.config.queue_s)) * 1000),
                duration_ms=int(float(duration_s) * 1000),
                outcome="failed" if failed else "completed",
                error_code=str(sim.get("errorCode", "unsupported_media")),
                media_duration_ms=int(sim.get("mediaDurationMs", 30_000)),
                eta_skew=rnd.uniform(0.9, 1.1),
            )
            self.jobs[job_id] = job
            if job.completes_at_ms > job.created_ms:  # a job of no duration is never active
                self._retire(job.created_ms)
                self._active.add(job_id)
                heapq.heappush(self._ends, (job.completes_at_ms, job_id))
                self.peak_active_jobs = max(self.peak_active_jobs, len(self._active))
        return job

    def cancel(self, job: SimJob) -> None:
        """DELETE: a queued or processing job becomes canceled, and frees its slot."""
        with self._lock:
            now = clock.now_ms()
            if job.status(now) in ("queued", "processing"):
                job.canceled_at_ms = now
                self._active.discard(job.id)

    def quota_stats(self) -> dict[str, Any]:
        """What `GET /_simulator/stats` answers."""
        active = self.active_jobs()
        with self._lock:
            limits = {"maxConcurrentJobs": self.config.max_concurrent_jobs, "submitRate": self.config.submit_rate}
            return {
                "activeJobs": active,
                "peakActiveJobs": self.peak_active_jobs,
                "limits": limits,
                "stats": dict(self.config.stats),
            }

    def create_upload(self, body: bytes) -> dict[str, Any]:
        with self._lock:
            upload_id = f"u_{next(self._ids):06d}"
            self.uploads[upload_id] = body
            self.upload_times[upload_id] = clock.now_ms()
        self.count("uploads")
        return {"uploadId": upload_id, "url": f"{self.url}/v1/uploads/{upload_id}"}

    def has_upload(self, media_url: str) -> bool:
        """False for a url of this vendor's uploads that is unknown or older than upload_ttl_s (a job
        from it is refused 400); any other url is the vendor's to fetch, and taken."""
        prefix = f"{self.url}/v1/uploads/"
        if not media_url.startswith(prefix):
            return True
        created = self.upload_times.get(media_url.removeprefix(prefix))
        return created is not None and clock.now_ms() - created < self.config.upload_ttl_s * 1000

    def idempotent(
        self, scope: str, path: str, key: str | None, body: bytes, create: Callable[[], dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        """(201, created) the first time; (200, first answer) for a repeat with the same body within
        24 hours; (409, error) for the same key with another body."""
        if key is None:
            return 201, create()
        fingerprint = hashlib.sha256(body).hexdigest()
        with self._idempotency_lock:
            now = clock.now_ms()
            remembered = self.idempotency.get((scope, path, key))
            if remembered is not None and now - remembered.created_ms < IDEMPOTENCY_TTL_MS:
                if remembered.fingerprint != fingerprint:
                    self.count("idempotency_conflicts")
                    message = f"Idempotency-Key {key!r} was used with a different body"
                    return 409, {"error": {"code": "idempotency_conflict", "message": message}}
                self.count("idempotent_replays")
                return 200, remembered.body
            created = create()
            self.idempotency[(scope, path, key)] = Remembered(fingerprint, now, created)
            return 201, created

    def job_body(self, job: SimJob) -> dict[str, Any]:
        now = clock.now_ms()
        status = job.status(now)
        body: dict[str, Any] = {"id": job.id, "status": status, "createdAt": _iso(job.created_ms)}
        if status in ("queued", "processing"):
            started = job.created_ms + job.queued_ms
            body["progress"] = round(min(max((now - started) / max(job.duration_ms, 1), 0.0), 1.0), 3)
            remaining = (job.completes_at_ms - now) * job.eta_skew
            body["estimatedCompletionAt"] = _iso(now + int(remaining))
        if status == "failed":
            body["error"] = {"code": job.error_code, "message": "the simulated engine could not process the media"}
        return body

    def result_body(self, job: SimJob) -> dict[str, Any]:
        rnd = random.Random(job.id)
        words, t = [], 0
        while t + 300 <= job.media_duration_ms:
            length = rnd.randint(200, 600)
            words.append({"text": rnd.choice(WORDS), "startMs": t, "endMs": min(t + length, job.media_duration_ms),
                          "confidence": round(rnd.uniform(0.6, 0.99), 2)})  # fmt: skip
            t += length + rnd.randint(50, 400)
        return {"language": "en-US", "durationMs": job.media_duration_ms, "words": words}

    def flaky_answer(self) -> int | None:
        """429 or 503 for a share `flaky_rate` of requests, else None."""
        with self._lock:
            if self.config.flaky_rate <= 0 or self._random.random() >= self.config.flaky_rate:
                return None
            return self._random.choice((429, 503))


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 resets connections when a burst of clients connects at once
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: VendorSimulator) -> None:
        super().__init__(address, _VendorRequestHandler)
        self.sim = sim


def check_options(options: dict[str, Any]) -> str | None:
    """What is wrong with a job's options, or None."""
    unknown = sorted(set(options) - set(KNOWN_OPTIONS) - set(SIMULATOR_OPTIONS))
    if unknown:
        return f"unknown option(s) {', '.join(unknown)}; known: {', '.join(KNOWN_OPTIONS + SIMULATOR_OPTIONS)}"
    if "language" in options and not isinstance(options["language"], str):
        return "option language must be a string (a BCP-47 code such as en-US)"
    if "diarize" in options and not isinstance(options["diarize"], bool):
        return "option diarize must be a boolean"
    vocabulary = options.get("vocabulary", [])
    if not isinstance(vocabulary, list) or len(vocabulary) > VOCABULARY_MAX:
        return f"option vocabulary must be a list of at most {VOCABULARY_MAX} strings"
    if not all(isinstance(word, str) for word in vocabulary):
        return f"option vocabulary must be a list of at most {VOCABULARY_MAX} strings"
    if "simulate" in options and not isinstance(options["simulate"], dict):
        return "option simulate must be an object"
    return None


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _VendorRequestHandler(BaseHTTPRequestHandler):
    """The reference API over HTTP: each request read, gated (API key, flakiness), answered from the
    simulator its server belongs to (`_Server.sim`)."""

    server: _Server

    @property
    def sim(self) -> VendorSimulator:
        return self.server.sim

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, a kept-alive connection waits for the
    # client's delayed ACK between them (~40 ms a request). Real API servers set TCP_NODELAY too.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        pass

    def _send(self, code: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, code: int, err: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.sim.count(f"http_{code}")
        self._send(code, {"error": {"code": err, "message": message}}, headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _gate(self) -> bool:
        """Authentication and flakiness, before any route runs; True when the request may go on."""
        if self.sim.config.api_key and self.headers.get("Authorization") != f"Bearer {self.sim.config.api_key}":
            self._body()
            self._error(401, "unauthorized", "missing or wrong API key")
            return False
        flaky = self.sim.flaky_answer()
        if flaky is not None:
            self._body()
            if flaky == 429:
                self._error(429, "rate_limited", "slow down", {"Retry-After": "30"})
            else:
                self._error(503, "unavailable", "try again later")
            return False
        return True

    def do_POST(self) -> None:
        if not self._gate():
            return
        if self.path not in ("/v1/uploads", "/v1/jobs"):
            self._body()
            return self._error(404, "not_found", f"no route {self.path}")
        body = self._body()
        key = self.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
            return self._error(400, "bad_request", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters")
        create: Callable[[], dict[str, Any]]
        if self.path == "/v1/uploads":
            self.sim.count("upload_requests")
            self.sim.count("upload_bytes", len(body))
            if len(body) > self.sim.config.max_upload_bytes:
                return self._error(413, "too_large", "upload is over the limit")

            def create() -> dict[str, Any]:
                return self.sim.create_upload(body)
        else:
            self.sim.count("job_requests")
            try:
                request = json.loads(body or b"null")
                media_url, options = request["mediaUrl"], request.get("options") or {}
                if not isinstance(media_url, str) or not isinstance(options, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return self._error(400, "bad_request", "body needs mediaUrl (string) and options (object)")
            problem = check_options(options)
            if problem is not None:
                return self._error(400, "bad_request", problem)
            if not self.sim.has_upload(media_url):
                return self._error(400, "bad_request", f"mediaUrl {media_url} is no upload of this vendor")

            def create() -> dict[str, Any]:
                job = self.sim.create_job(options, admit=True)
                self.sim.count("jobs_created")
                return {"id": job.id, "status": "queued", "createdAt": _iso(job.created_ms)}

        scope = self.headers.get("Authorization") or ""
        try:
            code, answer = self.sim.idempotent(scope, self.path, key, body, create)
        except Refused as refused:  # nothing created, nothing remembered: the key stays unused
            return self._error(429, refused.code, refused.message, {"Retry-After": str(refused.retry_after_s)})
        if code == 409:
            self.sim.count("http_409")
        return self._send(code, answer)

    def _job(self) -> SimJob | None:
        parts = self.path.strip("/").split("/")
        job = self.sim.jobs.get(parts[2]) if len(parts) >= 3 and parts[:2] == ["v1", "jobs"] else None
        if job is None:
            self._error(404, "not_found", "unknown job")
        return job

    def do_GET(self) -> None:
        if self.path == "/_simulator/stats":  # the harness's view: the API key, but never flaky
            if self.sim.config.api_key and self.headers.get("Authorization") != f"Bearer {self.sim.config.api_key}":
                return self._error(401, "unauthorized", "missing or wrong API key")
            return self._send(200, self.sim.quota_stats())
        if not self._gate():
            return
        job = self._job()
        if job is None:
            return
        self.sim.count("status" if not self.path.endswith("/result") else "results")
        if self.path.endswith("/result"):
            if job.status(clock.now_ms()) != "completed":
                return self._error(409, "not_completed", "the job is not completed")
            return self._send(200, self.sim.result_body(job))
        return self._send(200, self.sim.job_body(job))

    def do_DELETE(self) -> None:
        if not self._gate():
            return
        job = self._job()
        if job is None:
            return
        self.sim.cancel(job)
        self.sim.count("cancels")
        return self._send(204)
