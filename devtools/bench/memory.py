"""Peak memory of the poll that completes a task, per provider, with each provider's result at its
documented maximum (README's Providers section).

Each case runs in a fresh interpreter laid out as the poll function is (its folder and the layer on
the import path, the handler imported, botocore clients made as a poll makes them), then polls a
finished job through core's real use case (`core.poll`: the status, the result and its conversion,
the record as S3RecordSink serialises it, the reply as the Lambda runtime serialises it) against a
stand-in for the service that answers the maximum result:

- `http`: a loopback server speaking docs/vendor-api.md, whose `GET /v1/jobs/{id}/result` answers a
  transcript just under MAX_RESULT_BYTES (read by the provider's real urllib3 transport);
- `transcribe`: stand-in clients for Transcribe and S3 whose transcript (Transcribe's output JSON)
  is just under the bound the provider reads;
- `rekognition-text`: a stand-in client answering GetTextDetection pages of 1,000 detections, each
  page parsed from its JSON at its call as botocore parses it.

The figure is the process's peak resident set (`ru_maxrss`), what Lambda counts against MemorySize,
and the same figure after the set-up (interpreter, handler, clients) for reference. Inputs are
generated with fixed seeds: the figures move only with the code (and a little with the allocator).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import json
import os
import random
import re
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[2]
POLL_FOLDER = ROOT / "functions" / "poll"
LAYER = ROOT / "layers" / "common"
TEMPLATE = ROOT / "template.yaml"
MIB = 1024 * 1024
PAGE_DETECTIONS = 1000  # GetTextDetection's MaxResults
MARGIN = 0.7  # a documented maximum fits when its peak is at most this share of the function's memory

# A few hundred common English words, of the lengths speech has (~4.7 letters on average).
_PARAGRAPH = (
    "the of and to a in that is was he for it with as his on be at by i this had not are but from or have an "
    "they which one you were her all she there would their we him been has when who will more no if out so "
    "said what up its about into than them can only other new some could time these two may then do first "
    "any my now such like our over man me even most made after also did many before must through back years "
    "where much your way well down should because each just those people how too little state good very make "
    "world still own see men work long get here between both life being under never day same another know "
    "while last might us great old year off come since against go came right used take three states himself "
    "few house use during without again place american around however home small found thought went say part "
    "once general high upon school every does got united left number course war until always away something "
    "fact though water less public put think almost hand enough far took head yet government system better "
    "set told nothing night end why called didn't eyes find going look asked later knew point next program "
    "city business give group toward young days let room president side social given present several order "
    "national possible rather second face per among form important often things looked early white case john "
    "become large big need four within felt children along saw best church ever least power development light "
    "thing seemed family interest want members mind country area others done turned although open god service "
    "certain kind problem began different door thus help sense means whole matter perhaps itself york it's "
    "times law human line above name example action company hands local show whether five history gave today "
    "either act feet across taken past quite anyone having seen death experience body half really week car word "
    "field himself already information tell together college shall money period held keep sure free real seems "
    "behind cannot miss political air question making office brought whose special major heard problems ago "
    "became federal study available known result street economic boy position reason change south board "
    "individual job areas society west close turn love community true court force full seem am policy "
    "engineering transcription meanwhile everybody nevertheless extraordinary unfortunately"
)
VOCABULARY = tuple(_PARAGRAPH.split())
TICKER = ("BREAKING", "NEWS", "MARKETS", "OPEN", "HIGHER", "STOCKS", "RALLY", "WEATHER", "STORM", "WARNING")


@dataclass(frozen=True)
class Case:
    name: str
    provider: str
    what: str  # the maximum, in words


def memory_size_mb(function: str = "PollFunction") -> int:
    """The function's MemorySize in template.yaml (its own, else the Globals')."""
    text = TEMPLATE.read_text()
    body = text.split(f"\n  {function}:\n", 1)[1]
    own = re.split(r"\n  [A-Za-z]+:\n", body, maxsplit=1)[0]
    found = re.search(r"\n      MemorySize: (\d+)", own) or re.search(r"\n    MemorySize: (\d+)", text)
    assert found is not None, f"no MemorySize for {function} in template.yaml"
    return int(found.group(1))


def cases() -> list[Case]:
    """The documented maxima, read from the providers' modules (so that the table follows them)."""
    sys.path.insert(0, str(LAYER))
    from pollbridge.adapters import vendor_transport
    from pollbridge.adapters.providers import aws, rekognition_text

    http_mib = vendor_transport.MAX_RESULT_BYTES / MIB
    transcribe_mib = aws.MAX_RESULT_BYTES / MIB
    pages = rekognition_text.MAX_PAGES
    return [
        Case("http-words", "http", f"**the bound**: {http_mib:g} MiB of vendor-API words (compact JSON)"),
        Case("http-dense", "http", f"**the bound**: {http_mib:g} MiB of one-letter words (the most words it admits)"),
        Case("transcribe", "transcribe", f"**the bound**: a {transcribe_mib:g} MiB transcript (speaker labels on)"),
        Case("rekognition-hour", "rekognition-text", "1 hour of news ticker (3 lines of 4 words a second)"),
        Case("rekognition-max", "rekognition-text", f"**the bound**: {pages} pages of 1,000 detections (a ticker)"),
    ]


