"""What every benchmark writes with its figures: the machine and the moment, and its section of
BENCHMARKS.md (between `bench:<name>` markers)."""

from __future__ import annotations

import contextlib
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

from devtools.cloud.local_values import ROOT

BENCHMARKS = ROOT / "BENCHMARKS.md"


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    load = ""
    with contextlib.suppress(OSError):
        load = f", load average {os.getloadavg()[0]:.1f} at the start (the machine is shared)"
    return (
        f"on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}){memory}, "
        f"Python {platform.python_version()}{load}"
    )


def write_section(name: str, body: str) -> None:
    text = BENCHMARKS.read_text()
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"BENCHMARKS.md has no {start} ... {end} section")
    BENCHMARKS.write_text(pattern.sub(lambda _: f"{start}\n{body}\n{end}", text))
