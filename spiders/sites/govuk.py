"""GOV.UK's search API: every publication with its document type and organisations.

GOV.UK's Atom feeds give titles and dates; its search API
(``https://www.gov.uk/api/search.json``) also says what each publication is
(guidance, consultation, official statistics...) and who published it.
Configure the query in ``url`` (filters, ``order=-public_timestamp``,
``count``); the spider asks for the fields it needs and pages with ``start``.
"""

from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scrapy.http import Response

from awareness.gather.pubinfo import parse_date

from .base import AwarenessSpider

FIELDS = ("title", "link", "description", "public_timestamp", "content_store_document_type", "organisations")


def with_query(url: str, **params: Any) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params and k != "fields"]
    query += [("fields", f) for f in FIELDS] + [(k, str(v)) for k, v in params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


class GovukSearchSpider(AwarenessSpider):
    name = "govuk"

    async def start(self) -> Any:
        yield self.page_request(with_query(self.source["url"], start=0), 1, start=0)

    def parse_page(self, response: Response) -> Iterator[Any]:
        page = int(response.meta.get("page", 1))
        try:
            data = json.loads(response.body)
            results = data["results"]
        except (ValueError, KeyError, TypeError):
            problem = f"{response.url} did not answer with GOV.UK search results (JSON with 'results')"
            self.unreadable(page, problem)
            return
        self.health["pages"] += 1
        reached_known = False
        for result in results:
            title, path = result.get("title"), result.get("link")
            if not title or not path:
                continue
            link = response.urljoin(path)   # the API lives on the same host as the pages it describes
            self.health["entries"] += 1
            if self.is_known(link):
                reached_known = True
                continue
            organisations = [o.get("title") for o in result.get("organisations") or [] if isinstance(o, dict)]
            when = parse_date(result.get("public_timestamp"))
            yield {"source_id": self.source_id, "guid": link, "link": link, "title": title,
                   "summary": result.get("description") or "", "published": when.isoformat() if when else None,
                   "pub_type": result.get("content_store_document_type"),
                   "organisation": ", ".join(filter(None, organisations)) or None}
        if reached_known:
            self.health["stopped_at_known"] = True
            return
        start = int(response.meta.get("start", 0)) + len(results)
        total = int(data.get("total") or 0)
        if results and start < total and page < self.max_pages:
            yield self.page_request(with_query(self.source["url"], start=start), page + 1, start=start)