# --- inputs -------------------------------------------------------------------------------------------


def reference_transcript(limit: int, dense: bool = False, seed: int = 1) -> bytes:
    """The reference vendor's result (docs/vendor-api.md), compact, just under `limit` bytes."""
    rnd = random.Random(seed)
    head = b'{"language":"en-US","durationMs":%d,"words":['
    pieces: list[bytes] = []
    size, t = len(head) + 32, 0
    while True:
        if dense:
            piece = b'{"text":"a","startMs":%d,"endMs":%d}' % (t, t + 1)
            t += 2
        else:
            length = rnd.randint(120, 450)
            word = rnd.choice(VOCABULARY).encode()
            confidence = round(rnd.uniform(0.6, 0.999), 3)
            fields = (word, t, t + length, str(confidence).encode())
            piece = b'{"text":"%s","startMs":%d,"endMs":%d,"confidence":%s}' % fields
            t += length + rnd.randint(10, 250)
        if size + len(piece) + 1 > limit:
            break
        pieces.append(piece)
        size += len(piece) + 1
    body = (head % t) + b",".join(pieces) + b"]}"
    assert len(body) <= limit
    return body


def transcribe_output(limit: int, seed: int = 2) -> bytes:
    """An Amazon Transcribe batch transcript as a job writes it (compact JSON: `transcripts`,
    `speaker_labels` with its segments, `items` with per-item speaker labels and punctuation,
    `audio_segments`), of dense speech (~4 words a second) just under `limit` bytes."""
    target = limit
    while True:
        body = _transcribe_body(target, seed)
        if len(body) <= limit:
            return body
        target -= len(body) - limit + 4096


