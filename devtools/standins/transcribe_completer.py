"""Locally, Transcribe jobs finish with a transcript.

moto runs a Transcribe job through QUEUED, IN_PROGRESS and COMPLETED, one step per
GetTranscriptionJob, and reports a TranscriptFileUri, but writes nothing there. Real Transcribe writes
the transcript before it reports COMPLETED. While a `TranscribeCompleter` is active (the local cloud
activates one when the stack's Provider is transcribe), the moment moto moves a job to COMPLETED a
realistic transcript (the shape Transcribe writes: items with alternatives and confidences,
punctuation, speaker labels when the job asked for them, the job's language) is put where the job's
TranscriptFileUri points, with S3 PutObject against the local AWS. Harness code: never deployed.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.transcribe.models import FakeTranscriptionJob

from pollbridge.adapters.providers.aws import s3_location

# (word, seconds it takes, an alternative with its confidence or None, punctuation after it)
_SCRIPT: list[tuple[str, float, tuple[str, float] | None, str]] = [
    ("Hello", 0.42, None, ""), ("from", 0.21, None, ""), ("the", 0.12, None, ""),
    ("local", 0.38, ("vocal", 0.09), ""), ("cloud", 0.44, None, "."), ("This", 0.25, None, ""),
    ("job", 0.31, None, ""), ("ran", 0.29, ("ran", 0.0), ""), ("on", 0.14, None, ""),
    ("moto", 0.47, ("motto", 0.18), ","), ("and", 0.17, None, ""), ("pollbridge", 0.66, None, ""),
    ("wrote", 0.33, None, ""), ("its", 0.16, None, ""), ("transcript", 0.71, None, "."),
]  # fmt: skip


def realistic_transcript(job_name: str, language: str | None, speakers: int | None) -> dict[str, Any]:
    """A transcript as Transcribe writes it; with `speakers`, turns alternate between spk_0, spk_1, ..."""
    items: list[dict[str, Any]] = []
    label_items: dict[str, list[dict[str, str]]] = {}
    t = 0.05
    for index, (word, length, alternative, mark) in enumerate(_SCRIPT):
        speaker = f"spk_{(index // 5) % speakers}" if speakers else None
        start, end = f"{t:.2f}", f"{t + length:.2f}"
        alternatives = [{"confidence": f"{0.999 - (index % 7) * 0.013:.3f}", "content": word}]
        if alternative is not None and alternative[0] != word:
            alternatives.append({"confidence": f"{alternative[1]:.3f}", "content": alternative[0]})
        item: dict[str, Any] = {"id": len(items), "type": "pronunciation", "alternatives": alternatives}
        item |= {"start_time": start, "end_time": end}
        if speaker:
            item["speaker_label"] = speaker
            label_items.setdefault(speaker, []).append({"speaker_label": speaker, "start_time": start, "end_time": end})
        items.append(item)
        if mark:
            punctuation: dict[str, Any] = {
                "id": len(items), "type": "punctuation", "alternatives": [{"confidence": "0.0", "content": mark}],
            }  # fmt: skip
            if speaker:
                punctuation["speaker_label"] = speaker
            items.append(punctuation)
        t += length + 0.03
    text = " ".join(w + m for w, _, _, m in _SCRIPT)
    results: dict[str, Any] = {"transcripts": [{"transcript": text}], "items": items}
    if speakers:
        segments = [
            {"start_time": li[0]["start_time"], "end_time": li[-1]["end_time"], "speaker_label": s, "items": li}
            for s, li in label_items.items()
        ]
        results["speaker_labels"] = {"segments": segments, "speakers": len(label_items)}
    if language:
        results["language_code"] = language
    return {"jobName": job_name, "accountId": "123456789012", "status": "COMPLETED", "results": results}


class TranscribeCompleter:
    """`with TranscribeCompleter(s3_client):` completed moto jobs get their transcript."""

    _lock = threading.Lock()

    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.written: dict[str, str] = {}  # job name -> the TranscriptFileUri written
        self._original: Any = None

    def __enter__(self) -> TranscribeCompleter:
        with self._lock:
            original = FakeTranscriptionJob.advance
            completer = self

            def advance(job: FakeTranscriptionJob) -> None:
                original(job)
                completer._after_advance(job)

            self._original = original
            FakeTranscriptionJob.advance = advance  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            FakeTranscriptionJob.advance = self._original  # type: ignore[method-assign]

    def _after_advance(self, job: FakeTranscriptionJob) -> None:
        uri = (job.transcript or {}).get("TranscriptFileUri")
        if not uri or job.transcription_job_name in self.written:
            return
        bucket, key = s3_location(uri)
        settings = job.settings or {}
        speakers = int(settings.get("MaxSpeakerLabels") or 2) if settings.get("ShowSpeakerLabels") else None
        body = realistic_transcript(job.transcription_job_name, job.language_code, speakers)
        self._s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode(), ContentType="application/json")
        self.written[job.transcription_job_name] = uri
