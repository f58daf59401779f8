from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = ROOT / ".venv-sam" / "bin"


def sam_tool(name: str) -> Path:
    """The SAM CLI lives in its own venv (`make sam-venv`); the template tests need it."""
    path = SAM_VENV / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make sam-venv` (make test does it)")
    return path


@pytest.fixture(scope="session")
def cfn() -> dict[str, Any]:
    """template.yaml translated to the CloudFormation that `sam deploy` would submit."""
    done = subprocess.run(
        [str(sam_tool("python")), str(Path(__file__).with_name("translate.py")), str(ROOT / "template.yaml")],
        capture_output=True, text=True, check=False, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]
