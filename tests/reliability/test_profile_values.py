"""Issue 15, cases 4, 5 and 8 (profile parts): values that would break a mail header, aliases that
expand without end, terms with no word in them and schedules that never fire are refused by
`awareness profiles check` at their line, and one such profile never stops the others' bulletins.

Reproduced as a careless or hostile editor would: a name with CR/LF and a Bcc: line, an owner
with two addresses, nested YAML aliases in vocabulary (in a file and in the web editor),
terms "" and "!!!", and the schedule "0 8 31 2 *".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from awareness import pipeline
from awareness.cli import main
from awareness.config.profiles import check_profiles
from awareness.config.sources import load_sources
from relworld import ENV, NOW, PROFILE, frail, make_world, rss
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from webworld import Site, site  # noqa: F401 (the fixture)

GOOD = PROFILE.format(subscribers="[alice@example.org]")
BOMB = "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 6)).replace(
    "l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]", "l1: &l1 [frailty, falls, fall, frail, older]")


def bad(marker: str) -> dict[str, tuple[str, int, str]]:
    """name -> (profile text, the line the error must name, words it must contain)."""
    return {
        "crlf-name": (GOOD.replace("name: Public Health Team", 'name: "Team\\r\\nBcc: everyone@example.org"'),
                      2, "control character"),
        "two-owners": (GOOD.replace("owner: librarian@example.org",
                                    'owner: "lee@example.org, boss@example.org"'), 3, "not one email address"),
        "angled-subscriber": (GOOD.replace("[alice@example.org]", '["alice,bcc@example.org"]'), 6,
                              "not one email address"),
        "alias-bomb": (GOOD.replace("topics:", BOMB.replace("l5:", "vocabulary:") + "topics:"), 8, "alias"),
        "empty-term": (GOOD.replace("terms: [frailty, falls, older people]", 'terms: [frailty, ""]'), 11, "empty"),
        "punctuation-term": (GOOD.replace("terms: [frailty, falls, older people]", 'terms: [frailty, "!!!"]'),
                             11, "no letters or digits"),
        "31-february": (GOOD.replace('"0 8 * * MON"', '"0 8 31 2 *"'), 4, "never fires"),
    }


@pytest.mark.parametrize("name", list(bad("")))
def test_a_value_that_would_break_a_run_is_refused_at_its_line(tmp_path: Path, name: str) -> None:
    text, line, words = bad("")[name]
    path = tmp_path / "team.yaml"
    path.write_text(text)
    profiles, errors = check_profiles([path])
    assert profiles == [] and errors, f"{name} was accepted"
    assert any(e.line == line and words in e.problem for e in errors), (name, [str(e) for e in errors])
    out = CliRunner().invoke(main, ["profiles", "check", str(path)], env=ENV)
    assert out.exit_code != 0 and f"{path}:{line}:" in out.output


def test_possible_but_rare_schedules_and_plain_terms_still_pass(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(GOOD.replace('"0 8 * * MON"', '"0 8 29 2 *"').replace(
        "terms: [frailty, falls, older people]", 'terms: [frailty, "C++", "A&E", "999"]').replace(
        "owner: librarian@example.org", """owner: '"Lee Librarian, MSc" <lee@example.org>'"""))
    assert check_profiles([path])[1] == []


def test_aliases_in_sources_are_refused_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("- &one\n  id: a\n  url: https://example.org/a.xml\n- *one\n")
    with pytest.raises(Exception) as caught:
        load_sources(path)
    assert "alias" in str(caught.value) and ":4" in str(caught.value)


def test_one_profile_that_would_crash_the_run_is_reported_and_the_others_still_go(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(rss([frail(1)]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url,
                       subscribers=["alice@example.org"])
    (world.dir / "profiles" / "a-team.yaml").write_text(bad("")["crlf-name"][0].replace("id: ph-team", "id: a-team")
                                                       .replace("alice@", "amy@"))
    ctx = world.context()
    try:
        report = pipeline.run(ctx, now=NOW, force=True)
    finally:
        ctx.close()
    assert [p.profile_id for p in report.profiles] == ["ph-team"] and report.profiles[0].sent == 1
    assert any("a-team.yaml:2" in str(e) for e in report.profile_errors)
    assert [m["To"] for m in smtp_server.messages] == ["alice@example.org"]
    assert not any(b"Bcc" in m.as_bytes() for m in smtp_server.messages)


def test_the_web_editor_refuses_an_alias_bomb_without_expanding_it(site: Site) -> None:
    c = site.client()
    c.login("librarian@example.nhs.uk")
    path = site.root / "profiles" / "ph-team.yaml"
    before = path.read_text()
    text = before.replace("topics:", BOMB.replace("l5:", "vocabulary:") + "topics:")
    url = "/librarian/ph-team/edit"
    r = c.post(url, data={"csrf": c.csrf(url), "yaml": text, "action": "save"})
    assert r.status_code == 400 and "alias" in r.text and "line 8" in r.text.replace("ph-team.yaml:8", "line 8")
    assert path.read_text() == before
