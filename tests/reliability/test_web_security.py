"""The web app under attack (issue 8, items 10 and 15).

Item 15: tampered, expired and wrong-purpose tokens; unsubscribe by GET; POSTs
without a CSRF token (or with another browser's); the admin endpoint without its
token; a feedback link that tries to redirect elsewhere.  Each is refused with the
right status, and the database and profile files are exactly as before.

Item 10 (the web side): script, event handlers, javascript: and data: links, SVG,
and markup carried as plain text in titles, summaries, authors and source names are
inert in the archive, the librarian's pages and the Atom feed, and every page
carries a Content-Security-Policy that allows no script; a real Chromium with
JavaScript on opens the pages and no script runs.
"""

from __future__ import annotations

import re
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import itsdangerous
import pytest
import sqlalchemy as sa

from conftest import chromium_path, need_system
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from webworld import PASSWORD, Client, Site, site  # noqa: F401 (site: the fixture)

from awareness.store import schema as tables

STATE_TABLES = ("subscribers", "suppressions", "pending_subscriptions", "subscriber_topics", "match_feedback",
                "match_judgements", "web_sessions", "runs", "users")


def state(site: Site) -> dict[str, Any]:
    """Everything an attack could change: the rows of the web app's tables, and the profile file."""
    out: dict[str, Any] = {}
    with site.store.engine.connect() as conn:
        for name in STATE_TABLES:
            table = tables.metadata.tables.get(name)
            if table is not None:
                out[name] = sorted(map(repr, conn.execute(sa.select(table)).all()))
    out["profile"] = (site.root / "profiles" / "ph-team.yaml").read_text()
    return out


def signed(salt: str, payload: Any, *, age_days: float = 0) -> str:
    class Back(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age_days * 86400)

    return itsdangerous.URLSafeTimedSerializer("test-secret-key", salt=salt, signer=Back).dumps(payload)


def tamper(token: str) -> str:
    head, _, sig = token.rpartition(".")
    return f"{head}.{('A' if sig[0] != 'A' else 'B')}{sig[1:]}"


