"""The web app in a real browser: Debian's headless Chromium driven by Playwright
against uvicorn on 127.0.0.1, mail caught by a real SMTP server.

    a reader: subscribe -> confirm from the email -> receive a bulletin -> view in
              browser -> "not relevant" -> unsubscribe in one click
    a librarian: log in -> edit a profile term -> see the preview change -> save

Every page is screenshotted into var/screenshots/ (kept as test artefacts; the
best are copied to docs/ for the README) and audited with axe-core: no serious
or critical violations allowed.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from conftest import ROOT, chromium_path, need_system
from screenshot import CHROMIUM_ARGS
from servers import LoopbackHTTPServer, LoopbackSMTPServer
from webworld import PASSWORD, Site, build_site, close_site

pytestmark = pytest.mark.chromium

SHOTS = ROOT / "var" / "screenshots"

# A click submits a form and returns before the next page has loaded: every check of
# what a page shows waits for it (expect), with room for a loaded CI machine.
expect.set_options(timeout=20_000)


class LiveServer:
    """uvicorn serving the app on a free loopback port, in a thread."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path, http_server: LoopbackHTTPServer,
         smtp_server: LoopbackSMTPServer) -> Iterator[tuple[Site, str]]:
    need_system("Chromium", chromium_path() is not None)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    site = build_site(tmp_path, http_server, smtp_server, base_url=base)
    with LiveServer(site.app, port):
        yield site, base
    close_site(site)


@pytest.fixture
def page(live: tuple[Site, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1024, "height": 768}, java_script_enabled=False)
            p = context.new_page()
            # Only our own server: a page that needs anything else would show it here as a failure.
            p.route(re.compile(r"^(?!http://127\.0\.0\.1:).*"), lambda route: route.abort())
            yield p
        finally:
            browser.close()


class Audit:
    """Screenshots every page and runs axe-core on it (in a second, script-enabled context:
    our pages run with JavaScript off, but axe is JavaScript)."""

    def __init__(self, page: Any, name_prefix: str) -> None:
        self.page = page
        self.prefix = name_prefix
        self.problems: list[str] = []
        SHOTS.mkdir(parents=True, exist_ok=True)

    def look(self, name: str) -> Path:
        out = SHOTS / f"{self.prefix}-{name}.png"
        self.page.screenshot(path=str(out), full_page=True)
        self._axe(name)
        return out

    def _axe(self, name: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        html = self.page.content()
        url = self.page.url
        browser = self.page.context.browser
        ctx = browser.new_context(viewport={"width": 1024, "height": 768})
        try:
            p = ctx.new_page()
            base = url.split("/", 3)[:3]
            css_url = "/".join(base) + "/static/awareness.css"
            p.route(re.compile(r"^(?!http://127\.0\.0\.1:).*"), lambda route: route.abort())
            p.goto(css_url)
            p.set_content(html.replace('href="/static/awareness.css"', f'href="{css_url}"'), wait_until="load")
            results = Axe().run(p)
        finally:
            ctx.close()
        for v in results.response["violations"]:
            if v["impact"] in ("serious", "critical"):
                targets = "; ".join(", ".join(n["target"]) for n in v["nodes"][:3])
                self.problems.append(f"{name}: {v['id']} ({v['impact']}): {v['help']} — {targets}")


def _in_thread(fn: Any) -> None:
    """Playwright's sync API keeps an event loop running in this thread; the pipeline needs its own."""
    errors: list[BaseException] = []

    def call() -> None:
        try:
            fn()
        except BaseException as e:  # re-raised below
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    t.join(60)
    if errors:
        raise errors[0]


def _link(message: Any, pattern: str) -> str:
    html = message.get_body(preferencelist=("html",)).get_content()
    for href in re.findall(r'href="([^"]+)"', html):
        if re.search(pattern, href):
            return href.replace("&amp;", "&")
    raise AssertionError(f"no link matching {pattern} in the email")


def test_reader_subscribes_confirms_reads_gives_feedback_and_unsubscribes(live: tuple[Site, str], page: Any) -> None:
    from awareness.store.schema import match_feedback, subscribers

    site, base = live
    audit = Audit(page, "reader")
    page.goto(f"{base}/")
    audit.look("home")
    page.get_by_role("link", name="Public Health Team").click()
    audit.look("profile")

    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit.look("profile-error")

    page.get_by_label("Email address").fill("reader@trust.example.nhs.uk")
    page.get_by_label("Maternity and perinatal care").uncheck()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    audit.look("check-email")

    confirmation = site.mails_to("reader@trust.example.nhs.uk")
    assert len(confirmation) == 1
    page.goto(_link(confirmation[0], r"/confirm/"))
    audit.look("confirm")
    page.get_by_role("button", name="Confirm subscription").click()
    expect(page.get_by_role("heading", name="Subscription confirmed")).to_be_visible()
    audit.look("confirmed")

    _in_thread(site.run)                          # the next bulletin goes out
    mails = site.mails_to("reader@trust.example.nhs.uk")
    assert len(mails) == 2
    bulletin = mails[-1]
    text = bulletin.get_body(preferencelist=("plain",)).get_content()
    assert "Preventing falls in older people" in text and "Maternity and neonatal" not in text

    page.goto(_link(bulletin, r"/bulletins/\d+"))    # "View in browser"
    expect(page.get_by_role("heading", name="Frailty and older people")).to_be_visible()
    audit.look("bulletin")
    page.goto(f"{base}/profiles/ph-team/bulletins")
    audit.look("archive")
    page.get_by_label("Search past bulletins").fill("falls older people")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name=re.compile("found for"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Preventing falls in older people")).first).to_be_visible()
    audit.look("archive-search")

    page.goto(_link(bulletin, r"/manage/"))          # the footer's "Manage your subscriptions"
    expect(page.get_by_role("heading", name="Your subscriptions")).to_be_visible()
    assert "Comes every Monday" in page.content()
    page.get_by_label("Weekly digest").check()
    page.get_by_role("button", name="Save how often Public Health Team comes").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("^" + re.escape("Saved: Public Health Team comes every Monday, as a digest")), use_inner_text=True)
    expect(page.get_by_label("Weekly digest")).to_be_checked()
    audit.look("manage")
    page.get_by_label("Pause Public Health Team").check()
    page.get_by_role("button", name="Save how often Public Health Team comes").click()
    expect(page.get_by_role("status")).to_contain_text("is paused", use_inner_text=True)
    audit.look("manage-paused")
    page.get_by_label("Pause Public Health Team").uncheck()
    page.get_by_role("button", name="Save how often Public Health Team comes").click()

    page.goto(_link(bulletin, r"/f/"))               # the first item's "Useful"
    html = bulletin.get_body(preferencelist=("html",)).get_content()
    not_relevant = re.findall(r'href="([^"]*/f/[^"]+)"', html)[1]
    page.goto(not_relevant)
    expect(page.get_by_role("heading", name="Mark this item as not relevant?")).to_be_visible()
    audit.look("feedback-confirm")
    page.get_by_role("button", name="Yes, mark as not relevant").click()
    expect(page.get_by_role("heading", name="Thank you for your feedback")).to_be_visible()
    assert "not relevant" in page.content()
    audit.look("feedback")
    with site.store.engine.connect() as conn:
        verdicts = [r.verdict for r in conn.execute(sa.select(match_feedback))]
    assert verdicts == ["not_relevant"]

    page.goto(_link(bulletin, r"/unsubscribe/"))
    audit.look("unsubscribe")
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(subscribers.c.id).where(
            subscribers.c.email == "reader@trust.example.nhs.uk")).first(), "opening the page changes nothing"
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You have been unsubscribed")).to_be_visible()
    audit.look("unsubscribed")
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(subscribers.c.id).where(
            subscribers.c.email == "reader@trust.example.nhs.uk")).first() is None

    assert not audit.problems, "\n".join(audit.problems)


