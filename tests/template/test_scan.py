"""IaC scanning (`make scan`): cfn-lint with the serverless rules and checkov pass on template.yaml,
and every finding left unfixed is suppressed in the template with its reason."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devtools.cloud.template_stack import load_template
from tests.template.conftest import ROOT

SCAN_VENV = ROOT / ".venv-scan" / "bin"
TEMPLATE = ROOT / "template.yaml"


def scan_tool(name: str) -> Path:
    path = SCAN_VENV / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make scan-venv` (make test does it)")
    return path


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=False, cwd=ROOT, timeout=300,
    )  # fmt: skip


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    return run(scan_tool("cfn-lint"), "--append-rules", "cfn_lint_serverless.rules", "--", template)


def test_cfn_lint_with_the_serverless_rules_is_clean() -> None:
    done = cfn_lint(TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_serverless_rules_are_loaded(tmp_path: Path) -> None:
    """A clean result means something only if the rules ran: a queue without a redrive policy is flagged."""
    bare = tmp_path / "bare.yaml"
    bare.write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
    done = cfn_lint(bare)
    assert done.returncode != 0 and "ES6000" in done.stdout, done.stdout + done.stderr


def test_checkov_is_clean() -> None:
    done = run(
        scan_tool("checkov"), "--quiet", "--skip-download", "--framework", "cloudformation",
        "--file", TEMPLATE, "--output", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = json.loads(done.stdout)["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0
    assert summary["passed"] >= 20  # it really checked the resources


def test_every_suppression_gives_its_reason() -> None:
    template: dict[str, Any] = load_template(TEMPLATE)
    skipped = 0
    for name, resource in template["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
            assert len(skip.get("comment", "")) >= 30, (name, skip)
            skipped += 1
    assert skipped > 0
    # cfn-lint's ignore_checks has no comment field: each ignored rule is preceded by a comment line.
    lines = TEMPLATE.read_text().splitlines()
    ignored = [i for i, line in enumerate(lines) if re.fullmatch(r"\s+- [EWI]S?\d{4}", line)]
    assert ignored
    for i in ignored:
        assert lines[i - 1].strip().startswith("# ") and len(lines[i - 1].strip()) >= 30, lines[i - 1 : i + 1]
