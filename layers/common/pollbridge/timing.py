"""When to poll next: a pure function of the time, the payload and what the vendor told us.

EventBridge Scheduler fires an `at()` schedule anywhere within its minute, so every poll time is
rounded up to a whole minute: the poll then never runs before the `nextPollTimeUTC` we promised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

MINUTE_MS = 60_000
_MAX_BACKOFF_STEPS = 64  # 1.5**64 * 60 s is far past any max interval; more steps would only overflow


@dataclass(frozen=True)
class PollPolicy:
    min_interval_s: int = 60
    max_interval_s: int = 900
    backoff: float = 1.5
    eta_grace_s: int = 5


def minute_start(epoch_ms: int) -> int:
    """The start of the minute an at() time falls in: the earliest EventBridge Scheduler fires it."""
    return epoch_ms - epoch_ms % MINUTE_MS


def ceil_minute(epoch_ms: int) -> int:
    return math.ceil(epoch_ms / MINUTE_MS) * MINUTE_MS


def next_poll_time(
    now_ms: int,
    polls_made: int,
    deadline_ms: int,
    policy: PollPolicy,
    eta_ms: int | None = None,
    retry_after_s: float | None = None,
) -> int:
    """Exponential backoff from the minimum, replaced by the vendor's ETA when it gives one,
    never sooner than Retry-After, clamped to the policy, rounded up to a minute, and not much
    past the deadline (one poll at the deadline notices the timeout)."""
    # Bounded arithmetic: the exponent stops growing long before the delay could overflow a float.
    steps = min(max(polls_made - 1, 0), _MAX_BACKOFF_STEPS)
    delay_s = policy.min_interval_s * policy.backoff**steps
    if eta_ms is not None and eta_ms > now_ms:
        delay_s = (min(eta_ms, deadline_ms) - now_ms) / 1000 + policy.eta_grace_s
    if retry_after_s is not None and math.isfinite(retry_after_s):
        delay_s = max(delay_s, retry_after_s)
    delay_s = min(max(delay_s, policy.min_interval_s), policy.max_interval_s)
    at = ceil_minute(now_ms + math.ceil(delay_s * 1000))
    earliest = ceil_minute(now_ms + policy.min_interval_s * 1000)
    return max(min(at, ceil_minute(deadline_ms)), earliest)


def schedule_expression(at_ms: int) -> str:
    """EventBridge Scheduler's one-time expression, in UTC, rounded up to the whole second."""
    seconds = math.ceil(at_ms / 1000)
    return f"at({datetime.fromtimestamp(seconds, UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def parse_schedule_expression(expression: str) -> int:
    """Inverse of schedule_expression (epoch ms); raises ValueError on anything else."""
    if not (expression.startswith("at(") and expression.endswith(")")):
        raise ValueError(f"not a one-time expression: {expression!r}")
    moment = datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso_utc(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
