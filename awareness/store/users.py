"""Librarian and admin accounts: passwords, sessions and the login rate limit.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow
RFC 9106's recommendations).  A session cookie holds a random key; the
database keeps only its SHA-256, so a copy of the database lets nobody in.
Failed logins are counted per (client, account) pair, per client and per
account (issue 15): past a limit the login form answers 429 for a short
back-off that doubles with each further failure, so a stranger guessing a
librarian's address from elsewhere does not lock the librarian out.  Each
attempt is reserved (counted as failed) in one locked transaction *before* the
slow argon2 verify, so fifty guesses sent at once cannot all be tried.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from email.utils import parseaddr
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..core.errors import AwarenessError
from .store import Store
from .schema import login_attempts, user_profiles, users, utcnow, web_sessions

ROLES = ("librarian", "admin")
MIN_PASSWORD = 12
SESSION_LIFETIME = timedelta(hours=12)
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5          # per (client, account): the same guesser at the same account
MAX_FAILURES_PER_CLIENT = 20         # per client, across accounts (password spraying)
MAX_FAILURES_PER_ACCOUNT = 100       # per account, from every client (a spread-out attack)
FIRST_BACKOFF = timedelta(seconds=30)

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


def has_user(store: Store, email: str) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.email == email.strip().lower())).first() is not None


def remove_user(store: Store, email: str) -> None:
    """The account goes, with its sessions and grants (the tables cascade)."""
    with store.engine.begin() as conn:
        conn.execute(users.delete().where(users.c.email == email.strip().lower()))


def authenticate(store: Store, email: str, password: str) -> User | None:
    email = email.strip().lower()
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.email == email)).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:      # a disabled account (issue 17) cannot log in
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with store.engine.begin() as conn:
            conn.execute(users.update().where(users.c.id == row.id).values(password_hash=_hasher.hash(password)))
    return User(row.id, row.email, row.role)


# ------------------------------------------------------------------ rate limit

def _wait_after(times: list[datetime], limit: int, now: datetime) -> int:
    """Seconds of back-off once ``limit`` failures are in the window: 30 s, doubling, at most the window."""
    if len(times) < limit:
        return 0
    backoff = min(FIRST_BACKOFF * 2 ** (len(times) - limit), LOGIN_WINDOW)
    return max(0, int((max(times) + backoff - now).total_seconds()) + 1)


def _waits(conn: sa.Connection, email: str, client: str, now: datetime) -> int:
    failed = sa.select(login_attempts.c.email, login_attempts.c.client, login_attempts.c.at).where(
        login_attempts.c.at >= now - LOGIN_WINDOW, login_attempts.c.ok.is_(False),
        sa.or_(login_attempts.c.email == email, login_attempts.c.client == client))
    rows = conn.execute(failed).all()
    pair = [r.at for r in rows if r.email == email and r.client == client]
    by_client = [r.at for r in rows if r.client == client]
    by_account = [r.at for r in rows if r.email == email]
    return max(_wait_after(pair, MAX_FAILURES_PER_EMAIL, now), _wait_after(by_client, MAX_FAILURES_PER_CLIENT, now),
               _wait_after(by_account, MAX_FAILURES_PER_ACCOUNT, now))


def login_wait(store: Store, email: str, client: str, *, now: datetime | None = None) -> int:
    """Seconds before this client may try this account again (0: now)."""
    now = now or utcnow()
    with store.engine.connect() as conn:
        return _waits(conn, email.strip().lower(), client, now)


def reserve_login(store: Store, email: str, client: str, *, now: datetime | None = None) -> tuple[int | None, int]:
    """(attempt id, 0) when this attempt may be verified, or (None, seconds to wait).

    The reserved attempt counts as failed until finish_login() says otherwise; the
    check and the reservation are one transaction under a write lock (SQLite's
    single writer, an advisory lock on PostgreSQL), so concurrent guesses queue."""
    now = now or utcnow()
    email = email.strip().lower()
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(727415)"))
        else:   # take SQLite's write lock first, so no other attempt counts between our read and write
            conn.execute(login_attempts.delete().where(login_attempts.c.at < now - 2 * LOGIN_WINDOW))
        wait = _waits(conn, email, client, now)
        if wait:
            return None, wait
        attempt = conn.execute(login_attempts.insert().values(email=email, client=client, at=now, ok=False))
        return int(attempt.inserted_primary_key[0]), 0


def finish_login(store: Store, attempt_id: int, ok: bool) -> None:
    """A reserved attempt's outcome: a success stops counting against anyone."""
    if ok:
        with store.engine.begin() as conn:
            conn.execute(login_attempts.update().where(login_attempts.c.id == attempt_id).values(ok=True))


def record_login(store: Store, email: str, client: str, ok: bool, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    with store.engine.begin() as conn:
        conn.execute(login_attempts.insert().values(email=email.strip().lower(), client=client, at=now, ok=ok))
        conn.execute(login_attempts.delete().where(login_attempts.c.at < now - 2 * LOGIN_WINDOW))


# ------------------------------------------------------------------ rights per profile

def grant_profiles(store: Store, email: str, profile_ids: list[str]) -> User:
    """Let a librarian tune these profiles too (an admin may tune every profile already)."""
    email = email.strip().lower()
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(users).where(users.c.email == email)).first()
        if row is None:
            raise UserError(f"there is no account for {email}; add it first with `awareness users add`")
        have = set(conn.execute(sa.select(user_profiles.c.profile_id)
                                .where(user_profiles.c.user_id == row.id)).scalars())
        new = sorted(set(profile_ids) - have)
        if new:
            conn.execute(user_profiles.insert(), [dict(user_id=row.id, profile_id=p) for p in new])
    return User(row.id, row.email, row.role)


def granted_profiles(store: Store, user: User) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(user_profiles.c.profile_id)
                                .where(user_profiles.c.user_id == user.id)).scalars())


def may_tune(user: User, profile_id: str, owner: str, granted: set[str]) -> bool:
    """Admins tune every profile; a librarian those they own (the profile's ``owner``) or were granted."""
    if user.is_admin or profile_id in granted:
        return True
    return bool(owner) and parseaddr(owner)[1].strip().lower() == user.email


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
         .where(web_sessions.c.key_hash == _digest(key), web_sessions.c.expires > now,
                users.c.disabled.is_(False)))
    with store.engine.connect() as conn:
        row = conn.execute(q).first()
    return (User(row.id, row.email, row.role), row.csrf) if row else None


def end_session(store: Store, key: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.key_hash == _digest(key)))
