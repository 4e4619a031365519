"""`awareness users`: librarian and admin accounts for the web app, made and granted from the shell."""

from __future__ import annotations

from ..config.settings import Settings
from ..store import users
from ..store.store import Store


def add_user(settings: Settings, email: str, role: str, password: str) -> users.User:
    """Make an account; the password is stored only as an argon2id hash."""
    store = Store(settings.database_url)
    try:
        return users.add_user(store, email, role, password)
    finally:
        store.close()


def grant_profiles(settings: Settings, email: str, profile_ids: list[str]) -> users.User:
    """Let a librarian tune these profiles (besides those they own)."""
    store = Store(settings.database_url)
    try:
        return users.grant_profiles(store, email, profile_ids)
    finally:
        store.close()
