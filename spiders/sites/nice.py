"""NICE's published guidance listing: a table of guidance with its reference and dates.

https://www.nice.org.uk/guidance/published lists every new or updated
guideline, technology appraisal and quality standard as table rows: the
title (linked), the reference number (NG123, TA987, QS45) and the published
and last-updated dates.  Every entry is guidance published by NICE.
"""

from __future__ import annotations

from typing import Any, Iterator

from scrapy.http import Response, TextResponse

from awareness.gather.pubinfo import parse_date

from .base import AwarenessSpider


class NiceGuidanceSpider(AwarenessSpider):
    name = "nice"

    def parse_page(self, response: Response) -> Iterator[Any]:
        page = int(response.meta.get("page", 1))
        rows = response.css("table tbody tr") if isinstance(response, TextResponse) else []
        if not rows:
            problem = f"no table of guidance on {response.url}; NICE may have changed the page's layout"
            if page == 1 and isinstance(response, TextResponse):
                self.health["pages"] += 1
                self.warn(problem)
            elif page == 1:
                self.health["error"] = problem
            return
        self.health["pages"] += 1
        reached_known = False
        for row in rows:
            cells = row.css("td")
            title = " ".join(" ".join(row.css("td a::text").getall()).split())
            href = row.css("td a::attr(href)").get()
            if not title or not href:
                continue
            reference = " ".join(" ".join(cells[1].css("::text").getall()).split()) if len(cells) > 1 else ""
            published = cells[2].css("time::attr(datetime)").get() or " ".join(cells[2].css("::text").getall()) \
                if len(cells) > 2 else ""
            link = response.urljoin(href)
            self.health["entries"] += 1
            if self.is_known(link):
                reached_known = True
                continue
            when = parse_date(published)
            yield {"source_id": self.source_id, "guid": link, "link": link,
                   "title": f"{title} ({reference})" if reference else title, "summary": "",
                   "published": when.isoformat() if when else None, "pub_type": "guidance", "organisation": "NICE"}
        if reached_known:
            self.health["stopped_at_known"] = True
            return
        href = response.css("a[rel=next]::attr(href), li.pagination__next a::attr(href)").get()
        if href and page < self.max_pages:
            yield self.page_request(response.urljoin(href), page + 1)
