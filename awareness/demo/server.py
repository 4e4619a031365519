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


class DemoServer:
    """A threaded HTTP server on 127.0.0.1 serving every demo feed at /feeds/<id>.xml."""

    def __init__(self, feeds: list[dict[str, Any]] | None = None) -> None:
        self.feeds = {f["id"]: f for f in (feeds if feeds is not None else load_demo_feeds())}
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
