"""The http provider's transport (urllib3) against real servers on loopback: redirects, credentials
on redirects, connection reuse, TLS."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.clocks import ManualClock
from devtools.tls import loopback_tls
from devtools.vendor_simulator import VendorSimulator
from pollbridge.adapters.providers import http as http_provider
from pollbridge.adapters.providers.http import HttpJobProvider
from pollbridge.errors import PermanentError, TransientError
from pollbridge.ports import Media
from tests.http_servers import ScriptedServer

MEDIA = Media(b"RIFF....WAVE", "audio/wav")
STATUS = json.dumps({"status": "processing", "progress": 0.5}).encode()


@pytest.fixture
def servers() -> Iterator[tuple[ScriptedServer, ScriptedServer]]:
    with ScriptedServer() as vendor, ScriptedServer() as elsewhere:
        yield vendor, elsewhere


def test_a_redirect_to_another_host_does_not_carry_the_vendor_key(servers: tuple[ScriptedServer, ScriptedServer]) -> None:
    vendor, elsewhere = servers
    vendor.routes["/v1/jobs/j_1"] = (302, {"Location": f"{elsewhere.url}/status/j_1"}, b"")
    elsewhere.routes["/status/j_1"] = (200, {"Content-Type": "application/json"}, STATUS)
    state = HttpJobProvider(vendor.url, "sekret").status("j_1")
    assert state.progress == 0.5
    assert (vendor.seen[0].path, vendor.seen[0].headers.get("Authorization")) == ("/v1/jobs/j_1", "Bearer sekret")
    assert (elsewhere.seen[0].path, elsewhere.seen[0].headers.get("Authorization")) == ("/status/j_1", None)


def test_a_redirect_on_the_same_host_keeps_the_key(servers: tuple[ScriptedServer, ScriptedServer]) -> None:
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (307, {"Location": "/v2/jobs/j_1"}, b"")
    vendor.routes["/v2/jobs/j_1"] = (200, {}, STATUS)
    assert HttpJobProvider(vendor.url, "sekret").status("j_1").progress == 0.5
    assert [(seen.path, seen.headers.get("Authorization")) for seen in vendor.seen] == [
        ("/v1/jobs/j_1", "Bearer sekret"),
        ("/v2/jobs/j_1", "Bearer sekret"),
    ]


def test_a_redirect_loop_is_a_permanent_vendor_error(servers: tuple[ScriptedServer, ScriptedServer]) -> None:
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (302, {"Location": "/v1/jobs/j_1"}, b"")
    with pytest.raises(PermanentError, match="redirected too often") as caught:
        HttpJobProvider(vendor.url, None).status("j_1")
    assert caught.value.reason == "api_error"
    assert len(vendor.seen) == 4  # the call and its 3 redirects, no more


def test_an_unfollowed_redirect_is_a_permanent_vendor_error(servers: tuple[ScriptedServer, ScriptedServer]) -> None:
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (300, {}, b"")  # no Location: nothing to follow
    with pytest.raises(PermanentError, match="answered 300"):
        HttpJobProvider(vendor.url, None).status("j_1")


def test_calls_to_one_vendor_share_a_connection(servers: tuple[ScriptedServer, ScriptedServer]) -> None:
    """A warm container's polls, and a segment's upload and job, reuse one kept-alive connection."""
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (200, {}, STATUS)
    provider = HttpJobProvider(vendor.url, None)
    for _ in range(3):
        provider.status("j_1")
    HttpJobProvider(vendor.url, None).status("j_1")  # another instance, the same container
    ports = {seen.client_port for seen in vendor.seen}
    assert len(vendor.seen) == 4 and len(ports) == 1


def test_an_https_vendor_is_verified_against_the_trusted_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manual_clock: ManualClock
) -> None:
    """The benchmark's https vendor: the provider trusts what OpenSSL's default store trusts
    (SSL_CERT_FILE here), and refuses a certificate nobody vouches for."""
    tls = loopback_tls(tmp_path)
    http_provider._pool.cache_clear()
    with VendorSimulator(tls=(tls.cert_file, tls.key_file)) as vendor:
        assert vendor.url.startswith("https://127.0.0.1:")
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            HttpJobProvider(vendor.url, None).submit(MEDIA, {}, "key-untrusted")
        assert vendor.uploads == {}
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
        http_provider._pool.cache_clear()  # the store is read once per container: a new one reads it
        work_id = HttpJobProvider(vendor.url, None).submit(MEDIA, {}, "key-1")
        assert work_id.startswith("j_") and list(vendor.uploads.values()) == [MEDIA.body]
    http_provider._pool.cache_clear()


def test_https_connections_share_one_loaded_ca_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manual_clock: ManualClock
) -> None:
    """Loading the CA store costs ~20 ms of CPU: a new connection (another vendor host, or the same
    vendor after it closed an idle connection) must not load it again."""
    tls = loopback_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    http_provider._pool.cache_clear()
    loads = []
    real_load = ssl.SSLContext.load_default_certs

    def counting_load(context: ssl.SSLContext, *args: Any) -> None:
        loads.append(context)
        real_load(context, *args)

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", counting_load)
    try:
        with (
            VendorSimulator(tls=(tls.cert_file, tls.key_file)) as first,
            VendorSimulator(tls=(tls.cert_file, tls.key_file)) as second,
        ):
            for vendor in (first, second, first):
                assert HttpJobProvider(vendor.url, None).submit(MEDIA, {}, "key-1").startswith("j_")
            assert len(first.uploads) == len(second.uploads) == 1
    finally:
        http_provider._pool.cache_clear()
    assert len(loads) == 1
