"""The http provider's transport (urllib3, VendorConnections) against real servers on loopback:
redirects and the credentials on them, connection reuse and idleness, bodies as sent, TLS."""

from __future__ import annotations

import gzip
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.standins.tls import loopback_tls
from devtools.standins.vendor_simulator import VendorSimulator
from pollbridge.adapters import vendor_transport
from pollbridge.adapters.providers.http import HttpJobProvider
from pollbridge.clock import ManualClock
from pollbridge.errors import PermanentError, TransientError
from pollbridge.ports import Media
from tests.support.http_servers import ScriptedServer

MEDIA = Media(b"RIFF....WAVE", "audio/wav")
STATUS = json.dumps({"status": "processing", "progress": 0.5}).encode()


type Servers = tuple[ScriptedServer, ScriptedServer]


@pytest.fixture(autouse=True)
def fresh_connections() -> Iterator[None]:
    """Each test starts and ends with the container's vendor connections unmade (no pooled
    connection, no SSL context) so that none outlives the servers or the trust store it was made for."""
    vendor_transport.connections.cache_clear()
    yield
    vendor_transport.connections.cache_clear()


@pytest.fixture
def servers() -> Iterator[Servers]:
    with ScriptedServer() as vendor, ScriptedServer() as elsewhere:
        yield vendor, elsewhere


def test_a_redirect_to_another_host_does_not_carry_the_vendor_key(servers: Servers) -> None:
    vendor, elsewhere = servers
    vendor.routes["/v1/jobs/j_1"] = (302, {"Location": f"{elsewhere.url}/status/j_1"}, b"")
    elsewhere.routes["/status/j_1"] = (200, {"Content-Type": "application/json"}, STATUS)
    state = HttpJobProvider(vendor.url, "sekret").status("j_1")
    assert state.progress == 0.5
    assert (vendor.seen[0].path, vendor.seen[0].headers.get("Authorization")) == ("/v1/jobs/j_1", "Bearer sekret")
    assert (elsewhere.seen[0].path, elsewhere.seen[0].headers.get("Authorization")) == ("/status/j_1", None)


def test_a_redirect_on_the_same_host_keeps_the_key(servers: Servers) -> None:
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (307, {"Location": "/v2/jobs/j_1"}, b"")
    vendor.routes["/v2/jobs/j_1"] = (200, {}, STATUS)
    assert HttpJobProvider(vendor.url, "sekret").status("j_1").progress == 0.5
    assert [(seen.path, seen.headers.get("Authorization")) for seen in vendor.seen] == [
        ("/v1/jobs/j_1", "Bearer sekret"),
        ("/v2/jobs/j_1", "Bearer sekret"),
    ]


def test_a_redirect_loop_is_a_permanent_vendor_error(servers: Servers) -> None:
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (302, {"Location": "/v1/jobs/j_1"}, b"")
    with pytest.raises(PermanentError, match="redirected too often") as caught:
        HttpJobProvider(vendor.url, None).status("j_1")
    assert caught.value.reason == "api_error"
    assert len(vendor.seen) == 4  # the call and its 3 redirects, no more


def test_an_unfollowed_redirect_is_a_permanent_vendor_error(servers: Servers) -> None:
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (300, {}, b"")  # no Location: nothing to follow
    with pytest.raises(PermanentError, match="answered 300"):
        HttpJobProvider(vendor.url, None).status("j_1")


def test_calls_close_together_share_a_connection(servers: Servers) -> None:
    """A segment's upload and job (here: polls in a row) reuse one kept-alive connection."""
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (200, {}, STATUS)
    provider = HttpJobProvider(vendor.url, None)
    for _ in range(3):
        provider.status("j_1")
    HttpJobProvider(vendor.url, None).status("j_1")  # another instance, the same container
    ports = {seen.client_port for seen in vendor.seen}
    assert len(vendor.seen) == 4 and len(ports) == 1


