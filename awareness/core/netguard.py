"""Refuse to fetch from addresses a feed on the public internet cannot have.

Sources are typed in by people and redirects are chosen by servers, so a
source URL could point the service at its own machine, the office network or
a cloud metadata endpoint (169.254.169.254).  ``check_url`` resolves the host
and refuses any address that is not publicly routable, including the
disguised forms (decimal and hex IPv4, IPv4-mapped and NAT64 IPv6), unless
the administrator listed the host or its network in ``fetch_allow``.

Python's own ``ip_address(...).is_global`` is not enough on 3.11: it calls
multicast, NAT64 (64:ff9b::/96) and IPv4-compatible IPv6 addresses global,
so the ranges are listed here explicitly.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Iterable
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.ip_network
# (network, what a person should read) — first match wins, so specific ranges come first.
_BLOCKED: list[tuple[IPNetwork, str]] = [
    (_V4("169.254.169.254/32"), "the cloud metadata address"),
    (_V4("0.0.0.0/8"), "an unspecified ('this network') address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("100.64.0.0/10"), "a shared carrier-grade NAT (CGNAT) address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.0.0.0/24"), "a reserved (IETF protocol) address"),
    (_V4("192.0.2.0/24"), "a documentation address"),
    (_V4("192.88.99.0/24"), "a reserved (6to4 relay) address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("198.18.0.0/15"), "a reserved (benchmarking) address"),
    (_V4("198.51.100.0/24"), "a documentation address"),
    (_V4("203.0.113.0/24"), "a documentation address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
    (_V4("::/128"), "an unspecified address"),
    (_V4("::1/128"), "a loopback address"),
    (_V4("::/8"), "a reserved address"),
    (_V4("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V4("100::/64"), "a discard-only address"),
    (_V4("2001:db8::/32"), "a documentation address"),
    (_V4("2001::/23"), "a reserved (IETF protocol or Teredo) address"),
    (_V4("fc00::/7"), "a private (unique local) address"),
    (_V4("fe80::/10"), "a link-local address"),
    (_V4("fec0::/10"), "a site-local address"),
    (_V4("ff00::/8"), "a multicast address"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")
_ADVICE = "add it to fetch_allow if this is an intranet source you trust"


class BlockedAddress(Exception):
    """The URL may not be fetched; the message says why and what to do."""

    def __init__(self, message: str, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


class HostNotFound(Exception):
    """The host name did not resolve to any address."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden inside an IPv6 one (mapped, NAT64, 6to4, compatible), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def why_blocked(ip: IPAddress) -> str | None:
    """What kind of non-public address this is, or None when it is publicly routable."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        reason = why_blocked(inner)
        return f"{reason} in IPv6 disguise ({inner})" if reason else None
    for network, reason in _BLOCKED:
        if ip.version == network.version and ip in network:
            return reason
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return "not a public internet address"
    return None


def _in_networks(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    candidates = [ip] + ([inner] if (inner := embedded_ipv4(ip)) is not None else [])
    return any(c in net for c in candidates for net in networks)


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (numeric forms like 2130706433 included)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise HostNotFound(f"could not find the host '{host}' ({e}); check the URL for typos") from None
    seen: dict[str, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen[str(sockaddr[0]).split("%", 1)[0]] = None
    if not seen:
        raise HostNotFound(f"the host '{host}' has no addresses")
    return list(seen)


def split_allow(entries: Iterable[str]) -> tuple[list[IPNetwork], set[str]]:
    """A ``fetch_allow`` list as (address ranges, host names)."""
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return networks, hosts


def _split(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or BlockedAddress saying why not."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as e:
        raise BlockedAddress(f"'{url}' is not a valid URL ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}:" if scheme else "this kind of"
        raise BlockedAddress(f"{shown} URLs are not fetched, only http and https ({url})")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise BlockedAddress(f"'{url}' has no host name")
    return scheme, host, port or (443 if scheme == "https" else 80)


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, in any form a resolver accepts.

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all
    127.0.0.1 to the C library, so they are read the way it reads them.
    """
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if not host or not all(c.isalnum() or c == "." for c in host) or not host[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_literal(url: str, *, allow_networks: Iterable[IPNetwork] = (), allow_hosts: Iterable[str] = ()) -> None:
    """Refuse, without asking DNS, what is plainly not a public feed: when a source is added.

    Other schemes, loopback names and addresses written as numbers are judged
    here; a host name is judged by ``check_url`` each time it is fetched,
    since its DNS answer can change.
    """
    _scheme, host, _port = _split(url)
    if host.lower() in {h.lower().rstrip(".") for h in allow_hosts}:
        return
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise BlockedAddress(f"{host} is this machine (a loopback name); {_ADVICE}", host)
    ip = literal_address(host)
    if ip is None:
        return
    reason = why_blocked(ip)
    if reason is not None and not _in_networks(ip, list(allow_networks)):
        written_as_is = ":" in host or host.count(".") == 3 and host.replace(".", "").isdigit() \
            and str(ip) == host
        subject = host if written_as_is else f"{host} (that is {ip})"
        raise BlockedAddress(f"{subject} is {reason}; {_ADVICE}", str(ip))


def check_url(url: str, *, allow_networks: Iterable[IPNetwork] = (),
              allow_hosts: Iterable[str] = ()) -> list[str]:
    """Resolve url's host and return its addresses, or raise BlockedAddress.

    Allowed: http(s) URLs whose every address is publicly routable; any host
    named in allow_hosts; and non-public addresses that fall inside
    allow_networks.  Raises HostNotFound when the name does not resolve.
    The caller must connect to the addresses returned, never resolve again
    (``fetch`` pins them), or DNS could answer differently the second time.
    """
    _scheme, host, port = _split(url)
    addresses = resolve(host, port)
    if host.lower() in {h.lower().rstrip(".") for h in allow_hosts}:
        return addresses
    networks = list(allow_networks)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        reason = why_blocked(ip)
        if reason is None or _in_networks(ip, networks):
            continue
        subject = address if host.strip("[]").lower() == address.lower() else f"{host} resolves to {address}, which"
        logger.info("refused %s: %s is %s", url, address, reason)
        raise BlockedAddress(f"{subject} is {reason}; {_ADVICE}", address)
    return addresses