def _transcribe_body(target: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    items: list[bytes] = []
    segments: list[bytes] = []
    audio: list[bytes] = []
    texts: list[str] = []
    size, t, index, speaker = 0, 0.0, 0, 0
    while size < target - 4096:
        turn_start, turn_items, spoken, ids = t, [], [], []
        for n in range(rnd.randint(8, 40)):
            start, t = t, t + rnd.uniform(0.12, 0.35)
            word = rnd.choice(VOCABULARY)
            items.append(
                b'{"id":%d,"type":"pronunciation","alternatives":[{"confidence":"%.3f","content":"%s"}],'
                b'"start_time":"%.3f","end_time":"%.3f","speaker_label":"spk_%d"}'
                % (index, rnd.uniform(0.5, 1.0), word.encode(), start, t, speaker)
            )
            turn_items.append(b'{"speaker_label":"spk_%d","start_time":"%.3f","end_time":"%.3f"}' % (speaker, start, t))
            spoken.append(word)
            ids.append(index)
            index += 1
            size += len(items[-1]) + len(turn_items[-1]) + 2 * len(word) + 2 * len(str(index)) + 6
            t += rnd.uniform(0.0, 0.06)
            if n % 9 == 8:
                items.append(b'{"id":%d,"type":"punctuation","alternatives":[{"confidence":"0.0","content":","}],'
                             b'"speaker_label":"spk_%d"}' % (index, speaker))  # fmt: skip
                spoken[-1] += ","
                ids.append(index)
                index += 1
                size += len(items[-1]) + 2 * len(str(index)) + 4
        text = " ".join(spoken)
        texts.append(text)
        segments.append(
            b'{"start_time":"%.3f","end_time":"%.3f","speaker_label":"spk_%d","items":[%s]}'
            % (turn_start, t, speaker, b",".join(turn_items))
        )
        audio.append(
            b'{"id":%d,"transcript":"%s","start_time":"%.3f","end_time":"%.3f","speaker_label":"spk_%d","items":[%s]}'
            % (len(audio), text.encode(), turn_start, t, speaker, b",".join(b"%d" % i for i in ids))
        )
        size += 200
        speaker = (speaker + rnd.randint(1, 2)) % 3
        t += rnd.uniform(0.2, 1.2)
    return (
        b'{"jobName":"pollbridge-job-memory","accountId":"123456789012","status":"COMPLETED","results":{'
        b'"transcripts":[{"transcript":"%s"}],"speaker_labels":{"segments":[%s],"speakers":3},'
        b'"items":[%s],"audio_segments":[%s]}}'
        % (" ".join(texts).encode(), b",".join(segments), b",".join(items), b",".join(audio))
    )


def _f32(value: float) -> float:
    """Rekognition's geometry is single precision, written in full (0.4312500059604645)."""
    return float(struct.unpack("f", struct.pack("f", value))[0])


@functools.cache
def _geometry(left: float, top: float, width: float, height: float) -> dict[str, Any]:
    box = {"Width": _f32(width), "Height": _f32(height), "Left": _f32(left), "Top": _f32(top)}
    corners = ((left, top), (left + width, top), (left + width, top + height), (left, top + height))
    return {"BoundingBox": box, "Polygon": [{"X": _f32(x), "Y": _f32(y)} for x, y in corners]}


def ticker_detections(seed: int = 3) -> Iterator[dict[str, Any]]:
    """A news ticker as GetTextDetection reports it: a frame a second, 3 LINEs of 4 WORDs each."""
    rnd = random.Random(seed)
    second = 0
    while True:
        for line in range(3):
            top = 0.7 + 0.08 * line
            words = [rnd.choice(TICKER) for _ in range(4)]
            line_id = line * 5
            yield {"Timestamp": second * 1000, "TextDetection": {
                "DetectedText": " ".join(words), "Type": "LINE", "Id": line_id,
                "Confidence": _f32(rnd.uniform(90, 99.9)), "Geometry": _geometry(0.05, top, 0.9, 0.05)}}  # fmt: skip
            for n, word in enumerate(words):
                yield {"Timestamp": second * 1000, "TextDetection": {
                    "DetectedText": word, "Type": "WORD", "Id": line_id + n + 1, "ParentId": line_id,
                    "Confidence": _f32(rnd.uniform(85, 99.9)),
                    "Geometry": _geometry(0.05 + 0.22 * n, top, 0.2, 0.05)}}  # fmt: skip
        second += 1


def rekognition_pages(pages: int, per_page: int = PAGE_DETECTIONS) -> list[bytes]:
    """GetTextDetection's answers, one JSON document a page (NextToken between them)."""
    detections = ticker_detections()
    found = []
    seconds = pages * per_page // 15 + 1
    for number in range(pages):
        page: dict[str, Any] = {
            "JobStatus": "SUCCEEDED",
            "VideoMetadata": {"Codec": "h264", "DurationMillis": seconds * 1000, "Format": "QuickTime / MOV",
                              "FrameRate": 29.97, "FrameHeight": 720, "FrameWidth": 1280, "ColorRange": "LIMITED"},
            "TextDetections": [next(detections) for _ in range(per_page)],
            "TextModelVersion": "3.1",
        }  # fmt: skip
        if number + 1 < pages:
            page["NextToken"] = f"page-{number + 1}"
        found.append(json.dumps(page, separators=(",", ":")).encode())
    return found


def write_inputs(case: Case, folder: Path) -> dict[str, Any]:
    """The case's input, written under `folder`; returns what the child needs to know of it."""
    sys.path.insert(0, str(LAYER))
    from pollbridge.adapters import vendor_transport
    from pollbridge.adapters.providers import aws, rekognition_text

    if case.provider == "http":
        body = reference_transcript(vendor_transport.MAX_RESULT_BYTES - 1, dense=case.name == "http-dense")
        (folder / "input.json").write_bytes(body)
        return {"bytes": len(body)}
    if case.provider == "transcribe":
        body = transcribe_output(aws.MAX_RESULT_BYTES - 1)
        (folder / "input.json").write_bytes(body)
        return {"bytes": len(body)}
    pages = rekognition_text.MAX_PAGES if case.name == "rekognition-max" else 54
    answers = rekognition_pages(pages)
    (folder / "input.jsonl").write_bytes(b"\n".join(answers) + b"\n")
    return {"bytes": sum(map(len, answers)), "pages": pages}


# --- the child: one poll in a fresh interpreter -------------------------------------------------------


def _peak_mib() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over exec from the
    parent (a test runner or this benchmark, which holds the generated inputs)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (MIB if sys.platform == "darwin" else 1024)
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert found is not None
    return int(found.group(1)) / 1024


class _Scheduler:
    """The poll schedule of one unit: poll `number` exists (read by name) until the task completes."""

    def __init__(self, number: int) -> None:
        self.numbers = [number]

    def find(self, unit: str, number: int) -> SimpleNamespace | None:
        """Stands for the ScheduledPoll: a poll that is due only asks whether its schedule is active."""
        return SimpleNamespace(active=True) if number in self.numbers else None

    def unschedule(self, name: str) -> bool:
        self.numbers.clear()
        return True

    def schedule(self, payload: Any, at_ms: int) -> bool:
        raise AssertionError("a finished job schedules nothing")


class _Sink:
    """S3RecordSink's serialisation (model_dump_json(...).encode()), kept nowhere."""

    def __init__(self) -> None:
        self.record_bytes = 0

    def write_once(self, record: Any) -> Any:
        body = record.model_dump_json(exclude_none=True).encode()
        self.record_bytes = len(body)
        return record

    def read(self, unit: str) -> None:
        return None


class _S3:
    def __init__(self, path: Path) -> None:
        self._path = path

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        return {"ContentLength": self._path.stat().st_size, "Body": self._path.open("rb")}


class _Transcribe:
    def get_transcription_job(self, TranscriptionJobName: str) -> dict[str, Any]:  # noqa: N803
        uri = f"s3://staging/outputs/{TranscriptionJobName}.json"
        job = {"TranscriptionJobName": TranscriptionJobName, "TranscriptionJobStatus": "COMPLETED"}
        return {"TranscriptionJob": job | {"LanguageCode": "en-US", "Transcript": {"TranscriptFileUri": uri}}}


class _Rekognition:
    """GetTextDetection from the page file: each answer parsed at its call, as botocore does."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._starts = [0]  # where each page's line starts
        with path.open("rb") as pages:
            while pages.readline():
                self._starts.append(pages.tell())

    def get_text_detection(self, JobId: str, MaxResults: int, NextToken: str | None = None) -> dict[str, Any]:  # noqa: N803
        number = int(NextToken.removeprefix("page-")) if NextToken else 0
        with self._path.open("rb") as pages:
            pages.seek(self._starts[number])
            page: dict[str, Any] = json.loads(pages.readline())
        if MaxResults < len(page["TextDetections"]):
            page["TextDetections"] = page["TextDetections"][:MaxResults]
            page["NextToken"] = "page-0-rest"  # only the status asks for less than a page
        return page


class _Measured:
    """The provider, noting the peak when its result (read and converted) is returned to core."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider
        self.name = provider.name
        self.result_peak_mib = 0.0
        self.result_seconds = 0.0

    def status(self, work_id: str) -> Any:
        return self._provider.status(work_id)

    def result(self, work_id: str, context: Any) -> Any:
        started = time.perf_counter()
        document = self._provider.result(work_id, context)
        self.result_peak_mib = _peak_mib()
        self.result_seconds = time.perf_counter() - started
        return document

    def cancel(self, work_id: str) -> None:
        self._provider.cancel(work_id)


def _provider(case: Case, folder: Path, url: str) -> Any:
    if case.provider == "http":
        from pollbridge.adapters.providers.http import HttpJobProvider

        return HttpJobProvider(url, None, timeout_s=30.0)
    from pollbridge.adapters.providers.aws import Staging

    if case.provider == "transcribe":
        from pollbridge.adapters.providers.transcribe import TranscribeProvider

        s3, transcribe = _S3(folder / "input.json"), _Transcribe()
        return TranscribeProvider(Staging(lambda: s3, "staging"), lambda: cast(Any, transcribe))
    from pollbridge.adapters.providers.rekognition_text import RekognitionTextProvider

    client = _Rekognition(folder / "input.jsonl")
    return RekognitionTextProvider(Staging(lambda: None, "staging"), lambda: cast(Any, client))


def child(case_name: str, folder: Path, url: str) -> dict[str, Any]:
    """Import the poll function as Lambda does, make its clients, then poll the finished job once."""
    started = time.perf_counter()
    import botocore.session

    app = importlib.import_module("app")  # functions/poll/app.py: the handler, as Lambda's init imports it
    assert callable(app.handler)
    session = botocore.session.get_session()
    services = {"http": ("s3", "scheduler"), "transcribe": ("s3", "scheduler", "transcribe")}
    case = next(c for c in cases() if c.name == case_name)
    clients = [
        session.create_client(name, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106
        for name in services.get(case.provider, ("s3", "scheduler", "rekognition"))
    ]
    from pollbridge import clock, core
    from pollbridge.adapters.signing_keys import HmacSigner, StaticKeys
    from pollbridge.models import PollPayload
    from pollbridge.timing import PollPolicy

    provider = _Measured(_provider(case, folder, url))
    signer = HmacSigner(StaticKeys("memory-benchmark-signing-key-0123456789"))
    now = clock.now_ms()
    unsigned = PollPayload(
        workId="job-memory", isPollTask=True, origTaskId="task-memory", origTdoId="tdo-memory",
        origJobId="job-memory", origCallTimeUTC=now - 3_600_000, provider=provider.name, pollNumber=7,
        deadlineUTC=now + 86_400_000, mediaOffsetMs=60_000, lastPollUTC=now - 60_000,
    )  # fmt: skip
    payload = signer.sign(unsigned)
    sink = _Sink()
    ports = core.Ports(provider, _Scheduler(7), sink, None, signer, PollPolicy(), 86_400_000)  # type: ignore[arg-type]
    gc.collect()
    baseline = _peak_mib()
    polled = time.perf_counter()
    outcome = core.poll(payload, ports)
    reply = json.dumps(outcome.reply()).encode()  # the runtime serialises the handler's answer
    peak = _peak_mib()
    series = outcome.record.output.get("series", []) if outcome.record and outcome.record.output else []
    del clients
    return {
        "case": case.name, "kind": outcome.kind, "series": len(series), "record_bytes": sink.record_bytes,
        "reply_bytes": len(reply), "baseline_mib": round(baseline, 1), "peak_mib": round(peak, 1),
        "result_peak_mib": round(provider.result_peak_mib, 1), "result_seconds": round(provider.result_seconds, 1),
        "poll_seconds": round(time.perf_counter() - polled, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "failure": outcome.record.failureMessage if outcome.record else None,
    }  # fmt: skip


# --- the parent ---------------------------------------------------------------------------------------


def _serve(result: bytes) -> tuple[str, Callable[[], None]]:
    """The reference vendor API on loopback, answering one finished job with `result`."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Vendor(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = result if self.path.endswith("/result") else b'{"id":"job-memory","status":"completed"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Vendor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server.shutdown


def _nothing() -> None:
    pass


def run(case: Case) -> dict[str, Any]:
    """One case in a fresh interpreter; what the child measured, with the input's size."""
    with tempfile.TemporaryDirectory(prefix="pollbridge-memory-") as tmp:
        folder = Path(tmp)
        facts = write_inputs(case, folder)
        url, stop = "", _nothing
        if case.provider == "http":
            url, stop = _serve((folder / "input.json").read_bytes())
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(POLL_FOLDER), str(LAYER), str(ROOT)])
        env |= {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "1"}
        try:
            out = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "devtools.bench.memory", "--child", case.name, str(folder), url],
                cwd=POLL_FOLDER, env=env, capture_output=True, text=True, check=False, timeout=600,
            )  # fmt: skip
        finally:
            stop()
    if out.returncode != 0:
        raise RuntimeError(f"memory case {case.name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]) | facts


def table(results: list[tuple[Case, dict[str, Any]]], memory_mb: int) -> str:
    rows = [
        "| provider | result | input | vtn series items | record | after init | result read and converted"
        f" | peak | share of {memory_mb} MB | poll (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, found in results:
        pages = f", {found['pages']} pages" if "pages" in found else ""
        rows.append(
            f"| `{case.provider}` | {case.what} | {found['bytes'] / MIB:.1f} MiB{pages} | {found['series']:,}"
            f" | {found['record_bytes'] / MIB:.1f} MiB | {found['baseline_mib']:.0f} MB"
            f" | {found['result_peak_mib']:.0f} MB | **{found['peak_mib']:.0f} MB**"
            f" | {found['peak_mib'] / memory_mb:.0%} | {found['poll_seconds']:.1f} |"
        )
    return "\n".join(rows)


def measure(names: list[str] | None = None, machine: str = "") -> str:
    memory_mb = memory_size_mb()
    chosen = [case for case in cases() if not names or case.name in names]
    results = []
    for case in chosen:
        found = run(case)
        if found["kind"] != "complete":
            raise RuntimeError(f"memory case {case.name} did not complete: {found}")
        results.append((case, found))
        print(json.dumps(found), file=sys.stderr, flush=True)
    fits = all(found["peak_mib"] <= MARGIN * memory_mb for _, found in results)
    return (
        f"Measured {machine}. PollFunction MemorySize {memory_mb} MB (template.yaml); a maximum fits with a margin"
        f' when its peak is at most {MARGIN:.0%} of it: {"all do" if fits else "**NOT ALL DO**"}. "result read and'
        ' converted": the peak when the provider hands core its document; "peak": the whole poll (the record'
        ' written, the reply serialised); "poll": its wall time here, on a whole core.\n\n' + table(results, memory_mb)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "FOLDER", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, folder, url = args.child
        print(json.dumps(child(name, Path(folder), url)))
        return 0
    print(measure(args.cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
