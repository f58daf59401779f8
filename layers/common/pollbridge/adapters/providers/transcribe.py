"""`transcribe`: Amazon Transcribe batch jobs (speech to text) -> a vtn-standard transcript.

- submit: the chunk is staged in the staging bucket as `media/<job name>.<format>` (unless it is an
  s3:// object of the media bucket, which Transcribe reads where it lies, with the caller's
  permissions), then StartTranscriptionJob with the output written to `outputs/<job name>.json` in
  the staging bucket. The job name is the task's idempotency key, `pollbridge-job-<sha256(origTaskId)>`
  (79 characters of the 200 [0-9a-zA-Z._-] Transcribe allows): a repeated segment's start raises
  ConflictException, which means "already started", and the existing job is the task's job.
- status: GetTranscriptionJob; QUEUED, IN_PROGRESS, COMPLETED, FAILED -> Queued, Running, Complete,
  Failed. A failed job's FailureReason becomes the record's failureMessage.
- result: the transcript is read with S3 GetObject from where the job says it is
  (Transcript.TranscriptFileUri, in the private staging bucket: never fetched over plain HTTP) and
  converted by `transcript_to_vtn`.
- cancel: DeleteTranscriptionJob deletes a finished job (a job already gone is fine). A queued or
  running job cannot be stopped: Transcribe has no API for it and refuses to delete it
  (BadRequestException, the answer it also gives for a job it does not know, so GetTranscriptionJob
  tells the two apart). Such a job runs to its end and is billed for the audio; nobody reads its
  output, which expires with the staging bucket's lifecycle rule. `cancel` logs a warning and counts
  `VendorJobsNotCancelled`; the task itself is cancelled or failed by its record as with any provider.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

from pydantic import Field, StrictBool, StringConstraints

from pollbridge.adapters.aws import ClientFactory, aws_call, aws_call_tolerating
from pollbridge.adapters.providers.aws import (
    OUTPUT_PREFIX,
    Staging,
    client_on_first_use,
    s3_location,
    staging_bucket,
)
from pollbridge.adapters.providers.documents import document
from pollbridge.adapters.providers.options import Options, declared_options
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, TaskFailureReason, VtnDocument
from pollbridge.models.vtn import word, words_item
from pollbridge.observability import logger, tracer  # the functions' (lazy) tracer: calls are subsegments
from pollbridge.ports import Media, ResultContext
from pollbridge.telemetry import count

if TYPE_CHECKING:
    from mypy_boto3_transcribe import TranscribeServiceClient

    from pollbridge.settings import Settings


NAME = "transcribe"
# Every status Transcribe reports, onto exactly one of the seed's.
STATUS_MAP: Mapping[str, JobStatus] = {
    "QUEUED": JobStatus.QUEUED,
    "IN_PROGRESS": JobStatus.RUNNING,
    "COMPLETED": JobStatus.COMPLETE,
    "FAILED": JobStatus.FAILED,
}
# The media types Transcribe reads, as its MediaFormat (parameters such as `;codecs=` are ignored).
MEDIA_FORMATS: Mapping[str, str] = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3",
    "audio/mp4": "mp4", "video/mp4": "mp4",
    "audio/m4a": "m4a", "audio/x-m4a": "m4a",
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/flac": "flac", "audio/x-flac": "flac",
    "audio/ogg": "ogg", "audio/opus": "ogg",
    "audio/amr": "amr",
    "audio/webm": "webm", "video/webm": "webm",
}  # fmt: skip
JOB_NAME = re.compile(r"^[0-9a-zA-Z._-]{1,200}$")
# Failure reasons -> the vendor error codes pollbridge.decisions knows (invalid_media -> invalid_data,
# media_unreachable -> url_error); anything else is an api_error.
_FAILURE_CODES = (
    (("format", "unsupported", "sample rate", "corrupt", "invalid", "duration", "file size"), "invalid_media"),
    (("s3", "access", "permission", "couldn't be found", "could not be found", "not found"), "media_unreachable"),
)
_NOT_FOUND: dict[str, TaskFailureReason] = {
    "BadRequestException": "api_not_found",  # Transcribe's answer for a job it does not know
    "NotFoundException": "api_not_found",
}

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}-[A-Z]{2}$")]


class TranscribeOptions(Options):
    """engineConfig for `transcribe`. Without languageCode, Transcribe identifies the language
    (optionally among languageOptions)."""

    languageCode: LanguageCode | None = None
    identifyLanguage: StrictBool | None = None
    languageOptions: list[LanguageCode] | None = Field(default=None, min_length=1, max_length=20)
    showSpeakerLabels: StrictBool | None = None
    maxSpeakerLabels: Annotated[int, Field(strict=True, ge=2, le=30)] | None = None
    vocabularyName: Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z._-]{1,200}$")] | None = None

    def conflicts(self) -> list[str]:
        found = []
        if self.languageCode is not None and self.identifyLanguage:
            found.append("identifyLanguage: give languageCode or identifyLanguage, not both")
        if self.languageCode is None and self.identifyLanguage is False:
            found.append("identifyLanguage: false needs a languageCode")
        if self.languageCode is not None and self.languageOptions is not None:
            found.append("languageOptions: only without languageCode (they guide language identification)")
        if self.showSpeakerLabels and self.maxSpeakerLabels is None:
            found.append("maxSpeakerLabels: required when showSpeakerLabels is true (2 to 30)")
        if self.maxSpeakerLabels is not None and not self.showSpeakerLabels:
            found.append("maxSpeakerLabels: only with showSpeakerLabels true")
        if self.vocabularyName is not None and self.languageCode is None:
            found.append("vocabularyName: needs languageCode (a vocabulary belongs to one language)")
        return found


def media_format(media_type: str) -> str:
    found = MEDIA_FORMATS.get(media_type.split(";", 1)[0].strip().lower())
    if found is None:
        known = ", ".join(sorted(MEDIA_FORMATS))
        message = f"Amazon Transcribe cannot read media of type {media_type!r} (it reads {known})"
        raise PermanentError(message, "invalid_data")
    return found


def failure_code(reason: str) -> str:
    folded = reason.lower()
    for markers, code in _FAILURE_CODES:
        if any(marker in folded for marker in markers):
            return code
    return "internal"


class TranscribeProvider:
    name = NAME

    def __init__(self, staging: Staging, client: Callable[[], TranscribeServiceClient]) -> None:
        self._staging = staging
        self._client = client

    @property
    def option_names(self) -> frozenset[str]:
        return frozenset(TranscribeOptions.model_fields)

    def options(self, engine_config: Mapping[str, Any]) -> dict[str, Any]:
        return declared_options(TranscribeOptions, engine_config, self.name)

    @tracer.capture_method(capture_response=False)
    def submit(self, media: Media, options: dict[str, Any], idempotency_key: str, staged: str | None = None) -> str:
        """`staged`: the copy an earlier refused try put in the staging bucket (not put again); a
        job not started (refused, a blip) names the copy it put."""
        fmt = media_format(media.media_type)  # refused before anything is staged
        if not JOB_NAME.fullmatch(idempotency_key):
            raise ValueError(f"idempotency key {idempotency_key!r} is not a Transcribe job name")
        name = idempotency_key
        bucket, key = self._staging.place(media, f"{name}.{fmt}", staged)
        chosen = TranscribeOptions.model_validate(options)
        request = job_request(name, f"s3://{bucket}/{key}", fmt, self._staging.bucket, chosen)
        try:
            aws_call_tolerating(  # ConflictException: the job exists, this task's (a repeated segment)
                f"transcribe StartTranscriptionJob {name}",
                lambda: self._client().start_transcription_job(**request),
                frozenset({"ConflictException"}),
                {"BadRequestException": "invalid_data"},
            )
        except TransientError as error:  # refused or a blip: the copy is there for the next try
            error.staged = self._staging.staged_copy(media, bucket, key)
            raise
        return name

    @tracer.capture_method(capture_response=False)
    def status(self, work_id: str) -> JobState:
        job = self._job(work_id)
        raw = str(job.get("TranscriptionJobStatus", ""))
        status = STATUS_MAP.get(raw)
        if status is None:  # out of contract: counted against the task's error budget
            raise TransientError(f"transcribe job {work_id} has an unknown status {raw[:100]!r}")
        if status is JobStatus.FAILED:
            reason = str(job.get("FailureReason") or "no reason given")[:1000]
            return JobState(status=status, error_code=failure_code(reason), error_message=reason)
        return JobState(status=status)

    @tracer.capture_method(capture_response=False)
    def result(self, work_id: str, context: ResultContext) -> VtnDocument:
        job = self._job(work_id)
        uri = str((job.get("Transcript") or {}).get("TranscriptFileUri") or "")
        try:
            bucket, key = s3_location(uri)
        except ValueError:
            message = f"transcribe job {work_id} reports no readable transcript location"
            raise PermanentError(message, "api_error") from None
        transcript = parse_output(self._staging.read_output(bucket, key))  # a ValueError: not vtn-convertible
        return transcript_to_vtn(transcript, job.get("LanguageCode"), context)

    @tracer.capture_method(capture_response=False)
    def cancel(self, work_id: str) -> None:
        """DeleteTranscriptionJob. Transcribe answers BadRequestException both for a job it does not
        know and for one it will not delete because it is queued or running (a batch job cannot be
        stopped: there is no API for it). Which one it was, GetTranscriptionJob says: a job gone is
        fine; a job still there runs to its end and is billed, which is logged as a warning and
        counted (VendorJobsNotCancelled). Best effort, as every cancel: nothing is raised for it."""

        def delete() -> bool:
            self._client().delete_transcription_job(TranscriptionJobName=work_id)
            return True

        if aws_call_tolerating(f"transcribe DeleteTranscriptionJob {work_id}", delete, frozenset(_NOT_FOUND)):
            return
        try:
            job = self._job(work_id)
        except PermanentError as error:
            if error.reason == "api_not_found":  # a job already gone: nothing left to stop
                return
            raise
        status = str(job.get("TranscriptionJobStatus", ""))[:100]
        logger.warning(
            "Amazon Transcribe refused to delete the job: a batch job cannot be stopped, so a queued or "
            "running one runs to its end and is billed (its result is never read)",
            extra={"workId": work_id, "jobStatus": status},
        )
        count("VendorJobsNotCancelled")

    def _job(self, work_id: str) -> dict[str, Any]:
        answer = aws_call(
            f"transcribe GetTranscriptionJob {work_id}",
            lambda: self._client().get_transcription_job(TranscriptionJobName=work_id),
            _NOT_FOUND,
        )
        job = answer.get("TranscriptionJob")
        if not isinstance(job, dict):
            raise TransientError(f"transcribe GetTranscriptionJob {work_id} answered without the job")
        return dict(job)


def job_request(name: str, media_uri: str, fmt: str, output_bucket: str, options: TranscribeOptions) -> dict[str, Any]:
    """StartTranscriptionJob's arguments for a task."""
    request: dict[str, Any] = {
        "TranscriptionJobName": name,
        "Media": {"MediaFileUri": media_uri},
        "MediaFormat": fmt,
        "OutputBucketName": output_bucket,
        "OutputKey": f"{OUTPUT_PREFIX}{name}.json",  # a full .json key: the URI the job reports is exact
    }
    if options.languageCode is not None:
        request["LanguageCode"] = options.languageCode
    else:
        request["IdentifyLanguage"] = True
        if options.languageOptions:
            request["LanguageOptions"] = list(options.languageOptions)
    settings: dict[str, Any] = {}
    if options.showSpeakerLabels:
        settings |= {"ShowSpeakerLabels": True, "MaxSpeakerLabels": options.maxSpeakerLabels}
    if options.vocabularyName is not None:
        settings["VocabularyName"] = options.vocabularyName
    if settings:
        request["Settings"] = settings
    return request


