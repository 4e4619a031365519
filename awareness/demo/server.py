"""Serve the bundled demo feeds on 127.0.0.1, dated relative to today.

The demo content lives in ``feeds.yaml`` as plain items; this module renders
each feed as RSS 2.0 or Atom 1.0 at request time so that `make demo` always
shows a fresh fortnight, whenever it is run.  One extra path answers with a
web page instead of a feed, so the demo also shows how a broken source is
reported without stopping the others.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

FEEDS_FILE = Path(__file__).with_name("feeds.yaml")
SITE_FILE = Path(__file__).with_name("site.yaml")   # a site without a feed, for the listing spider
BROKEN_PATH = "/feeds/demo-moved.xml"


def load_demo_feeds(path: Path = FEEDS_FILE) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return list(yaml.safe_load(f)["feeds"])


def _item_time(now: datetime, days_ago: float, index: int) -> datetime:
    # Spread items through the working day so ordering is stable and realistic.
    base = (now - timedelta(days=float(days_ago))).replace(hour=9, minute=0, second=0, microsecond=0)
    return min(base + timedelta(minutes=37 * (index % 12)), now)


def render_rss(feed: dict[str, Any], now: datetime, site: str) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
           f"<title>{escape(feed['name'])}</title><link>{escape(site)}</link>",
           f"<description>{escape(feed['name'])} (Awareness demo feed)</description>",
           f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>"]
    for i, item in enumerate(feed.get("items", [])):
        when = _item_time(now, item.get("days_ago", 0), i)
        out.append("<item>")
        out.append(f"<title>{escape(item['title'])}</title><link>{escape(item['link'])}</link>")
        out.append(f'<guid isPermaLink="true">{escape(item["link"])}</guid>')
        out.append(f"<description>{escape(item.get('summary', ''))}</description>")
        out.append(f"<pubDate>{format_datetime(when)}</pubDate>")
        if item.get("author"):
            out.append(f"<dc:creator>{escape(item['author'])}</dc:creator>")
        for cat in item.get("categories", []):
            out.append(f"<category>{escape(cat)}</category>")
        out.append("</item>")
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


def render_atom(feed: dict[str, Any], now: datetime, site: str) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<feed xmlns="http://www.w3.org/2005/Atom">',
           f"<title>{escape(feed['name'])}</title>",
           f'<link rel="alternate" href="{escape(site)}"/>',
           f"<id>tag:awareness.demo,2026:{escape(feed['id'])}</id>",
           f"<updated>{now.isoformat()}</updated>"]
    for i, item in enumerate(feed.get("items", [])):
        when = _item_time(now, item.get("days_ago", 0), i)
        kind = "html" if item.get("html") else "text"
        out.append("<entry>")
        out.append(f"<title>{escape(item['title'])}</title>")
        out.append(f'<link rel="alternate" type="text/html" href="{escape(item["link"])}"/>')
        out.append(f"<id>{escape(item['link'])}</id>")
        out.append(f"<updated>{when.isoformat()}</updated><published>{when.isoformat()}</published>")
        out.append(f'<summary type="{kind}">{escape(item.get("summary", ""))}</summary>')
        if item.get("author"):
            out.append(f"<author><name>{escape(item['author'])}</name></author>")
        for cat in item.get("categories", []):
            out.append(f'<category term="{escape(cat)}"/>')
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _long_date(when: Any) -> str:
    """'14 March 2027' in English whatever the locale."""
    return f"{when.day} {_MONTHS[when.month - 1]} {when.year}"


def load_demo_site(path: Path = SITE_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return dict(yaml.safe_load(f))


class DemoSite:
    """A think tank with no feed: a paginated publications listing and a page per publication."""

    PREFIX = "/site/"

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.entries = list(data["entries"])
        self.per_page = int(data.get("per_page", 10))

    def source_entry(self, origin: str) -> dict[str, Any]:
        """The sources.yaml entry an admin would write for this site."""
        return {"id": self.data["id"], "name": self.data["name"], "kind": "spider", "spider": "listing",
                "url": f"{origin}{self.PREFIX}publications.html", "item": "article.publication",
                "title": "h2 a::text", "link": "h2 a::attr(href)", "date": "time::attr(datetime)",
                "summary": "p.standfirst::text", "next": "a[rel=next]::attr(href)", "max_pages": 3,
                "tags": list(self.data.get("tags", []))}

    def respond(self, path: str, now: datetime) -> tuple[int, str, bytes]:
        name, _, query = path[len(self.PREFIX):].partition("?")
        if name == "publications.html":
            page = int(query.partition("page=")[2] or 1) if query.partition("page=")[2].isdigit() else 1
            return 200, "text/html; charset=utf-8", self.listing(page, now)
        for entry in self.entries:
            if name == f"{entry['slug']}.html":
                return 200, "text/html; charset=utf-8", self.document(entry, now)
        return 404, "text/plain", b"not found"

    def _closes(self, entry: dict[str, Any], now: datetime) -> str:
        when = (now + timedelta(days=int(entry.get("closes_in_days", 0)))).date()
        return _long_date(when)

    def listing(self, page: int, now: datetime) -> bytes:
        start = (page - 1) * self.per_page
        chosen = self.entries[start:start + self.per_page]
        cards = []
        for i, entry in enumerate(chosen):
            when = _item_time(now, entry.get("days_ago", 0), start + i)
            summary = f'<p class="standfirst">{escape(entry["summary"])}</p>' if entry.get("summary") else ""
            cards.append(f'<article class="publication"><h2><a href="{entry["slug"]}.html">{escape(entry["title"])}'
                         f'</a></h2><time datetime="{when.date().isoformat()}">{_long_date(when)}</time>'
                         f"{summary}</article>")
        more = start + self.per_page < len(self.entries)
        nav = f'<a rel="next" href="publications.html?page={page + 1}">Older publications</a>' if more else ""
        return (f"<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>Publications | "
                f"{escape(self.data['name'])}</title></head><body><header><nav><a href=\"/\">Home</a></nav></header>"
                f"<main><h1>Publications</h1>{''.join(cards)}<nav class=\"pager\">{nav}</nav></main>"
                f"<footer><p>We use cookies to improve this site.</p></footer></body></html>").encode("utf-8")

    def document(self, entry: dict[str, Any], now: datetime) -> bytes:
        closes = self._closes(entry, now)
        paragraphs = entry.get("body") or [entry.get("summary", "")]
        body = "".join(f"<p>{escape(p.replace('{closes}', closes))}</p>" for p in paragraphs)
        return (f"<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>{escape(entry['title'])}"
                f"</title></head><body><header><a href=\"#main\">Skip to main content</a><nav><a href=\"/\">Home</a> "
                f"<a href=\"publications.html\">Publications</a></nav></header><main id=\"main\"><article>"
                f"<h1>{escape(entry['title'])}</h1>{body}</article></main><footer><p>Copyright "
                f"{escape(self.data['name'])}. All rights reserved.</p></footer></body></html>").encode("utf-8")


class DemoServer:
    """A threaded HTTP server on 127.0.0.1 serving every demo feed at /feeds/<id>.xml."""

    def __init__(self, feeds: list[dict[str, Any]] | None = None) -> None:
        self.feeds = {f["id"]: f for f in (feeds if feeds is not None else load_demo_feeds())}
        self.site = DemoSite(load_demo_site())
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, ctype, body = server.respond(self.path)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, feed_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/feeds/{feed_id}.xml"

    def respond(self, path: str) -> tuple[int, str, bytes]:
        now = datetime.now(timezone.utc)
        if path.startswith(DemoSite.PREFIX):
            return self.site.respond(path, now)
        if path == BROKEN_PATH:
            page = b"<!doctype html><html><head><title>We have moved</title></head><body>Page moved.</body></html>"
            return 200, "text/html; charset=utf-8", page
        name = path.rsplit("/", 1)[-1].removesuffix(".xml")
        feed = self.feeds.get(name)
        if feed is None or not path.startswith("/feeds/"):
            return 404, "text/plain", b"not found"
        site = f"http://127.0.0.1:{self.port}/"
        if feed.get("format", "rss") == "atom":
            return 200, "application/atom+xml; charset=utf-8", render_atom(feed, now, site)
        return 200, "application/rss+xml; charset=utf-8", render_rss(feed, now, site)

    def sources_yaml(self) -> str:
        """A sources.yaml pointing at this server: the demo's feeds plus one that fails."""
        entries = []
        for feed in self.feeds.values():
            entries.append({"id": feed["id"], "name": feed["name"], "kind": "feed", "url": self.url(feed["id"]),
                            "tags": list(feed.get("tags", []))})
        entries.append(self.site.source_entry(f"http://127.0.0.1:{self.port}"))
        entries.append({"id": "demo-moved", "name": "A source whose feed has moved (shows error reporting)",
                        "kind": "feed", "url": f"http://127.0.0.1:{self.port}{BROKEN_PATH}", "tags": ["demo"]})
        header = "# Written by `awareness demo`: the bundled demo feeds, served on 127.0.0.1.\n"
        return header + yaml.safe_dump(entries, sort_keys=False, allow_unicode=True)

    def __enter__(self) -> "DemoServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
