"""Librarian and admin endpoints, in-process: login and its rate limit, sessions,
CSRF, the profile page and judgements, the YAML editor, admin pages, the run API."""

from __future__ import annotations

import re
import time
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from awareness.cli import main
from awareness.store.runlog import get_run
from awareness.store.schema import match_judgements, users, web_sessions
from webworld import PASSWORD, Site, site  # noqa: F401 (the fixture)


def test_pages_need_a_login_and_admin_pages_need_an_admin(site: Site) -> None:
    c = site.client()
    for path in ("/librarian", "/librarian/ph-team", "/librarian/ph-team/edit", "/admin"):
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.login("librarian@example.nhs.uk").status_code == 303
    assert c.get("/librarian").status_code == 200
    assert c.get("/admin").status_code == 403
    r = c.post("/admin/run", data={"csrf": c.csrf("/librarian")})
    assert r.status_code == 403


def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(site: Site) -> None:
    c = site.client()
    r = c.login("librarian@example.nhs.uk")
    assert r.status_code == 303 and r.headers["location"] == "/librarian"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("aw_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    key = cookie.split(";")[0].split("=", 1)[1]
    with site.store.engine.connect() as conn:
        stored = conn.execute(sa.select(web_sessions.c.key_hash)).scalars().all()
    assert key not in stored and len(stored) == 1          # only a hash of the key is kept
    assert c.post("/logout", data={"csrf": c.csrf("/librarian")}).status_code == 303
    assert c.get("/librarian").status_code == 303


def test_https_base_url_makes_cookies_secure(site: Site, tmp_path: Path) -> None:
    from dataclasses import replace

    from awareness.web import create_app
    from webworld import Client

    app = create_app(replace(site.settings, base_url="https://awareness.example.nhs.uk"))
    c = Client(app, base_url="https://awareness.example.nhs.uk")
    try:
        r = c.post("/login", data={"csrf": c.csrf("/login"), "email": "librarian@example.nhs.uk",
                                   "password": PASSWORD})
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("aw_session="))
        assert "Secure" in cookie
        assert "max-age" in c.get("/").headers["strict-transport-security"]
    finally:
        c.close()
        app.state.web.store.close()


