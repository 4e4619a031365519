"""A reader finds an item from a past bulletin by a few of its words (SQLite FTS5 here; PostgreSQL's
full-text search when AWARENESS_TEST_POSTGRES_URL names a server)."""

from __future__ import annotations

import re

from pathlib import Path

from awareness.deliver.archive_search import search
from servers import LoopbackHTTPServer, LoopbackSMTPServer
from webworld import Site, build_site, close_site, site  # noqa: F401 (the fixture)


def results(html: str) -> list[str]:
    block = html.split('id="results"', 1)[1].split("All past bulletins", 1)[0]
    return re.findall(r'<li><a href="[^"]+">([^<]+)</a>', block)


def test_search_finds_items_of_sent_bulletins_by_their_words(site: Site) -> None:
    c = site.client()
    page = c.get("/profiles/ph-team/bulletins", params={"q": "hip fracture"})
    assert page.status_code == 200
    assert results(page.text) == ["Hip fracture outcomes in frail older adults: a cohort study"]
    assert "Frailty and older people, in" in page.text and "/profiles/ph-team/bulletins/" in page.text

    words_stemmed = results(c.get("/profiles/ph-team/bulletins", params={"q": "midwife"}).text)
    assert words_stemmed == ["Maternity and neonatal services: three-year delivery plan update"], "prefix match"
    nothing = c.get("/profiles/ph-team/bulletins", params={"q": "car parking"}).text
    assert results(nothing) == [] and "Try fewer or different words" in nothing, "never in a bulletin"
    odd = c.get("/profiles/ph-team/bulletins", params={"q": 'falls" OR * NEAR('})
    assert odd.status_code == 200, "search syntax typed by a reader is not an error"


def test_search_only_finds_this_profiles_sent_bulletins(site: Site) -> None:
    assert search(site.store, "another-profile", "hip fracture") == []
    before = search(site.store, "ph-team", "falls")
    assert [f.title.split(":")[0] for f in before] == ["Preventing falls in older people"]
    site.run()                                     # nothing new: the index is brought up to date, not doubled
    assert len(search(site.store, "ph-team", "falls")) == 1


def test_search_on_postgresql_finds_the_same_items_by_their_words(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer, postgres_url: str) -> None:
    pg = build_site(tmp_path, http_server, smtp_server, database_url=postgres_url)
    try:
        c = pg.client()
        page = c.get("/profiles/ph-team/bulletins", params={"q": "hip fracture"})
        assert page.status_code == 200
        assert results(page.text) == ["Hip fracture outcomes in frail older adults: a cohort study"]
        assert [f.title for f in search(pg.store, "ph-team", "midwife")] == [
            "Maternity and neonatal services: three-year delivery plan update"], "prefix match, as on SQLite"
        assert search(pg.store, "another-profile", "hip fracture") == []
        odd = c.get("/profiles/ph-team/bulletins", params={"q": 'falls" OR * NEAR('})
        assert odd.status_code == 200, "search syntax typed by a reader is not an error"
    finally:
        close_site(pg)
