"""May a media URL's host be fetched? Pure rules over IP addresses, plus the one resolution step.

A host is judged by the addresses it denotes: an IP literal in any form a resolver accepts
(`127.0.0.1`, `[::1]`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) is that address; a name is
resolved once through the injected resolver (the system's getaddrinfo by default) and EVERY address
it gives must pass, so a name answering "public, private" is refused. The caller connects to the
addresses returned here and never resolves again: no DNS-rebinding window between check and use.

Refused: unspecified, loopback, link-local (169.254.169.254 included), multicast, private-use
(RFC 1918, shared 100.64/10, unique-local fc00::/7), cloud metadata addresses, and anything else
that is not globally reachable (documentation, benchmarking, reserved, 6to4, Teredo, ...). An IPv6
address that embeds an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, 6to4
2002:aabb:ccdd::, NAT64 64:ff9b::a.b.c.d) is judged by the IPv4 address it embeds first.
`allow_private` (local cloud and tests only) opens loopback and private-use addresses; link-local,
metadata, multicast and unspecified addresses stay refused.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from urllib.parse import unquote

from pollbridge.errors import PermanentError, TransientError

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type Resolver = Callable[[str, int], Sequence[IPAddress]]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_PRIVATE_USE: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    _V4("10.0.0.0/8"),
    _V4("172.16.0.0/12"),
    _V4("192.168.0.0/16"),
    _V4("100.64.0.0/10"),  # shared address space (carrier-grade NAT)
    _V6("fc00::/7"),  # unique local
)
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23")
)
_NAT64 = _V6("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are the IPv4 address
_NOT_GLOBAL_V6 = (_V6("3fff::/20"), _V6("fec0::/10"))  # RFC 9637 documentation; deprecated site-local
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")


def refusal(ip: IPAddress, allow_private: bool = False) -> str | None:
    """None when `ip` may be connected to; otherwise the kind of address it is, for the message."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = refusal(inner, allow_private)
            if why is not None:
                return f"{why} (IPv4 {inner} embedded in IPv6)"
            if ip.ipv4_mapped is not None or ip in _NAT64:
                return None  # a public IPv4 address in its IPv6 forms for dual-stack / NAT64 networks
    if ip.is_unspecified:
        return "unspecified"
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:
        return None if allow_private else "loopback"
    if any(ip in net for net in _PRIVATE_USE if net.version == ip.version):
        return None if allow_private else "private"
    if not ip.is_global or ip.is_reserved or any(ip in net for net in _NOT_GLOBAL_V6 if net.version == ip.version):
        return "non-global"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated; :: and ::1 are not)
        return ipaddress.IPv4Address(int(ip))
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address `host` (as urlsplit gives it: no brackets, lower case) denotes literally, or None
    for a name. A host that looks numeric but is no valid address is refused, as browsers do."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(unquote(host))
        except ValueError:
            raise _refused(host, "is not a valid IPv6 address") from None
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels.pop()  # a trailing dot, as in "127.0.0.1."
    if not labels or not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None  # a name (WHATWG: a host is an IPv4 address when its last label is a number)
    try:
        return _inet_aton(labels)
    except ValueError:
        raise _refused(host, "looks like an IPv4 address but is not a valid one") from None


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address:
    """The legacy forms resolvers still accept: 1 to 4 parts, each decimal, 0x-hex or 0-octal,
    the last part filling the remaining bytes (127.1 is 127.0.0.1, 2130706433 too)."""
    if len(labels) > 4:
        raise ValueError(labels)
    numbers = [_number(label) for label in labels]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(labels)
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _number(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)


def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address getaddrinfo gives for host, in its order, without duplicates."""
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6):
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
    return found


def vet(host: str, port: int, resolve: Resolver, allow_private: bool = False) -> list[IPAddress]:
    """The addresses to connect to for host:port, every one allowed; raises PermanentError
    (url_not_allowed) naming the host otherwise, TransientError when resolution fails."""
    literal = literal_address(host)
    if literal is not None:
        addresses: Sequence[IPAddress] = [literal]
    else:
        if not _HOST_NAME.fullmatch(host):
            raise _refused(host, "is not a valid host name")
        if not allow_private and (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")):
            raise _refused(host, "is a loopback name (RFC 6761)")
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as error:
            raise TransientError(f"cacheURI host {host} could not be resolved: {error}") from None
        if not addresses:
            raise TransientError(f"cacheURI host {host} resolved to no address")
    for address in addresses:
        why = refusal(address, allow_private)
        if why is not None:
            raise _refused(host, f"resolves to a {why} address ({address})")
    return list(addresses)


def _refused(host: str, why: str) -> PermanentError:
    return PermanentError(f"cacheURI host {host} {why}: not allowed", "url_not_allowed")