def test_a_connection_idle_past_the_limit_is_not_reused(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """NAT gateways drop idle connections without telling either end; the next request on one is
    reset. Polls a minute apart therefore each open a connection of their own."""
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (200, {}, STATUS)
    provider = HttpJobProvider(vendor.url, None)
    provider.status("j_1")
    monkeypatch.setattr(vendor_transport, "IDLE_REUSE_S", 0.0)
    provider.status("j_1")
    assert len({seen.client_port for seen in vendor.seen}) == 2


def test_a_redirected_post_is_not_followed(servers: Servers) -> None:
    """Following it would send the media (or the job) again to wherever the redirect points."""
    vendor, elsewhere = servers
    for status in (301, 302, 307, 308):
        vendor.routes["/v1/uploads"] = (status, {"Location": f"{elsewhere.url}/v1/uploads"}, b"")
        with pytest.raises(PermanentError, match=f"answered {status}") as caught:
            HttpJobProvider(vendor.url, "sekret", submit_attempts=1).submit(MEDIA, {}, "key-1")
        assert caught.value.reason == "api_error"
    assert elsewhere.seen == []


def test_bodies_are_read_as_sent_never_decompressed(servers: Servers) -> None:
    """A gzip body can expand to gigabytes in a Lambda of 256 MB: pollbridge asks for the identity
    encoding and does not decode what a vendor compresses anyway; an error answer keeps its status."""
    vendor, _ = servers
    error = json.dumps({"error": {"code": "unauthorized", "message": "bad key"}}).encode()
    vendor.routes["/v1/jobs/j_1"] = (401, {"Content-Encoding": "gzip"}, gzip.compress(error))
    vendor.routes["/v1/jobs/j_2"] = (200, {"Content-Encoding": "gzip"}, gzip.compress(STATUS))
    vendor.routes["/v1/jobs/j_3"] = (200, {"Content-Encoding": "gzip"}, b"not gzip at all")
    provider = HttpJobProvider(vendor.url, None)
    with pytest.raises(PermanentError) as caught:
        provider.status("j_1")
    assert caught.value.reason == "api_authentication_error"
    for work_id in ("j_2", "j_3"):
        with pytest.raises(TransientError, match="not JSON"):
            provider.status(work_id)
    assert {seen.headers.get("Accept-Encoding") for seen in vendor.seen} == {"identity"}


def test_an_answer_past_its_size_limit_is_refused_unread(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """A status answer is a few hundred bytes, a transcript a few MB: each has its limit, checked while
    reading, and the connection of a refused answer is not reused."""
    vendor, _ = servers
    words = [{"text": "word", "startMs": i, "endMs": i + 1} for i in range(6000)]  # ~300 KB
    vendor.routes["/v1/jobs/j_1/result"] = (200, {}, json.dumps({"words": words}).encode())
    vendor.routes["/v1/jobs/j_1"] = (200, {}, json.dumps({"status": "processing", "pad": " " * 2_000_000}).encode())
    vendor.routes["/v1/jobs/j_2"] = (200, {}, STATUS)
    provider = HttpJobProvider(vendor.url, None)
    with pytest.raises(PermanentError, match=f"more than {vendor_transport.MAX_ANSWER_BYTES} bytes") as caught:
        provider.status("j_1")
    assert caught.value.reason == "api_error"
    assert provider.status("j_2").progress == 0.5  # not confused by the unread rest
    assert len(provider.transcript("j_1").words) == 6000
    monkeypatch.setattr(vendor_transport, "MAX_RESULT_BYTES", 1000)
    with pytest.raises(PermanentError, match="more than 1000 bytes"):
        provider.transcript("j_1")
    provider.status("j_2")
    first, second, third = ({seen.client_port for seen in vendor.seen[i:j]} for i, j in ((0, 1), (1, 4), (4, 5)))
    assert len(first | second | third) == 3  # a refusal left unread closes its connection; the others reuse it


@pytest.mark.parametrize(
    "location", ["http://[::1/x", "http://127.0.0.1:99999/x", "http://127.0.0.1:abc/", "ftp://x/y"]
)
def test_a_redirect_to_an_invalid_url_is_a_permanent_vendor_error(servers: Servers, location: str) -> None:
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (302, {"Location": location}, b"")
    with pytest.raises(PermanentError, match="invalid URL"):
        HttpJobProvider(vendor.url, None).status("j_1")


def test_vendor_calls_go_through_the_configured_proxy(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP_PROXY / NO_PROXY, as urllib.request and botocore read them: a VPC without a NAT gateway
    reaches the vendor through its proxy, or not at all."""
    proxy, vendor = servers
    proxy.routes["http://vendor.example:8080/v1/jobs/j_1"] = (200, {}, STATUS)  # absolute form: a proxy request
    vendor.routes["/v1/jobs/j_1"] = (200, {}, STATUS)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert HttpJobProvider("http://vendor.example:8080", "sekret").status("j_1").progress == 0.5
    assert HttpJobProvider(vendor.url, None).status("j_1").progress == 0.5  # NO_PROXY: straight there
    assert [seen.path for seen in proxy.seen] == ["http://vendor.example:8080/v1/jobs/j_1"]
    assert proxy.seen[0].headers.get("Authorization") == "Bearer sekret" and len(vendor.seen) == 1


def test_idle_time_counts_on_the_wall_clock_too(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda freezes a container between invocations; the monotonic clock may stand still meanwhile."""
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (200, {}, STATUS)
    frozen = time.monotonic()
    wall = [time.time()]
    monkeypatch.setattr(vendor_transport.time, "monotonic", lambda: frozen)
    monkeypatch.setattr(vendor_transport.time, "time", lambda: wall[0])
    provider = HttpJobProvider(vendor.url, None)
    provider.status("j_1")
    provider.status("j_1")
    wall[0] += vendor_transport.IDLE_REUSE_S + 1  # a frozen container, thawed later
    provider.status("j_1")
    ports = [seen.client_port for seen in vendor.seen]
    assert ports[0] == ports[1] != ports[2]


def test_an_https_vendor_is_verified_against_the_trusted_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manual_clock: ManualClock
) -> None:
    """The benchmark's https vendor: the provider trusts what OpenSSL's default store trusts
    (SSL_CERT_FILE here), and refuses a certificate nobody vouches for."""
    tls = loopback_tls(tmp_path)
    with VendorSimulator(tls=(tls.cert_file, tls.key_file)) as vendor:
        assert vendor.url.startswith("https://127.0.0.1:")
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            HttpJobProvider(vendor.url, None).submit(MEDIA, {}, "key-untrusted")
        assert vendor.uploads == {}
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
        vendor_transport.connections.cache_clear()  # the store is read once per container: a new one reads it
        work_id = HttpJobProvider(vendor.url, None).submit(MEDIA, {}, "key-1")
        assert work_id.startswith("j_") and list(vendor.uploads.values()) == [MEDIA.body]


def test_https_connections_share_one_loaded_ca_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, manual_clock: ManualClock
) -> None:
    """Loading the CA store costs ~20 ms of CPU: a new connection (another vendor host, or the same
    vendor a minute later) must not load it again."""
    tls = loopback_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    monkeypatch.setattr(vendor_transport, "IDLE_REUSE_S", 0.0)  # every call a new connection, as polls are
    loads = []
    real_load = ssl.SSLContext.load_default_certs

    def counting_load(context: ssl.SSLContext, *args: Any) -> None:
        loads.append(context)
        real_load(context, *args)

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", counting_load)
    with (
        VendorSimulator(tls=(tls.cert_file, tls.key_file)) as first,
        VendorSimulator(tls=(tls.cert_file, tls.key_file)) as second,
    ):
        for vendor in (first, second, first):
            assert HttpJobProvider(vendor.url, None).submit(MEDIA, {}, "key-1").startswith("j_")
        assert len(first.uploads) == len(second.uploads) == 1
    assert len(loads) == 1


def test_an_https_vendor_redirecting_to_plain_http_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: Servers
) -> None:
    """The answer (a status, a transcript) would travel in clear, and could be altered on the way."""
    tls = loopback_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    plain, _ = servers
    plain.default = (200, {}, STATUS)
    with ScriptedServer(tls=(tls.cert_file, tls.key_file)) as vendor:
        vendor.routes["/v1/jobs/j_1"] = (302, {"Location": f"{plain.url}/v1/jobs/j_1"}, b"")
        vendor.routes["/v1/jobs/j_2"] = (302, {"Location": "/v2/jobs/j_2"}, b"")  # https still: followed
        vendor.routes["/v2/jobs/j_2"] = (200, {}, STATUS)
        provider = HttpJobProvider(vendor.url, "sekret")
        with pytest.raises(PermanentError, match="redirected from https to http") as caught:
            provider.status("j_1")
        assert caught.value.reason == "api_error"
        assert provider.status("j_2").progress == 0.5
    assert plain.seen == []


def test_a_large_redirect_body_is_not_read(servers: Servers) -> None:
    """urllib3 reads a redirect's body to its end to reuse the connection; past 64 KiB (or of unknown
    length) the connection is closed instead, so a vendor cannot hold a poll reading gigabytes."""
    vendor, _ = servers
    vendor.routes["/v1/jobs/j_1"] = (302, {"Location": "/v2/jobs/j_1"}, b" " * 10_000_000)
    vendor.routes["/v1/jobs/j_2"] = (302, {"Location": "/v2/jobs/j_1"}, b" " * 1_000)
    vendor.routes["/v2/jobs/j_1"] = (200, {}, STATUS)
    provider = HttpJobProvider(vendor.url, None)
    assert provider.status("j_1").progress == 0.5
    assert provider.status("j_2").progress == 0.5
    ports = [seen.client_port for seen in vendor.seen]
    assert ports[0] != ports[1] == ports[2] == ports[3]  # a new connection after the large one only
