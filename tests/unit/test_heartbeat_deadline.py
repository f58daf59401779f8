"""A heartbeat's DNS lookup is inside its deadline (issue 15, finding 7): a slow resolver held a poll 8 s."""

from __future__ import annotations

import threading
import time

from pollbridge.adapters.address_guard import IPAddress
from pollbridge.adapters.heartbeat import HttpHeartbeat
from pollbridge.ports import Heartbeat


def test_a_slow_resolver_cannot_hold_a_poll_past_the_heartbeat_deadline() -> None:
    released = threading.Event()

    def slow_resolve(host: str, port: int) -> list[IPAddress]:
        released.wait(10)  # a resolver that answers after 10 s
        return []

    heartbeat = HttpHeartbeat(timeout_s=0.5, resolve=slow_resolve)
    started = time.perf_counter()
    heartbeat.report("https://platform.example/heartbeat", Heartbeat("t-1", 2, "running"))
    elapsed = time.perf_counter() - started
    released.set()
    assert elapsed < 1.5, f"the heartbeat held the poll {elapsed:.1f} s"
    assert heartbeat.failed == 1 and heartbeat.sent == 0  # logged and dropped, never raised
