"""Item 11: hostile or broken profile YAML is refused at file:line, runs no code, and a broken edit
leaves the last good version in force (across separate `awareness run` processes too).
"""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from awareness import pipeline
from awareness.cli import main
from awareness.config.profiles import check_profiles
from relworld import ENV, NOW, PROFILE, frail, make_world, rss, text_of
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route

GOOD = PROFILE.format(subscribers="[alice@example.org]")


def broken(marker: Path) -> dict[str, tuple[str, int, str]]:
    """name -> (profile text, the line the error must name, words the error must contain)."""
    return {
        "python-object-apply": (GOOD.replace("name: Public Health Team",
                                             f'name: !!python/object/apply:os.system ["touch {marker}"]'), 2, "tag"),
        "python-object-new": (GOOD.replace("owner: librarian@example.org",
                                           f"owner: !!python/object/new:subprocess.Popen [[touch, {marker}]]"), 3,
                              "tag"),
        "python-name": (GOOD.replace("lookback_days: 30", "lookback_days: !!python/name:os.system"), 5, "tag"),
        "tab-indent": (GOOD.replace("    title: Frailty", "\ttitle: Frailty"), 9, "tab"),
        "duplicate-key": (GOOD.replace("lookback_days: 30", "lookback_days: 30\nlookback_days: 7"), 6, "set twice"),
        "unknown-key": (GOOD.replace("lookback_days: 30", "lookbak_days: 30"), 5, "unknown setting 'lookbak_days'"),
        "bad-cron": (GOOD.replace('"0 8 * * MON"', '"0 25 * * MON"'), 4, 'hour "25" is not valid'),
        "cron-too-short": (GOOD.replace('"0 8 * * MON"', '"every monday"'), 4, "must have 5 fields"),
    }


@pytest.mark.parametrize("name", list(broken(Path("/x"))))
def test_a_hostile_or_broken_profile_is_refused_at_its_line_and_runs_no_code(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    text, line, words = broken(marker)[name]
    path = tmp_path / "team.yaml"
    path.write_text(text)
    profiles, errors = check_profiles([path])
    assert profiles == []
    assert errors, f"{name} was accepted"
    first = errors[0]
    assert first.path == str(path) and first.line == line, (name, str(first))
    assert words in first.problem, (name, first.problem)
    assert str(first).startswith(f"{path}:{line}: ")
    assert not marker.exists(), "no code ran"
    out = CliRunner().invoke(main, ["profiles", "check", str(path)], env=ENV)
    assert out.exit_code != 0 and f"{path}:{line}:" in out.output


def test_regex_syntax_in_terms_is_literal_text_and_breaks_nothing(tmp_path: Path, http_server: LoopbackHTTPServer,
                                                                   smtp_server: LoopbackSMTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(rss([frail(1)]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url)
    path = world.dir / "profiles" / "ph-team.yaml"
    path.write_text(GOOD.replace("terms: [frailty, falls, older people]",
                                 'terms: [frailty, "(unclosed", "[a-z", "a+b", "\\\\d{2,", "(?P<x"]'))
    assert check_profiles([path])[1] == []
    ctx = world.context()
    report = pipeline.run(ctx, now=NOW)
    assert report.ok and report.profiles[0].sent == 1
    ctx.close()


def test_a_broken_edit_keeps_the_last_good_version_in_force_until_it_is_fixed(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    http_server.routes["/feed.xml"] = Route(rss([frail(1)]))
    world = make_world(tmp_path, {"policy": http_server.url("/feed.xml")}, smtp_url=smtp_server.url,
                       subscribers=["alice@example.org"])
    profile_file = world.dir / "profiles" / "ph-team.yaml"
    ctx = world.context()
    assert pipeline.run(ctx, now=NOW).profiles[0].sent == 1      # the good version is remembered
    ctx.close()

    marker = tmp_path / "pwned"
    profile_file.write_text(textwrap.dedent(f"""\
        id: ph-team
        name: !!python/object/apply:os.system ["touch {marker}"]
        subscribers: [mallory@example.org]
        topics:
          - id: frailty
            title: Frailty
            terms: [frailty]
        """))
    http_server.routes["/feed.xml"] = Route(rss([frail(2), frail(1)]))
    ctx = world.context()
    assert [p.id for p in ctx.profiles] == ["ph-team"], "the team still has its profile"
    assert ctx.profiles[0].subscribers == ["alice@example.org"], "the last good version, not the broken one"
    (error,) = ctx.profile_errors
    assert str(error).startswith(f"{profile_file}:2: ") and "stays in force" in str(error)
    report = pipeline.run(ctx, now=NOW + timedelta(days=7, hours=1))
    ctx.close()
    assert report.profiles[0].sent == 1
    assert not marker.exists()
    assert smtp_server.to("mallory@example.org") == []
    assert "number 2" in text_of(smtp_server.to("alice@example.org")[-1])

    out = CliRunner().invoke(main, ["--config", str(world.config), "run"], env=ENV)
    assert out.exit_code != 0, "the broken file is still reported on every run"
    assert f"{profile_file}:2:" in out.output and "stays in force" in out.output

    profile_file.write_text(GOOD.replace("[alice@example.org]", "[alice@example.org, carol@example.org]"))
    ctx = world.context()
    assert ctx.profile_errors == [] and ctx.profiles[0].subscribers == ["alice@example.org", "carol@example.org"]
    ctx.close()
