"""MediaFetcher against real local HTTP(S) servers: a cacheURI cannot be turned inward.

No test ever connects outside loopback. "Public" names are mapped by an injected resolver to
FAKE_PUBLIC, and the injected `connect_to` dials a loopback server for it; `connect_to` fails the
test if asked for any other non-loopback address.

FAKE_PUBLIC is 192.88.99.7: the 6to4 relay anycast block 192.88.99.0/24 was deprecated by RFC 7526
(2015) and is no longer announced, yet it is not in any special-purpose "not globally reachable"
range, so the guard (like Python's ipaddress) counts it global. The documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) would not do: they are rightly refused as
non-global. FAKE_PUBLIC_V6 is 3ffe:501:ffff::7, in the returned 6bone block 3ffe::/16 (RFC 3701).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pollbridge.adapters.media import MediaFetcher
from pollbridge.errors import PermanentError, TransientError
from pollbridge.models import parse_segment

FAKE_PUBLIC = ipaddress.ip_address("192.88.99.7")
FAKE_PUBLIC_2 = ipaddress.ip_address("192.88.99.8")
FAKE_PUBLIC_V6 = ipaddress.ip_address("3ffe:501:ffff::7")
NAMES = {
    "media.example.test": [FAKE_PUBLIC],
    "cdn.example.test": [FAKE_PUBLIC_2],
    "other.example.test": [FAKE_PUBLIC],
    "internal.example.test": [ipaddress.ip_address("10.0.0.5")],
    "dualstack.example.test": [FAKE_PUBLIC_V6, FAKE_PUBLIC],
}

Route = Callable[[BaseHTTPRequestHandler], None]


class Site:
    """A real HTTP(S) server on 127.0.0.1 (OS-chosen port) that records every request it gets."""

    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []  # (path with query, Host header)
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append((self.path, self.headers.get("Host")))
                route = site.routes.get(self.path.split("?", 1)[0])
                (route or respond(404))(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def respond(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return respond(status, headers={"Location": location})


def drip(raw_head: bytes, interval_s: float, limit_s: float = 10.0) -> Route:
    """Writes raw_head, then one byte every interval_s until the client goes (or limit_s passes)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        started = time.monotonic()
        try:
            handler.wfile.write(raw_head)
            handler.wfile.flush()
            while time.monotonic() - started < limit_s:
                time.sleep(interval_s)
                handler.wfile.write(b"x")
                handler.wfile.flush()
        except OSError:
            pass

    return route


def endless(handler: BaseHTTPRequestHandler) -> None:
    """A chunked body that never ends (no Content-Length to refuse it by)."""
    handler.close_connection = True
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"%x\r\n%s\r\n" % (16384, b"z" * 16384)
    try:
        for _ in range(100_000):
            handler.wfile.write(chunk)
    except OSError:
        pass


def declared_huge(handler: BaseHTTPRequestHandler) -> None:
    """Announces 10 GB, then sends nothing: a refusal must come from the header, not a timeout."""
    handler.close_connection = True
    handler.send_response(200)
    handler.send_header("Content-Length", str(10**10))
    handler.end_headers()
    handler.wfile.flush()
    time.sleep(3)


@pytest.fixture
def sites() -> Iterator[Callable[..., Site]]:
    started: list[Site] = []

    def start(routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> Site:
        started.append(Site(routes, tls))
        return started[-1]

    yield start
    for site in started:
        site.close()


class Network:
    """The injected resolver and dialler, with a log of what was asked of them."""

    def __init__(self, dial: dict[Any, Site], names: dict[str, list[Any]] | None = None) -> None:
        self.dial = dial
        self.names = NAMES if names is None else names
        self.resolved: list[tuple[str, int]] = []
        self.dialled: list[tuple[Any, int]] = []

    def resolve(self, host: str, port: int) -> list[Any]:
        self.resolved.append((host, port))
        if host not in self.names:
            raise AssertionError(f"the test would have resolved {host} for real")
        return self.names[host]

    def connect_to(self, address: Any, port: int) -> tuple[str, int]:
        self.dialled.append((address, port))
        if address in self.dial:
            return "127.0.0.1", self.dial[address].port
        if address.is_loopback:
            return str(address), port
        raise AssertionError(f"the test would have dialled {address}")

    def fetcher(self, max_bytes: int = 1000, **options: Any) -> MediaFetcher:
        return MediaFetcher(no_s3, max_bytes, resolve=self.resolve, connect_to=self.connect_to, **options)


def no_s3() -> Any:
    raise AssertionError("no S3 client expected")


def chunk_at(uri: str) -> Any:
    return parse_segment(
        {"type": "media_chunk", "taskId": "t", "tdoId": "d", "jobId": "j", "mimeType": "audio/wav", "cacheURI": uri}
    )


def refused(fetcher: MediaFetcher, uri: str, reason: str = "url_not_allowed") -> str:
    with pytest.raises(PermanentError) as caught:
        fetcher.fetch(chunk_at(uri))
    assert caught.value.reason == reason, caught.value
    return str(caught.value)


# --- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("http://127.0.0.1:{port}/ok.wav", "127.0.0.1"),
        ("http://localhost:{port}/ok.wav", "localhost"),
        ("http://[::1]:{port}/ok.wav", "::1"),
        ("http://[::ffff:127.0.0.1]:{port}/ok.wav", "::ffff:127.0.0.1"),
        ("http://2130706433:{port}/ok.wav", "2130706433"),
        ("http://0x7f.1:{port}/ok.wav", "0x7f.1"),
        ("http://0177.0.0.1:{port}/ok.wav", "0177.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "169.254.169.254"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254"),
        ("http://10.0.0.1/media.wav", "10.0.0.1"),
        ("http://0.0.0.0:{port}/ok.wav", "0.0.0.0"),
        ("https://127.0.0.1:{port}/ok.wav", "127.0.0.1"),
    ],
)
def test_inward_hosts_are_refused_before_any_connection(sites: Callable[..., Site], template: str, named: str) -> None:
    site = sites({"/ok.wav": respond(200, b"WAVEDATA")})
    network = Network({})
    message = refused(network.fetcher(), template.format(port=site.port))
    assert f"host {named} " in message
    assert site.requests == [] and network.resolved == [] and network.dialled == []


