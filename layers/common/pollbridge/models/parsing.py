"""Turn a raw Lambda event into a model, or an InvalidEventError that names the bad fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from pollbridge.errors import InvalidEventError


def describe(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: `field.path: message`."""
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "") or "event"
        parts.append(f"{path}: {error['msg']}")
    return "; ".join(parts)


def parse_event[M: BaseModel](event: Any, model: type[M], what: str = "event") -> M:
    """Validate a dict, or a JSON string, against the model."""
    try:
        if isinstance(event, str | bytes):
            return model.model_validate_json(event)
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid {what}: {describe(exc)}") from None
