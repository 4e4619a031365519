"""Issue 16: one signing key per install, so links sent by a CLI run work in the running web app."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

from awareness.config.settings import load_settings
from awareness.web import create_app
from runs_world import make_runs_world
from servers import LoopbackHTTPServer, LoopbackSMTPServer
from webworld import Client
from conftest import without_settings

SHOW_KEY = "import sys; from awareness.config.settings import load_settings; print(load_settings(sys.argv[1]).ensure_secret_key())"


def _env() -> dict[str, str]:
    return without_settings()


def test_processes_started_together_without_a_key_all_use_the_one_made_in_the_data_directory(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, good=1)
    procs = [subprocess.Popen([sys.executable, "-c", SHOW_KEY, str(world.config)], env=_env(), cwd="/",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(keys) == 1 and len(keys.pop()) >= 40     # none read the file before its key was in it
    key_file = tmp_path / "secret_key"        # beside the database: the data directory
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".secret_key.*")), "a draft key file was left behind"


def test_links_in_a_bulletin_sent_by_the_cli_without_a_key_work_in_the_web_app(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, good=1)
    sent = subprocess.run([sys.executable, "-m", "awareness", "--config", str(world.config), "run", "--now"],
                          env=_env(), cwd=tmp_path / "profiles", capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    [mail] = smtp_server.to("cat@example.org")
    link = re.search(r"https://awareness\.example\.org(/unsubscribe/[^>\s]+)", mail["List-Unsubscribe"])
    assert link is not None
    app = create_app(load_settings(world.config, environ={}))    # the web app, also without the variable
    client = Client(app)
    try:
        page = client.get(link.group(1))
    finally:
        client.close()
        app.state.web.store.close()
    assert page.status_code == 200, page.text
    assert "unsubscribe" in page.text.lower()


def test_a_command_without_the_services_key_refuses_instead_of_signing_links_that_would_fail(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, good=1)
    load_settings(world.config, environ={"AWARENESS_SECRET_KEY": "the-service-key"}).ensure_secret_key()
    refused = subprocess.run([sys.executable, "-m", "awareness", "--config", str(world.config), "run", "--now"],
                             env=_env(), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "Set AWARENESS_SECRET_KEY as the service has it" in refused.stderr
    assert smtp_server.messages == [] and http_server.hits("/feed0.xml") == 0
    assert "the-service-key" not in (tmp_path / "secret_key.fingerprint").read_text()