def test_passwords_are_argon2_hashed(site: Site) -> None:
    with site.store.engine.connect() as conn:
        hashes = conn.execute(sa.select(users.c.password_hash)).scalars().all()
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_wrong_password_then_rate_limit(site: Site) -> None:
    c = site.client()
    for _ in range(5):
        r = c.post("/login", data={"csrf": c.csrf("/login"), "email": "librarian@example.nhs.uk",
                                   "password": "wrong password!"})
        assert r.status_code == 401 and "not right" in r.text
    r = c.post("/login", data={"csrf": c.csrf("/login"), "email": "librarian@example.nhs.uk", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "aw_session" not in r.headers.get("set-cookie", "")
    # Another account from the same client is not locked by these five.
    assert c.login("admin@example.nhs.uk").status_code == 303


def test_login_without_csrf_and_open_redirect_after_login_are_refused(site: Site) -> None:
    c = site.client()
    r = c.post("/login", data={"email": "librarian@example.nhs.uk", "password": PASSWORD})
    assert r.status_code == 400 and "aw_session" not in r.headers.get("set-cookie", "")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = c.post("/login", data={"csrf": c.csrf("/login"), "email": "librarian@example.nhs.uk",
                                   "password": PASSWORD, "next": evil})
        assert r.status_code == 303 and r.headers["location"] == "/librarian"


def test_librarian_profile_page_shows_bulletins_feedback_preview_and_records_judgements(site: Site) -> None:
    c = site.client()
    c.login("librarian@example.nhs.uk")
    page = c.get("/librarian/ph-team")
    assert page.status_code == 200
    assert "Last bulletins" in page.text and "Public Health Team — current awareness" in page.text
    assert "Preventing falls in older people" in page.text and "threshold" in page.text
    item_id = int(re.search(r'name="item_id" value="(\d+)"', page.text).group(1))
    csrf = c.csrf("/librarian/ph-team")
    assert c.post("/librarian/ph-team/judge", data={"item_id": item_id, "topic_id": "frailty",
                                                     "verdict": "exclude"}).status_code == 400
    r = c.post("/librarian/ph-team/judge", data={"csrf": csrf, "item_id": item_id, "topic_id": "frailty",
                                                  "verdict": "exclude"})
    assert r.status_code == 303
    with site.store.engine.connect() as conn:
        rows = conn.execute(sa.select(match_judgements)).all()
    assert [(r.item_id, r.topic_id, r.include, r.who) for r in rows] == [
        (item_id, "frailty", False, "librarian@example.nhs.uk")]
    r = c.post("/librarian/ph-team/judge", data={"csrf": csrf, "item_id": item_id, "topic_id": "nope",
                                                  "verdict": "include"})
    assert r.status_code == 400


def test_editor_validates_with_file_and_line_shows_the_diff_and_saves_keeping_the_old_version(site: Site) -> None:
    c = site.client()
    c.login("librarian@example.nhs.uk")
    path = site.root / "profiles" / "ph-team.yaml"
    original = path.read_text()
    page = c.get("/librarian/ph-team/edit")
    assert "terms: [frailty, falls, older people, hip fracture]" in page.text
    csrf = c.csrf("/librarian/ph-team/edit")

    broken = original.replace("lookback_days: 14", "lookback_days: lots")
    r = c.post("/librarian/ph-team/edit", data={"csrf": csrf, "yaml": broken, "action": "save"})
    assert r.status_code == 400 and "ph-team.yaml:5" in r.text
    assert path.read_text() == original

    edited = original.replace("terms: [maternity, midwifery, perinatal, antenatal, postnatal]",
                              "terms: [maternity, midwifery, perinatal, antenatal, postnatal, procurement, car park]")
    r = c.post("/librarian/ph-team/edit", data={"csrf": csrf, "yaml": edited, "action": "check"})
    assert r.status_code == 200 and "would be added" in r.text
    assert "Hospital car parking procurement framework renewed" in r.text
    assert path.read_text() == original, "checking never saves"

    assert c.post("/librarian/ph-team/edit", data={"yaml": edited, "action": "save"}).status_code == 400
    r = c.post("/librarian/ph-team/edit", data={"csrf": csrf, "yaml": edited, "action": "save"})
    assert r.status_code == 303
    assert path.read_text() == edited
    kept = list((site.root / "profiles" / ".history").iterdir())
    assert len(kept) == 1 and kept[0].read_text() == original
    assert "Saved" in c.get(r.headers["location"]).text


def test_admin_page_and_run_now_button(site: Site) -> None:
    c = site.client()
    c.login("admin@example.nhs.uk")
    page = c.get("/admin")
    assert page.status_code == 200
    assert "Department of Health and Social Care" in page.text and "working" in page.text
    assert re.search(r"Public Health Team</a></td>\s*<td class=\"num\">1</td>", page.text)
    assert c.post("/admin/run", data={"profile": "ph-team"}).status_code == 400    # CSRF missing
    asked = c.post("/admin/run", data={"csrf": c.csrf("/admin"), "profile": "ph-team"})
    assert asked.status_code == 200 and "Yes, send now" in asked.text, "Run now asks for confirmation first"
    r = c.post("/admin/run", data={"csrf": c.csrf("/admin"), "profile": "ph-team", "confirm": "run"})
    assert r.status_code == 303
    run_id = int(r.headers["location"].rsplit("=", 1)[1])
    run = _wait(site, run_id)
    assert run.trigger == "web" and run.who == "admin@example.nhs.uk" and run.profile == "ph-team"
    assert f">{run_id}" in c.get("/admin").text


def test_run_api_needs_the_bearer_token_and_get_never_runs(site: Site) -> None:
    c = site.client()
    assert c.post("/admin/runs", json={}).status_code == 401
    assert c.post("/admin/runs", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/admin/runs", headers={"Authorization": "Bearer test-admin-token"}).status_code == 405
    auth = {"Authorization": "Bearer test-admin-token"}
    assert c.post("/admin/runs", json={"profile": "nope"}, headers=auth).status_code == 404
    assert c.post("/admin/runs", json={"rm": "-rf"}, headers=auth).status_code == 400
    r = c.post("/admin/runs", json={"profile": "ph-team", "source": "policy"}, headers=auth)
    assert r.status_code == 202
    run = _wait(site, r.json()["run"])
    assert (run.profile, run.source) == ("ph-team", "policy")


def test_metrics_endpoint(site: Site) -> None:
    r = site.client().get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "awareness_" in r.text


def test_users_add_command(site: Site) -> None:
    runner = CliRunner()
    env = {"AWARENESS_DATABASE_URL": site.settings.database_url}
    r = runner.invoke(main, ["users", "add", "New@Example.nhs.uk", "--role", "librarian"], env=env,
                      input="a fine long password\na fine long password\n")
    assert r.exit_code == 0, r.output
    assert "added librarian new@example.nhs.uk" in r.output
    r = runner.invoke(main, ["users", "add", "new@example.nhs.uk", "--role", "admin"], env=env,
                      input="another long password\nanother long password\n")
    assert r.exit_code != 0 and "already" in r.output
    r = runner.invoke(main, ["users", "add", "x@example.nhs.uk", "--role", "boss"], env=env, input="p\np\n")
    assert r.exit_code != 0
    c = site.client()
    assert c.login("new@example.nhs.uk", "a fine long password").status_code == 303


def _wait(site: Site, run_id: int):   # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = get_run(site.store, run_id)
        if run is not None and run.finished is not None:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")
