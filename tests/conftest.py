from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from pollbridge import clock
from pollbridge.clock import ManualClock

if TYPE_CHECKING:
    from tests.support.fakes import World

# What the template gives every function, set before any test module imports pollbridge's shared
# Logger and Metrics (Powertools reads them when those objects are made, as at a Lambda cold start).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "pollbridge")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Pollbridge")

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas" / "vtn-standard"


@pytest.fixture
def world() -> World:
    """Every port in memory (tests/support/fakes.py), for tests of core without AWS or a vendor."""
    from tests.support.fakes import World  # after the environment above is set, as every test module is

    return World()


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    fixed = ManualClock()
    previous = clock.install(fixed)
    yield fixed
    clock.install(previous)


@pytest.fixture(scope="session")
def segment_event() -> dict[str, Any]:
    return json.loads((ROOT / "events" / "segment.json").read_text())


@pytest.fixture
def chunk(segment_event: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(segment_event)


def _schema_validator(contract: str) -> Draft7Validator:
    """An official vtn-standard schema (transcript, text, ...), resolved offline from the vendored
    copies by $id."""
    resources = []
    for path in SCHEMAS.rglob("*.json"):
        schema = json.loads(path.read_text())
        # The sub-schemas name master.json as their $schema, which no library knows: read as draft-07.
        resources.append((schema["$id"], DRAFT7.create_resource(schema)))
    registry = Registry().with_resources(resources)
    contract_schema = json.loads((SCHEMAS / contract / f"{contract}.json").read_text())
    return Draft7Validator(contract_schema, registry=registry)


@pytest.fixture(scope="session")
def vtn_validator() -> Draft7Validator:
    """The official transcript schema."""
    return _schema_validator("transcript")


@pytest.fixture(scope="session")
def vtn_validators() -> dict[str, Draft7Validator]:
    """A validator per validation contract pollbridge writes: `transcript` and `text`."""
    return {contract: _schema_validator(contract) for contract in ("transcript", "text")}


def validate_vtn(validators: dict[str, Draft7Validator], document: dict[str, Any]) -> None:
    """Valid against the schema of every contract the document declares (and it declares one)."""
    contracts = document.get("validationContracts") or []
    assert contracts and set(contracts) <= set(validators), contracts
    for contract in contracts:
        validators[contract].validate(document)


@pytest.fixture
def poll_event() -> dict[str, Any]:
    return json.loads((ROOT / "events" / "poll.json").read_text())


def as_if_due(payload: dict[str, Any], due_in_ms: int = 0) -> dict[str, Any]:
    """A scheduled payload as it is when its time has come (or, `due_in_ms` > 0, still that far
    ahead), for tests whose functions read the real clock in processes of their own (no manual
    clock to advance): re-signed with the local key, `notBeforeUTC` set from now."""
    import time

    from devtools.cloud.local_values import LOCAL_SIGNING_KEY
    from pollbridge import signing
    from pollbridge.models import PollPayload

    fields = {k: v for k, v in payload.items() if k != "scheduler"}
    due = PollPayload.model_validate({**fields, "notBeforeUTC": time.time_ns() // 1_000_000 + due_in_ms})
    signed = signing.sign(due, LOCAL_SIGNING_KEY.encode()).model_dump(mode="json", exclude_none=True)
    return {**payload, **signed}
