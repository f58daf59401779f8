"""The one Logger, Tracer and Metrics both functions share (configured by POWERTOOLS_* variables).

The Tracer is lazy: Powertools' Tracer imports the X-Ray SDK (~100 ms of cold start) even to disable
itself, so pollbridge builds it on the first traced call and only where tracing is on (in Lambda,
without POWERTOOLS_TRACE_DISABLED, as Powertools decides). Where it is off, the decorators are
transparent and annotations go nowhere; where it is on, traces are exactly Powertools' own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


class LazyTracer:
    """The subset of Powertools' Tracer pollbridge uses, building the real one on first use."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        self._enabled: bool | None = None

    @property
    def enabled(self) -> bool:
        if self._enabled is None:
            from aws_lambda_powertools.tracing.tracer import Tracer as PowertoolsTracer

            self._enabled = not PowertoolsTracer._is_tracer_disabled()
        return self._enabled

    def real(self) -> Tracer | None:
        """Powertools' Tracer when tracing is on (built once, patching boto3 and botocore), else None."""
        if self._tracer is None and self.enabled:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer()
        return self._tracer

    def capture_lambda_handler[F: Callable[..., Any]](self, capture_response: bool = True) -> Callable[[F], F]:
        return self._capture("capture_lambda_handler", capture_response)

    def capture_method[F: Callable[..., Any]](self, capture_response: bool = True) -> Callable[[F], F]:
        return self._capture("capture_method", capture_response)

    def _capture[F: Callable[..., Any]](self, kind: str, capture_response: bool) -> Callable[[F], F]:
        def decorate(function: F) -> F:
            traced: Callable[..., Any] | None = None

            @functools.wraps(function)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                nonlocal traced
                real = self.real()
                if real is None:
                    return function(*args, **kwargs)
                if traced is None:
                    traced = getattr(real, kind)(function, capture_response=capture_response)
                return traced(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate

    def put_annotation(self, key: str, value: str) -> None:
        real = self.real()
        if real is not None:
            real.put_annotation(key=key, value=value)


logger = Logger()
tracer = LazyTracer()
metrics = Metrics()
