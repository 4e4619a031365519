"""Conditional GETs of many sources at once, bounded in every direction.

Each request gets an overall deadline (httpx's timeouts are per read, so a
server dripping a byte a second would never time out), a cap on the decoded
body (so a gzip bomb stops at the cap, not in memory), at most five
redirects each checked by ``netguard``, and a slot in a global and a
per-host semaphore so one slow publisher cannot take every connection.
One failing source never affects another: its slot holds a ``FetchError``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Callable
from urllib.parse import urljoin, urlsplit

from ..core import netguard
from ..core.lazy import httpx  # loaded when the first request goes out (issue 19)
from ..core.pinned import Pins, pinned_transport
from ..config.settings import Settings
from ..core.errors import FetchError
from ..core.models import FetchResult

logger = logging.getLogger(__name__)

ACCEPT = "application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 10.0
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
PERMANENT_STATUSES = {301, 308}
# A server may ask us to wait, but not for ever: a longer Retry-After would quietly switch the source off.
MAX_RETRY_AFTER = 86400.0

OnResult = Callable[["FetchRequest", "FetchResult | FetchError"], None]


@dataclass
class FetchRequest:
    """One source to fetch, with the validators from its last successful fetch."""

    source_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


def fetch_all(requests: list[FetchRequest], settings: Settings,
              on_result: OnResult | None = None) -> list[FetchResult | FetchError]:
    """``fetch_many`` for callers without an event loop (the CLI, the scheduler)."""
    return asyncio.run(fetch_many(requests, settings, on_result))


async def fetch_many(requests: list[FetchRequest], settings: Settings,
                     on_result: OnResult | None = None) -> list[FetchResult | FetchError]:
    """Fetch every request; results come back in request order and nothing is raised.

    ``on_result`` is called as each one finishes (for progress output); an
    exception in it is logged and does not stop the batch.
    """
    # Keep the pool about as large as the semaphore: httpx's async pool burns CPU
    # when hundreds of requests queue inside it (shared/PERFORMANCE.md).
    limits = httpx.Limits(max_connections=settings.fetch_concurrency,
                          max_keepalive_connections=settings.fetch_concurrency)
    timeout = httpx.Timeout(settings.fetch_timeout, connect=min(CONNECT_TIMEOUT, settings.fetch_timeout))
    headers = {"User-Agent": settings.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
    everyone = asyncio.Semaphore(settings.fetch_concurrency)
    per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(settings.fetch_per_host))

    # trust_env=False: an HTTP(S)_PROXY variable must not route around the address guard.
    pins: Pins = {}
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, transport=pinned_transport(limits, pins),
                                 timeout=timeout, headers=headers) as client:
        async def one(request: FetchRequest) -> FetchResult | FetchError:
            host = (urlsplit(request.url).hostname or "").lower()
            try:
                # Host slot first, so a request waiting on a busy host holds no global slot.
                async with per_host[host], everyone:
                    result: FetchResult | FetchError = await _fetch_one(client, request, settings, pins)
            except FetchError as e:
                result = e
            except Exception as e:  # a bug here must not sink the other sources
                logger.exception("unexpected error fetching %s", request.url)
                result = FetchError(request.source_id, request.url, f"unexpected error: {e!r}")
            if isinstance(result, FetchError):
                logger.debug("fetch failed: %s", result)
            if on_result is not None:
                try:
                    on_result(request, result)
                except Exception:
                    logger.exception("on_result callback failed for %s", request.url)
            return result

        return list(await asyncio.gather(*(one(r) for r in requests)))


async def _fetch_one(client: httpx.AsyncClient, request: FetchRequest, settings: Settings,
                     pins: Pins) -> FetchResult:
    started = time.monotonic()
    try:
        async with asyncio.timeout(settings.fetch_timeout):
            result = await _follow(client, request, settings, pins)
    except TimeoutError:
        raise _error(request, f"no complete answer within {settings.fetch_timeout:g} s (the overall "
                              "deadline); the server is slow or stalled, try again later") from None
    result.elapsed_s = time.monotonic() - started
    logger.debug("GET %s -> %s (%d bytes, %.2f s)", request.url, result.status,
                len(result.content or b""), result.elapsed_s)
    return result


async def _follow(client: httpx.AsyncClient, request: FetchRequest, settings: Settings,
                  pins: Pins) -> FetchResult:
    """The redirect chain, one guarded hop at a time."""
    conditional: dict[str, str] = {}
    if request.etag:
        conditional["If-None-Match"] = request.etag
    if request.last_modified:
        conditional["If-Modified-Since"] = request.last_modified
    url = request.url
    chain = [url]
    permanent = True
    while True:
        await _guard(request, url, settings, pins)  # the connection goes to the addresses checked here
        try:
            async with client.stream("GET", url, headers=conditional) as response:
                status = response.status_code
                if status in REDIRECT_STATUSES and response.headers.get("location"):
                    url = urljoin(str(response.url), response.headers["location"].strip())
                    permanent = permanent and status in PERMANENT_STATUSES
                    chain.append(url)
                    if len(chain) - 1 > MAX_REDIRECTS or url in chain[:-1]:
                        raise _error(request, _too_many(chain))
                    logger.debug("%s redirects (%d) to %s", chain[-2], status, url)
                    continue
                if status == 304:
                    return _result(request, response, None, chain, permanent)
                if not 200 <= status < 300:
                    raise _http_error(request, response)
                body = await _read_capped(request, response, settings.fetch_max_bytes)
                return _result(request, response, body, chain, permanent)
        except httpx.TimeoutException as e:
            raise _error(request, _timeout_text(e, settings)) from e
        except httpx.HTTPError as e:
            raise _error(request, f"the connection failed ({type(e).__name__}: {e or 'no detail'}); "
                                  "the server may be down, try again later") from e


async def _guard(request: FetchRequest, url: str, settings: Settings, pins: Pins) -> None:
    try:
        addresses = await asyncio.to_thread(netguard.check_url, url, allow_networks=settings.allowed_networks(),
                                            allow_hosts=settings.allowed_hosts())
        host = httpx.URL(url).raw_host.decode("ascii").lower()
    except netguard.BlockedAddress as e:
        raise _error(request, f"refused: {e}") from None
    except netguard.HostNotFound as e:
        raise _error(request, str(e)) from None
    except (httpx.InvalidURL, UnicodeError) as e:
        raise _error(request, f"'{url}' is not a valid URL ({e})") from None
    pins[host] = addresses


def _result(request: FetchRequest, response: httpx.Response, body: bytes | None,
            chain: list[str], permanent: bool) -> FetchResult:
    redirected = len(chain) > 1
    return FetchResult(
        source_id=request.source_id, url=request.url, status=response.status_code, content=body,
        content_type=response.headers.get("content-type", ""),
        etag=response.headers.get("etag") or (request.etag if response.status_code == 304 else None),
        last_modified=response.headers.get("last-modified")
        or (request.last_modified if response.status_code == 304 else None),
        final_url=str(response.url), permanent_redirect=redirected and permanent)


# ------------------------------------------------------------------ body

class _Decoder:
    """gzip/deflate decoding that never produces more than the cap, whatever the ratio."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._first = True
        self._z = self._new()

    def _new(self) -> "zlib._Decompress | None":
        if self.encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
        if self.encoding == "deflate":
            return zlib.decompressobj()
        return None

    def _next_member(self) -> bool:
        assert self._z is not None
        return self._z.eof and self.encoding != "deflate" and self._z.unused_data[:2] == b"\x1f\x8b"

    def decode(self, data: bytes, room: int) -> bytes:
        """Up to room+1 bytes of decoded output (room+1 tells the caller it overflowed)."""
        if self._z is None:
            return data[:room + 1]
        try:
            out = self._z.decompress(data, room + 1)
        except zlib.error:
            if not (self._first and self.encoding == "deflate"):
                raise
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
            out = self._z.decompress(data, room + 1)
        self._first = False
        while len(out) <= room and (self._z.unconsumed_tail or self._next_member()):
            if self._z.eof:  # concatenated gzip members are one body (RFC 1952)
                rest, self._z = self._z.unused_data, self._new()
                assert self._z is not None
            else:
                rest = self._z.unconsumed_tail
            out += self._z.decompress(rest, room + 1 - len(out))
        return out


