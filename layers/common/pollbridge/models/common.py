"""Field types shared by the models."""

import json
import math
import unicodedata
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StrictInt, StringConstraints

from pollbridge.naming import CHUNK_KEY_ROOM, MAX_S3_KEY_BYTES, record_key
from pollbridge.safe_text import scrub_text

# Control, formatting (bidi overrides such as U+202E), surrogate, private-use and line/paragraph
# separator characters: invisible or misleading in logs, names and keys.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant ISO 8601 can write
MAX_OFFSET_MS = 366 * 86_400_000  # a chunk's offset within its TDO: at most a (leap) year of media


def _identifier(value: str) -> str:
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    bad = next((c for c in value if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise ValueError(f"must not contain control or formatting characters (found U+{ord(bad):04X})")
    if len(record_key(value).encode()) + CHUNK_KEY_ROOM > MAX_S3_KEY_BYTES:  # room for a chunk's record
        raise ValueError(f"is too long: its record keys would exceed S3's {MAX_S3_KEY_BYTES} bytes")
    return value


NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
# Ids are taken exactly as given: never stripped or normalised, so that two ids never become one.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=512), AfterValidator(_identifier)]
EpochMs = Annotated[StrictInt, Field(ge=0, le=MAX_EPOCH_MS, description="UTC epoch milliseconds")]
OffsetMs = Annotated[StrictInt, Field(ge=0, le=MAX_OFFSET_MS, description="milliseconds within the TDO")]

# Option names that look like credentials: such a value is never forwarded to a vendor, stored in a
# schedule or echoed in a reply, wherever it is nested. The one list (every provider's options, the
# http provider's extra options and PROVIDER_EXTRA_OPTIONS use it).
_CREDENTIAL_MARKERS = (
    "token", "apikey", "secret", "password", "passwd", "pwd", "auth", "credential", "jwt", "accesskey",
    "privatekey", "bearer", "cookie", "session",
)  # fmt: skip


def looks_like_credential(name: str) -> bool:
    folded = "".join(c for c in name.lower() if c.isalnum())
    return any(marker in folded for marker in _CREDENTIAL_MARKERS)


MAX_CONFIG_DEPTH = 8
MAX_CONFIG_BYTES = 8 * 1024


def _bounded_config(value: dict[str, Any]) -> dict[str, Any]:
    """JSON-like, at most MAX_CONFIG_DEPTH deep and MAX_CONFIG_BYTES serialised; walked without
    recursion, so a hostile nesting cannot exhaust the stack before it is refused."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"is nested deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str):
                    raise ValueError("has a key that is not a string")
                if looks_like_credential(key):
                    raise ValueError(f"{path}{key} looks like a credential: never forwarded or stored")
                stack.append((child, depth + 1, f"{path}{key}."))
        elif isinstance(node, list):
            stack.extend((child, depth + 1, path) for child in node)
        elif not (node is None or isinstance(node, str | int | float | bool)):
            raise ValueError(f"holds a {type(node).__name__}, which is not JSON")
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError("holds a number JSON cannot carry (NaN or infinity)")
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"is {size} bytes of JSON; at most {MAX_CONFIG_BYTES} are carried")
    return value


# A media type as RFC 6838 spells it (type/subtype of restricted-name characters), with optional
# parameters: no control character (NUL, DEL, CR/LF) ever reaches a vendor or a record.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = (
    rf"^{_RESTRICTED_NAME}/{_RESTRICTED_NAME}"
    rf'(\s*;\s*{_RESTRICTED_NAME}=({_RESTRICTED_NAME}|"[^"\x00-\x1f\x7f]{{0,200}}"))*$'
)
MediaType = Annotated[str, StringConstraints(min_length=3, max_length=255, pattern=_MEDIA_TYPE)]

# Text that came from outside and is written into records and logs.
CleanText = Annotated[str, AfterValidator(scrub_text)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("must be an https:// or http:// URL")
    return value


# A URL pollbridge will call (heartbeatWebhook): http(s) only; its host is vetted when it is called.
CallbackUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_http_url)]

# engineConfig: the options a task carries from its segment through every poll.
EngineConfig = Annotated[dict[str, Any], AfterValidator(_bounded_config)]
