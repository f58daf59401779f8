"""pollbridge's botocore data loader answers every question as botocore's own does, without the scan."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader, create_loader

from pollbridge import wiring
from pollbridge.adapters.botocore_loader import ServiceFolderLoader

TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2")


@pytest.fixture(scope="module")
def loaders() -> tuple[ServiceFolderLoader, Loader]:
    paths = create_loader().search_paths
    return ServiceFolderLoader(extra_search_paths=list(paths), include_default_search_paths=False), create_loader()


@pytest.mark.parametrize("type_name", TYPES)
def test_membership_matches_botocores_scan_for_every_service(
    loaders: tuple[ServiceFolderLoader, Loader], type_name: str
) -> None:
    ours, botocores = loaders
    known = botocores.list_available_services(type_name)
    every_folder = botocores.list_available_services("service-2")  # waiters-2 exists for fewer of them
    names = ours.list_available_services(type_name)
    assert [name for name in every_folder if name in names] == [n for n in every_folder if n in known]
    assert list(names) == known and len(names) == len(known) and names[0] == known[0]


@pytest.mark.parametrize("name", ["no-such-service", "", "../data", "s3/2006-03-01", "S3", 3])
def test_names_that_are_not_services_are_not_members(loaders: tuple[ServiceFolderLoader, Loader], name: object) -> None:
    assert name not in loaders[0].list_available_services("service-2")


def test_the_scan_runs_only_for_whoever_iterates(loaders: tuple[ServiceFolderLoader, Loader]) -> None:
    names = loaders[0].list_available_services("service-2")
    assert "scheduler" in names and "s3" in names
    assert names._names is None  # membership looked in two folders, listed none
    assert "scheduler" in list(names)


def test_the_session_makes_clients_and_names_unknown_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    wiring.aws_session.cache_clear()
    try:
        session = wiring.aws_session()
        assert isinstance(session.get_component("data_loader"), ServiceFolderLoader)
        client = session.create_client("scheduler", aws_access_key_id="x", aws_secret_access_key="y")
        assert client.meta.service_model.service_name == "scheduler"
        assert client.can_paginate("list_schedules")
        with pytest.raises(UnknownServiceError, match=r"Unknown service: 'no-such-service'.*scheduler"):
            session.create_client("no-such-service")
        assert "scheduler" in session.get_available_services()
    finally:
        wiring.aws_session.cache_clear()


def test_the_session_keeps_aws_data_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    wiring.aws_session.cache_clear()
    try:
        paths = wiring.aws_session().get_component("data_loader").search_paths
        assert paths[0] == str(tmp_path) and paths == create_loader(str(tmp_path)).search_paths
    finally:
        wiring.aws_session.cache_clear()
