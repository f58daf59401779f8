"""The engine toolkit's `/process` form -> the same events the segment function takes.

Pure: a multipart/form-data body (bytes) becomes either a new `media_chunk` (MediaChunk, plus the
uploaded bytes of the `chunk` file part when there is one) or a poll task coming back (its signed
taskPayload, from the `payload` field). Every bad field is named, all at once, and nothing is done
with a request that has one.

Multipart is read with `multipart`'s streaming push parser under hard limits (parts, headers per
part, header bytes, total); the stdlib email parser it replaces parsed some header shapes in
quadratic time and nested parts recursively. The form fields (aiWARE's engine toolkit v0.2 and V3, docs/aiware.md):
`chunkMimeType`, `chunkUUID`, `chunkIndex`, `startOffsetMS`, `endOffsetMS`, `cacheURI`,
`veritoneApiBaseUrl`, `token`, `payload` (JSON: `taskId`, `jobId`, `recordingId`, the engine's
configuration, or a poll task's keys), the file part `chunk`, and the V3 toolkit's additions
(`heartbeatWebhook`, `resultWebhook`, `externalCallbackWebhook`, `maxTTL`, `chunkContext`,
`chunk-metadata-<key>`, `internalJobId`, `internalTaskId`), accepted and not used: the webhooks among
them are served by the toolkit inside the engine's container, where a Lambda function cannot reach.

aiWARE reserves the right to add keys to `payload`: of the keys that are not the platform's, only the
options the provider declares (and pollbridge's own knobs) are taken; every other key is dropped and
named in NewChunk.dropped (the endpoint logs the names), never forwarded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pollbridge.errors import BodyTooLargeError, InvalidEventError, UnsupportedMediaTypeError
from pollbridge.models import MediaChunk, PollPayload
from pollbridge.models.parsing import describe
from pollbridge.ports import Media

# Lambda Function URLs take request payloads up to 6 MB, and the event carries the body base64-encoded
# (4/3 larger), so what reaches the function is at most about 4.5 MB of form. Larger chunks go by
# cacheURI without the file part: pollbridge then fetches them itself (MEDIA_MAX_BYTES).
MAX_BODY_BYTES = 6 * 1024 * 1024
MAX_PARTS = 64
MAX_FIELD_BYTES = 64 * 1024  # any part but `chunk`; `payload` is the largest (engine configuration)

# Keys of `payload` that the platform adds about the task, not the engine's own configuration.
# Credentials among them (`token`) are dropped here: they are never forwarded, stored or scheduled.
PLATFORM_KEYS = frozenset(
    {
        "startFromEntity",
        "internalJobId",
        "internalTaskId",
        "externalCallbackWebhook",
        "maxTTL",
        "chunkContext",
        "applicationId",
        "organizationId",
        "userId",
        "jobId",
        "taskId",
        "recordingId",
        "tdoId",
        "token",
        "mode",
        "libraryId",
        "libraryEngineModelId",
        "veritoneApiBaseUrl",
        "engineId",
        "engineInstanceId",
        "parentTaskId",
        "taskPayload",
        "heartbeatWebhook",
        "resultWebhook",
    }
)


class UploadedMedia:
    """The MediaSource of a chunk whose bytes came with the request: they are used as they are, and
    its cacheURI (if any) is neither checked nor fetched (no second download)."""

    def __init__(self, media: Media, max_bytes: int) -> None:
        self._media = media
        self._max_bytes = max_bytes

    def check(self, chunk: MediaChunk) -> None:
        if len(self._media.body) > self._max_bytes:
            size = len(self._media.body)
            raise BodyTooLargeError(
                f"invalid /process request: chunk: {size} bytes, over MEDIA_MAX_BYTES ({self._max_bytes})"
            )

    def fetch(self, chunk: MediaChunk) -> Media:
        return self._media


@dataclass(frozen=True)
class Upload:
    """A file part: its bytes and what it says they are."""

    body: bytes
    filename: str | None
    content_type: str


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]
    files: dict[str, Upload]


@dataclass(frozen=True)
class NewChunk:
    """New work: start it (with the uploaded bytes when the form carried them). `dropped`: the
    payload keys that were neither the platform's nor a declared option (logged, never forwarded)."""

    chunk: MediaChunk
    media: Media | None
    api_base_url: str | None
    token: str | None = None
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class PollTask:
    """A poll task the platform scheduled, sent back: poll it (its signature is checked by core)."""

    payload: PollPayload
    task_id: str | None
    api_base_url: str | None
    token: str | None = None


type ProcessRequest = NewChunk | PollTask


