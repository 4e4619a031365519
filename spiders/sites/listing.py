"""The listing spider: a page of entries, read with the selectors in sources.yaml.

A selector is CSS with Scrapy's ``::text`` and ``::attr(name)``, or XPath
after ``xpath:``; ``item`` picks each entry and the others are read inside
it.  A selector that matches nothing on a page that loaded is the sign of a
redesigned site, so it becomes the source's health warning
("selector for title matched 0 of 20 entries").
"""

from __future__ import annotations

from typing import Any, Iterator

from parsel import Selector, SelectorList
from scrapy.http import Response, TextResponse

from awareness.gather.pubinfo import parse_date

from .base import AwarenessSpider

FIELDS = ("title", "link", "date", "summary")


def select(node: Selector | TextResponse, selector: str) -> SelectorList[Selector]:
    """CSS or xpath:…; comma-separated CSS alternatives are tried in turn, the first that matches wins."""
    if selector.startswith("xpath:"):
        return node.xpath(selector[len("xpath:"):].strip())
    found: SelectorList[Selector] = SelectorList()
    for alternative in alternatives(selector):
        found = node.css(alternative)
        if found:
            return found
    return found


def alternatives(selector: str) -> list[str]:
    """'h3 a::text, h2 a::text' -> ['h3 a::text', 'h2 a::text'] (commas inside (), [] or quotes kept)."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in selector:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def text_of(found: SelectorList[Selector]) -> str:
    """Every piece of text the selector found, as one line (an element gives its whole text)."""
    parts = []
    for sel in found:
        value = sel.get() if isinstance(sel.root, str) else " ".join(sel.xpath(".//text()").getall())
        parts.append(value or "")
    return " ".join(" ".join(parts).split())


def first_of(found: SelectorList[Selector]) -> str:
    """The first non-empty value the selector found (a link or a date is one value, not a list)."""
    for sel in found:
        value = sel.get() if isinstance(sel.root, str) else " ".join(sel.xpath(".//text()").getall())
        if value and value.strip():
            return " ".join(value.split())
    return ""


class ListingSpider(AwarenessSpider):
    name = "listing"

    def parse_page(self, response: Response) -> Iterator[Any]:
        page = int(response.meta.get("page", 1))
        if not isinstance(response, TextResponse):
            problem = f"{response.url} is not a web page ({(response.headers.get('Content-Type') or b'').decode()})"
            self.unreadable(page, problem)
            return
        self.health["pages"] += 1
        nodes = select(response, self.source["item"])
        if not nodes:
            self.warn(f"selector for item matched nothing on {response.url}; the site's layout may have changed: "
                      "check the selectors in sources.yaml")
            return
        found = {f: 0 for f in FIELDS if self.source.get(f)}
        entries = []
        for node in nodes:
            entry = {f: (text_of if f in ("title", "summary") else first_of)(select(node, self.source[f]))
                     for f in found}
            for f in found:
                found[f] += bool(entry[f])
            entries.append(entry)
        empty = [f for f, hits in found.items() if hits == 0]
        if empty:
            others = f" (so did {', '.join(empty[1:])})" if empty[1:] else ""
            self.warn(f"selector for {empty[0]} matched 0 of {len(nodes)} entries{others} on {response.url}; the "
                      "site's layout may have changed: check the selectors in sources.yaml")
        self.logger.info("%s: page %d: %d entries (%s)", self.source_id, page, len(nodes), response.url)
        reached_known = False
        for entry in entries:
            if not entry.get("title") or not entry.get("link"):
                continue
            link = response.urljoin(entry["link"])
            self.health["entries"] += 1
            if self.is_known(link):
                reached_known = True
                continue
            yield {"source_id": self.source_id, "guid": link, "link": link, "title": entry["title"],
                   "summary": entry.get("summary", ""), "published": _iso(parse_date(entry.get("date", "")))}
        if reached_known:
            self.health["stopped_at_known"] = True
            return
        next_selector = self.source.get("next")
        if next_selector and page < self.max_pages:
            href = first_of(select(response, next_selector))
            if href:
                yield self.page_request(response.urljoin(href), page + 1)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
