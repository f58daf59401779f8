"""The address guard: which hosts a media URL may reach (pure: the resolver is a stub, no network)."""

import ipaddress
from typing import Any

import pytest

from pollbridge.adapters.address_guard import literal_address, refusal, vet
from pollbridge.errors import PermanentError, TransientError

PUBLIC = ipaddress.ip_address("192.88.99.7")  # see tests/integration/test_media_fetch.py for this choice


def no_resolution(host: str, port: int) -> list[Any]:
    raise AssertionError(f"{host} must be judged without resolving it")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("0", "0.0.0.0"),
        ("::1", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_numeric_hosts_are_read_as_resolvers_read_them(host: str, address: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["media.example.com", "example.com.", "a1.b2", "0x7f.example"])
def test_names_are_not_literals(host: str) -> None:
    assert literal_address(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "08.0.0.1", "example.0x", "4294967296", "1.2.65536", ":::"])
def test_a_host_that_looks_numeric_but_is_no_address_is_refused(host: str) -> None:
    with pytest.raises(PermanentError) as caught:
        literal_address(host)
    assert caught.value.reason == "url_not_allowed" and host in str(caught.value)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("0.1.2.3", "non-global"),
        ("240.0.0.1", "non-global"),
        ("255.255.255.255", "non-global"),
        ("198.51.100.7", "non-global"),
        ("192.0.2.1", "non-global"),
        ("2001:db8::1", "non-global"),
        ("3fff::1", "non-global"),
        ("fec0::1", "non-global"),
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 embedded in IPv6)"),
        ("::ffff:169.254.169.254", "cloud metadata (IPv4 169.254.169.254 embedded in IPv6)"),
        ("::127.0.0.1", "loopback (IPv4 127.0.0.1 embedded in IPv6)"),
        ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 embedded in IPv6)"),
        ("2002:a00:1::", "private (IPv4 10.0.0.1 embedded in IPv6)"),
        ("64:ff9b::7f00:1", "loopback (IPv4 127.0.0.1 embedded in IPv6)"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata (IPv4 169.254.169.254 embedded in IPv6)"),
        ("::8.8.8.8", "non-global"),  # IPv4-compatible: deprecated, refused even around a public address
        ("2002:808:808::", "non-global"),  # 6to4: not globally reachable
    ],
)
def test_inward_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["8.8.8.8", "192.88.99.7", "2620:4f:8000::1", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_global_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("fd12::1", True),
        ("::ffff:127.0.0.1", True),
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("fe80::1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
    ],
)
def test_allow_private_opens_loopback_and_private_use_only(address: str, allowed: bool) -> None:
    assert (refusal(ipaddress.ip_address(address), allow_private=True) is None) is allowed


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.1", "::1", "169.254.169.254", "localhost", "a.localhost"]
)
def test_vet_refuses_inward_hosts_without_resolving_them(host: str) -> None:
    with pytest.raises(PermanentError) as caught:
        vet(host, 80, no_resolution)
    assert caught.value.reason == "url_not_allowed" and f"host {host} " in str(caught.value)


def test_vet_judges_a_name_by_every_address_it_resolves_to() -> None:
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[Any]:
        calls.append((host, port))
        return {"cdn.example.test": [PUBLIC], "mixed.example.test": [PUBLIC, ipaddress.ip_address("10.0.0.5")],
                "meta.example.test": [ipaddress.ip_address("169.254.169.254")]}[host]  # fmt: skip

    assert vet("cdn.example.test", 443, resolve) == [PUBLIC]
    assert calls == [("cdn.example.test", 443)]
    for host, shown in (("mixed.example.test", "private address (10.0.0.5)"),
                        ("meta.example.test", "cloud metadata address (169.254.169.254)")):  # fmt: skip
        with pytest.raises(PermanentError) as caught:
            vet(host, 443, resolve)
        assert caught.value.reason == "url_not_allowed" and host in str(caught.value) and shown in str(caught.value)


def test_vet_with_allow_private_resolves_localhost_and_lets_loopback_through() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert vet("localhost", 80, lambda h, p: [loopback], allow_private=True) == [loopback]
    assert vet("2130706433", 80, no_resolution, allow_private=True) == [loopback]


def test_resolution_failures_are_transient_and_bad_names_refused() -> None:
    def broken(host: str, port: int) -> list[Any]:
        raise OSError("temporary failure in name resolution")

    with pytest.raises(TransientError, match="could not be resolved"):
        vet("cdn.example.test", 80, broken)
    with pytest.raises(TransientError, match="no address"):
        vet("cdn.example.test", 80, lambda h, p: [])
    with pytest.raises(PermanentError, match="not a valid host name"):
        vet("bad host", 80, no_resolution)
