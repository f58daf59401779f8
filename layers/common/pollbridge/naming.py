"""Deterministic, collision-free names derived from origTaskId: schedule names and record keys.

Schedule names are `t-{origTaskId}-p{n}` when the id is short and uses only the characters
schedule names allow, else `h-{sha256(origTaskId)[:40]}-p{n}`. The two forms never meet (`t-` vs
`h-`), and within a form the poll number is the digits after the last `-p`, so the mapping
(origTaskId, n) -> name is one-to-one: no task can be answered with another task's schedule.
Names are computed from the id exactly as given (nothing is stripped or normalised).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

_ALLOWED = re.compile(r"[0-9a-zA-Z\-_.]+")
MAX_NAME = 64
MAX_POLL_DIGITS = 7  # poll numbers up to 9,999,999 (see models.poll.MAX_POLLS)
MAX_PLAIN_ID = MAX_NAME - len("t-") - len("-p") - MAX_POLL_DIGITS
RECORD_PREFIX = "results/"
MAX_S3_KEY_BYTES = 1024


def schedule_prefix(orig_task_id: str) -> str:
    """The part every schedule of one task shares (and no schedule of another task has + digits)."""
    if _ALLOWED.fullmatch(orig_task_id) and len(orig_task_id) <= MAX_PLAIN_ID:
        return f"t-{orig_task_id}-p"
    return f"h-{hashlib.sha256(orig_task_id.encode()).hexdigest()[:40]}-p"


def schedule_name(orig_task_id: str, poll_number: int) -> str:
    """1-64 characters of [0-9a-zA-Z-_.], the same for every delivery of the same poll."""
    return f"{schedule_prefix(orig_task_id)}{poll_number}"


def poll_number_of(name: str, orig_task_id: str) -> int | None:
    """The poll number if `name` is one of this task's schedules, else None (a prefix listing
    also returns other tasks' names that merely start the same way)."""
    prefix = schedule_prefix(orig_task_id)
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and not rest.startswith("0") else None


def record_key(task_id: str) -> str:
    """`results/{origTaskId}.json`; characters unsafe in a key are percent-encoded."""
    return f"{RECORD_PREFIX}{quote(task_id, safe='-_.~')}.json"


def idempotency_key(orig_task_id: str, what: str, deployment: str = "") -> str:
    """A vendor Idempotency-Key (and AWS job name or client token) per task and request kind: a
    repeated submit starts nothing new. `deployment` (the stack's schedule group) keeps two stacks
    that share a vendor account, or an AWS account, from adopting each other's jobs."""
    scoped = f"{deployment}\n{orig_task_id}" if deployment else orig_task_id
    return f"pollbridge-{what}-{hashlib.sha256(scoped.encode()).hexdigest()}"