def test_a_name_resolving_inward_is_refused_and_its_server_gets_nothing(sites: Callable[..., Site]) -> None:
    inside = sites({"/ok.wav": respond(200, b"INTERNAL")})
    network = Network({ipaddress.ip_address("10.0.0.5"): inside})  # were the guard wrong, it would reach `inside`
    message = refused(network.fetcher(), "http://internal.example.test/ok.wav")
    assert "private address (10.0.0.5)" in message
    assert inside.requests == [] and network.dialled == []


def test_allow_private_hosts_lets_the_local_server_through(sites: Callable[..., Site]) -> None:
    site = sites({"/ok.wav": respond(200, b"WAVEDATA")})
    fetcher = MediaFetcher(no_s3, 100, allow_private_hosts=True)
    assert fetcher.fetch(chunk_at(f"http://127.0.0.1:{site.port}/ok.wav")).body == b"WAVEDATA"
    # the integer form is read as 127.0.0.1 and dialled as such: the same server answers
    assert fetcher.fetch(chunk_at(f"http://2130706433:{site.port}/ok.wav")).body == b"WAVEDATA"
    assert site.requests == [("/ok.wav", f"127.0.0.1:{site.port}"), ("/ok.wav", f"2130706433:{site.port}")]
    # link-local (the metadata service) stays closed even then, before any connection
    assert "cloud metadata" in refused(fetcher, "http://169.254.169.254/latest/meta-data/")


def test_a_public_name_is_resolved_once_and_dialled_at_the_vetted_address(sites: Callable[..., Site]) -> None:
    site = sites({"/ok.wav": respond(200, b"WAVEDATA")})
    network = Network({FAKE_PUBLIC: site})
    media = network.fetcher().fetch(chunk_at("http://media.example.test/ok.wav?X-Amz-Signature=s3cr3t"))
    assert (media.body, media.media_type) == (b"WAVEDATA", "audio/wav")
    assert site.requests == [("/ok.wav?X-Amz-Signature=s3cr3t", "media.example.test")]
    assert network.resolved == [("media.example.test", 80)]  # once: no second lookup to rebind
    assert network.dialled == [(FAKE_PUBLIC, 80)]


def test_an_unreachable_address_falls_back_to_the_next_vetted_one(sites: Callable[..., Site]) -> None:
    site = sites({"/ok.wav": respond(200, b"WAVEDATA")})
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    nobody = type("Nobody", (), {"port": closed.getsockname()[1]})()
    closed.close()  # nothing listens there: connection refused
    network = Network({FAKE_PUBLIC_V6: nobody, FAKE_PUBLIC: site})
    assert network.fetcher().fetch(chunk_at("http://dualstack.example.test:8080/ok.wav")).body == b"WAVEDATA"
    assert network.dialled == [(FAKE_PUBLIC_V6, 8080), (FAKE_PUBLIC, 8080)]
    assert site.requests == [("/ok.wav", "dualstack.example.test:8080")]


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (respond(404), ("permanent", "url_not_found")),
        (respond(410), ("permanent", "url_not_found")),
        (respond(401), ("permanent", "url_not_allowed")),
        (respond(403), ("permanent", "url_not_allowed")),
        (respond(418), ("permanent", "url_error")),
        (respond(429, headers={"Retry-After": "7"}), ("transient", 7.0)),
        (respond(503), ("transient", None)),
        (respond(500), ("transient", None)),
    ],
)
def test_http_answers_are_classified_without_echoing_the_query(
    sites: Callable[..., Site], route: Route, expected: tuple[str, Any]
) -> None:
    site = sites({"/media.wav": route})
    fetcher = Network({FAKE_PUBLIC: site}).fetcher()
    with pytest.raises((PermanentError, TransientError)) as caught:
        fetcher.fetch(chunk_at("http://media.example.test/media.wav?token=s3cr3t"))
    error = caught.value
    if expected[0] == "permanent":
        assert isinstance(error, PermanentError) and error.reason == expected[1]
    else:
        assert isinstance(error, TransientError) and error.retry_after_s == expected[1]
    assert "http://media.example.test/media.wav" in str(error) and "s3cr3t" not in str(error)


