"""Librarian and admin accounts: passwords, sessions and the login rate limit.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow
RFC 9106's recommendations).  A session cookie holds a random key; the
database keeps only its SHA-256, so a copy of the database lets nobody in.
Failed logins are counted per address and per client: past the limit the
login form answers 429 until the window has passed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import AwarenessError
from .store import Store, login_attempts, users, utcnow, web_sessions

ROLES = ("librarian", "admin")
MIN_PASSWORD = 12
SESSION_LIFETIME = timedelta(hours=12)
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20

_hasher = PasswordHasher()
# Verified when the address is unknown, so a wrong address costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(AwarenessError):
    """An account cannot be made as asked (bad address, weak password, unknown role, already there)."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def add_user(store: Store, email: str, role: str, password: str, *, now: datetime | None = None) -> User:
    email = email.strip().lower()
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise UserError(f"'{email}' is not an email address")
    if role not in ROLES:
        raise UserError(f"the role must be librarian or admin, not '{role}'")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters long")
    with store.engine.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.email == email)).first():
            raise UserError(f"there is already an account for {email}")
        new_id = conn.execute(users.insert().values(email=email, role=role, password_hash=_hasher.hash(password),
                                                    created=now or utcnow())).inserted_primary_key[0]
    return User(int(new_id), email, role)


def authenticate(store: Store, email: str, password: str) -> User | None:
    email = email.strip().lower()
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.email == email)).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with store.engine.begin() as conn:
            conn.execute(users.update().where(users.c.id == row.id).values(password_hash=_hasher.hash(password)))
    return User(row.id, row.email, row.role)


# ------------------------------------------------------------------ rate limit

def login_wait(store: Store, email: str, client: str, *, now: datetime | None = None) -> int:
    """Seconds before this address or client may try again (0: now)."""
    now = now or utcnow()
    since = now - LOGIN_WINDOW
    email = email.strip().lower()
    with store.engine.connect() as conn:
        def failures(column: sa.Column, value: str) -> list[datetime]:
            return list(conn.execute(sa.select(login_attempts.c.at).where(
                column == value, login_attempts.c.at >= since, login_attempts.c.ok.is_(False))
                .order_by(login_attempts.c.at)).scalars())
        waits = []
        for column, value, limit in ((login_attempts.c.email, email, MAX_FAILURES_PER_EMAIL),
                                     (login_attempts.c.client, client, MAX_FAILURES_PER_CLIENT)):
            times = failures(column, value)
            if len(times) >= limit:
                waits.append(int((times[-limit] + LOGIN_WINDOW - now).total_seconds()) + 1)
    return max(waits, default=0)


def record_login(store: Store, email: str, client: str, ok: bool, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    with store.engine.begin() as conn:
        conn.execute(login_attempts.insert().values(email=email.strip().lower(), client=client, at=now, ok=ok))
        conn.execute(login_attempts.delete().where(login_attempts.c.at < now - 2 * LOGIN_WINDOW))


# ------------------------------------------------------------------ sessions

def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def start_session(store: Store, user: User, *, now: datetime | None = None) -> str:
    """A new session; returns the cookie value (kept by the browser only)."""
    now = now or utcnow()
    key = secrets.token_urlsafe(32)
    with store.engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.expires < now))
        conn.execute(web_sessions.insert().values(key_hash=_digest(key), user_id=user.id,
                                                  csrf=secrets.token_urlsafe(32), created=now,
                                                  expires=now + SESSION_LIFETIME))
    return key


def session_user(store: Store, key: str, *, now: datetime | None = None) -> tuple[User, str] | None:
    """(user, the session's CSRF token) for a live session cookie."""
    if not key:
        return None
    now = now or utcnow()
    q = (sa.select(users.c.id, users.c.email, users.c.role, web_sessions.c.csrf)
         .select_from(web_sessions.join(users, users.c.id == web_sessions.c.user_id))
         .where(web_sessions.c.key_hash == _digest(key), web_sessions.c.expires > now))
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    return (User(row.id, row.email, row.role), row.csrf) if row else None


def end_session(store: Store, key: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.key_hash == _digest(key)))
