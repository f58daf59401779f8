"""`rekognition-text`: Amazon Rekognition Video text detection -> a vtn-standard text document.

- submit: the video chunk is staged in the staging bucket as `media/<idempotency key>.<ext>` (unless
  it is an s3:// object of the media bucket: Rekognition reads it where it lies, with the caller's
  permissions), then StartTextDetection with ClientRequestToken = sha256(idempotency key) (64 hex
  characters; Rekognition allows 1-64 of [a-zA-Z0-9-_]): a repeated start with that token returns the
  same JobId instead of starting a second job.
- status: GetTextDetection (one result asked for); IN_PROGRESS, SUCCEEDED, FAILED -> Running,
  Complete, Failed. A failed job's StatusMessage becomes the record's failureMessage.
- result: GetTextDetection through every page (NextToken; an empty token is the end, MAX_PAGES at
  most), each page converted as it comes by `TextSeries` (as `detections_to_vtn` converts a list).
- cancel: a Rekognition Video job cannot be stopped (there is no API for it). `cancel` does
  nothing: the job runs to its end (and is billed for the minutes analysed), nobody reads its result,
  Rekognition forgets it, and the staged video expires with the staging bucket's lifecycle rule. The
  task itself is cancelled or failed by its record as with any provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from pollbridge.adapters.aws import ClientFactory, aws_call
from pollbridge.adapters.providers.aws import (
    Staging,
    client_on_first_use,
    client_request_token,
    staging_bucket,
)
from pollbridge.adapters.providers.documents import document
from pollbridge.adapters.providers.options import Options, declared_options
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, TaskFailureReason, VtnDocument
from pollbridge.models.vtn import text_item
from pollbridge.observability import tracer  # the functions' (lazy) tracer: service calls are subsegments
from pollbridge.ports import Media, ResultContext

if TYPE_CHECKING:
    from mypy_boto3_rekognition import RekognitionClient

    from pollbridge.settings import Settings


NAME = "rekognition-text"
STATUS_MAP: Mapping[str, JobStatus] = {
    "IN_PROGRESS": JobStatus.RUNNING,
    "SUCCEEDED": JobStatus.COMPLETE,
    "FAILED": JobStatus.FAILED,
}
# Rekognition Video reads MPEG-4 and MOV (H.264).
MEDIA_EXTENSIONS: Mapping[str, str] = {"video/mp4": "mp4", "video/quicktime": "mov"}
JOB_TAG = "pollbridge"
PAGE_SIZE = 1000  # GetTextDetection's maximum
# Read inside one poll (60 s): 200 pages of up to 1,000 detections at ~50-100 ms a call stay well
# inside it; a result larger than that (or a service that never stops paging) fails the task with a
# record instead of timing out into the DLQ. Each page is converted as it comes (TextSeries); the poll
# that reads 200 full pages, writes and answers the result peaks at what BENCHMARKS.md's section 4
# measures (`python -m devtools.bench memory`): within PollFunction's MemorySize with a margin.
MAX_PAGES = 200
# Rekognition reports text per sampled frame, without a duration: a LINE seen at frame t is taken to
# last until the next frame that has text, at most this long (and never past the video's end).
MAX_FRAME_SPAN_MS = 1000
_START_REASONS: dict[str, TaskFailureReason] = {
    "InvalidS3ObjectException": "url_error",
    "VideoTooLargeException": "invalid_data",
    "InvalidParameterException": "invalid_data",
    "IdempotentParameterMismatchException": "api_error",
}
_GET_REASONS: dict[str, TaskFailureReason] = {
    "InvalidParameterException": "api_not_found",  # an unknown or expired JobId
    "ResourceNotFoundException": "api_not_found",
}

Fraction = Annotated[float, Field(ge=0, le=1)]


class RekognitionTextOptions(Options):
    """engineConfig for `rekognition-text`: Rekognition's word filter (fractions 0..1)."""

    minConfidence: Fraction | None = None  # words below this confidence are not reported
    minBoundingBoxHeight: Fraction | None = None  # of the frame's height
    minBoundingBoxWidth: Fraction | None = None  # of the frame's width


def extension(media_type: str) -> str:
    found = MEDIA_EXTENSIONS.get(media_type.split(";", 1)[0].strip().lower())
    if found is None:
        raise PermanentError(
            f"Rekognition Video cannot read media of type {media_type!r} (it reads video/mp4, video/quicktime)",
            "invalid_data",
        )
    return found


