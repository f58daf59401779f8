"""Writes events/process.json and events/ready.json: Lambda Function URL events for the webhook.

    python -m devtools.make_events          # rewrite them
    python -m devtools.make_events --check  # exit 1 if the committed files differ (the tests run this)

process.json is what the engine toolkit posts for a new chunk (a multipart form built by urllib3's
encoder, base64 in the event), with the local webhook token (events/env.json gives it to the
function); its media_chunk is events/segment.json's under its own task id. ready.json is GET /ready.
Both run under `sam local invoke WebhookFunction` and `python -m devtools.invoke WebhookFunction`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from devtools.cloud.local_values import LOCAL_WEBHOOK_TOKEN, ROOT
from devtools.standins.function_url import function_url_event, process_event, process_form

EVENTS = ROOT / "events"
PROCESS_TASK_ID = "19041508_WebhookChunk0"
BOUNDARY = "pollbridge-events-process-json"
AT_MS = 1_764_417_600_000  # the time events/segment.json names


def events() -> dict[str, dict[str, Any]]:
    segment = json.loads((EVENTS / "segment.json").read_text())
    payload = {
        "applicationId": "pollbridge-local",
        "taskId": PROCESS_TASK_ID,
        "jobId": segment["jobId"],
        "recordingId": segment["tdoId"],
        "token": "the-platforms-task-token-is-never-stored",
        "mode": "chunk",
        "veritoneApiBaseUrl": "https://api.veritone.com",
        **segment["taskPayload"],
    }
    body, content_type = process_form(
        payload,
        chunk=segment["content"].encode(),
        mime_type=segment["mimeType"],
        chunk_uuid=segment["chunkUUID"],
        end_ms=segment["endOffsetMs"],
        boundary=BOUNDARY,
    )
    process = process_event(body, content_type, LOCAL_WEBHOOK_TOKEN, now_ms=AT_MS)
    ready = function_url_event("GET", "/ready", now_ms=AT_MS)
    for event, request_id in (
        (process, "c0ffee00-0000-4000-8000-000000000001"),
        (ready, "c0ffee00-0000-4000-8000-000000000002"),
    ):
        event["requestContext"]["requestId"] = request_id
    return {"process.json": process, "ready.json": ready}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.make_events", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, event in events().items():
        text = json.dumps(event, indent=2) + "\n"
        path: Path = EVENTS / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run python -m devtools.make_events)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
