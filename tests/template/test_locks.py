"""The dependency locks: every input pin is in its lock, every locked package has hashes, and the
layer gets exactly the versions the tests run with. (`make lock` writes the locks from the *.in files.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.template.conftest import ROOT

LOCKS = {  # input -> lock
    ROOT / "requirements" / "dev.in": ROOT / "requirements" / "dev.txt",
    ROOT / "requirements" / "sam.in": ROOT / "requirements" / "sam.txt",
    ROOT / "requirements" / "scan.in": ROOT / "requirements" / "scan.txt",
    ROOT / "layers" / "common" / "requirements.in": ROOT / "layers" / "common" / "requirements.txt",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def input_pins(path: Path) -> dict[str, str]:
    """name -> version of every `name[extras]==version` line, following `-r` includes."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= input_pins(path.parent / line[3:].strip())
        elif line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==([^\s;]+)", line)
            assert match, f"{path.name}: pin each direct requirement exactly: {line!r}"
            pins[canonical(match.group(1))] = match.group(3)
    return pins


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every package in a lock."""
    found: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        head = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if head:
            found[canonical(head.group(1))] = (head.group(2), len(re.findall(r"--hash=sha256:[0-9a-f]{64}", block)))
    return found


@pytest.mark.parametrize("source", list(LOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_input_pin_is_locked_and_every_locked_package_has_hashes(source: Path) -> None:
    lock = locked(LOCKS[source])
    assert lock, LOCKS[source]
    for name, version in input_pins(source).items():
        assert name in lock, f"{name} is in {source.name} but not in its lock: run `make lock`"
        assert lock[name][0] == version, f"{name}: {version} in {source.name}, {lock[name][0]} locked: run `make lock`"
    for name, (_version, hashes) in lock.items():
        assert hashes >= 1, f"{name} has no hash in {LOCKS[source].name}"


def test_the_layer_gets_the_versions_the_tests_run_with() -> None:
    dev = locked(ROOT / "requirements" / "dev.txt")
    layer = locked(ROOT / "layers" / "common" / "requirements.txt")
    assert {"aws-lambda-powertools", "pydantic", "pydantic-core"} <= set(layer)
    assert "boto3" not in layer  # the Lambda runtime provides it
    for name, (version, _hashes) in layer.items():
        assert dev.get(name, ("missing",))[0] == version, name


def test_the_dev_lock_has_what_the_local_cloud_and_the_tests_use() -> None:
    dev = locked(ROOT / "requirements" / "dev.txt")
    extras = re.search(r"^moto\[([^\]]+)\]", (ROOT / "requirements" / "dev.in").read_text(), re.MULTILINE)
    assert extras
    assert {"server", "s3", "scheduler", "sqs", "secretsmanager", "events", "cloudformation", "lambda"} <= set(
        extras.group(1).split(",")
    )
    # what those extras pull in: the server's flask, cloudformation's cfn-lint, events' jsonpath-ng, lambda's docker
    assert {"moto", "flask", "cfn-lint", "jsonpath-ng", "docker", "hypothesis", "uv"} <= set(dev)