def test_token_cookie_and_csrf_attacks_are_refused_without_any_change(site: Site) -> None:
    signer = site.app.state.web.signer
    alice = site.store.sync_subscribers("ph-team", ["alice@example.nhs.uk"], now=tables.utcnow())["alice@example.nhs.uk"]
    item_id = site.store.items_since(tables.utcnow().replace(year=2000))[0].id
    unsub = signer.unsubscribe_token("ph-team", alice)
    feedback = signer.feedback_token("ph-team", alice, item_id, "useful")
    confirm = signer.confirm_token("ph-team", "no-such-ref")

    anon = site.client()
    librarian = site.client()
    librarian.login("librarian@example.nhs.uk")
    admin = site.client()
    admin.login("admin@example.nhs.uk")
    other_browser_csrf = site.client().csrf("/profiles/ph-team")
    forged = site.client()
    forged.http.cookies.set("aw_session", "forged")
    before = state(site)

    attacks: list[tuple[str, Client, str, str, dict[str, Any], int]] = [
        # (what, who, method, path, request arguments, expected status)
        ("tampered unsubscribe", anon, "POST", f"/unsubscribe/{tamper(unsub)}", {}, 400),
        ("forged unsubscribe (other key)", anon, "POST",
         "/unsubscribe/" + itsdangerous.URLSafeTimedSerializer("guess", salt="awareness.unsubscribe").dumps(["ph-team", alice]),
         {}, 400),
        ("feedback token used to unsubscribe", anon, "POST", f"/unsubscribe/{feedback}", {}, 400),
        ("confirm token used to unsubscribe", anon, "POST", f"/unsubscribe/{confirm}", {}, 400),
        ("unsubscribe by GET (a link scanner)", anon, "GET", f"/unsubscribe/{unsub}", {}, 200),
        ("tampered feedback", anon, "GET", f"/feedback/{tamper(feedback)}", {}, 400),
        ("tampered feedback, short path", anon, "GET", f"/f/{tamper(feedback)}", {}, 400),
        ("unsubscribe token used as feedback", anon, "GET", f"/feedback/{unsub}", {}, 400),
        ("unsubscribe token used as feedback, short path", anon, "POST", f"/f/{unsub}", {}, 400),
        ("expired feedback", anon, "GET",
         "/feedback/" + signed("awareness.feedback", ["ph-team", alice, item_id, "useful"], age_days=91), {}, 410),
        ("feedback with an unknown verdict", anon, "GET",
         "/feedback/" + signed("awareness.feedback", ["ph-team", alice, item_id, "delete"]), {}, 400),
        ("expired confirm", anon, "GET", "/confirm/" + signed("awareness.confirm", ["ph-team", "x"], age_days=8), {},
         410),
        ("tampered confirm", anon, "POST", f"/confirm/{tamper(confirm)}", {}, 400),
        ("unsubscribe token used to confirm", anon, "POST", f"/confirm/{unsub}", {}, 400),
        ("subscribe without CSRF", anon, "POST", "/profiles/ph-team/subscribe", {"data": {"email": "x@example.org"}},
         400),
        ("subscribe with another browser's CSRF", anon, "POST", "/profiles/ph-team/subscribe",
         {"data": {"email": "x@example.org", "csrf": other_browser_csrf}}, 400),
        ("topic choice without CSRF", anon, "POST", f"/preferences/{unsub}", {"data": {"topic": ["frailty"]}}, 400),
        ("login without CSRF", anon, "POST", "/login",
         {"data": {"email": "librarian@example.nhs.uk", "password": PASSWORD}}, 400),
        ("logout without CSRF", librarian, "POST", "/logout", {}, 400),
        ("judgement without CSRF", librarian, "POST", "/librarian/ph-team/judge",
         {"data": {"item_id": str(item_id), "topic_id": "frailty", "verdict": "exclude"}}, 400),
        ("profile save without CSRF", librarian, "POST", "/librarian/ph-team/edit",
         {"data": {"yaml": "id: ph-team\n", "action": "save"}}, 400),
        ("run-now without CSRF", admin, "POST", "/admin/run", {"data": {"profile": "ph-team"}}, 400),
        ("run-now by a librarian", librarian, "POST", "/admin/run",
         {"data": {"csrf": librarian.csrf("/librarian")}}, 403),
        ("run API without a token", anon, "POST", "/admin/runs", {"json": {}}, 401),
        ("run API with a wrong token", anon, "POST", "/admin/runs",
         {"json": {}, "headers": {"Authorization": "Bearer test-admin-tokeN"}}, 401),
        ("run API with a session instead of the token", admin, "POST", "/admin/runs", {"json": {}}, 401),
        ("run API by GET", anon, "GET", "/admin/runs", {"headers": {"Authorization": "Bearer test-admin-token"}}, 405),
        ("a forged session cookie", forged, "GET", "/admin", {}, 303),
    ]
    failures = []
    for what, client, method, path, kwargs, expected in attacks:
        r = client.request(method, path, follow_redirects=False, **kwargs)
        if r.status_code != expected:
            failures.append(f"{what}: {r.status_code}, expected {expected}")
        if expected != 303 and "location" in r.headers:
            failures.append(f"{what}: redirected to {r.headers['location']}")
        if state(site) != before:
            failures.append(f"{what}: changed the database or the profile file")
            before = state(site)
    assert not failures, "\n".join(failures)
    assert len(site.mails_to("x@example.org")) == 0


