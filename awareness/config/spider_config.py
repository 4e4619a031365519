"""Checking the spider entries of sources.yaml, and reading their selectors.

An admin adds a site without a feed by writing CSS selectors (or XPath,
prefixed ``xpath:``) into sources.yaml; a typo there must be reported with
the file and line before any crawl, not discovered as an empty bulletin.
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import Node

from . import yamlpos
from ..core.models import SPIDER_SETTINGS, Source

# The spiders in spiders/sites/, and what each needs from its entry.
SPIDERS: dict[str, tuple[str, ...]] = {
    "listing": ("item", "title", "link"),   # a page of entries, found by selectors
    "govuk": (),                            # the GOV.UK search API (url: https://www.gov.uk/api/search.json?...)
    "nice": (),                             # NICE's published guidance listing
}
SELECTORS = ("item", "title", "link", "date", "summary", "next")
SPIDER_KEYS = [*Source.model_fields, "site"]
_EXAMPLE = {"item": '"article.card"', "title": '"h3 a::text"', "link": '"h3 a::attr(href)"'}


def check_spider_entry(entry: dict[str, Any], node: Node, label: str) -> list[tuple[int | None, str]]:
    """Every problem with one `kind: spider` entry, as (line, message)."""
    problems: list[tuple[int | None, str]] = []
    for key in entry:
        if key not in SPIDER_KEYS:
            hint = yamlpos.suggest(str(key), SPIDER_KEYS) or f"; spiders know {', '.join(SPIDER_KEYS)}"
            problems.append((yamlpos.locate(node, [str(key)], key=True), f"{label}: unknown setting '{key}'{hint}"))
    spider = entry.get("spider")
    if not spider:
        return problems + [(yamlpos.line_of(node), f"{label}: a spider source needs 'spider:' naming the spider "
                            f"to use: {', '.join(SPIDERS)} (listing reads a page of entries with selectors)")]
    if spider not in SPIDERS:
        return problems + [(yamlpos.locate(node, ["spider"]), f"{label}: there is no spider '{spider}'; "
                            f"use one of {', '.join(SPIDERS)}")]
    for key in SPIDERS[str(spider)]:
        if not entry.get(key):
            problems.append((yamlpos.line_of(node), f"{label}: the {spider} spider needs '{key}:', a selector "
                             f"(e.g. {key}: {_EXAMPLE[key]})"))
    for key in SELECTORS:
        value = entry.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            problems.append((yamlpos.locate(node, [key]), f"{label}: '{key}' must be a selector in quotes"))
            continue
        error = selector_error(value)
        if error:
            problems.append((yamlpos.locate(node, [key]), f"{label}: the {key} selector {value!r} {error}"))
    return problems


def selector_error(selector: str) -> str | None:
    """Why a selector cannot be used, or None when it compiles."""
    from lxml import etree
    from parsel.csstranslator import HTMLTranslator

    if selector.startswith("xpath:"):
        try:
            etree.XPath(selector[len("xpath:"):].strip())
        except etree.XPathSyntaxError as e:
            return f"is not valid XPath ({e})"
        return None
    try:
        HTMLTranslator().css_to_xpath(selector)
    except Exception as e:  # cssselect raises several kinds of SelectorError
        return f"is not valid CSS ({e}); write CSS like 'h3 a::text', or XPath after 'xpath:'"
    return None


def spider_settings(source: Source) -> dict[str, Any]:
    """What the crawl child needs to know about a spider source (JSON-safe)."""
    out: dict[str, Any] = {"id": source.id, "url": source.url, "name": source.name}
    for key in SPIDER_SETTINGS:
        out[key] = getattr(source, key)
    return out
