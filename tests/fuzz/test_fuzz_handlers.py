"""Property-based fuzzing of both real handlers on the local cloud (hypothesis).

Every generated event carries at least one bad field (wrong type, missing, out of range, hostile
characters or URIs, too deep or too large) and may carry extra fields. Each must be rejected with an
InvalidEventError that names a field it broke, and leave nothing behind: no vendor request, no
schedule, no record. CI runs the `ci` profile (a few hundred examples per handler); set
HYPOTHESIS_PROFILE=long for thousands.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.cloud.local_cloud import LocalCloud
from devtools.standins.vendor_simulator import SimConfig
from tests.conftest import ROOT

SEGMENT = json.loads((ROOT / "events" / "segment.json").read_text())
POLL = json.loads((ROOT / "events" / "poll.json").read_text())

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
not_a_string = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(json_scalars))
hostile_text = st.one_of(
    st.just(""),
    st.text(min_size=1, max_size=10).map(lambda s: f" {s}"),
    st.text(min_size=1, max_size=10).map(lambda s: f"{s}\t"),
    st.sampled_from(["\u202e", "\x00", "\n", "\u2028", "\x1b[31m", "\ufeff", "\ud800"]).map(lambda c: f"id{c}x"),
    st.integers(513, 2_000).map(lambda n: "x" * n),
    st.integers(170, 300).map(lambda n: "\u00e9" * n),  # 170 x 6 bytes percent-encoded: over 1,024
)
bad_id = st.one_of(not_a_string, hostile_text)
bad_epoch = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=253_402_300_800_000),
    st.floats(),
    st.text(max_size=5),
    st.booleans(),
)
bad_offset = st.one_of(st.integers(max_value=-1), st.integers(min_value=366 * 86_400_000 + 1), st.text(max_size=3))


def deep(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {}
    top = node
    for _ in range(levels):
        node["x"] = {}
        node = node["x"]
    return top


bad_config = st.one_of(
    not_a_string.filter(lambda v: not isinstance(v, dict)),
    st.integers(9, 400).map(deep),
    st.sampled_from(["token", "apiKey", "password", "Authorization", "colour"]).map(lambda k: {k: "v"}),
    st.integers(9_000, 20_000).map(lambda n: {"language": "x" * n}),
    st.just({"language": 42}),
    st.just({"vocabulary": ["w"] * 101}),
)
hostile_uri = st.one_of(
    st.sampled_from(
        [
            "file:///etc/passwd",
            "ftp://cache.example/x.wav",
            "gopher://127.0.0.1:6379/_INFO",
            "javascript:alert(1)",
            "data:text/plain,hello",
            "http://",
            "https:///nohost",
            "s3://bucket-only",
            "dict://127.0.0.1:11211/stats",
            # addresses refused even where loopback is allowed (the local cloud): metadata, link-local,
            # multicast, unspecified, in any spelling; and buckets other than the media bucket
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/",
            "http://0xa9fea9fe/",
            "http://2852039166/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://0.0.0.0:8080/",
            "http://[::]/",
            "https://[fd00:ec2::254]/",
            "s3://pollbridge-local-resultsbucket/results/other-task.json",
        ]
    ),
    st.integers(4097, 6000).map(lambda n: "https://cache.example/" + "a" * n),
    not_a_string,
)

SEGMENT_MUTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.one_of(st.text(max_size=12).filter(lambda s: s != "media_chunk"), not_a_string),
    "taskId": bad_id,
    "tdoId": bad_id,
    "jobId": bad_id,
    "mimeType": st.one_of(not_a_string, st.just(""), st.just("   ")),
    "timestampUTC": bad_epoch,
    "startOffsetMs": bad_offset,
    "endOffsetMs": bad_offset,
    "chunkIndex": st.one_of(st.integers(max_value=-1), st.integers(min_value=10_000_001), st.text(max_size=3)),
    "cacheURI": hostile_uri,
    "taskPayload": bad_config,
}
POLL_MUTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "workId": bad_id,
    "isPollTask": st.one_of(st.just(False), st.text(max_size=5), st.integers()),
    "origTaskId": bad_id,
    "origTdoId": bad_id,
    "origJobId": bad_id,
    "origCallTimeUTC": bad_epoch,
    "pollNumber": st.one_of(st.integers(max_value=0), st.integers(min_value=10_000_000), st.floats(), st.text()),
    "deadlineUTC": bad_epoch,
    "mediaOffsetMs": bad_offset,
    "transientErrors": st.one_of(st.integers(max_value=-1), st.text(max_size=3)),
    "engineConfig": bad_config,
    "signature": st.one_of(not_a_string, st.text(max_size=60)),
}
POLL_REQUIRED = {
    "workId", "isPollTask", "origTaskId", "origTdoId", "origJobId", "origCallTimeUTC", "pollNumber", "deadlineUTC",
    "signature",
}  # fmt: skip
# Values of the right type and range that the signature no longer covers: only the HMAC catches these.
POLL_ALTERATIONS: dict[str, st.SearchStrategy[Any]] = {
    "workId": st.sampled_from(["j_000001", "j_999999", "someone-else"]),
    "origTaskId": st.sampled_from(["victim-task", "19041508_Xp2bKsUAs4Rm6I8-other"]),
    "pollNumber": st.integers(2, 1_000_000),
    "deadlineUTC": st.integers(0, 10**13),
    "engineConfig": st.just({"language": "fr-FR"}),
}
extra_fields = st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda k: k not in SEGMENT), json_scalars)


def mutated(
    base: dict[str, Any], mutations: dict[str, st.SearchStrategy[Any]], required: set[str]
) -> st.SearchStrategy[tuple[dict[str, Any], set[str]]]:
    """(event, the fields broken): some fields get bad values or are removed, extra ones may be added."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
        event = copy.deepcopy(base)
        fields = draw(st.sets(st.sampled_from(sorted(mutations)), min_size=1, max_size=3))
        for field in fields:
            if field in required and draw(st.booleans()):
                del event[field]  # missing
            else:
                event[field] = draw(mutations[field])
        if "cacheURI" in fields:
            event.pop("content", None)
        event.update({k: v for k, v in draw(extra_fields).items() if k not in event})
        return event, fields

    return build()


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(manual_clock=True, sim_config=SimConfig(duration_s=(200, 200), queue_s=(0, 0))) as running:
        yield running


