"""pollbridge's own options in a task's engineConfig: they tune polling and never reach the vendor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from pollbridge.errors import InvalidEventError
from pollbridge.models.parsing import describe


class PollKnobs(BaseModel):
    """engineConfig keys pollbridge reads itself (defaults: the deployment's settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    maxLagSeconds: StrictInt | None = Field(default=None, ge=60, le=86_400)


KNOB_NAMES = frozenset(PollKnobs.model_fields)


def split_knobs(engine_config: Mapping[str, Any], max_interval_s: int) -> tuple[PollKnobs, dict[str, Any]]:
    """(pollbridge's knobs, the rest for the provider). A bad knob is an InvalidEventError naming
    `taskPayload.<key>`; the knobs are taken out before the provider sees the options."""
    picked = {key: value for key, value in engine_config.items() if key in KNOB_NAMES}
    rest = {key: value for key, value in engine_config.items() if key not in KNOB_NAMES}
    try:
        knobs = PollKnobs.model_validate(picked)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid media_chunk: {describe(exc, 'taskPayload')}") from None
    if knobs.maxLagSeconds is not None and knobs.maxLagSeconds > max_interval_s:
        raise InvalidEventError(
            f"invalid media_chunk: taskPayload.maxLagSeconds: at most {max_interval_s} "
            "(this deployment's POLL_MAX_INTERVAL_SECONDS)"
        )
    return knobs, rest
