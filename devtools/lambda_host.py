"""Run a function the way Lambda lays it out: its folder and its layers on the import path,
the environment the template gives it, a Lambda-like context, and a JSON round trip of the event."""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devtools.template_stack import FunctionSpec


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_s: int = 3
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_s * 1000


@dataclass(frozen=True)
class Invocation:
    """What Lambda reports back: a result, or errorType/errorMessage like the real service."""

    ok: bool
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    trace: str | None = None


def import_handler(code_dir: Path, handler: str, layer_dirs: tuple[Path, ...], unique: str) -> Callable[..., Any]:
    """Import `module.function` from code_dir with the layers on sys.path (as /opt/python)."""
    for layer in layer_dirs:
        # `sam build` output keeps layer code under python/; the source tree does not.
        path = str(layer / "python" if (layer / "python").is_dir() else layer)
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name, function_name = handler.rsplit(".", 1)
    source = code_dir / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{unique}_{module_name}", source)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no handler module at {source}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code_dir))
    return getattr(module, function_name)


class _Clock(Protocol):
    def real_time(self) -> AbstractContextManager[None]: ...


class LocalFunction:
    def __init__(self, spec: FunctionSpec, clock: _Clock | None = None) -> None:
        self.spec = spec
        self._clock = clock
        self._handler = import_handler(spec.code_dir, spec.handler, spec.layer_dirs, spec.logical_id)
        self.invocations = 0

    def invoke(self, event: Any) -> Invocation:
        self.invocations += 1
        payload = json.loads(json.dumps(event))  # Lambda hands the function JSON, never shared objects
        context = LambdaContext(
            function_name=self.spec.name,
            invoked_function_arn=self.spec.arn,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_s=self.spec.timeout_s,
            log_group_name=f"/aws/lambda/{self.spec.name}",
        )
        try:
            with self._clock.real_time() if self._clock else nullcontext():
                value = self._handler(payload, context)
        except Exception as error:
            return Invocation(False, None, type(error).__name__, str(error), traceback.format_exc())
        return Invocation(True, json.loads(json.dumps(value)))
