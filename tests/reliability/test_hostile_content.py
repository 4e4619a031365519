"""Item 10 (ingest and email): script, handlers, javascript:/data: links, SVG and text/plain markup
in titles, summaries, authors and names are inert in the bulletins people receive.

The web archive, Atom feed and CSP side is tests/reliability/test_web_security.py.
"""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

from awareness import pipeline
from relworld import NOW, html_of, make_world, text_of
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route

ATTACKS = [
    "<script>alert('t')</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(2)><script>alert(3)</script></svg>",
    "<a href=\"javascript:alert(4)\">click</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCg1KTwvc2NyaXB0Pg==\">data</a>",
    "<iframe src=\"https://evil.example/\"></iframe>",
    "<div style=\"background:url(javascript:alert(6))\">styled</div>",
    "&lt;script&gt;alert(7)&lt;/script&gt;",
]
HOSTILE = " ".join(ATTACKS)


def atom_feed() -> bytes:
    when = (NOW - timedelta(hours=3)).isoformat()
    entries = f"""
    <entry><title type="html">Frailty pathway {HOSTILE.replace('&', '&amp;').replace('<', '&lt;')}</title>
      <link href="https://example.org/pub/1"/><id>urn:x:1</id><updated>{when}</updated>
      <author><name>Dr Falls &lt;script&gt;alert('author')&lt;/script&gt;</name></author>
      <summary type="html">{HOSTILE.replace('&', '&amp;').replace('<', '&lt;')} Frailty and falls services.</summary>
    </entry>
    <entry><title type="text">Frailty text title &lt;script&gt;alert(8)&lt;/script&gt;</title>
      <link href="javascript:alert(9)"/><id>urn:x:2</id><updated>{when}</updated>
      <content type="text">Plain text about frailty carrying &lt;script&gt;alert(10)&lt;/script&gt; and
        &lt;img src=x onerror=alert(11)&gt; markup.</content>
    </entry>
    <entry><title>Frailty in XHTML</title><link href="data:text/html,&lt;script&gt;alert(12)&lt;/script&gt;"/>
      <id>urn:x:3</id><updated>{when}</updated>
      <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Falls and frailty
        <script>alert(13)</script><svg xmlns="http://www.w3.org/2000/svg" onload="alert(14)"/>
        <a href="javascript:alert(15)" onclick="alert(16)">x</a></div></content>
    </entry>"""
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Feed &lt;script&gt;alert('feed')&lt;/script&gt;</title><id>urn:x</id>"
            f"<updated>{when}</updated>{entries}</feed>").encode()


class _Audit(HTMLParser):
    """Every element and attribute of an HTML document, to look for anything active."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.handlers: list[str] = []
        self.urls: list[str] = []
        self.styles: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag}.{name}")
            if name in ("href", "src", "action", "formaction", "xlink:href", "background", "poster"):
                self.urls.append(value or "")
            if name == "style":
                self.styles.append(value or "")


def test_hostile_markup_is_inert_in_the_email_bulletin(tmp_path: Path, http_server: LoopbackHTTPServer,
                                                       smtp_server: LoopbackSMTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(atom_feed(), content_type="application/atom+xml")
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url,
                       source_names={"policy": "Policy <script>alert('name')</script> <b onmouseover=x>feed</b>"})
    ctx = world.context()
    report = pipeline.run(ctx, now=NOW)
    assert report.ok and report.gather.new_items == 3
    stored = ctx.store.items_since(NOW - timedelta(days=2))
    for item in stored:                                           # sanitised at ingest
        for text in (item.title, item.summary, *item.authors):
            assert "<" not in text and "script>" not in text.lower(), f"markup left in {text!r}"
            assert "onerror" not in text and "javascript:" not in text, text
    assert {i.link for i in stored} == {"https://example.org/pub/1", ""}, "javascript: and data: links dropped"

    message = smtp_server.to("alice@example.org")[0]
    html = html_of(message)
    audit = _Audit()
    audit.feed(html)
    active = audit.tags & {"script", "svg", "iframe", "object", "embed", "form", "math", "base", "img"}
    assert not active, sorted(active)
    assert audit.handlers == [], audit.handlers
    assert all(u.startswith(("https://", "http://", "mailto:", "#")) for u in audit.urls), audit.urls
    assert not any("javascript" in s.lower() or "url(" in s.lower() for s in audit.styles)
    assert "alert(" not in html or "&lt;" in html, "any script text left is escaped text, never markup"
    text = text_of(message)
    assert "javascript:" not in text and "data:text" not in text
    assert "Frailty pathway" in text and "Frailty text title" in text and "Frailty in XHTML" in text
    assert "Policy" in text, "the source's name is still shown, as text"
    ctx.close()
