"""A Lambda Function URL on loopback for a local cloud's function (the WebhookFunction).

Why: the engine forwarder (engine/forwarder.py) talks HTTP to the stack's WebhookUrl; locally nothing
else serves the function over HTTP (devtools/cloud/lambda_endpoint.py is Lambda's Invoke API, whose answers
are Invoke's, not the Function URL's). Each request here becomes the event a Function URL builds
(payload format 2.0: lower-case headers, the body base64-encoded, devtools/standins/function_url.py), the
function runs in the local cloud, and its answer is written back the way Lambda writes it: a result
with `statusCode` as that response, any other result as a 200 JSON body, a function error as 502.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devtools.cloud.lambda_host import Invocation
from devtools.standins.function_url import function_url_event

MAX_REQUEST_BYTES = 6 * 1024 * 1024  # what a Function URL takes (the Invoke payload limit)
DROPPED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"})

type Invoke = Callable[[dict[str, Any]], Invocation]
type Response = tuple[int, dict[str, str], bytes]  # status, headers, body


class FunctionUrlServer:
    """`with FunctionUrlServer(lambda e: cloud.invoke("WebhookFunction", e)) as url_server:`; `.url` is
    its base URL (http://127.0.0.1:<OS-chosen port>)."""

    def __init__(self, invoke: Invoke, port: int = 0) -> None:
        self._invoke = invoke
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FunctionUrlServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> Response:
        """One request through the function: (status, headers, body) as the Function URL sends it."""
        self.requests += 1
        parts = urlsplit(target)
        sent = {name.lower(): value for name, value in headers.items() if name.lower() not in DROPPED}
        event = function_url_event(
            method, parts.path or "/", body=body, content_type=sent.pop("content-type", None), headers=sent
        )
        if parts.query:
            event["rawQueryString"] = parts.query
            event["queryStringParameters"] = dict(parse_qsl(parts.query, keep_blank_values=True))
        result = self._invoke(event)
        if not result.ok:
            return 502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}'
        return _response(result.value)


def _response(value: Any) -> Response:
    """Lambda's reading of a payload-format-2.0 result."""
    if not isinstance(value, dict) or "statusCode" not in value:
        return 200, {"Content-Type": "application/json"}, json.dumps(value).encode()
    raw = value.get("body") or ""
    body = base64.b64decode(raw) if value.get("isBase64Encoded") else str(raw).encode()
    headers = {str(name): str(text) for name, text in (value.get("headers") or {}).items()}
    headers.setdefault("Content-Type", "application/json")
    return int(value["statusCode"]), headers, body


def _handler_for(server: FunctionUrlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST_BYTES:
                self._send(413, {"Content-Type": "application/json"}, b'{"Message":"Request Entity Too Large"}')
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else None
            self._send(*server.answer(self.command, self.path, dict(self.headers.items()), body))

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status not in (204, 304) and self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    return Handler
