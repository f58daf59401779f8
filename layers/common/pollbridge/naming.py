"""Deterministic schedule names, so a repeated create hits ConflictException instead of a twin."""

from __future__ import annotations

import hashlib
import re

_ALLOWED = re.compile(r"^[0-9a-zA-Z\-_.]+$")
MAX_NAME = 64


def schedule_name(orig_task_id: str, poll_number: int) -> str:
    """`{origTaskId}-p{n}`, or a hash of the id when it is too long or has other characters."""
    suffix = f"-p{poll_number}"
    if _ALLOWED.match(orig_task_id) and len(orig_task_id) + len(suffix) <= MAX_NAME:
        return orig_task_id + suffix
    digest = hashlib.sha256(orig_task_id.encode()).hexdigest()[:40]
    return f"h-{digest}{suffix}"
