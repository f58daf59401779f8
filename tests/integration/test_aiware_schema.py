"""`devtools.ops aiware-schema`: what the aiware sink sends, held against a GraphQL schema by
introspection. The comparison alone (missing_from_schema), then the command end to end against an
introspection server on 127.0.0.1 (tests/support/http_servers.py), as a subprocess and in process.

The schemas here are written from aiWARE's documentation (the notes in docs/aiware), not from the
sink's own declaration, so a field the sink starts sending without a source shows up as missing."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import ops
from tests.support.http_servers import ScriptedServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "aiware-token-for-schema-checks"

TASK_FAILURE_REASONS = [
    "internal_error", "unknown", "url_not_found", "url_not_allowed", "url_timeout", "url_connection_refused",
    "url_error", "invalid_data", "rate_limited", "api_not_allowed", "api_authentication_error", "api_not_found",
    "api_error", "file_write_error", "system_dependency_missing", "system_error", "other",
    "external_error", "stream_read_error", "heartbeat_timeout",
]  # fmt: skip
TASK_STATUSES = ["pending", "queued", "running", "complete", "failed", "cancelled", "aborted"]


def non_null(name: str) -> dict[str, Any]:
    return {"name": None, "kind": "NON_NULL", "ofType": {"name": name, "kind": "INPUT_OBJECT", "ofType": None}}


def documented_schema() -> dict[str, Any]:
    """The `data` of the introspection query against a schema with what aiWARE documents (and a little
    more, as a real schema has)."""
    names = lambda values: [{"name": v} for v in values]  # noqa: E731
    return {
        "__schema": {
            "mutationType": {
                "fields": [
                    {"name": "createJob", "args": [{"name": "input", "type": non_null("CreateJob")}]},
                    {"name": "uploadEngineResult", "args": [{"name": "input", "type": non_null("UploadEngineResult")}]},
                    {"name": "updateTask", "args": [
                        {"name": "input", "type": {"name": "UpdateTask", "kind": "INPUT_OBJECT", "ofType": None}}]},
                ]
            }
        },
        "UploadEngineResult": {"inputFields": names(
            ["taskId", "contentType", "assetType", "outputString", "output", "uri", "file", "completeTask"])},
        "UpdateTask": {"inputFields": names(["id", "jobId", "status", "output", "failureReason", "taskOutput"])},
        "TaskStatus": {"enumValues": names(TASK_STATUSES)},
        "TaskFailureReason": {"enumValues": names(TASK_FAILURE_REASONS)},
    }  # fmt: skip


def without(schema: dict[str, Any], type_name: str, key: str, name: str) -> dict[str, Any]:
    lacking = copy.deepcopy(schema)
    lacking[type_name][key] = [item for item in lacking[type_name][key] if item["name"] != name]
    return lacking


def lacking_job_id_and_external_error() -> dict[str, Any]:
    lacking = without(documented_schema(), "UpdateTask", "inputFields", "jobId")
    return without(lacking, "TaskFailureReason", "enumValues", "external_error")


# --- the comparison --------------------------------------------------------------------------------


def test_a_documented_schema_lacks_nothing_the_sink_sends() -> None:
    assert ops.missing_from_schema(documented_schema()) == []
    assert ops.missing_from_schema({"data": documented_schema()}) == []  # the whole answer will do


def test_a_schema_without_job_id_and_external_error_names_both() -> None:
    assert ops.missing_from_schema(lacking_job_id_and_external_error()) == [
        "UpdateTask.jobId",
        "TaskFailureReason.external_error",
    ]


def test_an_absent_mutation_type_or_input_type_is_named() -> None:
    schema = documented_schema()
    fields = schema["__schema"]["mutationType"]["fields"]
    fields[:] = [f for f in fields if f["name"] != "uploadEngineResult"]
    next(f for f in fields if f["name"] == "updateTask")["args"][0]["type"] = non_null("TaskUpdate")
    schema["UploadEngineResult"] = None  # __type answers null for a type the schema does not have
    assert ops.missing_from_schema(schema) == [
        "mutation uploadEngineResult",
        "updateTask(input: UpdateTask)",
        "UploadEngineResult.taskId",
        "UploadEngineResult.contentType",
        "UploadEngineResult.assetType",
        "UploadEngineResult.outputString",
        "UploadEngineResult.completeTask",
    ]


def test_a_schema_that_answered_nothing_lacks_everything() -> None:
    missing = ops.missing_from_schema({"data": None})
    assert "mutation updateTask" in missing and "UpdateTask.id" in missing and "TaskStatus.cancelled" in missing


def test_the_query_asks_for_every_type_the_sink_fills() -> None:
    for name in ("UpdateTask", "UploadEngineResult", "TaskStatus", "TaskFailureReason"):
        assert f'{name}: __type(name: "{name}")' in ops.INTROSPECTION_QUERY
    assert "mutationType" in ops.INTROSPECTION_QUERY


# --- the command, against an introspection server --------------------------------------------------


@pytest.fixture
def aiware() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def answering(server: ScriptedServer, data: dict[str, Any] | None, status: int = 200, **extra: Any) -> None:
    body = json.dumps({"data": data, **extra}).encode()
    server.routes["/v3/graphql"] = (status, {"Content-Type": "application/json"}, body)


def test_the_command_exits_0_when_nothing_is_missing(
    aiware: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answering(aiware, documented_schema())
    monkeypatch.setenv("AIWARE_API_KEY", TOKEN)
    assert ops.main(["aiware-schema", "--api-url", aiware.url + "/"]) == 0
    assert capsys.readouterr().out == ""
    [seen] = aiware.seen
    assert (seen.method, seen.path, seen.headers["Authorization"]) == ("POST", "/v3/graphql", f"Bearer {TOKEN}")
    assert json.loads(seen.body)["query"] == ops.INTROSPECTION_QUERY


def test_the_command_prints_what_is_missing_and_exits_1(aiware: ScriptedServer) -> None:
    """As run by hand: `python -m devtools.ops`, the token in the environment variable it is told."""
    answering(aiware, lacking_job_id_and_external_error())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
           "SCHEMA_TOKEN": TOKEN}  # fmt: skip
    env.pop("AIWARE_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "devtools.ops", "aiware-schema", "--api-url", aiware.url, "--token-env", "SCHEMA_TOKEN"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout.splitlines()) == (1, ["UpdateTask.jobId", "TaskFailureReason.external_error"])
    assert aiware.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("status", "extra", "said"),
    [
        (200, {"errors": [{"message": "GraphQL introspection is not allowed"}]}, "not allowed"),
        (401, {"errors": [{"message": "invalid token"}]}, "401"),
        (503, {}, "503"),
        (200, {"errors": [{"message": "Cannot query field __schema"}]}, "Cannot query"),
    ],
)
def test_the_command_exits_2_when_the_introspection_fails(
    aiware: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    extra: dict[str, Any],
    said: str,
) -> None:
    answering(aiware, None, status, **extra)
    monkeypatch.setenv("AIWARE_API_KEY", TOKEN)
    assert ops.main(["aiware-schema", "--api-url", aiware.url]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "introspection failed" in err and said in err


def test_the_command_exits_2_when_introspection_is_redirected(
    aiware: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ScriptedServer() as elsewhere:
        answering(elsewhere, documented_schema())
        aiware.routes["/v3/graphql"] = (307, {"Location": f"{elsewhere.url}/v3/graphql"}, b"")
        monkeypatch.setenv("AIWARE_API_KEY", TOKEN)
        assert ops.main(["aiware-schema", "--api-url", aiware.url]) == 2
        assert elsewhere.seen == []  # the token stayed home


def test_the_command_exits_2_without_a_token_and_asks_nothing(
    aiware: ScriptedServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    assert ops.main(["aiware-schema", "--api-url", aiware.url, "--token-env", "NO_SUCH_TOKEN"]) == 2
    assert "NO_SUCH_TOKEN" in capsys.readouterr().err and aiware.seen == []


@pytest.mark.parametrize(
    "argv",
    [
        ["aiware-schema", "--api-url", "http://127.0.0.1:9", "--token", TOKEN],  # never a token in argv
        ["aiware-schema", "--api-url", "file:///etc/passwd"],
        ["aiware-schema"],
        ["--local", "aiware-schema", "--api-url", "http://127.0.0.1:9"],
        ["list"],  # the other commands still need --local or --stack
    ],
)
def test_the_command_line_is_refused_as_argparse_refuses(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        ops.main(argv)
    assert exited.value.code == 2
