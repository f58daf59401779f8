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


_NO_VALUE = object()


def for_parameters(cfn: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The translated template as CloudFormation would deploy it with these parameter values (the
    others at their defaults): conditions evaluated, `Fn::If` taken, `AWS::NoValue` dropped, resources
    and outputs whose condition is false left out."""
    values = {name: str(spec.get("Default", "")) for name, spec in cfn.get("Parameters", {}).items()}
    unknown = set(parameters) - set(values)
    assert not unknown, f"no such parameters: {unknown}"
    values.update(parameters)
    conditions: dict[str, bool] = {}

    def condition(name: str) -> bool:
        if name not in conditions:
            conditions[name] = bool(evaluate(cfn["Conditions"][name]))
        return conditions[name]

    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            match key:
                case "Ref" if arg in values:
                    return values[arg]
                case "Ref" if arg == "AWS::NoValue":
                    return _NO_VALUE
                case "Fn::Equals":
                    return evaluate(arg[0]) == evaluate(arg[1])
                case "Fn::Not":
                    return not evaluate(arg[0])
                case "Fn::And":
                    return all(evaluate(a) for a in arg)
                case "Fn::Or":
                    return any(evaluate(a) for a in arg)
                case "Condition":
                    return condition(arg)
                case "Fn::If":
                    return evaluate(arg[1] if condition(arg[0]) else arg[2])
        if isinstance(node, dict):
            return {k: r for k, r in ((k, evaluate(v)) for k, v in node.items()) if r is not _NO_VALUE}
        if isinstance(node, list):
            return [r for r in (evaluate(v) for v in node) if r is not _NO_VALUE]
        return node

    def kept(section: dict[str, Any]) -> dict[str, Any]:
        return {
            name: evaluate({k: v for k, v in item.items() if k != "Condition"})
            for name, item in section.items()
            if "Condition" not in item or condition(item["Condition"])
        }

    return {**cfn, "Resources": kept(cfn["Resources"]), "Outputs": kept(cfn.get("Outputs", {}))}
