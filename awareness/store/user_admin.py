"""The administrator's users page: list accounts, disable, remove, reset a password, rights per profile.

Logging in and sessions live in users.py; this module changes accounts.  Each
change that takes rights away ends the account's sessions at once.  No change
may leave the service without an administrator who can log in, and an
administrator cannot lock themselves out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .schema import user_profiles, users, web_sessions
from .store import Store
from .users import UserError, _hasher

NEW_PASSWORD_BYTES = 12            # 16 characters of base64url: shown once to the administrator


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: str
    disabled: bool
    created: datetime
    profiles: tuple[str, ...]      # profiles granted to this librarian (admins tune every profile)


def list_accounts(store: Store) -> list[Account]:
    with store.engine.connect() as conn:
        granted: dict[int, list[str]] = {}
        for user_id, profile_id in conn.execute(sa.select(user_profiles.c.user_id, user_profiles.c.profile_id)
                                                .order_by(user_profiles.c.profile_id)):
            granted.setdefault(int(user_id), []).append(profile_id)
        rows = conn.execute(sa.select(users).order_by(users.c.role, users.c.email)).all()
    return [Account(int(r.id), r.email, r.role, bool(r.disabled), r.created, tuple(granted.get(int(r.id), [])))
            for r in rows]


def get_account(store: Store, user_id: int) -> Account:
    found = next((a for a in list_accounts(store) if a.id == user_id), None)
    if found is None:
        raise UserError(f"there is no account {user_id}; it may have been removed already")
    return found


def _end_sessions(conn: sa.Connection, user_id: int) -> None:
    conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id))


def _check_not_last_admin(store: Store, account: Account, acting_id: int, what: str) -> None:
    if account.id == acting_id:
        raise UserError(f"you cannot {what} your own account; ask another administrator")
    if account.role == "admin":
        live = [a for a in list_accounts(store) if a.role == "admin" and not a.disabled and a.id != account.id]
        if not live:
            raise UserError(f"{account.email} is the last administrator who can log in; make another first")


def set_disabled(store: Store, user_id: int, disabled: bool, *, acting_id: int) -> Account:
    account = get_account(store, user_id)
    if disabled:
        _check_not_last_admin(store, account, acting_id, "disable")
    with store.engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(disabled=disabled))
        if disabled:
            _end_sessions(conn, user_id)
    return get_account(store, user_id)


def remove_account(store: Store, user_id: int, *, acting_id: int) -> Account:
    account = get_account(store, user_id)
    _check_not_last_admin(store, account, acting_id, "remove")
    with store.engine.begin() as conn:
        _end_sessions(conn, user_id)
        conn.execute(user_profiles.delete().where(user_profiles.c.user_id == user_id))
        conn.execute(users.delete().where(users.c.id == user_id))
    return account


def reset_password(store: Store, user_id: int) -> str:
    """A new random password (returned once, never stored in the clear); the old one and its sessions end."""
    get_account(store, user_id)
    password = secrets.token_urlsafe(NEW_PASSWORD_BYTES)
    with store.engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(password_hash=_hasher.hash(password)))
        _end_sessions(conn, user_id)
    return password


def set_profiles(store: Store, user_id: int, profile_ids: list[str]) -> Account:
    """Exactly these profiles for this librarian (besides those they own by the profile's ``owner``)."""
    get_account(store, user_id)
    with store.engine.begin() as conn:
        conn.execute(user_profiles.delete().where(user_profiles.c.user_id == user_id))
        if profile_ids:
            conn.execute(user_profiles.insert(), [dict(user_id=user_id, profile_id=p) for p in sorted(set(profile_ids))])
    return get_account(store, user_id)
