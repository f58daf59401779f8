"""pollbridge's engine (engine/forwarder.py) as a child process, the way the engine image runs it.

Why a process and not an import: the engine is what aiWARE runs in its container (`python
engine/forwarder.py` with POLLBRIDGE_URL, POLLBRIDGE_TOKEN and PORT), and the demo should exercise that
very program, signals and all. It listens on an OS-chosen port (PORT=0), which is read from its
"listening on" log line; its log goes to a file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent.parent
FORWARDER = ROOT / "engine" / "forwarder.py"
LISTENING = re.compile(r"listening on http://(?:\[([^\]]+)\]|([^\s:/]+)):(\d+)")
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class ForwarderProcess:
    """`with ForwarderProcess(function_url, token) as engine:` then `engine.url` is its base URL."""

    def __init__(
        self,
        pollbridge_url: str,
        token: str,
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        program: Path = FORWARDER,
    ) -> None:
        self.pollbridge_url = pollbridge_url
        self._token = token
        self.log_path = log_path
        self._extra_env = dict(env or {})
        self.program = program
        self.lines: list[str] = []  # its log, kept for error messages
        self._listening = threading.Event()
        self._address: tuple[str, int] | None = None
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._log: IO[str] | None = None

    @property
    def url(self) -> str:
        if self._address is None:
            raise RuntimeError("the forwarder is not listening")
        host, port = self._address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> ForwarderProcess:
        if not self.program.is_file():
            raise FileNotFoundError(f"no engine forwarder at {self.program}")
        env = {
            **os.environ,
            "POLLBRIDGE_URL": self.pollbridge_url,
            "POLLBRIDGE_TOKEN": self._token,
            "PORT": "0",
            **self._extra_env,
        }
        env.pop("POLLBRIDGE_TOKEN_FILE", None)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("w")
        self._process = subprocess.Popen(  # noqa: S603 - our own program, with this interpreter
            [sys.executable, str(self.program)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self._process.stderr,), daemon=True)
        self._reader.start()
        if not self._listening.wait(START_TIMEOUT_S) or self._address is None:
            self.__exit__(None, None, None)
            said = "".join(self.lines[-20:]).strip() or "(nothing)"
            raise RuntimeError(f"engine/forwarder.py did not start listening within {START_TIMEOUT_S:g} s: {said}")
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: it finishes the requests in flight, then exits
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def returncode(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def _read(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for line in stream:
            self.lines.append(line)
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
            if self._address is None and (match := LISTENING.search(line)):
                self._address = (match.group(1) or match.group(2), int(match.group(3)))
                self._listening.set()
        self._listening.set()  # it exited: stop waiting
