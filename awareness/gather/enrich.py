"""After gathering, before matching: full text for thin items, and what each item is.

``enrich_new_items`` visits each new item once (``enriched_at`` marks it):
a thin item's linked document is fetched and its text stored, its summary
becomes the document's first meaningful sentences, and every item gets a
publication type, organisation and (for consultations) closing date where
they can be told.  ``for_matching`` lets the matcher read that text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Sequence

import sqlalchemy as sa

from . import fulltext, pubinfo
from ..config.settings import Settings
from ..core.errors import FetchError
from ..core.models import StoredItem
from .normalise import clean_text, is_web_link
from ..store.store import Store
from ..store.schema import items, utcnow

logger = logging.getLogger(__name__)

WINDOW = timedelta(days=3)   # only items first seen this recently (older ones predate the feature)
MAX_DOCUMENTS = 100          # documents fetched per run at most: the rest wait for the next run
MATCH_CHARS = 1500           # how much of the full text the matcher reads


@dataclass
class EnrichReport:
    items: int = 0
    fetched: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)   # link -> why its document could not be read


def save_hints(store: Store, item_id: int, *, pub_type: str | None = None, organisation: str | None = None) -> None:
    """What a spider knew about an item (GOV.UK's document type, the publisher), kept before enrichment."""
    values = {k: v for k, v in (("pub_type", pubinfo.pub_type_of("", hint=pub_type) if pub_type else None),
                                ("organisation", clean_text(organisation or "", 200) or None)) if v}
    if values:
        with store.engine.begin() as conn:
            conn.execute(items.update().where(items.c.id == item_id).values(**values))


def enrich_new_items(store: Store, settings: Settings, *, now: datetime | None = None) -> EnrichReport:
    """Fetch thin items' documents once and record type, organisation and closing date for new items."""
    now = now or utcnow()
    q = (sa.select(items.c.id, items.c.link, items.c.title, items.c.summary, items.c.published,
                   items.c.pub_type, items.c.organisation)
         .where(items.c.enriched_at.is_(None), items.c.first_seen >= now - WINDOW)
         .order_by(items.c.first_seen.desc(), items.c.id).limit(2000))
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    report = EnrichReport(items=len(rows))
    if not rows:
        return report
    thin = [r.link for r in rows if fulltext.is_thin(r.summary) and is_web_link(r.link)][:MAX_DOCUMENTS]
    documents = fulltext.fetch_documents(thin, settings) if thin else {}
    updates: dict[tuple[str, ...], list[dict[str, object]]] = {}   # by the columns set: one executemany each
    with store.engine.begin() as conn:
        for r in rows:
            if is_web_link(r.link) and fulltext.is_thin(r.summary) and r.link not in documents:
                continue   # over this run's document budget: next run
            text = ""
            got = documents.get(r.link)
            if isinstance(got, FetchError):
                report.failed += 1
                report.errors[r.link] = got.problem.split(" (")[0]    # the fetcher's advice is about feeds
                logger.debug("full text of %s: %s", r.link, got.problem)
            elif got is not None:
                text = fulltext.extract(got.content or b"", got.content_type, got.final_url or r.link)
                report.fetched += 1
            values: dict[str, object] = {"enriched_at": now}
            try:
                if text:
                    values["fulltext"] = text
                    if fulltext.is_thin(r.summary):
                        values["summary"] = clean_text(fulltext.lead_sentences(text)) or r.summary
                info = pubinfo.describe(r.title, " ".join(filter(None, [r.summary, text[:3000]])), r.link,
                                        published=r.published, type_hint=r.pub_type,
                                        organisation_hint=r.organisation)
                values.update(pub_type=info.pub_type, organisation=info.organisation, closes=info.closes)
            except Exception:  # one odd document must not stop the run: the item stays as gathered
                logger.exception("could not enrich item %s (%s)", r.id, r.link)
            updates.setdefault(tuple(sorted(values)), []).append({"item_id": r.id, **values})
        for columns, params in updates.items():   # one statement per shape, not one per item (issue 19)
            conn.execute(items.update().where(items.c.id == sa.bindparam("item_id"))
                         .values({c: sa.bindparam(c) for c in columns}), params)
    logger.info("enriched %d new items (%d documents read, %d could not be)", report.items, report.fetched,
                report.failed)
    return report


def for_matching(store: Store, recent: Sequence[StoredItem]) -> list[StoredItem]:
    """The items with the start of their full text after the summary, so matching reads the substance."""
    texts: dict[int, str] = {}
    ids = [i.id for i in recent]
    with store.engine.connect() as conn:
        for start in range(0, len(ids), 500):
            q = sa.select(items.c.id, items.c.fulltext).where(items.c.id.in_(ids[start:start + 500]),
                                                             items.c.fulltext.is_not(None))
            texts.update({r.id: r.fulltext for r in conn.execute(q)})
    return [replace(i, summary=f"{i.summary} {texts[i.id][:MATCH_CHARS]}".strip()) if texts.get(i.id) else i
            for i in recent]
