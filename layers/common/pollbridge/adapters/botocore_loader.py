"""botocore's data loader without its cold-start scan of every service folder.

Before botocore loads a model of a service (the API, its endpoint rules, its paginators), it lists
every service that has such a model (~445 folders, each listed and probed, once per model type) only
to check that the requested name is one of them: ~25 ms of every cold start on these machines, for
three clients (BENCHMARKS.md). Looking in the one service's folder answers the same question. Every
other caller of `list_available_services` (`Session.get_available_services`, the text of botocore's
UnknownServiceError) still gets botocore's own full, sorted list.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

# botocore's service folders: lower-case names with digits and hyphens. Any other name (a path, an
# empty string) is answered by botocore's own scan.
_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class ServiceFolderLoader(Loader):
    """A botocore Loader whose membership check, while it loads a model, looks in one folder."""

    _loading = threading.local()  # the service whose model this thread is loading, if any

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        self._loading.name = service_name
        try:
            return super().load_service_model(service_name, type_name, api_version)
        finally:
            self._loading.name = None

    def list_available_services(self, type_name: str) -> list[str]:
        name = getattr(self._loading, "name", None)
        if isinstance(name, str) and _SERVICE_NAME.fullmatch(name) and self.has_model(name, type_name):
            # botocore only asks whether `name` is among them: it is (its error text is never built)
            return [name]
        return list(super().list_available_services(type_name))

    def has_model(self, service_name: str, type_name: str) -> bool:
        """Whether some API version of the service has a `type_name` model: botocore's criterion."""
        try:
            return bool(self.list_api_versions(service_name, type_name))
        except DataNotFoundError:
            return False
