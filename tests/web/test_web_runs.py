"""Issue 16 in the admin pages: what each run did, skipped sources, Run now with a confirmation and a dry run."""

from __future__ import annotations

import html
import re

from awareness.store import runlog
from awareness.service import runs as service
from awareness.store.schema import utcnow
from servers import Route
from webworld import Site, site  # noqa: F401 (the fixture)


def _break_things(site: Site) -> int:  # noqa: F811
    """A failing feed and a refused entry in sources.yaml; returns the refused entry's line."""
    site.feeds.routes["/down.xml"] = Route(b"gone", status=500)
    path = site.root / "sources.yaml"
    path.write_text(path.read_text() + f"- id: down\n  url: {site.feeds.url('/down.xml')}\n"
                    "- id: intranet\n  url: http://10.1.2.3/feed.xml\n")
    return len(path.read_text().splitlines())   # the refused url: the last line


def test_the_admin_page_shows_skipped_sources_and_each_runs_counts_and_details(site: Site) -> None:  # noqa: F811
    line = _break_things(site)
    run_id, _ = service.run_recorded(site.settings, trigger="cli", who="ops")
    c = site.client()
    c.login("admin@example.nhs.uk")
    page = html.unescape(c.get("/admin").text)
    assert "Sources that cannot be gathered" in page
    assert f"sources.yaml:{line}: source 'intranet': refused http://10.1.2.3/feed.xml" in page
    assert "add it to fetch_allow" in page
    assert re.search(r"<th[^>]*>Sources failed</th>\s*<th[^>]*>Profiles failed</th>\s*<th[^>]*>Bulletins sent</th>",
                     page)
    assert "Started (Europe/London)" in page and re.search(r"\d\d:\d\d (GMT|BST)</td>", page), "local times"
    assert f'<a href="/admin/runs/{run_id}">' in page and ">partial<" in page

    details = c.get(f"/admin/runs/{run_id}")
    assert details.status_code == 200
    assert f"Run {run_id}: partial" in details.text
    assert re.search(r"<td>down</td><td><span class=\"tag tag-bad\">failed</span></td><td class=\"num\">0</td>"
                     r"<td>HTTP 500", details.text)
    assert "Skipped entries in sources.yaml" in details.text and "Public Health Team" in details.text
    as_json = c.get(f"/admin/runs/{run_id}", headers={"Authorization": "Bearer test-admin-token"}).json()
    assert as_json["status"] == "partial" and as_json["details"]["sources"]["down"]["outcome"] == "failed"
    assert c.get("/admin/runs/999").status_code == 404
    assert site.client().get(f"/admin/runs/{run_id}").status_code in (303, 200)   # no login: to the login page


def test_run_now_asks_first_and_its_dry_run_lists_what_would_go_and_sends_nothing(site: Site) -> None:  # noqa: F811
    site.feeds.routes["/policy.xml"] = Route(site.feeds.routes["/policy.xml"].body.replace(  # type: ignore[union-attr]
        b"</channel>", b"<item><title>Frailty: new falls clinic guidance</title><link>https://example.org/pub/new-falls"
        b"</link><guid>new-falls</guid><description>Frailty and falls in older people.</description></item></channel>"),
        conditional=False)
    c = site.client()
    c.login("admin@example.nhs.uk")
    before = len(site.smtp.messages)
    asked = c.post("/admin/run", data={"csrf": c.csrf("/admin")})
    assert asked.status_code == 200
    assert "Yes, send now" in asked.text and "Dry run: show what would go" in asked.text
    assert "Public Health Team: 1 subscriber" in asked.text
    dry = c.post("/admin/run", data={"csrf": c.csrf("/admin"), "confirm": "dry-run"})
    assert dry.status_code == 200 and "Nothing was sent and nothing was marked sent" in dry.text
    assert "to alice@example.nhs.uk" in dry.text and "new falls clinic guidance" in dry.text
    assert len(site.smtp.messages) == before and runlog.list_runs(site.store) == []


def test_a_run_whose_process_died_shows_as_interrupted(site: Site) -> None:  # noqa: F811
    dead = runlog.start_run(site.store, trigger="cli", who="ops", profile=None, source=None,
                            holder="some-host:999999:abc")
    with site.store.engine.begin() as conn:   # its lock row went stale long ago
        from awareness.store.schema import scheduler_lock
        conn.execute(scheduler_lock.insert().values(name="run", holder="some-host:999999:abc",
                                                    acquired=utcnow(), heartbeat=utcnow().replace(year=2020)))
    c = site.client()
    c.login("admin@example.nhs.uk")
    page = c.get("/admin").text
    assert ">interrupted<" in page and "its process was killed or the machine stopped" in page
    assert runlog.get_run(site.store, dead).status == "interrupted"  # type: ignore[union-attr]


def test_the_librarian_preview_is_the_next_bulletin_and_says_why_items_are_left_out(site: Site) -> None:  # noqa: F811
    c = site.client()
    c.login("librarian@example.nhs.uk")
    page = html.unescape(c.get("/librarian/ph-team").text)
    assert "The next bulletin, if it were sent now: 0 items" in page, "the site's one bulletin was sent already"
    assert "not in the next bulletin</span> already sent" in page
