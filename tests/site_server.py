"""Helpers for the spider and full-text tests: the fixture site on a loopback server, and PDFs.

The site under tests/fixtures/site is shaped like a think tank's publications
pages (cards, pagination, a robots.txt keeping crawlers out of /private/, and
a redesigned page); PDFs are written here, byte by byte, so no binary lives in
the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from awareness.config.settings import Settings
from awareness.gather.crawl import crawl_into_store, override_settings
from awareness.core.models import Source
from awareness.store.store import Store
from fixture_dates import shift_dates
from servers import LoopbackHTTPServer, Route

SITE = Path(__file__).resolve().parent / "fixtures" / "site"
FAST = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY_JITTER": 0}   # tests only
TYPES = {".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8",
         ".json": "application/json", ".pdf": "application/pdf"}


def site_text(path: str) -> str:
    """A fixture page as the site serves it today (its dates moved to today, see fixture_dates)."""
    return shift_dates((SITE / path).read_text(encoding="utf-8"))


def serve_site(server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    for path in SITE.rglob("*"):
        if path.is_file():
            server.routes["/" + path.relative_to(SITE).as_posix()] = Route(
                site_text(path.relative_to(SITE).as_posix()).encode("utf-8"),
                content_type=TYPES.get(path.suffix, "application/octet-stream"))
    return server


def listing_source(url: str, source_id: str = "thinktank", **settings: Any) -> Source:
    """The entry an admin would write for the fixture site's publications pages."""
    values: dict[str, Any] = dict(id=source_id, name="An Example Health Think Tank", kind="spider", spider="listing",
                                  url=url, item="article.card", title="h3 a::text", link="h3 a::attr(href)",
                                  date="time::attr(datetime)", summary="p.summary::text",
                                  next="a[rel=next]::attr(href)", max_pages=5)
    values.update(settings)
    return Source(**values)


def crawl(store: Store, settings: Settings, *sources: Source) -> Any:
    store.sync_sources(list(sources))
    with override_settings(**FAST):
        return crawl_into_store(store, settings, list(sources))


def make_pdf(pages: list[list[str]]) -> bytes:
    """A small valid PDF, one page per list of lines (Helvetica, no compression)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    font_id = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for lines in pages:
        text = ["BT /F1 11 Tf 14 TL 56 780 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            text.append(f"({escaped}) Tj T*")
        text.append("ET")
        stream = "\n".join(text).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content_id} 0 R "
                       f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
