"""`awareness web` and `users`: the web app and its accounts."""

from __future__ import annotations

import click
import uvicorn

from ..service import admin
from ..web import create_app
from ..web.serving import server_options
from .base import Obj, friendly


# ------------------------------------------------------------------ web app: web, users (issue 6)

@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_obj
@friendly
def web(obj: Obj, host: str, port: int) -> None:
    """Serve the web app alone (subscribe, archive, feedback, librarian and admin pages)."""
    uvicorn.run(create_app(obj.settings), host=host, port=port, log_level="info", **server_options(obj.settings))


@click.group()
def users() -> None:
    """Librarian and admin accounts for the web app."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["librarian", "admin"]), required=True, help="What the account may do.")
@click.password_option(envvar="AWARENESS_USER_PASSWORD", help="The password (asked for when not given).")
@click.pass_obj
@friendly
def users_add(obj: Obj, email: str, role: str, password: str) -> None:
    """Make an account; the password is stored only as an argon2id hash."""
    user = admin.add_user(obj.settings, email, role, password)
    click.echo(f"added {user.role} {user.email}")


@users.command("grant")
@click.argument("email")
@click.argument("profile_ids", nargs=-1, required=True)
@click.pass_obj
@friendly
def users_grant(obj: Obj, email: str, profile_ids: tuple[str, ...]) -> None:
    """Let a librarian tune these profiles (besides those whose owner they are); admins tune all."""
    user = admin.grant_profiles(obj.settings, email, list(profile_ids))
    click.echo(f"{user.email} may tune {', '.join(profile_ids)}")