def start_request(bucket: str, key: str, token: str, options: RekognitionTextOptions) -> dict[str, Any]:
    """StartTextDetection's arguments for a task."""
    request: dict[str, Any] = {
        "Video": {"S3Object": {"Bucket": bucket, "Name": key}},
        "ClientRequestToken": token,
        "JobTag": JOB_TAG,
    }
    word_filter: dict[str, float] = {}
    if options.minConfidence is not None:
        word_filter["MinConfidence"] = options.minConfidence * 100  # Rekognition's confidences are 0..100
    if options.minBoundingBoxHeight is not None:
        word_filter["MinBoundingBoxHeight"] = options.minBoundingBoxHeight
    if options.minBoundingBoxWidth is not None:
        word_filter["MinBoundingBoxWidth"] = options.minBoundingBoxWidth
    if word_filter:
        request["Filters"] = {"WordFilter": word_filter}
    return request


class RekognitionTextProvider:
    name = NAME

    def __init__(self, staging: Staging, client: Callable[[], RekognitionClient]) -> None:
        self._staging = staging
        self._client = client

    @property
    def option_names(self) -> frozenset[str]:
        return frozenset(RekognitionTextOptions.model_fields)

    def options(self, engine_config: Mapping[str, Any]) -> dict[str, Any]:
        return declared_options(RekognitionTextOptions, engine_config, self.name)

    @tracer.capture_method(capture_response=False)
    def submit(self, media: Media, options: dict[str, Any], idempotency_key: str, staged: str | None = None) -> str:
        """`staged`: the copy an earlier refused try put in the staging bucket (not put again); a
        job not started (refused, a blip) names the copy it put."""
        ext = extension(media.media_type)  # refused before anything is staged
        bucket, key = self._staging.place(media, f"{idempotency_key}.{ext}", staged)
        request = start_request(
            bucket, key, client_request_token(idempotency_key), RekognitionTextOptions.model_validate(options)
        )
        try:
            answer = aws_call(
                "rekognition StartTextDetection",
                lambda: self._client().start_text_detection(**request),
                _START_REASONS,
            )
        except TransientError as error:  # refused or a blip: the copy is there for the next try
            error.staged = self._staging.staged_copy(media, bucket, key)
            raise
        job_id = answer.get("JobId")
        if not isinstance(job_id, str) or not job_id:
            raise PermanentError("rekognition StartTextDetection returned no JobId", "api_error")
        return job_id

    @tracer.capture_method(capture_response=False)
    def status(self, work_id: str) -> JobState:
        page = self._page(work_id, max_results=1)
        raw = str(page.get("JobStatus", ""))
        status = STATUS_MAP.get(raw)
        if status is None:
            raise TransientError(f"rekognition job {work_id} has an unknown status {raw[:100]!r}")
        if status is JobStatus.FAILED:
            message = str(page.get("StatusMessage") or "no reason given")[:1000]
            return JobState(status=status, error_code=_failure_code(message), error_message=message)
        return JobState(status=status)

    @tracer.capture_method(capture_response=False)
    def result(self, work_id: str, context: ResultContext) -> VtnDocument:
        """Every page, each converted as it comes (TextSeries) and then dropped: the pages' detections
        are never held all at once beside the document (BENCHMARKS.md, section 4)."""
        series = TextSeries(context.media_offset_ms)
        duration: Any = None
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self._page(work_id, PAGE_SIZE, token)
            if page.get("JobStatus") != "SUCCEEDED":
                raise TransientError(f"rekognition job {work_id} is {page.get('JobStatus')!r} while reading its result")
            if duration is None:
                duration = (page.get("VideoMetadata") or {}).get("DurationMillis")
            series.add(page.get("TextDetections") or [])
            token = page.get("NextToken") or None  # an empty token is the end, as an absent one
            del page
            if token is None:
                return series.document(duration, context)
            if token in seen:
                raise TransientError(f"rekognition job {work_id}: GetTextDetection repeated a page token")
            seen.add(token)
        raise PermanentError(f"rekognition job {work_id}: more than {MAX_PAGES} pages of text", "invalid_data")

    def cancel(self, work_id: str) -> None:
        """Rekognition Video jobs cannot be stopped: see the module's docstring for what happens."""

    def _page(self, work_id: str, max_results: int, token: str | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"JobId": work_id, "MaxResults": max_results}  # pages come in timestamp order
        if token is not None:
            request["NextToken"] = token
        answer = aws_call(
            f"rekognition GetTextDetection {work_id}",
            lambda: self._client().get_text_detection(**request),
            _GET_REASONS,
        )
        return dict(answer)


def _failure_code(message: str) -> str:
    folded = message.lower()
    if any(marker in folded for marker in ("codec", "format", "unsupported", "invalid", "corrupt", "too large")):
        return "invalid_media"
    if any(marker in folded for marker in ("s3", "access", "permission")):
        return "media_unreachable"
    return "internal"


# --- the converter: Rekognition's text detections -> vtn-standard text ------------------------------


def _fraction(value: Any) -> float:
    """Rekognition's polygon points may fall just outside the frame (text cut by an edge): clamp."""
    fraction = float(value)
    if fraction != fraction:  # NaN, which no clamp moves
        raise ValueError("a polygon point is not a number")
    return min(max(fraction, 0.0), 1.0)