# --- the converter: Transcribe's output JSON -> vtn-standard ----------------------------------------


MAX_MEDIA_SECONDS = 366 * 86_400  # as models.common.MAX_OFFSET_MS: a time past a year of media is no time


_PLAIN_SECONDS = re.compile(r"(\d{1,8})(?:\.(\d{1,3}))?")  # "1.24": whole milliseconds, read without Decimal


def seconds_to_ms(value: Any) -> int:
    """Transcribe gives times as strings of seconds ("1.24"): exact decimal arithmetic, rounded to ms."""
    plain = _PLAIN_SECONDS.fullmatch(value) if isinstance(value, str) else None
    if plain is not None and int(plain[1]) <= MAX_MEDIA_SECONDS:
        return int(plain[1]) * 1000 + int((plain[2] or "").ljust(3, "0"))
    try:
        seconds = Decimal(str(value))
        if not seconds.is_finite() or abs(seconds) > MAX_MEDIA_SECONDS:
            raise ValueError("out of range")
        return round(seconds * 1000)
    except (ArithmeticError, ValueError, TypeError):  # decimal's InvalidOperation/Overflow are ArithmeticErrors
        raise ValueError(f"not a time in seconds: {str(value)[:50]!r}") from None


class _Item(NamedTuple):
    """One of results.items, as parse_output keeps it (the JSON values as they are, bar alternatives)."""

    type: Any
    start_time: Any
    end_time: Any
    speaker_label: Any
    alternatives: Any  # a list of _Alternative (or of whatever else the JSON held)


