"""What the engine image is made of, checked as text: Docker is not needed to run these."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.engine.conftest import ROOT

ENGINE = ROOT / "engine"
DOCKERFILE = (ENGINE / "Dockerfile").read_text()
MANIFESTS = {"http": ENGINE / "manifest.json"} | {
    path.stem: path for path in sorted((ENGINE / "manifests").glob("*.json"))
}
# Required by the engine manifest standard (aiWARE's docs), plus the mode the toolkit's forwarding needs.
REQUIRED = ("engineId", "category", "preferredInputFormat", "supportedInputFormats", "outputFormats", "clusterSize")


def manifest(provider: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(MANIFESTS[provider].read_text())
    return loaded


def test_one_manifest_per_provider() -> None:
    from pollbridge.adapters.providers.registry import REGISTRY

    assert set(MANIFESTS) == set(REGISTRY)


@pytest.mark.parametrize("provider", sorted(MANIFESTS))
def test_each_manifest_has_what_the_standard_requires(provider: str) -> None:
    content = manifest(provider)
    for field in REQUIRED:
        assert content.get(field), f"{provider}: {field} is missing"
    assert content["engineMode"] == "chunk"
    assert content["engineId"] == "REPLACE-WITH-YOUR-ENGINE-ID"  # set per deployment (engine/README.md)
    assert content["clusterSize"] in ("small", "medium", "large")
    assert content["preferredInputFormat"] in content["supportedInputFormats"]
    assert len(set(content["supportedInputFormats"])) == len(content["supportedInputFormats"])
    assert content["outputFormats"] == ["application/json"]
    assert content["externalCalls"] == ["*.lambda-url.*.on.aws"]
    assert isinstance(content["maxFileMb"], int | float) and content["maxFileMb"] > 0


def test_the_categories_fit_the_providers() -> None:
    assert {provider: manifest(provider)["category"] for provider in MANIFESTS} == {
        "http": "transcription",
        "transcribe": "transcription",
        "rekognition-text": "ocr",
    }
    assert all(re.fullmatch(r"(audio|video)/[\w.+-]+", kind) for kind in manifest("http")["supportedInputFormats"])


def test_the_aws_manifests_offer_only_what_the_service_reads() -> None:
    from pollbridge.adapters.providers.rekognition_text import MEDIA_EXTENSIONS
    from pollbridge.adapters.providers.transcribe import MEDIA_FORMATS

    assert set(manifest("transcribe")["supportedInputFormats"]) <= set(MEDIA_FORMATS)
    assert set(manifest("rekognition-text")["supportedInputFormats"]) == set(MEDIA_EXTENSIONS)


def test_the_dockerfile_puts_the_toolkit_in_front_of_the_forwarder() -> None:
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$", DOCKERFILE, re.MULTILINE | re.IGNORECASE)
    assert stages == [("veritone/aiware-engine-toolkit", "vt-engine-toolkit"), ("python:3.13-slim", "")]
    assert "COPY --from=vt-engine-toolkit /opt/aiware/engine /opt/aiware/engine" in DOCKERFILE
    assert "COPY forwarder.py /app/forwarder.py" in DOCKERFILE
    assert "COPY ${MANIFEST} /var/manifest.json" in DOCKERFILE
    assert re.search(r"^ENTRYPOINT \[\"/opt/aiware/engine\", \"python\", \"/app/forwarder.py\"\]$", DOCKERFILE, re.M)


def test_the_dockerfile_points_the_toolkit_at_the_forwarder() -> None:
    env = dict(re.findall(r"^\s*(?:ENV\s+)?(VERITONE_\w+|PORT)=(\S+?)\s*\\?$", DOCKERFILE, re.MULTILINE))
    assert env == {
        "VERITONE_WEBHOOK_READY": "http://localhost:8080/ready",
        "VERITONE_WEBHOOK_PROCESS": "http://localhost:8080/process",
        "VERITONE_DISABLE_CHUNK_DOWNLOAD": "true",
        "PORT": "8080",
    }


def test_the_image_runs_as_a_user_and_holds_no_token() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    instructions = [line for line in DOCKERFILE.splitlines() if line and not line.lstrip().startswith("#")]
    assert not any("POLLBRIDGE_" in line for line in instructions)  # given at deploy time, never baked in
    ignored = (ENGINE / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :] == ["*", "!forwarder.py", "!manifest.json", "!manifests", "!manifests/*.json"]


def test_the_forwarder_needs_only_the_standard_library() -> None:
    requirements = (ENGINE / "requirements.txt").read_text().splitlines()
    assert all(line.startswith("#") or not line.strip() for line in requirements)
    imported = re.findall(r"^(?:from|import) (\w+)", (ENGINE / "forwarder.py").read_text(), re.MULTILINE)
    assert set(imported) - {"__future__"} <= sys.stdlib_module_names


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(
    ("provider", "manifest_path"),
    [
        ("http", "manifest.json"),
        ("transcribe", "manifests/transcribe.json"),
        ("rekognition-text", "manifests/rekognition-text.json"),
    ],
)
def test_make_engine_builds_with_the_providers_manifest(provider: str, manifest_path: str) -> None:
    dry = subprocess.run(
        ["make", "-n", "engine", f"PROVIDER={provider}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert f"docker build -t pollbridge-engine:{provider} --build-arg MANIFEST={manifest_path} engine/" in dry.stdout
    assert "docker info" in dry.stdout
    assert (ENGINE / manifest_path).is_file()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_engine_refuses_an_unknown_provider() -> None:
    done = subprocess.run(["make", "engine", "PROVIDER=nope"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "no engine/manifests/nope.json for PROVIDER=nope" in done.stderr
