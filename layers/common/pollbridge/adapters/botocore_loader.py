"""botocore's data loader without its cold-start scan of every service folder.

Before botocore loads a model of a service (the API, its endpoint rules, its paginators), it lists
every service that has such a model (~445 folders, each listed and probed, once per model type) only
to check that the requested name is one of them: ~27 ms of every cold start on these machines, for
three clients (BENCHMARKS.md). Looking in the one service's folder answers the same question. The
full list is still there for whoever iterates it (`Session.get_available_services`, the text of
botocore's UnknownServiceError), computed by botocore itself on first use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import overload

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader

# botocore's service folders: lower-case names with digits and hyphens. Any other name (a path, an
# empty string) is answered by botocore's own scan.
_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


class ServiceFolderLoader(Loader):
    """A botocore Loader whose `list_available_services` answers `in` from one folder."""

    def list_available_services(self, type_name: str) -> ServiceNames:
        return ServiceNames(self, type_name)

    def scan_available_services(self, type_name: str) -> list[str]:
        """botocore's own answer: every folder holding a `type_name` model, sorted."""
        return list(Loader.list_available_services(self, type_name))


class ServiceNames(Sequence[str]):
    """The services with a `type_name` model, as botocore lists them; membership is one folder's look."""

    def __init__(self, loader: ServiceFolderLoader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name
        self._names: list[str] | None = None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not _SERVICE_NAME.fullmatch(name):
            return name in self._all()
        try:
            return bool(self._loader.list_api_versions(name, self._type_name))
        except DataNotFoundError:
            return False

    def _all(self) -> list[str]:
        if self._names is None:
            self._names = self._loader.scan_available_services(self._type_name)
        return self._names

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())
