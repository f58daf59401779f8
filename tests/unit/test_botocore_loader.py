"""pollbridge's botocore data loader answers every question as botocore's own does, without the scan."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader, create_loader

from pollbridge.adapters import aws
from pollbridge.adapters.botocore_loader import ServiceFolderLoader

TYPES = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2")


def service_folder_loader() -> ServiceFolderLoader:
    paths = list(create_loader().search_paths)
    return ServiceFolderLoader(extra_search_paths=paths, include_default_search_paths=False)


@pytest.fixture(scope="module")
def botocores() -> Loader:
    return create_loader()


@pytest.fixture
def fresh_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.session.cache_clear()
    yield
    aws.session.cache_clear()


@pytest.mark.parametrize("type_name", TYPES)
def test_one_folder_answers_as_botocores_scan_for_every_service(botocores: Loader, type_name: str) -> None:
    ours = service_folder_loader()
    known = set(botocores.list_available_services(type_name))
    every_folder = botocores.list_available_services("service-2")  # waiters-2 exists for fewer of them
    assert {name for name in every_folder if ours.has_model(name, type_name)} == known


@pytest.mark.parametrize("name", ["no-such-service", "", "../data", "s3/2006-03-01", "S3"])
def test_names_that_are_not_services_get_botocores_error(name: str) -> None:
    with pytest.raises(UnknownServiceError, match=r"Valid service names are: .*scheduler"):
        service_folder_loader().load_service_model(name, "service-2")


def test_everyone_else_gets_botocores_full_list(botocores: Loader) -> None:
    ours = service_folder_loader()
    ours.load_service_model("scheduler", "service-2")
    listed = ours.list_available_services("service-2")
    assert type(listed) is list and listed == botocores.list_available_services("service-2")


def test_a_client_is_made_without_listing_every_service(
    fresh_session: None, botocores: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of it all: botocore lists ~445 folders per model type; making a client now lists a
    handful. And the client is complete: its operations, its paginators, its endpoint."""
    listed: list[str] = []
    real_listdir = os.listdir

    def counting_listdir(path: str) -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    session = aws.session()
    assert isinstance(session.get_component("data_loader"), ServiceFolderLoader)
    monkeypatch.setattr(os, "listdir", counting_listdir)
    client = session.create_client("scheduler", aws_access_key_id="x", aws_secret_access_key="y")
    monkeypatch.undo()
    assert len(listed) < 20, f"{len(listed)} folders listed"
    assert client.can_paginate("list_schedules")
    assert client.meta.endpoint_url == "https://scheduler.us-east-1.amazonaws.com"
    assert session.get_available_services() == botocores.list_available_services("service-2")
    with pytest.raises(UnknownServiceError, match=r"Unknown service: 'no-such-service'.*scheduler"):
        session.create_client("no-such-service")


def test_the_session_keeps_aws_data_path(fresh_session: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "my-service" / "2026-01-01").mkdir(parents=True)
    (tmp_path / "my-service" / "2026-01-01" / "service-2.json").write_text("{}")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    loader = aws.session().get_component("data_loader")
    assert loader.search_paths == create_loader(str(tmp_path)).search_paths
    assert loader.load_service_model("my-service", "service-2") == {}
    assert "my-service" in loader.list_available_services("service-2")
