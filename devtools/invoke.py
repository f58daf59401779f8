"""`sam local invoke`, without Docker: one function, one event, in a fresh process.

    python -m devtools.invoke SegmentFunction -e events/segment.json --env-vars events/env.json

Uses the `sam build` output (.aws-sam/build) when present, else the source tree; the environment
is the template's, overridden by the env-vars file the way SAM does it (only declared variables,
`Parameters` for all functions, then the function's own section).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from devtools.cloud.local_values import LOCAL_ENVIRONMENT, ROOT
from devtools.cloud.template_stack import FunctionSpec, StackPlan

RUNNER = Path(__file__).parent / "cloud" / "lambda_runner.py"


def function_environment(spec: FunctionSpec, env_vars: dict[str, Any]) -> dict[str, str]:
    declared = dict(spec.environment)
    for section in (env_vars.get("Parameters") or {}, env_vars.get(spec.logical_id) or {}):
        for name, value in section.items():
            if name in declared:
                declared[name] = str(value)
    return declared


def code_locations(spec: FunctionSpec, build_dir: Path) -> tuple[Path, list[Path]]:
    built = build_dir / spec.logical_id
    if built.is_dir():
        layers = [d / "python" for d in sorted(build_dir.iterdir()) if (d / "python").is_dir()]
        return built, layers
    return spec.code_dir, list(spec.layer_dirs)


def invoke(
    logical_id: str,
    event_file: Path,
    env_vars_file: Path | None,
    template: Path = ROOT / "template.yaml",
    build_dir: Path = ROOT / ".aws-sam" / "build",
    python: str = sys.executable,
) -> tuple[int, Any, str]:
    """Returns (exit status, parsed result, the function's logs)."""
    plan = StackPlan.from_template(template, "pollbridge-local", ProviderUrl="http://127.0.0.1:8081")
    specs = plan.functions()
    if logical_id not in specs:
        raise SystemExit(f"no function {logical_id!r} in {template}; have {sorted(specs)}")
    spec = specs[logical_id]
    env_vars = json.loads(env_vars_file.read_text()) if env_vars_file else {}
    code_dir, layers = code_locations(spec, build_dir)
    environment = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")},
        **LOCAL_ENVIRONMENT,
        **{
            k: os.environ[k]
            for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
            if k in os.environ
        },
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "PYTHONDONTWRITEBYTECODE": "1",
        **function_environment(spec, env_vars),
    }
    command = [python, str(RUNNER), "--code-dir", str(code_dir), "--handler", spec.handler,
               "--event", str(event_file), "--name", spec.name, "--arn", spec.arn,
               "--memory", str(spec.memory_mb), "--timeout", str(spec.timeout_s)]  # fmt: skip
    for layer in layers:
        command += ["--layer-dir", str(layer)]
    done = subprocess.run(  # noqa: S603 - our own runner script, arguments from the template
        command, env=environment, capture_output=True, text=True, timeout=spec.timeout_s + 30, check=False
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "null"
    return done.returncode, json.loads(last), done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. SegmentFunction or PollFunction")
    parser.add_argument("-e", "--event", type=Path, required=True)
    parser.add_argument("-n", "--env-vars", type=Path)
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--quiet", action="store_true", help="do not echo the function's logs")
    args = parser.parse_args(argv)
    status, result, logs = invoke(args.function, args.event, args.env_vars, build_dir=args.build_dir)
    if not args.quiet:
        sys.stderr.write(logs)
    print(json.dumps(result, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