def test_feedback_links_never_redirect_anywhere(site: Site) -> None:
    signer = site.app.state.web.signer
    alice = site.store.sync_subscribers("ph-team", ["alice@example.nhs.uk"], now=tables.utcnow())["alice@example.nhs.uk"]
    item_id = site.store.items_since(tables.utcnow().replace(year=2000))[0].id
    token = signer.feedback_token("ph-team", alice, item_id, "not-relevant")
    c = site.client()
    for suffix in ("?next=https://evil.example/", "?url=//evil.example", "?redirect=javascript:alert(1)",
                   "/../../https://evil.example", "?next=%2F%2Fevil.example"):
        for path in ("/f/", "/feedback/"):    # the bulletin's path, and older emails'
            r = c.get(f"{path}{token}{suffix}", follow_redirects=False)
            assert r.status_code in (200, 404), path + suffix
            assert "location" not in r.headers and "evil.example" not in r.text
    def verdicts() -> list:
        with site.store.engine.connect() as conn:
            return conn.execute(sa.select(tables.metadata.tables["match_feedback"])).all()

    assert verdicts() == []   # a GET (a mail scanner's, say) only asks; it never votes (issue 17)
    for path in ("/f/", "/feedback/"):
        r = c.post(f"{path}{token}?next=https://evil.example/", data={"csrf": c.csrf(f"{path}{token}")},
                   follow_redirects=False)
        assert r.status_code == 200 and "location" not in r.headers and "evil.example" not in r.text
    assert len(verdicts()) == 1     # one verdict per item and reader, however often it is confirmed


# ------------------------------------------------------------------ item 10: hostile content is inert

HOSTILE_RSS = textwrap.dedent("""\
    <?xml version="1.0" encoding="utf-8"?>
    <rss version="2.0"><channel><title><![CDATA[Hostile <script>alert('chan')</script>]]></title>
    <link>https://hostile.example.org/</link><description>d</description>
    <item>
      <title><![CDATA[Falls in older people <script>alert('t1')</script> frailty guidance]]></title>
      <link>javascript:alert(1)</link><guid>h1</guid>
      <author><![CDATA[<script>alert('a1')</script>Dr Evil]]></author>
      <description><![CDATA[<img src=x onerror="alert('i1')">Frailty services <a href="data:text/html,<script>alert('d1')</script>">more</a> for older people.<svg onload="alert('s1')"></svg><iframe src="https://hostile.example.org/"></iframe>]]></description>
    </item>
    <item>
      <title>Frailty &lt;img src=x onerror=alert('t2')&gt; among older people with falls</title>
      <link>https://hostile.example.org/frailty-2</link><guid>h2</guid>
      <description type="text/plain">&lt;script&gt;alert('p1')&lt;/script&gt;Older people and falls prevention, &lt;a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgnZDInKTwvc2NyaXB0Pg=="&gt;here&lt;/a&gt;.</description>
    </item>
    <item>
      <title>Frailty in older people: a data: link</title>
      <link>data:text/html;base64,PHNjcmlwdD5hbGVydCgnZDMnKTwvc2NyaXB0Pg==</link><guid>h3</guid>
      <description>Falls and frailty among older people.</description>
    </item>
    </channel></rss>
    """).encode()

_DANGER = [
    (re.compile(r"<\s*script", re.I), "a script element"),
    (re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I), "an event-handler attribute"),
    (re.compile(r"""(href|src|action)\s*=\s*["']?\s*(javascript|data|vbscript):""", re.I), "a javascript:/data: URL"),
    (re.compile(r"<\s*(svg|iframe|img|object|embed|style)\b", re.I), "an svg/iframe/img/object/style element"),
]


def _dangers(html: str) -> list[str]:
    return [label for pattern, label in _DANGER if pattern.search(html)]


@pytest.fixture
def hostile(site: Site) -> Site:
    site.feeds.routes["/hostile.xml"] = Route(HOSTILE_RSS)
    sources = site.root / "sources.yaml"
    sources.write_text(sources.read_text() + textwrap.dedent(f"""\
        - id: hostile
          name: "Hostile <script>alert('src')</script> Feed"
          url: {site.feeds.url('/hostile.xml')}
        """))
    site.store.sync_subscribers("ph-team", ["alice@example.nhs.uk"], now=tables.utcnow())
    site.run()
    return site