# --- redirects --------------------------------------------------------------------------------


def test_a_redirect_to_loopback_is_refused_and_the_loopback_server_gets_no_request(
    sites: Callable[..., Site],
) -> None:
    target = sites({"/admin": respond(200, b"INTERNAL")})
    inside = sites({"/ok.wav": respond(200, b"INTERNAL")})
    public = sites({
        "/to-loopback": redirect(f"http://127.0.0.1:{target.port}/admin"),
        "/to-integer": redirect(f"http://2130706433:{target.port}/admin"),
        "/to-localhost": redirect(f"http://localhost:{target.port}/admin"),
        "/to-internal": redirect("http://internal.example.test/ok.wav"),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
    })  # fmt: skip
    network = Network({FAKE_PUBLIC: public, ipaddress.ip_address("10.0.0.5"): inside})
    fetcher = network.fetcher()
    for path, named in (("/to-loopback", "127.0.0.1"), ("/to-integer", "2130706433"), ("/to-localhost", "localhost"),
                        ("/to-internal", "internal.example.test"), ("/to-metadata", "169.254.169.254")):  # fmt: skip
        assert f"host {named} " in refused(fetcher, f"http://media.example.test{path}")
    assert len(public.requests) == 5
    assert target.requests == [] and inside.requests == []
    assert {address for address, _ in network.dialled} == {FAKE_PUBLIC}


@pytest.mark.parametrize(
    ("location", "named"),
    [
        ("ftp://files.example.test/x.wav", "ftp://files.example.test/x.wav"),
        ("file:///etc/passwd", "file:///etc/passwd"),
        ("s3://results-bucket/results/other.json", "s3://results-bucket/results/other.json"),
        ("gopher://files.example.test:70/_x", "gopher://files.example.test:70/_x"),
    ],
)
def test_a_redirect_to_another_scheme_is_refused(sites: Callable[..., Site], location: str, named: str) -> None:
    site = sites({"/media.wav": redirect(location)})
    network = Network({FAKE_PUBLIC: site})
    message = refused(network.fetcher(), "http://media.example.test/media.wav")
    assert f"redirected to {named}" in message and "only http and https" in message
    assert len(site.requests) == 1


def test_redirects_are_followed_across_hosts_up_to_the_limit(sites: Callable[..., Site]) -> None:
    cdn = sites({"/final.wav": respond(200, b"CDNWAVE")})
    origin = sites({
        "/r1": redirect("/r2", 301),
        "/r2": redirect("http://media.example.test/r3?sig=abc", 307),
        "/r3": redirect("http://cdn.example.test/final.wav", 308),
        "/r0": redirect("/r1", 303),
    })  # fmt: skip
    network = Network({FAKE_PUBLIC: origin, FAKE_PUBLIC_2: cdn})
    assert network.fetcher().fetch(chunk_at("http://media.example.test/r1")).body == b"CDNWAVE"
    assert [path for path, _ in origin.requests] == ["/r1", "/r2", "/r3?sig=abc"]
    assert cdn.requests == [("/final.wav", "cdn.example.test")]
    assert network.resolved == [("media.example.test", 80)] * 3 + [("cdn.example.test", 80)]  # every hop vetted

    message = refused(network.fetcher(), "http://media.example.test/r0", "url_error")  # four redirects
    assert "more than 3 times" in message and "cdn.example.test" in message
    assert len(cdn.requests) == 1  # the fifth request was never made
    assert refused(network.fetcher(max_redirects=1), "http://media.example.test/r2", "url_error")


