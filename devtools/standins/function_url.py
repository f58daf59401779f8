"""Lambda Function URL events (payload format 2.0) carrying the engine toolkit's `/process` form.

What the platform's engine toolkit sends, built with a real multipart encoder (urllib3's) and wrapped
the way a Function URL hands it to the function: headers in lower case, the body base64-encoded.
Used by devtools/make_events.py (events/process.json), the platform emulator and the tests.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from urllib3 import encode_multipart_formdata

from pollbridge import clock

URL_ID = "pollbridgelocalwebhook0000000000"
DOMAIN = f"{URL_ID}.lambda-url.us-east-1.on.aws"


def process_form(
    payload: dict[str, Any],
    *,
    chunk: bytes | None = None,
    mime_type: str = "text/plain",
    cache_uri: str | None = None,
    chunk_index: int = 0,
    start_ms: int = 0,
    end_ms: int = 30_000,
    chunk_uuid: str | None = None,
    heartbeat: str | None = None,
    api_base_url: str | None = "https://api.veritone.com",
    extra: dict[str, str] | None = None,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """(body, content type) of the form the engine toolkit posts to /process."""
    fields: list[tuple[str, Any]] = [
        ("chunkMimeType", mime_type),
        ("chunkUUID", chunk_uuid or str(uuid.UUID(int=chunk_index))),
        ("chunkIndex", str(chunk_index)),
        ("startOffsetMS", str(start_ms)),
        ("endOffsetMS", str(end_ms)),
    ]
    if cache_uri is not None:
        fields.append(("cacheURI", cache_uri))
    if api_base_url is not None:
        fields.append(("veritoneApiBaseUrl", api_base_url))
    fields.append(("token", "platform-task-token-never-stored"))
    if heartbeat is not None:
        fields.append(("heartbeatWebhook", heartbeat))
    fields.append(("payload", json.dumps(payload)))
    fields.extend((extra or {}).items())
    if chunk is not None:
        fields.append(("chunk", ("chunk.data", chunk, mime_type)))
    return encode_multipart_formdata(fields, boundary=boundary)


def poll_task_form(task_payload: dict[str, Any], poll_task_id: str, **kwargs: Any) -> tuple[bytes, str]:
    """A poll task the platform scheduled, sent back: the poll keys in `payload`, with its own taskId."""
    payload = {**task_payload, "taskId": poll_task_id, "token": "platform-task-token-never-stored"}
    return process_form(payload, **kwargs)


def function_url_event(
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    now_ms: int | None = None,
    iam: bool = False,
) -> dict[str, Any]:
    """A Function URL request event, as Lambda builds it (payload format 2.0)."""
    moment = now_ms if now_ms is not None else clock.now_ms()
    sent = {"host": DOMAIN, "user-agent": "pollbridge-devtools/1", "x-forwarded-proto": "https"}
    if content_type is not None:
        sent["content-type"] = content_type
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    sent.update({k.lower(): v for k, v in (headers or {}).items()})
    context: dict[str, Any] = {
        "accountId": "anonymous",
        "apiId": URL_ID,
        "domainName": DOMAIN,
        "domainPrefix": URL_ID,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": sent["user-agent"],
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": datetime.fromtimestamp(moment / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": moment,
    }
    if iam:
        context["accountId"] = "123456789012"
        context["authorizer"] = {
            "iam": {
                "accessKey": "AKIAEXAMPLE",
                "accountId": "123456789012",
                "callerId": "AIDAEXAMPLE",
                "userArn": "arn:aws:iam::123456789012:user/aiware",
                "userId": "AIDAEXAMPLE",
            }
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": sent,
        "requestContext": context,
        "isBase64Encoded": body is not None,
    }
    if body is not None:
        event["body"] = base64.b64encode(body).decode("ascii")
    return event


def process_event(body: bytes, content_type: str, token: str | None, **kwargs: Any) -> dict[str, Any]:
    return function_url_event("POST", "/process", body=body, content_type=content_type, token=token, **kwargs)


def response_body(result: dict[str, Any]) -> Any:
    """What a Function URL response carries: its JSON, its text when it is plain text (a failure:
    `<failureReason>: <message>`), None when empty."""
    raw = result.get("body") or ""
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    if headers.get("content-type", "").startswith("text/plain"):
        return raw
    return json.loads(raw) if raw else None
