"""Deterministic schedule names, so a repeated create hits ConflictException instead of a twin."""

from __future__ import annotations

import hashlib
import re

_ALLOWED = re.compile(r"^[0-9a-zA-Z\-_.]+$")
MAX_NAME = 64
MAX_PLAIN_ID = MAX_NAME - len("-p99999")  # room for poll numbers up to 99,999 on every plain name


def schedule_prefix(orig_task_id: str) -> str:
    """The part every schedule of one task shares: `{origTaskId}-p`, or `h-{sha256[:40]}-p` when
    the id is too long or has characters schedule names may not contain."""
    if _ALLOWED.match(orig_task_id) and len(orig_task_id) <= MAX_PLAIN_ID:
        return f"{orig_task_id}-p"
    return f"h-{hashlib.sha256(orig_task_id.encode()).hexdigest()[:40]}-p"


def schedule_name(orig_task_id: str, poll_number: int) -> str:
    """1-64 characters of [0-9a-zA-Z-_.], the same for every delivery of the same poll."""
    return f"{schedule_prefix(orig_task_id)}{poll_number}"
