"""The process environment of the local cloud's one warm container: what the cloud sets, what it
restores, and the per-container caches that must follow it."""

from __future__ import annotations

import os
import sys


class ContainerEnvironment:
    """Variables set for the functions (as Lambda's configuration would), restored on `restore()`."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: dict[str, str | None]) -> None:
        """Set these variables (None removes one), remembering what to restore."""
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            _put(name, value)
        forget_cached_wiring()

    def restore(self) -> None:
        for name, value in self._saved.items():
            _put(name, value)


def _put(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def forget_cached_wiring() -> None:
    """Settings and adapters are cached per process, as in a Lambda container; a new cloud is a new container."""
    from pollbridge import observability, settings, wiring
    from pollbridge.adapters import aws

    settings.load_settings.cache_clear()
    wiring.forget_ports()
    # The container's botocore session too: it keeps the credentials it first resolved, and only a
    # session made after moto's in-process mock started is answered by it.
    aws.session.cache_clear()
    # Powertools reads POWERTOOLS_METRICS_NAMESPACE when the shared Metrics object is made: in Lambda
    # the environment is there before any import; here the process may have imported it earlier.
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    if namespace and not observability.metrics.provider.namespace:
        observability.metrics.provider.namespace = namespace
    # Likewise the shared Logger writes to the stdout of when it was made: a container's is its own.
    handler = getattr(observability.logger, "registered_handler", None)
    if handler is not None and hasattr(handler, "setStream"):
        handler.setStream(sys.stdout)
