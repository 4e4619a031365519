"""What every Awareness spider shares: its source, what it already has, and its health.

A spider is given one source (its sources.yaml entry) and the links it
gathered before.  It stops paging as soon as a page shows an entry it
already has (the site lists newest first), and it keeps a health record
(pages read, entries found, warnings, the error that stopped it) that
``awareness.gather.crawl`` stores as the source's health.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import DNSLookupError
from twisted.python.failure import Failure

from awareness.gather.normalise import canonical_link


class AwarenessSpider(scrapy.Spider):
    source: dict[str, Any]

    def __init__(self, source: dict[str, Any] | None = None, known: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source = source or {}
        self.source_id: str = self.source.get("id", self.name)
        self.known = {canonical_link(k) for k in known}
        self.max_pages = int(self.source.get("max_pages") or 3)
        self.health: dict[str, Any] = {"pages": 0, "entries": 0, "new": 0, "known": 0, "stopped_at_known": False,
                                       "warnings": [], "error": None}

    # ------------------------------------------------------------ requests

    def page_request(self, url: str, page: int, **meta: Any) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_page, errback=self.failed, dont_filter=page == 1,
                              meta={"page": page, "awareness_on_refused": self.refused, **meta})

    async def start(self) -> Any:
        yield self.page_request(self.source["url"], 1)

    def parse_page(self, response: Response) -> Iterator[Any]:  # pragma: no cover - each spider has its own
        raise NotImplementedError

    # ------------------------------------------------------------ what happened

    def is_known(self, link: str) -> bool:
        return canonical_link(link) in self.known

    def warn(self, message: str) -> None:
        if message not in self.health["warnings"]:
            self.logger.warning("%s: %s", self.source_id, message)
            self.health["warnings"].append(message)

    def unreadable(self, page: int, problem: str, *, later: str | None = None) -> None:
        """A page that could not be read: on the first page the crawl failed; later, only a warning."""
        if page == 1:
            self.health["error"] = self.health["error"] or problem
        else:
            self.warn(later or problem)

    def refused(self, url: str, problem: str) -> None:
        self.health["error"] = self.health["error"] or f"{problem} ({url})"

    def failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        page = request.meta.get("page", 1)
        if failure.check(HttpError):
            response = failure.value.response
            problem = f"HTTP {response.status} from {response.url}"
        elif failure.check(IgnoreRequest):
            text = str(failure.value)
            if "robots" in text.lower():
                problem = f"robots.txt does not allow {request.url}; the site asks crawlers to keep out of it"
            else:
                problem = text if text.startswith("refused") or "host" in text else f"{text} ({request.url})"
        elif failure.check(DNSLookupError, CannotResolveHostError):
            problem = (f"refused or not found: {urlsplit(request.url).hostname} did not resolve to an address that "
                       "may be fetched (private and loopback addresses are refused; add it to fetch_allow if this "
                       "is an intranet source you trust)")
        else:
            problem = f"{failure.type.__name__}: {failure.getErrorMessage()} ({request.url})"
        self.unreadable(page, problem, later=f"page {page} could not be read: {problem}")