def _pages(site: Site, c: Client) -> dict[str, str]:
    listing = c.get("/profiles/ph-team/bulletins").text
    pages = {"archive list": listing, "public profile": c.get("/profiles/ph-team").text}
    for page_id in sorted(set(re.findall(r"/profiles/ph-team/bulletins/(\d+)\"", listing))):
        pages[f"bulletin {page_id}"] = c.get(f"/profiles/ph-team/bulletins/{page_id}").text
    c.login("admin@example.nhs.uk")
    pages["librarian profile"] = c.get("/librarian/ph-team").text
    pages["admin"] = c.get("/admin").text
    return pages


def test_hostile_titles_summaries_authors_and_names_are_inert_in_the_web_pages(hostile: Site) -> None:
    c = hostile.client()
    pages = _pages(hostile, c)
    archived = "".join(v for k, v in pages.items() if k.startswith("bulletin"))
    assert "Falls in older people" in archived, "the hostile items must be in the archive for this test to mean anything"
    assert "Frailty" in pages["librarian profile"]
    for name, html in pages.items():
        assert not _dangers(html), f"{name}: {_dangers(html)}"
    # Markup that arrived as text is shown as text, escaped.
    assert "among older people with falls" in archived     # markup sent as text is stripped or escaped


def test_hostile_content_is_inert_in_the_atom_feed_and_downloads(hostile: Site) -> None:
    c = hostile.client()
    r = c.get("/profiles/ph-team/feed.atom")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    atom = "{http://www.w3.org/2005/Atom}"
    titles = [e.findtext(f"{atom}title") or "" for e in root.iter(f"{atom}entry")]
    assert any("Falls in older people" in t for t in titles)
    for el in root.iter():
        assert el.tag.startswith(atom), f"a foreign element {el.tag} in the feed"
        assert el.get("type") in (None, "text"), f"{el.tag} is typed {el.get('type')}: readers would render markup"
        if el.tag == f"{atom}link":
            assert el.get("href", "").startswith(("http://", "https://")), el.get("href")
    listing = c.get("/profiles/ph-team/bulletins").text
    for page_id in set(re.findall(r"/profiles/ph-team/bulletins/(\d+)\"", listing)):
        ris = c.get(f"/profiles/ph-team/bulletins/{page_id}.ris").text
        assert not re.search(r"^UR  - (?!https?://)", ris, re.M)
        csv_text = c.get(f"/profiles/ph-team/bulletins/{page_id}.csv").text
        assert "javascript:" not in csv_text and "data:text" not in csv_text


def test_every_page_sends_a_csp_that_allows_no_script(site: Site) -> None:
    c = site.client()
    for path in ("/", "/profiles/ph-team", "/profiles/ph-team/bulletins", "/login", "/unsubscribe/bad",
                 "/static/awareness.css", "/profiles/ph-team/feed.atom", "/no-such-page"):
        r = c.get(path)
        csp = r.headers.get("content-security-policy", "")
        directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
        assert directives.get("default-src") == "'none'", path
        assert "script-src" not in directives, path            # so default-src 'none' applies to scripts
        assert directives.get("frame-ancestors") == "'none'" and directives.get("form-action") == "'self'", path


@pytest.mark.chromium
def test_no_script_runs_in_a_real_browser(hostile: Site) -> None:
    need_system("Chromium", chromium_path() is not None)
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    from screenshot import CHROMIUM_ARGS

    server = uvicorn.Server(uvicorn.Config(hostile.app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    ran: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()   # JavaScript on: the CSP and the escaping must hold on their own
                page.route(re.compile(r"^(?!http://127\.0\.0\.1:).*"), lambda route: route.abort())
                page.on("dialog", lambda d: (ran.append(d.message), d.dismiss()))
                page.on("console", lambda m: ran.append(m.text) if "alert" in m.text else None)
                page.goto(f"{base}/profiles/ph-team/bulletins")
                links = [h for h in page.eval_on_selector_all("a[href*='/bulletins/']", "els => els.map(e => e.href)") if re.search(r"/bulletins/\d+$", h)]
                for href in [f"{base}/profiles/ph-team", *links]:
                    page.goto(href)
                    page.mouse.move(200, 300)
                assert links, "no archived bulletin to open"
                assert not page.evaluate("() => document.querySelectorAll('script, svg, iframe, img').length")
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert ran == []
