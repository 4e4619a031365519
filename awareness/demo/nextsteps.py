"""After `make demo`: a config file for the demo's data, a staff login, and three commands that work as printed.

Without these a newcomer's next `awareness profiles preview` or `awareness web`
opened a different, empty database.  The demo writes ``var/demo/awareness.toml``
(the same settings it ran with), keeps a staff account's password beside it, and
prints the next commands with that config, so each can be pasted as it is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

from ..store.store import Store
from ..store.users import add_user, has_user, remove_user
from ..config.settings import Settings

STAFF_EMAIL = "demo-librarian@example.org"


def write_config(path: Path, *, database: Path, sources: Path, profiles: Path, outbox: Path, port: int) -> Path:
    """The demo's settings as a config file; TOML strings are written as JSON strings (a subset)."""
    values = {
        "database_url": f"sqlite:///{database}",
        "sources": str(sources),
        "profiles": str(profiles),
        "outbox": str(outbox),
        "sender": "Awareness demo <awareness@example.org>",
        "base_url": f"http://127.0.0.1:{port}",
    }
    lines = ["# Written by `awareness demo`: the demo's own data. Use it with --config, e.g.",
             f"#   awareness --config {path} profiles preview PROFILE"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    lines.append('fetch_allow = ["127.0.0.1"]   # the demo feeds are served on loopback')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def staff_login(store: Store, password_file: Path) -> tuple[str, str]:
    """An admin account for the web app, made once per demo database; its password is kept beside the config."""
    exists = has_user(store, STAFF_EMAIL)
    if exists and password_file.exists():
        return STAFF_EMAIL, password_file.read_text(encoding="utf-8").strip()
    if exists:          # the password was lost: start the account again
        remove_user(store, STAFF_EMAIL)
    password = secrets.token_urlsafe(12)
    add_user(store, STAFF_EMAIL, "admin", password)
    password_file.write_text(password + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    return STAFF_EMAIL, password


def awareness_command(workdir: Path) -> str:
    """How to call this program from ``workdir``: the virtualenv's script when it is there, else `awareness`."""
    script = Path(sys.executable).parent / "awareness"
    if not script.exists():
        return "awareness"
    try:
        return str(script.relative_to(workdir))
    except ValueError:
        return str(script)


def next_commands(workdir: Path, config: Path, profile_id: str, port: int) -> list[str]:
    """Preview a profile, open the web app on the demo data, run the demo again."""
    exe = shlex.quote(awareness_command(workdir))
    try:
        shown = config.relative_to(workdir)
    except ValueError:
        shown = config
    cfg = shlex.quote(str(shown))
    again = f"{exe} demo --keep-db" + (f" --port {port}" if port != 8000 else "")
    return [f"{exe} --config {cfg} profiles preview {shlex.quote(profile_id)}",
            f"{exe} --config {cfg} web --port {port}",
            again]


def demo_environment_warnings() -> list[str]:
    """Settings in the environment would override the demo's config in the next commands: say so."""
    settings = {f"AWARENESS_{f.name.upper()}" for f in dataclasses.fields(Settings)} | {"AWARENESS_SMTP_PASSWORD"}
    loud = sorted(k for k in os.environ if k in settings and k != "AWARENESS_SECRET_KEY")
    return [f"note: {k} is set in your environment and overrides the demo's config in the commands below"
            for k in loud]
