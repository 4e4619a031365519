"""sources.yaml as OPML 2.0, for a feed reader or another Awareness (``sources import-opml`` reads it back).

Only feeds go in: a spider source is a web page without a feed, which a feed
reader could not follow.  Each feed's tags are kept in OPML's ``category``
attribute.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import quoteattr

from ..core.models import Source


def sources_opml(sources: list[Source], *, title: str, now: datetime) -> str:
    """The feeds among ``sources`` as one OPML document."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', '<opml version="2.0">', "<head>",
             f"<title>{_text(title)}</title>", f"<dateCreated>{format_datetime(now)}</dateCreated>", "</head>",
             "<body>"]
    for s in sources:
        if s.kind != "feed":
            continue
        name = s.name or s.id
        category = f" category={quoteattr(','.join(s.tags))}" if s.tags else ""
        lines.append(f'<outline type="rss" text={quoteattr(name)} title={quoteattr(name)} '
                     f"xmlUrl={quoteattr(s.url)}{category}/>")
    lines += ["</body>", "</opml>"]
    return "\n".join(lines) + "\n"


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