# --- time and size ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route",
    [
        drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n", 0.3),  # a dripping body
        drip(b"HTTP/1.1 200 OK\r\nX-Drip: ", 0.3),  # dripping headers
    ],
    ids=["body", "headers"],
)
def test_a_dripping_server_is_cut_off_at_the_overall_deadline(sites: Callable[..., Site], route: Route) -> None:
    site = sites({"/slow.wav": route})
    fetcher = Network({FAKE_PUBLIC: site}).fetcher(max_bytes=10_000, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(TransientError, match="longer than 1 s"):
        fetcher.fetch(chunk_at("http://media.example.test/slow.wav"))
    assert 0.9 <= time.monotonic() - started < 2.0  # each byte came well within any per-read timeout


def test_the_deadline_covers_every_hop(sites: Callable[..., Site]) -> None:
    def slow_redirect(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.4)
        redirect("/hop")(handler)

    site = sites({"/start": slow_redirect, "/hop": slow_redirect})
    fetcher = Network({FAKE_PUBLIC: site}).fetcher(timeout_s=1.0, max_redirects=10)
    started = time.monotonic()
    with pytest.raises(TransientError, match="longer than 1 s"):
        fetcher.fetch(chunk_at("http://media.example.test/start"))
    assert time.monotonic() - started < 1.6 and len(site.requests) == 3


def test_the_size_cap_holds_while_streaming(sites: Callable[..., Site]) -> None:
    site = sites({
        "/endless.wav": endless,
        "/huge.wav": declared_huge,
        "/exact.wav": respond(200, b"a" * 50_000),
        "/over.wav": respond(200, b"a" * 50_001),
    })  # fmt: skip
    fetcher = Network({FAKE_PUBLIC: site}).fetcher(max_bytes=50_000, timeout_s=5.0)
    assert len(fetcher.fetch(chunk_at("http://media.example.test/exact.wav")).body) == 50_000
    assert "MEDIA_MAX_BYTES" in refused(fetcher, "http://media.example.test/over.wav", "invalid_data")
    started = time.monotonic()
    assert "MEDIA_MAX_BYTES" in refused(fetcher, "http://media.example.test/endless.wav", "invalid_data")
    message = refused(fetcher, "http://media.example.test/huge.wav", "invalid_data")  # from the header alone
    assert "10000000000 bytes" in message
    assert time.monotonic() - started < 2.0


# --- https ------------------------------------------------------------------------------------


@pytest.fixture
def tls_server_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ssl.SSLContext, list[str | None]]:
    """A test CA trusted through SSL_CERT_FILE, and a server certificate for media.example.test only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("pollbridge test CA", ca_key, "pollbridge test CA", ca_key, ca=True)
    leaf_cert = certificate("media.example.test", leaf_key, "pollbridge test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf_cert.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)  # type: ignore[assignment,misc]
    return context, server_names


def test_https_dials_the_vetted_address_with_the_url_name_for_sni_and_the_certificate(
    sites: Callable[..., Site], tls_server_context: tuple[ssl.SSLContext, list[str | None]]
) -> None:
    context, server_names = tls_server_context
    site = sites({"/ok.wav": respond(200, b"TLSWAVE")}, tls=context)
    network = Network({FAKE_PUBLIC: site})
    assert network.fetcher().fetch(chunk_at("https://media.example.test/ok.wav")).body == b"TLSWAVE"
    assert server_names == ["media.example.test"]
    assert site.requests == [("/ok.wav", "media.example.test")]
    assert network.dialled == [(FAKE_PUBLIC, 443)]

    # other.example.test also resolves to FAKE_PUBLIC, but the certificate is not for that name
    message = refused(network.fetcher(), "https://other.example.test/ok.wav")
    assert "TLS certificate" in message and "other.example.test" in message
    assert server_names[-1] == "other.example.test" and len(site.requests) == 1


# --- s3 ---------------------------------------------------------------------------------------


def test_s3_media_only_from_the_media_bucket(aws: dict[str, Any]) -> None:
    s3 = aws["s3"]
    for bucket in ("media-bucket", "results-bucket"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="media-bucket", Key="chunks/0.wav", Body=b"S3WAVE")
    s3.put_object(Bucket="results-bucket", Key="results/other.json", Body=b'{"secret": true}')
    fetcher = MediaFetcher(lambda: s3, 100, media_bucket="media-bucket")
    assert fetcher.fetch(chunk_at("s3://media-bucket/chunks/0.wav")).body == b"S3WAVE"
    assert "results-bucket" in refused(fetcher, "s3://results-bucket/results/other.json")
    refused(fetcher, "s3://media-bucket/chunks/nope.wav", "url_not_found")
    assert "MEDIA_MAX_BYTES" in refused(
        MediaFetcher(lambda: s3, 4, media_bucket="media-bucket"), "s3://media-bucket/chunks/0.wav", "invalid_data"
    )

    def no_client() -> Any:
        raise AssertionError("a refused s3:// URI must not reach S3")

    assert "not enabled" in refused(MediaFetcher(no_client, 100), "s3://media-bucket/chunks/0.wav")
    assert "results-bucket" in refused(
        MediaFetcher(no_client, 100, media_bucket="media-bucket"), "s3://results-bucket/results/other.json"
    )
