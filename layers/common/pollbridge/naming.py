"""Deterministic, collision-free names derived from a unit of work: schedule names and record keys.

A unit of work is one chunk of one task (aiWARE's chunk mode splits a file into many chunks of one
task): its key is `unit_key(origTaskId, chunk)`, the task id alone when the chunk is not named (and
for payloads signed before chunks were units), else the task id and the chunk joined by U+001F, a
control character no identifier may hold, so that two (task, chunk) pairs never share a key.

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
UNIT_SEPARATOR = "\x1f"
_PLAIN_CHUNK = re.compile(r"[0-9a-zA-Z\-_.~]{1,64}")
# What a chunk adds to a task's record key at most: "/chunk-" and 64 characters, or "/hash-" and 40.
CHUNK_KEY_ROOM = len("/chunk-") + 64


def unit_key(orig_task_id: str, chunk: str | None) -> str:
    """The key of one chunk of a task (the task id alone when the chunk is unnamed)."""
    return orig_task_id if chunk is None else f"{orig_task_id}{UNIT_SEPARATOR}{chunk}"


def split_unit(unit: str) -> tuple[str, str | None]:
    """unit_key's inverse: (origTaskId, chunk or None)."""
    task, separator, chunk = unit.partition(UNIT_SEPARATOR)
    return (task, chunk) if separator else (task, None)


def schedule_prefix(unit: str) -> str:
    """The part every schedule of one unit shares (and no schedule of another unit has + digits); a
    named chunk's key holds U+001F, so its schedules always take the hashed form."""
    if _ALLOWED.fullmatch(unit) and len(unit) <= MAX_PLAIN_ID:
        return f"t-{unit}-p"
    return f"h-{hashlib.sha256(unit.encode()).hexdigest()[:40]}-p"


def schedule_name(orig_task_id: str, poll_number: int) -> str:
    """1-64 characters of [0-9a-zA-Z-_.], the same for every delivery of the same poll."""
    return f"{schedule_prefix(orig_task_id)}{poll_number}"


def poll_number_of(name: str, orig_task_id: str) -> int | None:
    """The poll number if `name` is one of this task's schedules, else None (a prefix listing
    also returns other tasks' names that merely start the same way)."""
    prefix = schedule_prefix(orig_task_id)
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and not rest.startswith("0") else None


def record_key(unit: str) -> str:
    """`results/{origTaskId}.json` for a task of one unnamed chunk, `results/{origTaskId}/chunk-{chunk}.json`
    for a named chunk (`hash-{sha256(chunk)[:40]}` when the chunk's name is long or unusual);
    characters unsafe in a key are percent-encoded, `/` among them, so no task's key is another's."""
    task, chunk = split_unit(unit)
    base = f"{RECORD_PREFIX}{quote(task, safe='-_.~')}"
    if chunk is None:
        return f"{base}.json"
    if _PLAIN_CHUNK.fullmatch(chunk):
        return f"{base}/chunk-{chunk}.json"
    return f"{base}/hash-{hashlib.sha256(chunk.encode()).hexdigest()[:40]}.json"


def task_record_prefix(orig_task_id: str) -> str:
    """The prefix of the records of every named chunk of a task (ops lists a task's chunks by it)."""
    return f"{RECORD_PREFIX}{quote(orig_task_id, safe='-_.~')}/"


def idempotency_key(unit: str, what: str, deployment: str = "") -> str:
    """A vendor Idempotency-Key (and AWS job name or client token) per unit of work (a chunk of a
    task) and request kind: a repeated submit starts nothing new, another chunk starts its own job.
    `deployment` (the stack's schedule group) keeps two stacks that share a vendor account, or an
    AWS account, from adopting each other's jobs."""
    scoped = f"{deployment}\n{unit}" if deployment else unit
    return f"pollbridge-{what}-{hashlib.sha256(scoped.encode()).hexdigest()}"