def test_librarian_edits_a_term_sees_the_preview_change_and_saves(live: tuple[Site, str], page: Any) -> None:
    site, base = live
    audit = Audit(page, "librarian")
    page.goto(f"{base}/librarian")
    assert "/login" in page.url
    audit.look("login")
    page.get_by_label("Email address").fill("librarian@example.nhs.uk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Profiles")).to_be_visible()
    audit.look("profiles")

    page.get_by_role("link", name="Public Health Team").first.click()
    expect(page.get_by_role("heading", name="Preview of the next bulletin")).to_be_visible()
    audit.look("profile")

    page.get_by_role("button", name=re.compile("Exclude.*Hip fracture outcomes")).first.click()
    decisions = page.locator("#judgements + .table-wrap")
    expect(decisions).to_contain_text("Hip fracture outcomes", use_inner_text=True)
    expect(decisions).to_contain_text("Excluded", use_inner_text=True)
    frailty = page.get_by_role("region", name=re.compile("^Frailty and older people"))
    expect(frailty).to_contain_text("excluded by librarian@example.nhs.uk", use_inner_text=True)
    audit.look("judgements")
    page.get_by_role("button", name=re.compile("Undo.*Hip fracture outcomes")).click()
    expect(page.locator("body")).to_contain_text("None yet")

    page.get_by_role("link", name="Edit this profile").click()
    audit.look("editor")
    editor = page.get_by_label("Profile (YAML)")
    yaml_text = editor.input_value()
    edited = yaml_text.replace("terms: [maternity, midwifery, perinatal, antenatal, postnatal]",
                               "terms: [maternity, midwifery, perinatal, antenatal, postnatal, car parking]")
    assert edited != yaml_text
    editor.fill(edited)
    page.get_by_role("button", name="Check and preview changes").click()
    diff = page.get_by_role("region", name="What this edit would change")
    expect(diff).to_contain_text("would be added", use_inner_text=True)
    expect(diff).to_contain_text("Hospital car parking procurement framework renewed", use_inner_text=True)
    audit.look("editor-diff")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_be_visible()
    audit.look("editor-saved")
    assert "car parking" in (site.root / "profiles" / "ph-team.yaml").read_text()

    page.goto(f"{base}/librarian/ph-team")
    maternity = page.get_by_role("region", name=re.compile("^Maternity and perinatal care"))
    expect(maternity).to_contain_text("Hospital car parking procurement framework renewed", use_inner_text=True)
    page.goto(f"{base}/librarian/ph-team/edit")
    page.get_by_label("Profile (YAML)").fill(edited.replace("lookback_days: 14", "lookback_days: lots"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("ph-team.yaml:5", use_inner_text=True)
    audit.look("editor-error")

    assert not audit.problems, "\n".join(audit.problems)


def test_admin_sees_sources_runs_and_subscribers_and_runs_now(live: tuple[Site, str], page: Any) -> None:
    site, base = live
    audit = Audit(page, "admin")
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill("admin@example.nhs.uk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/admin")
    page.get_by_role("button", name="Run now for Public Health Team").click()
    expect(page.get_by_role("heading", name="Run now for Public Health Team?"), "asks first").to_be_visible()
    audit.look("admin-run-confirm")
    page.get_by_role("button", name="Dry run: show what would go, send nothing").click()
    expect(page.get_by_text("Nothing was sent and nothing was marked sent")).to_be_visible()
    audit.look("admin-dry-run")
    page.get_by_role("button", name="Yes, send now").click()
    expect(page.get_by_role("status")).to_be_visible()
    from awareness.store.runlog import list_runs
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not list_runs(site.store) or list_runs(site.store)[0].finished is None):
        time.sleep(0.1)
    page.goto(f"{base}/admin")
    expect(page.get_by_role("table", name="Sources and their health")).to_be_visible()
    expect(page.get_by_role("table", name="Sources and their health")).to_contain_text("working", use_inner_text=True)
    audit.look("admin")
    assert not audit.problems, "\n".join(audit.problems)


def test_librarian_edits_a_topic_in_the_form_and_admin_manages_users(live: tuple[Site, str], page: Any) -> None:
    site, base = live
    audit = Audit(page, "forms")
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill("librarian@example.nhs.uk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/librarian/ph-team")
    page.get_by_role("link", name="Edit the topics").click()
    expect(page.get_by_role("heading", name="Topics of Public Health Team")).to_be_visible()
    terms = page.get_by_label("Terms for Maternity and perinatal care")
    assert terms.input_value().split("\n")[0] == "maternity"
    terms.fill(terms.input_value() + "\ncar parking")
    page.get_by_label("Threshold for Frailty and older people").fill("0.25")
    page.get_by_role("button", name="Check and preview changes").click()
    diff = page.get_by_role("region", name="What this edit would change")
    expect(diff).to_contain_text("Hospital car parking procurement framework renewed", use_inner_text=True)
    audit.look("topics")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("^" + re.escape("Saved.")), use_inner_text=True)
    saved = (site.root / "profiles" / "ph-team.yaml").read_text()
    assert "terms: [maternity, midwifery, perinatal, antenatal, postnatal, car parking]" in saved
    assert "threshold: 0.25" in saved
    page.get_by_label("Threshold for Frailty and older people").fill("very strict")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("the threshold must be a number from 0 to 1", use_inner_text=True)
    audit.look("topics-error")
    page.get_by_role("button", name="Log out").click()

    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill("admin@example.nhs.uk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{base}/admin")
    page.get_by_role("link", name="Users").first.click()
    accounts = page.get_by_role("table", name="Accounts")
    expect(accounts).to_contain_text("librarian@example.nhs.uk", use_inner_text=True)
    page.get_by_role("button", name="Disable librarian@example.nhs.uk").click()
    expect(page.get_by_role("status")).to_contain_text("is disabled", use_inner_text=True)
    page.get_by_role("button", name="Enable librarian@example.nhs.uk").click()
    page.get_by_label("Public Health Team for librarian@example.nhs.uk").check()
    page.get_by_role("button", name="Save profiles of librarian@example.nhs.uk").click()
    expect(page.get_by_label("Public Health Team for librarian@example.nhs.uk")).to_be_checked()
    page.get_by_role("button", name="Reset password of librarian@example.nhs.uk").click()
    expect(page.get_by_role("status")).to_contain_text("shown only now", use_inner_text=True)
    audit.look("users")
    page.get_by_role("button", name="Remove librarian@example.nhs.uk").click()
    expect(page.get_by_role("heading", name="Remove librarian@example.nhs.uk?")).to_be_visible()
    audit.look("user-remove")
    assert not audit.problems, "\n".join(audit.problems)
