"""Item 9 for the spiders: Scrapy gets the same address guard as the feed fetcher.

A listener on loopback counts every TCP connection made to it (and answers
none), so each test proves that a refused spider source was never contacted,
not even for robots.txt, whatever disguise its address wears and whether it
is the start page, a redirect target or a proxy from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from awareness.config.settings import Settings
from awareness.store.store import Store
from servers import CountingListener, LoopbackHTTPServer, Route
from site_server import crawl, listing_source

PAGE = (b'<html><body><article class="card"><h3><a href="/a">A report on frailty</a></h3></article>'
        b"</body></html>")


def settings_for(tmp_path: Path, *allow: str) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", fetch_allow=allow)


DISGUISES = ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]"]


def test_private_addresses_in_every_disguise_are_refused_without_a_connection(
        listener: CountingListener, tmp_path: Path) -> None:
    store = Store(settings_for(tmp_path).database_url)
    sources = [listing_source(f"http://{host}:{listener.port}/publications", source_id=f"s{i}")
               for i, host in enumerate(DISGUISES)]
    sources.append(listing_source("http://169.254.169.254/latest/meta-data/", source_id="metadata"))
    sources.append(listing_source("http://10.0.0.1/intranet", source_id="private"))
    report = crawl(store, settings_for(tmp_path), *sources)
    assert listener.accepted == 0, "no connection was ever opened to the loopback listener"
    assert report.failed == len(sources) and report.new_items == 0
    states = {s.id: s for s in store.source_states()}
    for source in sources:
        error = states[source.id].last_error or ""
        assert error.startswith("refused:") and "fetch_allow" in error, (source.url, error)
    assert "metadata" in (states["metadata"].last_error or "")
    store.close()


def test_fetch_allow_lets_a_named_internal_host_through(http_server: LoopbackHTTPServer, tmp_path: Path) -> None:
    http_server.routes["/publications"] = Route(PAGE, content_type="text/html")
    store = Store(settings_for(tmp_path).database_url)
    refused = crawl(store, settings_for(tmp_path), listing_source(http_server.url("/publications")))
    assert refused.failed == 1 and http_server.requests == []
    allowed = crawl(store, settings_for(tmp_path, "127.0.0.1"), listing_source(http_server.url("/publications")))
    assert allowed.failed == 0 and allowed.new_items == 1
    store.close()


def test_a_redirect_from_an_allowed_host_to_a_private_one_is_refused(http_server: LoopbackHTTPServer,
                                                                      tmp_path: Path) -> None:
    other = CountingListener("127.0.0.2")
    try:
        target = f"http://127.0.0.2:{other.port}/secret"
        http_server.routes["/robots.txt"] = Route(b"", content_type="text/plain")
        http_server.routes["/publications"] = Route(b"", status=302, headers={"Location": target})
        store = Store(settings_for(tmp_path).database_url)
        report = crawl(store, settings_for(tmp_path, "127.0.0.1/32"), listing_source(http_server.url("/publications")))
        assert http_server.hits("/publications") == 1
        assert other.accepted == 0, "the redirect target was never contacted"
        assert report.failed == 1
        assert "127.0.0.2" in (store.source_states()[0].last_error or "")
        store.close()
    finally:
        other.close()


def test_proxy_variables_do_not_route_crawls_around_the_guard(http_server: LoopbackHTTPServer,
                                                              listener: CountingListener, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    http_server.routes["/publications"] = Route(PAGE, content_type="text/html")
    proxy = f"http://127.0.0.1:{listener.port}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)
    assert os.environ["http_proxy"] == proxy
    store = Store(settings_for(tmp_path).database_url)
    report = crawl(store, settings_for(tmp_path, "127.0.0.1"), listing_source(http_server.url("/publications")))
    assert listener.accepted == 0, "the proxy from the environment was not used"
    assert report.new_items == 1 and http_server.hits("/publications") == 1
    store.close()


def test_the_address_is_checked_again_when_connecting(listener: CountingListener, tmp_path: Path) -> None:
    """With the request check switched off, the resolver Scrapy connects through still refuses:
    the address that is connected to is the one that was checked (DNS cannot change in between)."""
    from awareness.gather.crawl import override_settings

    store = Store(settings_for(tmp_path).database_url)
    with override_settings(DOWNLOADER_MIDDLEWARES={"spiders.middlewares.NetguardMiddleware": None},
                           ROBOTSTXT_OBEY=False, RETRY_ENABLED=False):
        report = crawl(store, settings_for(tmp_path), listing_source(f"http://localhost:{listener.port}/p"))
    assert listener.accepted == 0
    assert report.failed == 1 and "refused" in (store.source_states()[0].last_error or "")
    store.close()


def test_a_page_that_links_onwards_to_file_or_a_private_address_is_not_followed(
        http_server: LoopbackHTTPServer, tmp_path: Path) -> None:
    """A hostile listing's 'next page' pointing at file: or the metadata address reads nothing."""
    for path, onward in (("/file", "file:///etc/passwd"), ("/meta", "http://169.254.169.254/latest/meta-data/")):
        http_server.routes[path] = Route(PAGE.replace(b"</body>", f'<a rel="next" href="{onward}">Next</a></body>'
                                                      .encode()), content_type="text/html")
    store = Store(settings_for(tmp_path).database_url)
    report = crawl(store, settings_for(tmp_path, "127.0.0.1"), listing_source(http_server.url("/file"), source_id="f"),
                   listing_source(http_server.url("/meta"), source_id="m"))
    assert report.failed == 0 and report.new_items == 1, "the first pages were read (the same entry on both)"
    states = {s.id: s for s in store.source_states()}
    assert "page 2 could not be read: refused: file: URLs are not fetched" in (states["f"].last_warning or "")
    assert "page 2 could not be read: refused" in (states["m"].last_warning or "")
    assert "metadata" in (states["m"].last_warning or "")
    store.close()
