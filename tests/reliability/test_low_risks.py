"""Issue 15, case 8: /metrics needs a token or this host; a librarian tunes only their own profiles
(or those granted); links lose any user name and password, titles their bidi overrides.

Reproduced as an outsider and as a colleague would: /metrics from another address and
through a proxy on this host; one librarian opening and saving another team's editor; a
feed whose link is https://user:secret@... and whose title carries U+202E.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from click.testing import CliRunner

from awareness import pipeline
from awareness.cli import main
from awareness.store import users as _users
from awareness.web import create_app
from relworld import ENV, NOW, Entry, make_world, rss, text_of, html_of
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from webworld import PROFILE, Site, make_settings, site  # noqa: F401 (site: the fixture)


def get(app: object, path: str, client: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """One request to the app as if from ``client`` (the ASGI scope's peer address)."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get(path, headers=headers or {})
    return asyncio.run(go())


def test_metrics_are_for_this_host_or_a_token_holder(site: Site) -> None:
    app = site.app
    assert get(app, "/metrics", "203.0.113.9").status_code == 403
    assert get(app, "/metrics", "127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    mine = get(app, "/metrics", "127.0.0.1")
    assert mine.status_code == 200 and "awareness_" in mine.text

    with_token = create_app(make_settings(site.root, site.smtp.url, metrics_token="scrape-me-please"))
    try:
        assert get(with_token, "/metrics", "127.0.0.1").status_code == 401
        assert get(with_token, "/metrics", "203.0.113.9", {"Authorization": "Bearer wrong"}).status_code == 401
        ok = get(with_token, "/metrics", "203.0.113.9", {"Authorization": "Bearer scrape-me-please"})
        assert ok.status_code == 200 and "awareness_" in ok.text
    finally:
        with_token.state.web.store.close()


def test_a_librarian_tunes_only_the_profiles_they_own_or_were_given(site: Site) -> None:
    other = site.root / "profiles" / "mh-team.yaml"
    other.write_text(PROFILE.replace("id: ph-team", "id: mh-team").replace("Public Health Team", "Mental Health Team")
                     .replace("Lee Librarian <librarian@example.nhs.uk>", "Mo Other <mo@example.nhs.uk>"))
    before = other.read_text()
    c = site.client()
    c.login("librarian@example.nhs.uk")
    assert "Mental Health Team" not in c.get("/librarian").text
    assert c.get("/librarian/ph-team/edit").status_code == 200          # their own (owner:)
    assert c.get("/librarian/mh-team/edit").status_code == 403
    assert c.get("/librarian/mh-team").status_code == 403
    csrf = c.csrf("/librarian/ph-team/edit")
    r = c.post("/librarian/mh-team/edit", data={"csrf": csrf, "yaml": before.replace("Mental", "Hacked"),
                                                "action": "save"})
    assert r.status_code == 403 and other.read_text() == before
    r = c.post("/librarian/mh-team/judge", data={"csrf": csrf, "item_id": "1", "topic_id": "frailty",
                                                 "verdict": "exclude"})
    assert r.status_code == 403

    admin = site.client()
    admin.login("admin@example.nhs.uk")
    assert admin.get("/librarian/mh-team/edit").status_code == 200

    _users.grant_profiles(site.store, "librarian@example.nhs.uk", ["mh-team"])
    assert c.get("/librarian/mh-team/edit").status_code == 200
    assert "Mental Health Team" in c.get("/librarian").text


def test_users_grant_on_the_command_line(tmp_path: Path, smtp_server: LoopbackSMTPServer) -> None:
    world = make_world(tmp_path, {})
    runner = CliRunner()
    env = {**ENV, "AWARENESS_USER_PASSWORD": "a long librarian passphrase"}
    base = ["--config", str(world.config), "users"]
    assert runner.invoke(main, [*base, "add", "lee@example.org", "--role", "librarian"], env=env).exit_code == 0
    out = runner.invoke(main, [*base, "grant", "lee@example.org", "ph-team", "mh-team"], env=env)
    assert out.exit_code == 0 and "ph-team, mh-team" in out.output
    out = runner.invoke(main, [*base, "grant", "nobody@example.org", "ph-team"], env=env)
    assert out.exit_code != 0 and "no account for nobody@example.org" in out.output


def test_links_lose_their_password_and_titles_their_bidi_overrides(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    entry = Entry(guid="x-1", title="Frailty and falls: report \u202efdp.exe for older people",
                  link="https://reader:s3cret-pass@example.org/pub/x-1")
    http_server.routes["/feed.xml"] = Route(rss([entry]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url,
                       subscribers=["alice@example.org"])
    ctx = world.context()
    try:
        assert pipeline.run(ctx, now=NOW, force=True).profiles[0].sent == 1
    finally:
        ctx.close()
    (mail,) = smtp_server.messages
    for shown in (text_of(mail), html_of(mail)):
        assert "s3cret-pass" not in shown and "reader:" not in shown and "\u202e" not in shown
        assert "https://example.org/pub/x-1" in shown
        assert "report fdp.exe for older people" in shown
    assert b"s3cret" not in smtp_server.handler.raw[0]
