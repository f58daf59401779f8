"""moto in server mode in a process of its own, on a loopback port the OS picks.

The local cloud's handlers, scheduler emulator and vendor simulator share one interpreter (one GIL);
moto serving every AWS call from a thread of that same interpreter takes half of the time of a large
run. In its own process it runs on the other core. `python -m devtools.cloud.moto_process` starts it,
prints `host port`, and serves until its standard input closes (so it never outlives its parent).
"""

from __future__ import annotations

import logging
import subprocess
import sys

from moto.server import ThreadedMotoServer


class MotoProcess:
    """The same interface as ThreadedMotoServer for what the local cloud needs."""

    def __init__(self, port: int = 0) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "devtools.cloud.moto_process", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().split()
        if len(line) != 2:
            self.stop()
            raise RuntimeError("moto did not start")
        self._host, self._port = line[0], int(line[1])

    def get_host_and_port(self) -> tuple[str, int]:
        return self._host, self._port

    def stop(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def main() -> None:
    from devtools.cloud import moto_speedups

    moto_speedups.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(
        ip_address="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 0, verbose=False
    )
    server.start()
    host, port = server.get_host_and_port()
    print(host, port, flush=True)
    sys.stdin.read()  # until the parent closes it (or dies)
    server.stop()


if __name__ == "__main__":
    main()
