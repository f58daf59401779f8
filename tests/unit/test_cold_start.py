"""What a cold start must not load: heavy modules stay out of `import app` (how long it takes is
measured by `make bench`, not here)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pollbridge.observability import LazyTracer

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["boto3", "botocore.client", "aws_xray_sdk", "urllib3.connection", "aws_lambda_powertools.utilities.parameters",
         "aws_lambda_powertools.utilities.parser", "pollbridge.adapters.media"]  # fmt: skip


def loaded_after_import(function: str, env: dict[str, str]) -> dict[str, object]:
    script = (
        "import json, sys, app\n"
        "from pollbridge import models\n"
        "built = {n: getattr(models, n).__pydantic_complete__ for n in ('MediaChunk', 'PollEvent', 'VtnDocument')}\n"
        f"print(json.dumps({{'loaded': [m for m in {HEAVY!r} if m in sys.modules], 'built': built}}))\n"
    )
    env = {
        **os.environ,
        **env,
        "PYTHONPATH": f"{ROOT / 'functions' / function}{os.pathsep}{ROOT / 'layers' / 'common'}",
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT / "functions" / function,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("function", ["poll", "segment"])
@pytest.mark.parametrize("lambda_like", [False, True])
def test_importing_a_handler_loads_no_aws_sdk_no_xray_no_media_fetcher(function: str, lambda_like: bool) -> None:
    env = {"POWERTOOLS_SERVICE_NAME": "pollbridge"}
    if lambda_like:  # in Lambda with tracing on: the X-Ray SDK still waits for the first invocation
        env |= {"LAMBDA_TASK_ROOT": str(ROOT / "functions" / function), "AWS_LAMBDA_FUNCTION_NAME": function}
    found = loaded_after_import(function, env)
    assert found["loaded"] == []
    assert found["built"] == {"MediaChunk": False, "PollEvent": False, "VtnDocument": False}  # schemas on first use


def test_the_tracer_stays_out_where_tracing_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = LazyTracer()

    @tracer.capture_method(capture_response=False)
    def work(x: int) -> int:
        return x * 2

    assert work(21) == 42
    tracer.put_annotation("origTaskId", "t")
    assert tracer.real() is None and not tracer.enabled


def test_where_tracing_is_on_powertools_tracer_does_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    import aws_lambda_powertools

    calls: list[tuple[str, object]] = []

    class RecordingTracer:  # stands in for Powertools' Tracer (the real one patches botocore process-wide)
        def __init__(self) -> None:
            calls.append(("built", None))

        def capture_method(self, function: Any, capture_response: bool) -> Any:
            calls.append(("capture_method", capture_response))
            return function

        def put_annotation(self, key: str, value: str) -> None:
            calls.append((key, value))

    monkeypatch.setattr(aws_lambda_powertools, "Tracer", RecordingTracer)
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")  # Powertools' own test for "in Lambda"
    tracer = LazyTracer()

    @tracer.capture_method(capture_response=False)
    def work(x: int) -> int:
        return x * 2

    assert calls == []  # nothing built at import or decoration time
    assert work(1) == 2 and work(2) == 4
    tracer.put_annotation("origTaskId", "t")
    assert calls == [("built", None), ("capture_method", False), ("origTaskId", "t")]


def test_a_segment_with_inline_content_never_loads_the_http_machinery() -> None:
    """Inline content (and s3:// chunks) need no urllib3 connection classes: guarded_http loads on the
    first http(s) cacheURI only."""
    script = (
        "import json, sys\n"
        "from pollbridge.adapters.media import MediaFetcher\n"
        "from pollbridge.models import MediaChunk\n"
        "chunk = MediaChunk.model_validate({'type': 'media_chunk', 'taskId': 't', 'tdoId': 'd', 'jobId': 'j',\n"
        "    'chunkUUID': 'u', 'startOffsetMs': 0, 'endOffsetMs': 1, 'mimeType': 'text/plain', 'content': 'hi'})\n"
        "fetcher = MediaFetcher(lambda: None, 100)\n"
        "fetcher.check(chunk)\n"
        "body = fetcher.fetch(chunk).body\n"
        "before = 'pollbridge.adapters.guarded_http' in sys.modules\n"
        "url = chunk.model_copy(update={'cacheURI': 'http://127.0.0.1/x', 'content': None})\n"
        "try:\n"
        "    fetcher.check(url)\n"
        "except Exception:\n"
        "    pass\n"
        "after = 'pollbridge.adapters.guarded_http' in sys.modules\n"
        "print(json.dumps({'body': body.decode(), 'before': before, 'after': after}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "common")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"body": "hi", "before": False, "after": True}