def _polygon(geometry: Any) -> list[dict[str, float]] | None:
    # {"x", "y"} as pollbridge.models.vtn.point makes them: clamped, each is a fraction already
    points = [{"x": _fraction(p["X"]), "y": _fraction(p["Y"])} for p in (geometry or {}).get("Polygon") or []]
    return points if len(points) == 1 or len(points) >= 3 else None


def detections_to_vtn(detections: Sequence[Mapping[str, Any]], duration_ms: Any, context: ResultContext) -> VtnDocument:
    """One series item per detected LINE: from its frame's timestamp to the next frame with text (at
    most MAX_FRAME_SPAN_MS, never past the video's end), shifted by the chunk's offset; its `object` is
    `text` with the line's text, confidence (0..100 -> 0..1) and boundingPoly (the polygon, clamped to
    the frame). The line's WORDs go in `object.vendor.words` (text, confidence, boundingPoly): kept for
    a UI that highlights single words, not indexed (the line already carries their text).
    Raises ValueError when the detections are not Rekognition's."""
    series = TextSeries(context.media_offset_ms)
    series.add(detections)
    return series.document(duration_ms, context)


class TextSeries:
    """detections_to_vtn in pieces: `add` converts each page's detections as it comes into what the
    document keeps (a LINE's text object, a WORD's vendor word, by frame), so that the pages
    themselves can go; `document` then times the lines, once every frame is known. Raises
    ValueError when the detections are not Rekognition's."""

    def __init__(self, offset_ms: int) -> None:
        self._offset = offset_ms
        # timestamp -> the frame's LINEs (Id, its text object) and its WORDs by their LINE's Id
        self._frames: dict[int, tuple[list[tuple[Any, dict[str, Any]]], dict[Any, list[dict[str, Any]]]]] = {}

    def add(self, detections: Sequence[Mapping[str, Any]]) -> None:
        try:
            for detection in detections:
                lines, words = self._frames.setdefault(int(detection["Timestamp"]), ([], {}))
                text = detection["TextDetection"]
                kind = text.get("Type")
                if kind == "LINE":
                    lines.append((text.get("Id"), _text_object(text)))
                elif kind == "WORD":
                    words.setdefault(text.get("ParentId"), []).append(_vendor_word(text))
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not Rekognition text detections: {type(error).__name__} {error}") from None

    def document(self, duration_ms: Any, context: ResultContext) -> VtnDocument:
        try:
            return self._document(duration_ms, context)
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not Rekognition text detections: {type(error).__name__} {error}") from None

    def _document(self, duration_ms: Any, context: ResultContext) -> VtnDocument:
        times = sorted(self._frames)
        end = int(duration_ms) if isinstance(duration_ms, int | float) and duration_ms >= 0 else None
        series = []
        for index, at in enumerate(times):
            following = times[index + 1] if index + 1 < len(times) else None
            stop = at + min(MAX_FRAME_SPAN_MS, following - at if following is not None else MAX_FRAME_SPAN_MS)
            if end is not None:
                stop = max(min(stop, end), at)
            lines, words_of = self._frames[at]
            for line_id, found in sorted(lines, key=lambda line: int(line[0] if line[0] is not None else 0)):
                words = words_of.get(line_id)
                series.append(
                    text_item(
                        self._offset + at,
                        self._offset + stop,
                        found["text"],
                        found.get("confidence"),
                        found.get("boundingPoly"),
                        {"words": words} if words else None,
                    )
                )
        return document(context, series, "text")


def _text_object(line: Mapping[str, Any]) -> dict[str, Any]:
    """A LINE's text, confidence and polygon (checked when its series item is made)."""
    found: dict[str, Any] = {"text": str(line["DetectedText"])}
    confidence = _confidence(line.get("Confidence"))
    if confidence is not None:
        found["confidence"] = confidence
    polygon = _polygon(line.get("Geometry"))
    if polygon is not None:
        found["boundingPoly"] = polygon
    return found


def _confidence(value: Any) -> float | None:
    return None if value is None else float(value) / 100


def _vendor_word(text: Mapping[str, Any]) -> dict[str, Any]:
    word: dict[str, Any] = {"text": str(text["DetectedText"])}
    confidence = _confidence(text.get("Confidence"))
    if confidence is not None:
        word["confidence"] = confidence
    polygon = _polygon(text.get("Geometry"))
    if polygon is not None:
        word["boundingPoly"] = polygon
    return word


def build(settings: Settings, clients: ClientFactory) -> RekognitionTextProvider:
    return RekognitionTextProvider(
        Staging(client_on_first_use(clients, "s3"), staging_bucket(settings)),
        client_on_first_use(clients, "rekognition"),
    )