def footprint(cloud: LocalCloud) -> tuple[Any, ...]:
    return (dict(cloud.simulator.config.stats), cloud.pending_schedules(), sorted(cloud.records()))


def assert_rejected_untouched(cloud: LocalCloud, function: str, event: dict[str, Any], fields: set[str]) -> None:
    before = footprint(cloud)
    result = cloud.invoke(function, event)
    assert not result.ok, f"accepted: {event}"
    assert result.error_type in ("InvalidEventError", "ForgedPayloadError"), result.error_message
    message = result.error_message or ""
    assert any(field in message for field in fields), f"{fields} not named in: {message}"
    assert footprint(cloud) == before, "a rejected event changed something"


FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)


@FUZZ
@given(case=mutated(SEGMENT, SEGMENT_MUTATIONS, {"type", "taskId", "tdoId", "jobId", "mimeType"}))
def test_bad_segment_events_are_rejected_naming_the_field(cloud: LocalCloud, case: tuple[dict[str, Any], set]) -> None:
    event, fields = case
    assert_rejected_untouched(cloud, "SegmentFunction", event, fields)


@FUZZ
@given(case=mutated({k: v for k, v in POLL.items() if k != "scheduler"}, POLL_MUTATIONS, POLL_REQUIRED))
def test_bad_poll_events_are_rejected_naming_the_field(cloud: LocalCloud, case: tuple[dict[str, Any], set]) -> None:
    event, fields = case
    assert_rejected_untouched(cloud, "PollFunction", event, fields | {"signature"})
    if "isPollTask" not in fields:  # the same payload routed back by aiWARE as a segment
        routed = {**SEGMENT, "taskPayload": event}
        assert_rejected_untouched(cloud, "SegmentFunction", routed, fields | {"signature"})


@FUZZ
@given(
    changes=st.dictionaries(st.sampled_from(sorted(POLL_ALTERATIONS)), st.none(), min_size=1).flatmap(
        lambda keys: st.fixed_dictionaries({k: POLL_ALTERATIONS[k] for k in keys})
    )
)
def test_well_formed_but_altered_polls_are_caught_by_the_signature(cloud: LocalCloud, changes: dict[str, Any]) -> None:
    event = {**POLL, **changes}
    if all(POLL.get(k) == v for k, v in changes.items()):
        return  # nothing was altered
    assert_rejected_untouched(cloud, "PollFunction", event, {"signature"})