class ProcessFields(BaseModel):
    """The text fields of the form: strings, as multipart carries them (numbers are read below)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    chunkMimeType: str | None = Field(default=None, max_length=255)
    chunkUUID: str | None = Field(default=None, max_length=255)
    chunkIndex: str | None = Field(default=None, pattern=r"^[0-9]{1,8}$")
    startOffsetMS: str | None = Field(default=None, pattern=r"^[0-9]{1,12}$")
    endOffsetMS: str | None = Field(default=None, pattern=r"^[0-9]{1,12}$")
    cacheURI: str | None = None
    veritoneApiBaseUrl: str | None = Field(default=None, max_length=2048)
    token: str | None = Field(default=None, max_length=16_384)
    payload: str


MAX_HEADER_BYTES = 4096 + 128  # one header line of a part (multipart's default; a toolkit's are < 200)
MAX_HEADERS = 8  # per part: RFC 7578 allows three


def _boundary(content_type: str) -> bytes:
    """The form's boundary, read by multipart's header parser (quoted values and decoys inside them
    handled); an RFC 2231 `boundary*=` or none at all is refused."""
    import multipart

    kind, options = multipart.parse_options_header(content_type)
    if kind != "multipart/form-data":
        raise UnsupportedMediaTypeError("invalid /process request: Content-Type: must be multipart/form-data")
    boundary = options.get("boundary")
    if not boundary or len(boundary) > 200:
        raise UnsupportedMediaTypeError(
            "invalid /process request: Content-Type: a boundary (at most 200 characters) is required"
        )
    return str(boundary).encode("latin-1", "replace")


def parse_form(content_type: str | None, body: bytes) -> Form:
    """multipart/form-data -> fields and files; InvalidEventError for anything else.

    Parsed with `multipart`'s push parser (linear, no recursion) under hard limits: MAX_PARTS parts,
    MAX_HEADERS headers of at most MAX_HEADER_BYTES per part, MAX_BODY_BYTES in all; a part that is
    itself multipart is refused, never parsed."""
    import multipart

    if not content_type or content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise UnsupportedMediaTypeError("invalid /process request: Content-Type: must be multipart/form-data")
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"invalid /process request: body: larger than {MAX_BODY_BYTES} bytes")
    boundary = _boundary(content_type)
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    problems: list[str] = []
    parts: list[tuple[Any, bytes]] = []
    try:
        with multipart.PushMultipartParser(
            boundary,
            content_length=len(body),
            max_header_size=MAX_HEADER_BYTES,
            max_header_count=MAX_HEADERS,
            max_segment_count=MAX_PARTS,
        ) as parser:
            segment: Any = None
            pieces: list[bytes] = []
            for event in parser.parse(body):
                if isinstance(event, multipart.MultipartSegment):
                    if (event.content_type or "").startswith("multipart/"):
                        raise InvalidEventError(
                            f"invalid /process request: {event.name or 'body'}: nested multipart parts are not taken"
                        )
                    segment, pieces = event, []
                elif event is None:
                    parts.append((segment, b"".join(pieces)))
                else:
                    pieces.append(bytes(event))
    except multipart.ParserLimitReached as error:
        raise InvalidEventError(
            f"invalid /process request: body: over a limit ({_reason(error)}; at most {MAX_PARTS} parts)"
        ) from None
    except multipart.MultipartError as error:
        raise InvalidEventError(
            f"invalid /process request: body: not a multipart/form-data body ({_reason(error)})"
        ) from None
    for segment, data in parts:
        name = segment.name
        if segment.disposition != "form-data" or not isinstance(name, str) or not name:
            problems.append("body: a part without a form-data name")
            continue
        filename = segment.filename
        if name in fields or name in files:
            problems.append(f"{name}: given more than once")
        elif name == "chunk" and filename is None and _is_path(data):
            fields[CHUNK_PATH] = data.decode("utf-8")  # a V3 toolkit's file inside the container: unreadable here
        elif filename is not None or name == "chunk":
            files[name] = Upload(data, filename, segment.content_type or "application/octet-stream")
        elif len(data) > MAX_FIELD_BYTES:
            problems.append(f"{name}: larger than {MAX_FIELD_BYTES} bytes")
        else:
            try:
                fields[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(f"{name}: not UTF-8 text")
    if problems:
        raise InvalidEventError(f"invalid /process request: {'; '.join(problems)}")
    return Form(fields, files)


def _reason(error: Exception) -> str:
    return str(error)[:200] or type(error).__name__


CHUNK_PATH = "chunk (a path)"


def _is_path(data: bytes) -> bool:
    """A `chunk` part that names a file (the V3 toolkit's "the file to process (as a path)")."""
    return 0 < len(data) <= 4096 and data[:1] == b"/" and b"\n" not in data and b"\0" not in data


def to_request(form: Form, accepts: Callable[[str], bool] | None = None) -> ProcessRequest:
    """The form as a new chunk or a poll task, naming every bad field. `accepts`: which engine
    configuration keys to take (the provider's options and pollbridge's knobs); others are dropped."""
    try:
        fields = ProcessFields.model_validate(form.fields)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid /process request: {describe(exc)}") from None
    try:
        payload = json.loads(fields.payload)
    except ValueError:
        raise InvalidEventError("invalid /process request: payload: not JSON") from None
    except RecursionError:
        raise InvalidEventError("invalid /process request: payload: nested too deeply") from None
    if not isinstance(payload, dict):
        raise InvalidEventError("invalid /process request: payload: must be a JSON object")
    base_url = fields.veritoneApiBaseUrl or _text(payload.get("veritoneApiBaseUrl"))
    poll_keys = _poll_keys(payload)
    if poll_keys is not None:
        try:
            polled = PollPayload.model_validate(poll_keys)
        except ValidationError as exc:
            raise InvalidEventError(f"invalid /process request: {describe(exc, 'payload')}") from None
        task_id = payload.get("taskId")
        token = fields.token or _text(payload.get("token"))
        return PollTask(polled, task_id if isinstance(task_id, str) and task_id else None, base_url, token)
    return _new_chunk(fields, form.files.get("chunk"), payload, base_url, accepts)


def _poll_keys(payload: dict[str, Any]) -> dict[str, Any] | None:
    """A poll task's keys: at the top of `payload`, or in its legacy `taskPayload`."""
    if payload.get("isPollTask") is True:
        return payload
    legacy = payload.get("taskPayload")
    if isinstance(legacy, dict) and legacy.get("isPollTask") is True:
        return legacy
    return None


def _new_chunk(
    fields: ProcessFields,
    upload: Upload | None,
    payload: dict[str, Any],
    base_url: str | None,
    accepts: Callable[[str], bool] | None,
) -> NewChunk:
    problems = []
    if upload is not None and not upload.body:
        problems.append("chunk: the file part is empty")
    if upload is None and not fields.cacheURI:
        problems.append(
            "chunk: a file part `chunk` or a `cacheURI` field is required (a path in `chunk` names a file in "
            "the engine's container, which pollbridge cannot read: set VERITONE_DISABLE_CHUNK_DOWNLOAD=true)"
        )
    if not fields.chunkMimeType:
        problems.append("chunkMimeType: Field required")
    legacy = payload.get("taskPayload")
    config = {
        **(legacy if isinstance(legacy, dict) else {}),
        **{k: v for k, v in payload.items() if k not in PLATFORM_KEYS},
    }
    dropped = tuple(sorted(k for k in config if accepts is not None and not accepts(k)))
    config = {k: v for k, v in config.items() if k not in dropped}
    event = {
        "type": "media_chunk",
        "taskId": payload.get("taskId"),
        "tdoId": payload.get("recordingId", payload.get("tdoId")),
        "jobId": payload.get("jobId"),
        "mimeType": fields.chunkMimeType or "application/octet-stream",
        "chunkUUID": fields.chunkUUID,
        "chunkIndex": _int(fields.chunkIndex),
        "startOffsetMs": _int(fields.startOffsetMS) or 0,
        "endOffsetMs": _int(fields.endOffsetMS),
        "cacheURI": fields.cacheURI or None,
        "taskPayload": config,
    }
    try:
        chunk = MediaChunk.model_validate(event, context={"uploaded": upload is not None})
    except ValidationError as exc:
        named = _renamed(describe(exc)).split("; ")
        problems.extend(p for p in named if "cacheURI or content is required" not in p)  # said above
    if problems:
        raise InvalidEventError(f"invalid /process request: {'; '.join(problems)}")
    media = Media(upload.body, chunk.mimeType) if upload is not None else None
    token = fields.token or _text(payload.get("token"))
    return NewChunk(chunk, media, base_url, token, dropped)


# MediaChunk's field names -> the form's, so that a message names what the caller sent.
_FORM_NAMES = {
    "taskId": "payload.taskId",
    "tdoId": "payload.recordingId",
    "jobId": "payload.jobId",
    "mimeType": "chunkMimeType",
    "startOffsetMs": "startOffsetMS",
    "endOffsetMs": "endOffsetMS",
    "taskPayload": "payload",
}


def _renamed(described: str) -> str:
    parts = []
    for problem in described.split("; "):
        field, _, message = problem.partition(": ")
        head, dot, rest = field.partition(".")
        parts.append(f"{_FORM_NAMES.get(head, head)}{dot}{rest}: {message}")
    return "; ".join(parts)


def _int(value: str | None) -> int | None:
    return int(value) if value else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