class _Alternative(NamedTuple):
    content: Any
    confidence: Any


class _Span(NamedTuple):
    """One of speaker_labels.segments[].items (older transcripts name speakers only there)."""

    start_time: Any
    end_time: Any
    speaker_label: Any


def parse_output(raw: bytes) -> dict[str, Any]:
    """Transcribe's output JSON, keeping only what the conversion reads: each item, alternative and
    speaker span becomes a small tuple as the parser finishes it (a dict per item and per alternative
    took ~1.4 KB a word), the transcript's text (results.transcripts, audio_segments) is dropped,
    and repeated labels are one string. Raises ValueError for a body that is not JSON."""
    strings: dict[str, str] = {}

    def one(value: Any) -> Any:  # "spk_0", "pronunciation": one string however often they come
        return strings.setdefault(value, value) if isinstance(value, str) else value

    def compact(obj: dict[str, Any]) -> Any:
        if "alternatives" in obj:
            return _Item(one(obj.get("type")), obj.get("start_time"), obj.get("end_time"),
                         one(obj.get("speaker_label")), obj["alternatives"])  # fmt: skip
        if "content" in obj:
            return _Alternative(obj["content"], obj.get("confidence"))
        if "transcript" in obj:  # results.transcripts[] and audio_segments[]: the text again
            return None
        if "speaker_label" in obj and "start_time" in obj and "items" not in obj:
            return _Span(obj["start_time"], obj.get("end_time"), one(obj["speaker_label"]))
        return obj

    try:
        output = json.loads(raw, object_hook=compact)
    except RecursionError:
        raise ValueError("not an Amazon Transcribe transcript: nested too deep") from None
    if not isinstance(output, dict):
        raise ValueError("not an Amazon Transcribe transcript: not an object")
    return output


