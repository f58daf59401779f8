from typing import Any

from pollbridge.adapters.providers.reference_result import TimedWord, TranscriptResult, to_vtn
from pollbridge.models import PollPayload
from pollbridge.ports import ResultContext

PAYLOAD = PollPayload(
    workId="j_9", isPollTask=True, origTaskId="task-1", origTdoId="d", origJobId="j", origCallTimeUTC=0,
    pollNumber=2, deadlineUTC=10**13, mediaOffsetMs=30_000,
)  # fmt: skip


def test_vendor_words_become_a_valid_transcript_on_the_tdo_timeline(vtn_validator: Any) -> None:
    result = TranscriptResult(
        language="en-US",
        words=[
            TimedWord(text="hello", start_ms=0, end_ms=300, confidence=0.94),
            TimedWord(text="world", start_ms=400, end_ms=380),
        ],
    )
    document = to_vtn(result, ResultContext.of(PAYLOAD, "pollbridge", 1_767_225_600_000)).model_dump(
        mode="json", exclude_none=True
    )
    vtn_validator.validate(document)
    assert document["taskId"] == "task-1"
    assert document["validationContracts"] == ["transcript"]
    assert document["generatedDateUTC"] == "2026-01-01T00:00:00.000Z"
    assert document["series"][0] == {
        "startTimeMs": 30_000,
        "stopTimeMs": 30_300,
        "words": [{"word": "hello", "confidence": 0.94}],
    }
    assert document["series"][1]["stopTimeMs"] == document["series"][1]["startTimeMs"]  # never ends before it starts


def test_silence_is_a_valid_empty_transcript(vtn_validator: Any) -> None:
    document = to_vtn(TranscriptResult(), ResultContext.of(PAYLOAD, "pollbridge", 0)).model_dump(
        mode="json", exclude_none=True
    )
    vtn_validator.validate(document)
    assert document["series"] == []


def test_the_validator_rejects_what_the_schema_forbids(vtn_validator: Any) -> None:
    bad = {
        "validationContracts": ["transcript"],
        "series": [{"startTimeMs": 0, "endTimeMs": 3, "words": [{"word": "x"}]}],
    }
    assert list(vtn_validator.iter_errors(bad))
