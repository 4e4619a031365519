"""The address guard for Scrapy: the same rules as the feed fetcher (awareness.core.netguard).

``NetguardMiddleware`` refuses a request (the first, each redirect, and the
robots.txt request alike, since all pass through downloader middlewares)
whose host is private, loopback, link-local or otherwise not public, unless
``fetch_allow`` names it.  ``GuardedResolver`` checks again at the moment of
connecting and hands Twisted only the address it checked, so DNS cannot
answer differently between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any, Sequence

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, threads
from twisted.internet.interfaces import IResolverSimple
from twisted.internet.base import ReactorBase
from zope.interface import implementer

from awareness.core import netguard

logger = logging.getLogger(__name__)


class Allowance:
    """fetch_allow split into host names and networks, as awareness.config.settings does."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.networks, self.hosts = netguard.split_allow(entries)

    def covers(self, ip: netguard.IPAddress) -> bool:
        """The address (or the IPv4 address hidden in it) is inside an allowed network."""
        inner = netguard.embedded_ipv4(ip)
        return any(c in net for c in (ip, inner) if c is not None for net in self.networks if c.version == net.version)

    @classmethod
    def from_settings(cls, settings: Any) -> "Allowance":
        return cls(settings.getlist("AWARENESS_FETCH_ALLOW"))


class NetguardMiddleware:
    def __init__(self, allowance: Allowance) -> None:
        self.allowance = allowance

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "NetguardMiddleware":
        return cls(Allowance.from_settings(crawler.settings))

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        try:
            await maybe_deferred_to_future(threads.deferToThread(
                netguard.check_url, request.url, allow_networks=self.allowance.networks,
                allow_hosts=self.allowance.hosts))
        except netguard.BlockedAddress as e:
            _report(request, f"refused: {e}")
            raise IgnoreRequest(f"refused: {e}") from None
        except netguard.HostNotFound as e:
            _report(request, str(e))
            raise IgnoreRequest(str(e)) from None


def _report(request: Request, problem: str) -> None:
    """Tell the spider, so the source's health shows why nothing was gathered."""
    logger.warning("%s: %s", request.url, problem)
    on_refused = request.meta.get("awareness_on_refused")
    if callable(on_refused):
        on_refused(request.url, problem)


@implementer(IResolverSimple)
class GuardedResolver:
    """Resolves a name and returns one address that passes the guard, or fails."""

    def __init__(self, reactor: ReactorBase, allowance: Allowance) -> None:
        self.reactor = reactor
        self.allowance = allowance

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> "GuardedResolver":
        return cls(reactor, Allowance.from_settings(crawler.settings))

    def install_on_reactor(self) -> None:
        self.reactor.installResolver(self)  # type: ignore[arg-type]  # zope interface, declared above

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),  # type: ignore[arg-type]
                                         self._checked, name)

    def _checked(self, name: str) -> str:
        host = name.strip("[]").rstrip(".")
        try:
            addresses = netguard.resolve(host, 80)
        except netguard.HostNotFound as e:
            raise socket.gaierror(str(e)) from None
        allowed_by_name = host.lower() in self.allowance.hosts
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if ip.version != 4:
                continue  # Twisted's simple resolver path connects over IPv4
            if allowed_by_name or netguard.why_blocked(ip) is None or self.allowance.covers(ip):
                return address
        raise socket.gaierror(f"refused: {host} resolves only to addresses that may not be fetched "
                              f"({', '.join(addresses)}); add it to fetch_allow if this is an intranet source you trust")