def transcript_to_vtn(output: Mapping[str, Any], job_language: Any, context: ResultContext) -> VtnDocument:
    """One series item per pronunciation item (times shifted by the chunk's offset), all of its
    alternatives as words (the first, Transcribe's choice, on the best path), punctuation appended to
    the preceding word (a leading one, with no word before it, is dropped), `speakerId` when speaker
    labels were on, `language` from the job (else from the output). `output` is the transcript as
    json.loads or parse_output gives it. Raises ValueError when it is not a Transcribe transcript."""
    try:
        return _convert(output, job_language, context)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an Amazon Transcribe transcript: {type(error).__name__} {error}") from None


def _convert(output: Mapping[str, Any], job_language: Any, context: ResultContext) -> VtnDocument:
    results = output.get("results") if isinstance(output, Mapping) else None
    if not isinstance(results, Mapping) or not isinstance(results.get("items", []), list):
        raise ValueError("not an Amazon Transcribe transcript: no results.items")
    offset = context.media_offset_ms
    speakers: dict[tuple[str, str], str] | None = None  # read on the first item without its own label
    series: list[dict[str, Any]] = []
    for raw in results.get("items", []):
        if raw is None:  # an item parse_output dropped (one with a transcript text and no alternatives)
            continue
        item = raw if isinstance(raw, _Item) else _item_of(raw)
        alternatives = [a for a in map(_alternative_of, item.alternatives or []) if str(a.content)]
        if not alternatives:
            continue
        if item.type == "punctuation":
            if series:
                mark = str(alternatives[0].content)
                for known in series[-1]["words"]:
                    known["word"] += mark
            continue
        start, end = item.start_time, item.end_time
        chosen: dict[str, Any] = {}  # each text once, with its first alternative's confidence
        for alternative in alternatives:
            chosen.setdefault(str(alternative.content), alternative.confidence)
        words = [(text, None if confidence is None else float(confidence)) for text, confidence in chosen.items()]
        speaker = item.speaker_label
        if not speaker:
            if speakers is None:
                speakers = _speakers_by_time(results.get("speaker_labels"))
            speaker = speakers.get((str(start), str(end)))
        series.append(
            words_item(
                offset + seconds_to_ms(start),
                offset + seconds_to_ms(end),
                _words(words),
                str(speaker) if speaker else None,
            )
        )
    language = job_language or results.get("language_code")
    return document(context, series, "transcript", str(language) if language else None)


