"""The spiders, run for real (Scrapy in a child process) against a fixture site on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import html as lxml_html

from awareness.config.settings import Settings
from awareness.gather.normalise import normalise
from awareness.gather.parse import parse_feed
from awareness.config.sources import check_sources
from awareness.store.store import Store
from conftest import SHARED
from fixture_dates import shift_dates, shifted
from servers import LoopbackHTTPServer, Route
from site_server import crawl, listing_source, serve_site, site_text


@pytest.fixture
def site(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    return serve_site(http_server)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", fetch_allow=("127.0.0.1",),
                    contact_url="https://lks.example.nhs.uk/awareness")


@pytest.fixture
def store(settings: Settings) -> Store:
    s = Store(settings.database_url)
    yield s
    s.close()


def page_entries(path: str, base: str) -> list[tuple[str, str, str, str]]:
    """What a person reading the fixture page sees: (title, absolute link, date, summary) per card."""
    doc = lxml_html.fromstring(site_text(path))
    out = []
    for card in doc.cssselect("article.card"):
        a = card.cssselect("h3 a")[0]
        out.append((a.text_content().strip(), base + a.get("href"), card.cssselect("time")[0].get("datetime"),
                    card.cssselect("p.summary")[0].text_content().strip()))
    return out


def stored(store: Store) -> dict[str, object]:
    return {i.link: i for i in store.items_since(datetime(2000, 1, 1, tzinfo=timezone.utc))}


def health(store: Store, source_id: str):  # noqa: ANN201 - a SourceState
    return store.source_states([source_id])[0]


def test_the_listing_spider_extracts_exactly_the_entries_on_the_page(site: LoopbackHTTPServer, store: Store,
                                                                    settings: Settings) -> None:
    report = crawl(store, settings, listing_source(site.url("/publications/page-1.html"), max_pages=1))
    expected = page_entries("publications/page-1.html", site.url(""))
    items = stored(store)
    assert report.new_items == 20 and len(items) == 20
    for title, link, day, summary in expected:
        item = items[link]
        assert (item.title, item.summary) == (title, summary)
        assert item.published.date().isoformat() == day
        assert item.sources == ["thinktank"]
    state = health(store, "thinktank")
    assert state.ok and state.last_warning is None
    assert "/publications/page-2.html" not in [p for p, _ in site.requests], "max_pages: 1 reads one page"


def test_it_pages_through_the_listing_and_a_recrawl_of_an_unchanged_site_adds_nothing(
        site: LoopbackHTTPServer, store: Store, settings: Settings) -> None:
    source = listing_source(site.url("/publications/page-1.html"))
    first = crawl(store, settings, source)
    assert first.new_items == 50 and len(stored(store)) == 50            # 20 + 20 + 10, over three pages
    assert [site.hits(f"/publications/page-{n}.html") for n in (1, 2, 3)] == [1, 1, 1]

    again = crawl(store, settings, source)
    assert again.new_items == 0 and len(stored(store)) == 50
    assert [site.hits(f"/publications/page-{n}.html") for n in (1, 2, 3)] == [2, 1, 1], \
        "page 1 shows entries already gathered, so the crawl stops there"

    # The site publishes one new report at the top of page 1: the next crawl adds it, still reading one page.
    page = site_text("publications/page-1.html")
    card = shift_dates('<article class="card"><h3><a href="/publications/new-report">Hospital at home: a new report'
                       '</a></h3><time datetime="2026-11-20">20 November 2026</time><p class="summary">A new report.'
                       '</p></article>')
    site.routes["/publications/page-1.html"] = Route(page.replace('<section class="results">',
                                                                  '<section class="results">' + card).encode(),
                                                     content_type="text/html; charset=utf-8")
    third = crawl(store, settings, source)
    assert third.new_items == 1 and site.url("/publications/new-report") in stored(store)
    assert site.hits("/publications/page-2.html") == 1


def test_max_pages_bounds_a_first_crawl(site: LoopbackHTTPServer, store: Store, settings: Settings) -> None:
    crawl(store, settings, listing_source(site.url("/publications/page-1.html"), max_pages=2))
    assert len(stored(store)) == 40 and site.hits("/publications/page-3.html") == 0


def test_robots_txt_is_obeyed_and_the_refusal_is_the_sources_error(site: LoopbackHTTPServer, store: Store,
                                                                   settings: Settings) -> None:
    report = crawl(store, settings, listing_source(site.url("/private/page-1.html"), source_id="members"))
    assert site.hits("/robots.txt") == 1
    assert site.hits("/private/page-1.html") == 0, "robots.txt disallows /private/"
    assert report.failed == 1 and not stored(store)
    assert "robots.txt" in (health(store, "members").last_error or "")


def test_a_redesigned_page_is_reported_as_a_warning_naming_the_selector(site: LoopbackHTTPServer, store: Store,
                                                                       settings: Settings) -> None:
    report = crawl(store, settings, listing_source(site.url("/redesigned/page-1.html"), source_id="redesigned"))
    state = health(store, "redesigned")
    assert report.failed == 0 and not stored(store), "entries without title or link are not stored as junk"
    assert "selector for title matched 0 of 20 entries" in (state.last_warning or "")
    assert "(so did link, date, summary)" in (state.last_warning or "")
    assert state.last_error is None, "the page loaded: the source is up, its selectors are out of date"


def test_a_page_where_the_item_selector_finds_nothing_is_reported(site: LoopbackHTTPServer, store: Store,
                                                                  settings: Settings) -> None:
    crawl(store, settings, listing_source(site.url("/publications/page-1.html"), item="div.teaser"))
    assert "selector for item matched nothing" in (health(store, "thinktank").last_warning or "")


def test_xpath_selectors_work_as_well_as_css(site: LoopbackHTTPServer, store: Store, settings: Settings) -> None:
    source = listing_source(site.url("/publications/page-1.html"), max_pages=1,
                            item="xpath://article[@class='card']", title="xpath:.//h3/a/text()",
                            link="xpath:.//h3/a/@href", date="xpath:.//time/@datetime", summary="")
    crawl(store, settings, source)
    expected = page_entries("publications/page-1.html", site.url(""))
    assert sorted(stored(store)) == sorted(link for _, link, _, _ in expected)


def test_an_item_found_by_a_feed_and_by_a_spider_is_one_item(site: LoopbackHTTPServer, store: Store,
                                                           settings: Settings) -> None:
    entries = page_entries("publications/page-1.html", site.url(""))[:3]
    rss = "".join(f"<item><title>{t}</title><link>{link}?utm_source=rss</link><description>{s}</description>"
                  + shift_dates("<pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate></item>") for t, link, _, s in entries)
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Think tank</title>{rss}</channel></rss>'.encode()
    now = datetime.now(timezone.utc)
    parsed = parse_feed("thinktank-feed", site.url("/feed.xml"), feed, now=now)
    store.sync_sources([listing_source(site.url("/publications/page-1.html"), max_pages=1)])
    assert len(store.add_items("thinktank-feed", parsed.items, now=now).new) == 3

    report = crawl(store, settings, listing_source(site.url("/publications/page-1.html"), max_pages=1))
    items = stored(store)
    assert len(items) == 20 and report.new_items == 17
    for _, link, _, _ in entries:
        assert items[link].sources == ["thinktank-feed", "thinktank"]


def test_the_gov_uk_search_spider_pages_through_results_and_keeps_type_and_organisation(
        http_server: LoopbackHTTPServer, store: Store, settings: Settings) -> None:
    data = json.loads(site_text("govuk/search.json"))

    def search(handler: object) -> Route:
        query = parse_qs(urlsplit(handler.path).query)  # type: ignore[attr-defined]
        start, count = int(query["start"][0]), int(query.get("count", ["20"])[0])
        assert "content_store_document_type" in query["fields"]
        page = {**data, "results": data["results"][start:start + count], "start": start}
        return Route(json.dumps(page).encode(), content_type="application/json")

    http_server.routes["/api/search.json"] = search
    http_server.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /search/\n", content_type="text/plain")
    source = listing_source(http_server.url("/api/search.json?filter_organisations=dhsc&order=-public_timestamp"
                                            "&count=2"), source_id="govuk-dhsc", spider="govuk", item="", title="",
                            link="", date="", summary="", next="")
    report = crawl(store, settings, source)
    assert report.new_items == 5 and http_server.hits("/robots.txt") == 1
    from awareness.gather.enrich import enrich_new_items
    enrich_new_items(store, settings)
    items = {i.title: i for i in stored(store).values()}
    consultation = items["Smokefree generation: consultation on vapes and tobacco displays"]
    assert consultation.link == http_server.url("/government/consultations/smokefree-generation-vapes")
    assert (consultation.pub_type, consultation.organisation) == ("consultation", "Department of Health and Social Care")
    assert consultation.closes is not None and consultation.closes == shifted(date(2027, 3, 14))
    assert items["Adult social care workforce: monthly data"].pub_type == "statistics"
    assert items["Minister visits new community diagnostic centre"].pub_type == "news"
    assert items["Winter vaccination programme: guidance for health professionals"].organisation == "UK Health Security Agency"

    again = crawl(store, settings, source)
    assert again.new_items == 0
    assert sum(1 for p, _ in http_server.requests if p.startswith("/api/search.json")) == 4, \
        "3 pages the first time, then only the first page"


def test_the_nice_spider_reads_the_published_guidance_table(site: LoopbackHTTPServer, store: Store,
                                                           settings: Settings) -> None:
    source = listing_source(site.url("/nice/published.html"), source_id="nice-published", spider="nice", item="",
                            title="", link="", date="", summary="", next="")
    report = crawl(store, settings, source)
    items = {i.title: i for i in stored(store).values()}
    assert report.new_items == 4 and len(items) == 4
    falls = items["Falls: assessment and prevention in older people and in people 50 and over at higher risk (NG249)"]
    assert falls.link == site.url("/guidance/ng249")
    assert falls.published.date() == shifted(date(2026, 11, 12))
    assert (falls.pub_type, falls.organisation) == ("guidance", "NICE")
    assert items["Suicide prevention (QS230)"].published.date() == shifted(date(2026, 10, 22)), "UK day-first dates"


def test_requests_name_the_service_and_its_contact_url_and_read_robots_first(site: LoopbackHTTPServer, store: Store,
                                                                            settings: Settings) -> None:
    crawl(store, settings, listing_source(site.url("/publications/page-1.html"), max_pages=1))
    paths = [p for p, _ in site.requests]
    assert paths[0] == "/robots.txt"
    for _, headers in site.requests:
        assert "Awareness/" in headers["user-agent"] and "https://lks.example.nhs.uk/awareness" in headers["user-agent"]


def test_the_scrapy_project_is_polite_by_default_and_fetches_only_http() -> None:
    script = ("import json; from scrapy.utils.project import get_project_settings as g; s = g(); "
              "print(json.dumps({k: s.get(k) for k in ('ROBOTSTXT_OBEY', 'AUTOTHROTTLE_ENABLED', "
              "'CONCURRENT_REQUESTS_PER_DOMAIN', 'DOWNLOAD_DELAY', 'DOWNLOAD_MAXSIZE', 'TELNETCONSOLE_ENABLED', "
              "'HTTPPROXY_ENABLED')} | {'handlers': s.getdict('DOWNLOAD_HANDLERS')}))")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", script], cwd=root / "spiders", capture_output=True, text=True,
                         check=True).stdout
    got = json.loads(out)
    assert got["ROBOTSTXT_OBEY"] is True and got["AUTOTHROTTLE_ENABLED"] is True
    assert int(got["CONCURRENT_REQUESTS_PER_DOMAIN"]) == 1 and float(got["DOWNLOAD_DELAY"]) >= 1
    assert 0 < int(got["DOWNLOAD_MAXSIZE"]) <= 20_000_000
    assert got["TELNETCONSOLE_ENABLED"] is False and got["HTTPPROXY_ENABLED"] is False
    assert {k for k, v in got["handlers"].items() if v} == {"http", "https"}
    assert {"file", "ftp", "s3", "data"} <= {k for k, v in got["handlers"].items() if v is None}


# ------------------------------------------------------------------ sources.yaml

def test_spider_entries_are_checked_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "- id: good\n  kind: spider\n  spider: listing\n  url: https://example.org/pubs\n"
        "  item: article.card\n  title: 'h3 a::text'\n  link: 'h3 a::attr(href)'\n  max_pages: 2\n"
        "- id: no-spider\n  kind: spider\n  url: https://example.org/a\n"
        "- id: no-title\n  kind: spider\n  spider: listing\n  url: https://example.org/b\n  item: li\n"
        "  link: 'a::attr(href)'\n"
        "- id: bad-css\n  kind: spider\n  spider: listing\n  url: https://example.org/c\n  item: 'li[['\n"
        "  title: 'a::text'\n  link: 'a::attr(href)'\n"
        "- id: bad-xpath\n  kind: spider\n  spider: listing\n  url: https://example.org/d\n  item: li\n"
        "  title: 'xpath:.//a[text('\n  link: 'a::attr(href)'\n  selectr: x\n"
        "- id: unknown\n  kind: spider\n  spider: sitemap\n  url: https://example.org/e\n"
        "- id: feed-with-selector\n  url: https://example.org/feed.xml\n  item: li\n")
    sources, errors = check_sources(path)
    assert [s.id for s in sources] == ["good"] and sources[0].max_pages == 2
    shown = [str(e) for e in errors]
    expected = [
        (9, "source 'no-spider': a spider source needs 'spider:'"),
        (12, "source 'no-title': the listing spider needs 'title:'"),
        (22, "source 'bad-css': the item selector 'li[[' is not valid CSS"),
        (30, "source 'bad-xpath': the title selector 'xpath:.//a[text(' is not valid XPath"),
        (32, "source 'bad-xpath': unknown setting 'selectr'"),
        (35, "source 'unknown': there is no spider 'sitemap'"),
        (39, "source 'feed-with-selector': unknown setting 'item'"),
    ]
    for line, text in expected:
        assert any(s.startswith(f"{path}:{line}: {text}") for s in shown), (line, text, shown)
    assert len(errors) == len(expected), shown


def test_the_shipped_sources_file_has_working_spider_entries() -> None:
    root = Path(__file__).resolve().parent.parent
    sources, errors = check_sources(root / "sources.yaml")
    assert not errors, [str(e) for e in errors]
    listing = [s for s in sources if s.kind == "spider" and s.spider == "listing"]
    assert len(listing) >= 4
    assert {"www.kingsfund.org.uk", "www.nuffieldtrust.org.uk", "www.health.org.uk", "www.england.nhs.uk"} <= \
        {urlsplit(s.url).hostname for s in listing}


# ------------------------------------------------------------------ the shared feed farm

FARM = SHARED / "tools" / "feedfarm.py"


@pytest.mark.skipif(not FARM.exists(), reason="../shared/tools/feedfarm.py is not beside this clone")
def test_the_feed_farms_listing_pages_give_the_same_items_as_its_feeds(tmp_path: Path, store: Store,
                                                                      settings: Settings) -> None:
    args = ["--feeds", "2", "--items", "30", "--seed", "5", "--speed", "0"]
    proc = subprocess.Popen([sys.executable, str(FARM), "serve", "--port", "0", "--duration", "120", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    try:
        base = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
        truth = [json.loads(line) for line in subprocess.run(
            [sys.executable, str(FARM), "truth", *args[:-2], "--base-url", base], capture_output=True, text=True,
            check=True).stdout.splitlines()]
        ul = listing_source(f"{base}/pages/0.html", source_id="farm-0", item="li.publication", title="a::text",
                            link="a::attr(href)", date="span.date::text", summary="")
        table = listing_source(f"{base}/pages/1.html", source_id="farm-1", item="table.publications tbody tr",
                               title="td a::text", link="td a::attr(href)", date="time::attr(datetime)", summary="")
        report = crawl(store, settings, ul, table)
        assert report.failed == 0 and report.new_items == 60, "30 items a feed, over two pages each"
        import httpx
        now = datetime.now(timezone.utc)
        for n in (0, 1):
            body = httpx.get(f"{base}/feeds/{n}.xml", trust_env=False).content
            assert store.add_items(f"feed-{n}", parse_feed(f"feed-{n}", f"{base}/feeds/{n}.xml", body,
                                                           now=now).items, now=now).new == []
        items = stored(store)
        assert {t["link"] for t in truth} == set(items), "each farm publication is one item, from page and feed"
        by_link = {t["link"]: t for t in truth}
        for link, item in items.items():
            assert item.title == normalise("x", guid=None, link=link, title=by_link[link]["title"], summary="",
                                           published=None, now=now).title
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
