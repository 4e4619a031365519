"""Spider items into the store: the same normalisation and deduplication as feed items.

Each item becomes an ``awareness.core.models.Item`` through
``awareness.gather.normalise.normalise`` and is added with ``Store.add_items``, so a
publication found by both a feed and a spider is one item.  What a spider
knew about it (GOV.UK's document type, the publishing organisation) is kept
with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scrapy.crawler import Crawler

from awareness.gather import enrich
from awareness.gather.normalise import normalise
from awareness.store.store import Store
from awareness.store.schema import utcnow


class StorePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.database_url = crawler.settings.get("AWARENESS_DATABASE_URL", "")
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StorePipeline":
        return cls(crawler)

    def open_spider(self) -> None:
        if self.database_url:
            self.store = Store(self.database_url)

    def close_spider(self) -> None:
        if self.store is not None:
            self.store.close()

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        health = getattr(self.crawler.spider, "health", None)
        if self.store is None:
            return item
        now = utcnow()
        published = datetime.fromisoformat(item["published"]) if item.get("published") else None
        normal = normalise(item["source_id"], guid=item.get("guid"), link=item.get("link"), title=item.get("title"),
                           summary=item.get("summary"), published=published, now=now)
        added = self.store.add_items(item["source_id"], [normal], now=now)
        if added.new:
            enrich.save_hints(self.store, added.new[0], pub_type=item.get("pub_type"),
                               organisation=item.get("organisation"))
        if isinstance(health, dict):
            health["new"] += len(added.new)
            health["known"] += added.known
        return item
