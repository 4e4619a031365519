"""`make demo` runs `awareness demo`: bundled feeds on 127.0.0.1 -> bulletins in var/outbox."""

from __future__ import annotations

import email
import email.policy
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from awareness.cli import main
from awareness.config.profiles import load_profiles
from conftest import example_profile_paths



def test_demo_writes_bulletins_for_every_example_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "profiles").mkdir()
    for path in example_profile_paths():
        shutil.copy(path, tmp_path / "profiles")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo"], env={"AWARENESS_SECRET_KEY": "demo"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output

    outbox = tmp_path / "var" / "outbox"
    emls = sorted(outbox.glob("*.eml"))
    previews = sorted(outbox.glob("*.html"))
    profiles = load_profiles(tmp_path / "profiles")
    expected = sum(len(p.subscribers) for p in profiles)
    assert len(emls) == expected and len(previews) == expected
    for profile in profiles:
        line = next(l for l in result.output.splitlines() if l.strip().startswith(profile.id + " "))
        assert "items to" in line, line
    assert "demo-moved" in result.output, "the deliberately broken source is reported"

    msg = email.message_from_bytes(emls[0].read_bytes(), policy=email.policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    again = CliRunner().invoke(main, ["demo", "--keep-db"], env={"AWARENESS_SECRET_KEY": "demo"},
                               catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert len(list(outbox.glob("*.eml"))) == expected, "a second demo on the same database sends nothing twice"