def _item_of(raw: Mapping[str, Any]) -> _Item:
    return _Item(
        raw.get("type"), raw.get("start_time"), raw.get("end_time"), raw.get("speaker_label"), raw.get("alternatives")
    )


def _alternative_of(raw: Any) -> _Alternative:
    return raw if isinstance(raw, _Alternative) else _Alternative(raw.get("content", ""), raw.get("confidence"))


def _words(alternatives: list[tuple[str, float | None]]) -> list[dict[str, Any]]:
    if len(alternatives) == 1:
        text, confidence = alternatives[0]
        return [word(text, confidence)]
    return [
        word(text, confidence, utterance_length=1, best_path=index == 0)
        for index, (text, confidence) in enumerate(alternatives)
    ]


def _speakers_by_time(labels: Any) -> dict[tuple[str, str], str]:
    """Older transcripts name speakers only in speaker_labels.segments[].items: by (start, end)."""
    found: dict[tuple[str, str], str] = {}
    if isinstance(labels, Mapping):
        for segment in labels.get("segments") or []:
            for raw in segment.get("items") or []:
                span = raw if isinstance(raw, _Span) else _Span(raw.get("start_time"), raw.get("end_time"),
                                                                raw.get("speaker_label"))  # fmt: skip
                if span.speaker_label:
                    found[(str(span.start_time), str(span.end_time))] = str(span.speaker_label)
    return found


def build(settings: Settings, clients: ClientFactory) -> TranscribeProvider:
    return TranscribeProvider(
        Staging(client_on_first_use(clients, "s3"), staging_bucket(settings)),
        client_on_first_use(clients, "transcribe"),
    )
