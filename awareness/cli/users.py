"""`awareness users`: librarian and admin accounts for the web app."""

from __future__ import annotations

import click

from ..service import accounts
from .base import Obj, friendly


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
    user = accounts.add_user(obj.settings, email, role, password)
    click.echo(f"added {user.role} {user.email}")


@users.command("grant")
@click.argument("email")
@click.argument("profile_ids", nargs=-1, required=True)
@click.pass_obj
@friendly
def users_grant(obj: Obj, email: str, profile_ids: tuple[str, ...]) -> None:
    """Let a librarian tune these profiles (besides those whose owner they are); admins tune all."""
    user = accounts.grant_profiles(obj.settings, email, list(profile_ids))
    click.echo(f"{user.email} may tune {', '.join(profile_ids)}")