async def _read_capped(request: FetchRequest, response: httpx.Response, cap: int) -> bytes:
    encoding = response.headers.get("content-encoding", "identity").strip().lower() or "identity"
    too_big = _error(request, f"the response is larger than the {cap / 1_000_000:g} MB cap "
                              "(fetch_max_bytes); this is unlikely to be a feed")
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        body = bytearray()
        async for chunk in response.aiter_bytes():  # httpx decodes what it knows
            body += chunk
            if len(body) > cap:
                raise too_big
        return bytes(body)
    declared = response.headers.get("content-length", "")
    if encoding == "identity" and declared.isdigit() and int(declared) > cap:
        raise too_big
    decoder = _Decoder(encoding)
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            body += decoder.decode(chunk, cap - len(body))
            if len(body) > cap:
                raise too_big
    except zlib.error as e:
        raise _error(request, f"the {encoding}-compressed body is corrupt ({e})") from None
    return bytes(body)


# ------------------------------------------------------------------ errors

def _error(request: FetchRequest, problem: str, *, retry_after: float | None = None,
           permanent: bool = False) -> FetchError:
    return FetchError(request.source_id, request.url, problem, retry_after=retry_after, permanent=permanent)


def _http_error(request: FetchRequest, response: httpx.Response) -> FetchError:
    status = response.status_code
    try:
        phrase = response.reason_phrase or HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    problem = f"HTTP {status} {phrase}".rstrip()
    retry_after = parse_retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
    advice = {
        404: "check the source's URL; the feed may have moved",
        410: "the publisher has removed this feed; remove or replace the source",
        401: "the feed needs a login, which Awareness does not support",
        403: "the server refused access; it may block automated readers",
        429: "the server asks us to slow down",
    }.get(status, "the server had a problem; this is retried next time" if status >= 500 else "")
    if retry_after is not None:
        advice = (advice + "; " if advice else "") + f"retry after {retry_after:g} s"
    if advice:
        problem += f" ({advice})"
    return _error(request, problem, retry_after=retry_after, permanent=status == 410)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now (at most a day): a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds()), MAX_RETRY_AFTER)


def _timeout_text(e: httpx.TimeoutException, settings: Settings) -> str:
    if isinstance(e, httpx.ConnectTimeout):
        return f"could not connect within {min(CONNECT_TIMEOUT, settings.fetch_timeout):g} s; the server may be down"
    if isinstance(e, httpx.PoolTimeout):
        return "no free connection in time; too many sources are being fetched at once"
    return f"the server stopped answering for {settings.fetch_timeout:g} s; try again later"


def _too_many(chain: list[str]) -> str:
    kind = "a redirect loop" if chain[-1] in chain[:-1] else f"more than {MAX_REDIRECTS} hops"
    return f"too many redirects ({kind}: {' -> '.join(chain)}); use the final URL of the feed"
