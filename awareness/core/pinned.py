"""Connections only to the addresses the address guard checked (DNS rebinding cannot slip past).

Shared by every outgoing request Awareness makes to an address it did not choose itself:
gathering feeds and pages (gather/fetch.py) and posting to webhooks (deliver/webhook.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable

from .lazy import httpx

if TYPE_CHECKING:
    import httpcore

Pins = dict[str, list[str]]   # host as httpx sends it -> the addresses netguard resolved and allowed


@lru_cache(maxsize=1)
def _pinned_backend_class() -> type[httpcore.AsyncNetworkBackend]:
    """The pinned backend's class, defined when the first request goes out: httpcore and httpx
    cost ~40 ms to import, which commands that never fetch should not pay."""
    import httpcore

    class _PinnedBackend(httpcore.AsyncNetworkBackend):
        """Connects only to addresses the guard has checked, never resolving a name again.

        Without this, httpx would ask DNS a second time when it connects, and a
        hostile DNS server could answer "public" to the check and "127.0.0.1" to
        the connection (DNS rebinding).  httpcore still sends the host name in the
        Host header and as the TLS server name, and verifies the certificate
        against it, because only the socket's address is swapped.
        """

        def __init__(self, pins: Pins) -> None:
            self._pins = pins
            self._inner = httpcore.AnyIOBackend()

        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None,
                              socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
            addresses = self._pins.get(host.lower())
            if not addresses:  # fail closed: nothing unchecked is ever connected to
                raise httpcore.ConnectError(f"{host} was not checked by the address guard")
            failure: Exception | None = None
            for address in addresses:
                try:
                    return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                         socket_options=socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                    failure = e
            assert failure is not None
            raise failure

        async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                      socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
            raise httpcore.ConnectError("unix sockets are never fetched")

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    return _PinnedBackend


def pinned_transport(limits: httpx.Limits, pins: Pins) -> httpx.AsyncHTTPTransport:
    """An httpx transport that connects only to the pinned addresses."""
    import httpcore  # already loaded by httpx here; imported late for the same reason as httpx

    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    pool = transport._pool
    # httpx has no public switch for the network backend; the version is pinned (<0.29) and
    # tests/reliability/test_ssrf.py fails loudly should this attribute ever move.
    if not (isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend")):
        raise RuntimeError("this httpx cannot pin addresses; install the httpx version pyproject.toml names")
    pool._network_backend = _pinned_backend_class()(pins)
    return transport
