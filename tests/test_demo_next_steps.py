"""`make demo` ends by printing the next three commands; each works exactly as printed, in a fresh shell."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from awareness.cli import main
from conftest import example_profile_paths, without_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_shell() -> dict[str, str]:
    """A newcomer's environment: no AWARENESS_* settings (the test run's own clock stays)."""
    return without_settings()


def printed_commands(output: str) -> list[str]:
    tail = output[output.index("Next, try:"):]
    return [line.strip() for line in tail.splitlines()[1:] if line.startswith("  ") and not line.startswith("    ")]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url}")


def test_demo_prints_three_next_commands_that_work_exactly_as_printed(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "profiles").mkdir()
    for path in example_profile_paths():
        shutil.copy(path, tmp_path / "profiles")
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k not in without_settings()]:
        monkeypatch.delenv(key)
    port = free_port()
    result = CliRunner().invoke(main, ["demo", "--port", str(port)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "demo" / "awareness.toml").is_file()
    preview, web, again = printed_commands(result.output)
    login = re.search(r"log in as (\S+) with password (\S+)", result.output)
    assert login, result.output
    sent = len(list((tmp_path / "var" / "outbox").glob("*.eml")))

    shown = subprocess.run(shlex.split(preview), cwd=tmp_path, env=fresh_shell(), capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "would send" in shown.stdout.lower() or "near-miss" in shown.stdout.lower(), shown.stdout
    assert "no items" not in shown.stdout.lower(), "the preview reads the demo's database, not an empty one"

    server = subprocess.Popen(shlex.split(web), cwd=tmp_path, env=fresh_shell(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            r = browser.post("/login", data={"csrf": csrf, "email": login.group(1), "password": login.group(2),
                                             "next": "/librarian"})
            assert r.status_code == 303, r.text
            profile_id = preview.rsplit(" ", 1)[1]
            page = browser.get(f"/librarian/{profile_id}")
            assert page.status_code == 200
            assert "No bulletin has been sent yet" not in page.text, "the web app shows the demo's bulletins"
    finally:
        server.terminate()
        server.wait(timeout=30)

    rerun = subprocess.run(shlex.split(again), cwd=tmp_path, env=fresh_shell(), capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == sent, "run again: nothing is sent twice"
    assert "Next, try:" in rerun.stdout and login.group(2) in rerun.stdout, "the same login still works"


def test_the_demo_warns_of_settings_in_the_environment_but_not_of_other_variables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from awareness.demo.nextsteps import demo_environment_warnings

    monkeypatch.setenv("AWARENESS_DATABASE_URL", "sqlite:////tmp/elsewhere.db")
    monkeypatch.setenv("AWARENESS_TEST_SOMETHING", "1")       # not a setting: the config never reads it
    warned = " ".join(demo_environment_warnings())
    assert "AWARENESS_DATABASE_URL" in warned
    assert "AWARENESS_TEST_SOMETHING" not in warned
