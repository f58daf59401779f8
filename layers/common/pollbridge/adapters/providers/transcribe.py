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
- cancel: DeleteTranscriptionJob (a job already gone is fine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, StrictBool, StringConstraints

from pollbridge.adapters.providers.aws import (
    OUTPUT_PREFIX,
    ClientFactory,
    Staging,
    aws_call,
    aws_call_tolerating,
    lazy_client,
    s3_location,
    staging_bucket,
)
from pollbridge.adapters.providers.options import Options, declared_options
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import JobState, JobStatus, TaskFailureReason, VtnDocument, VtnSeriesItem, VtnWord
from pollbridge.observability import tracer  # the functions' (lazy) tracer: service calls are subsegments
from pollbridge.ports import Media, ResultContext
from pollbridge.timing import iso_utc

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
    def submit(self, media: Media, options: dict[str, Any], idempotency_key: str) -> str:
        fmt = media_format(media.media_type)  # refused before anything is staged
        if not JOB_NAME.fullmatch(idempotency_key):
            raise ValueError(f"idempotency key {idempotency_key!r} is not a Transcribe job name")
        name = idempotency_key
        bucket, key = self._staging.place(media, f"{name}.{fmt}")
        chosen = TranscribeOptions.model_validate(options)
        request = job_request(name, f"s3://{bucket}/{key}", fmt, self._staging.bucket, chosen)
        aws_call_tolerating(  # ConflictException: the job exists, this task's (a repeated segment)
            f"transcribe StartTranscriptionJob {name}",
            lambda: self._client().start_transcription_job(**request),
            frozenset({"ConflictException"}),
            {"BadRequestException": "invalid_data"},
        )
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
        transcript = json.loads(self._staging.read_output(bucket, key))  # a ValueError: not vtn-convertible
        return transcript_to_vtn(transcript, job.get("LanguageCode"), context)

    @tracer.capture_method(capture_response=False)
    def cancel(self, work_id: str) -> None:
        aws_call_tolerating(  # a job already gone: nothing left to stop
            f"transcribe DeleteTranscriptionJob {work_id}",
            lambda: self._client().delete_transcription_job(TranscriptionJobName=work_id),
            frozenset(_NOT_FOUND),
        )

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


def seconds_to_ms(value: Any) -> int:
    """Transcribe gives times as strings of seconds ("1.24"): exact decimal arithmetic, rounded to ms."""
    try:
        seconds = Decimal(str(value))
        if not seconds.is_finite() or abs(seconds) > MAX_MEDIA_SECONDS:
            raise ValueError("out of range")
        return round(seconds * 1000)
    except (ArithmeticError, ValueError, TypeError):  # decimal's InvalidOperation/Overflow are ArithmeticErrors
        raise ValueError(f"not a time in seconds: {str(value)[:50]!r}") from None


def transcript_to_vtn(output: Mapping[str, Any], job_language: Any, context: ResultContext) -> VtnDocument:
    """One series item per pronunciation item (times shifted by the chunk's offset), all of its
    alternatives as words (the first, Transcribe's choice, on the best path), punctuation appended to
    the preceding word (a leading one, with no word before it, is dropped), `speakerId` when speaker
    labels were on, `language` from the job (else from the output). Raises ValueError when the output
    is not a Transcribe transcript."""
    try:
        return _convert(output, job_language, context)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an Amazon Transcribe transcript: {type(error).__name__} {error}") from None


def _convert(output: Mapping[str, Any], job_language: Any, context: ResultContext) -> VtnDocument:
    results = output.get("results") if isinstance(output, Mapping) else None
    if not isinstance(results, Mapping) or not isinstance(results.get("items", []), list):
        raise ValueError("not an Amazon Transcribe transcript: no results.items")
    speakers = _speakers_by_time(results.get("speaker_labels"))
    slices: list[dict[str, Any]] = []
    for item in results.get("items", []):
        alternatives = [a for a in item.get("alternatives") or [] if str(a.get("content", ""))]
        if not alternatives:
            continue
        if item.get("type") == "punctuation":
            if slices:
                mark = str(alternatives[0]["content"])
                slices[-1]["words"] = [(word + mark, confidence) for word, confidence in slices[-1]["words"]]
            continue
        start, end = item.get("start_time"), item.get("end_time")
        words: list[tuple[str, float | None]] = []
        for alternative in alternatives:
            word = str(alternative["content"])
            if all(word != known for known, _ in words):
                raw = alternative.get("confidence")
                words.append((word, None if raw is None else float(raw)))
        speaker = item.get("speaker_label") or speakers.get((str(start), str(end)))
        slices.append(
            {
                "startTimeMs": context.media_offset_ms + seconds_to_ms(start),
                "stopTimeMs": context.media_offset_ms + seconds_to_ms(end),
                "speakerId": str(speaker) if speaker else None,
                "words": words,
            }
        )
    series = [
        VtnSeriesItem(
            startTimeMs=s["startTimeMs"],
            stopTimeMs=s["stopTimeMs"],
            speakerId=s["speakerId"],
            words=_words(s["words"]),
        )
        for s in slices
    ]
    language = job_language or results.get("language_code")
    return VtnDocument(
        sourceEngineName=context.engine_name,
        taskId=context.orig_task_id,
        generatedDateUTC=iso_utc(context.now_ms),
        externalSourceId=context.work_id,
        language=str(language) if language else None,
        validationContracts=["transcript"],
        series=series,
    )


def _words(alternatives: list[tuple[str, float | None]]) -> list[VtnWord]:
    if len(alternatives) == 1:
        word, confidence = alternatives[0]
        return [VtnWord(word=word, confidence=confidence)]
    return [
        VtnWord(word=word, confidence=confidence, utteranceLength=1, bestPath=index == 0)
        for index, (word, confidence) in enumerate(alternatives)
    ]


def _speakers_by_time(labels: Any) -> dict[tuple[str, str], str]:
    """Older transcripts name speakers only in speaker_labels.segments[].items: by (start, end)."""
    found: dict[tuple[str, str], str] = {}
    if isinstance(labels, Mapping):
        for segment in labels.get("segments") or []:
            for item in segment.get("items") or []:
                if item.get("speaker_label"):
                    found[(str(item.get("start_time")), str(item.get("end_time")))] = str(item["speaker_label"])
    return found


def build(settings: Settings, clients: ClientFactory) -> TranscribeProvider:
    return TranscribeProvider(
        Staging(lazy_client(clients, "s3"), staging_bucket(settings)), lazy_client(clients, "transcribe")
    )
