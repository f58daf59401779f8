"""Lambda's Invoke API on loopback, for the local cloud's functions.

`boto3.client("lambda").invoke(...)` reaches it through AWS_ENDPOINT_URL_LAMBDA, so the operations
commands (redrive) use the same code against the local cloud and against AWS.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from devtools.cloud.lambda_host import LocalFunction


class LambdaEndpoint:
    def __init__(self, cloud: Any, port: int = 0) -> None:
        self._cloud = cloud
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._async: queue.Queue[tuple[LocalFunction, Any] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LambdaEndpoint:
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
            threading.Thread(target=self._run_async, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._async.put(None)
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def invoke(self, function: LocalFunction, event: Any) -> Any:
        with self._cloud.invoke_lock:
            return function.invoke(event)

    def _run_async(self) -> None:
        """Event invocations: accepted at once, run in order on one worker, like Lambda's async queue."""
        while (item := self._async.get()) is not None:
            self.invoke(*item)

    def enqueue(self, function: LocalFunction, event: Any) -> None:
        """A function with Lambda's async layer in the emulator gets its retries and OnFailure
        destination there (EventInvokeConfig), exactly like the events the scheduler hands over."""
        emulator = getattr(self._cloud, "emulator", None)
        async_lambda = getattr(emulator, "lambdas", {}).get(function.spec.arn)
        if async_lambda is not None:
            with self._cloud.invoke_lock:
                async_lambda.accept(event)
            return
        self._async.put((function, event))


def _handler_for(endpoint: LambdaEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _reply(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_response(code)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) != 4 or parts[1] != "functions" or parts[3] != "invocations":
                return self._reply(404, {"Type": "User", "message": f"no route {self.path}"})
            function = endpoint._cloud.function_by_name(unquote(parts[2]))
            if function is None:
                return self._reply(404, {"Type": "User", "message": f"Function not found: {unquote(parts[2])}"},
                                   {"x-amzn-ErrorType": "ResourceNotFoundException"})  # fmt: skip
            try:
                event = json.loads(raw or b"{}")
            except ValueError:
                return self._reply(400, {"Type": "User", "message": "Could not parse request body into json"},
                                   {"x-amzn-ErrorType": "InvalidRequestContentException"})  # fmt: skip
            kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            if kind == "DryRun":
                return self._reply(204, None)
            if kind == "Event":
                endpoint.enqueue(function, event)
                return self._reply(202, None)
            result = endpoint.invoke(function, event)
            if result.ok:
                return self._reply(200, result.value, {"X-Amz-Executed-Version": "$LATEST"})
            return self._reply(200, {"errorType": result.error_type, "errorMessage": result.error_message},
                               {"X-Amz-Function-Error": "Unhandled"})  # fmt: skip

    return Handler
