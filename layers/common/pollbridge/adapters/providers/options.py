"""A provider's engineConfig options: only what its model declares passes, credential-like names never.

Shared by the providers whose options are exactly a pydantic model (extra keys forbidden): an
unknown key is named (and called a credential when it looks like one, without echoing its value),
a bad value is named with the model's message, and nothing is called before the options are valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pollbridge.errors import InvalidEventError
from pollbridge.models.common import looks_like_credential
from pollbridge.models.parsing import describe


class Options(BaseModel):
    """A provider's options: exactly the declared keys, each checked; `conflicts` adds the rules
    between keys, each `"<key>: <what is wrong>"`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def conflicts(self) -> list[str]:
        return []


def declared_options(model: type[Options], engine_config: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """engineConfig validated as `model`; returns the options as JSON-ready values (unset ones left out)."""
    known = sorted(model.model_fields)
    problems = []
    for name in engine_config:
        if name not in model.model_fields:
            why = (
                "looks like a credential and is never forwarded" if looks_like_credential(name) else "is not an option"
            )
            problems.append(f"taskPayload.{name}: {why} of provider {provider} (known: {', '.join(known)})")
    if not problems:
        try:
            options = model.model_validate(dict(engine_config))
        except ValidationError as exc:
            problems.append(describe(exc, "taskPayload"))
        else:
            problems += [f"taskPayload.{conflict}" for conflict in options.conflicts()]
            if not problems:
                return options.model_dump(mode="json", exclude_none=True)
    raise InvalidEventError(f"invalid media_chunk: {'; '.join(problems)}")
