"""Signed tokens for the links in a bulletin: unsubscribe, feedback, confirm.

One secret, a different salt per purpose, so a token made for one purpose
cannot be replayed for another.  Tokens are signed, not encrypted: anyone can
read the payload, so it carries opaque ids (profile id, subscriber id, item id)
and never an email address.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import AwarenessError

logger = logging.getLogger(__name__)

VERDICTS = ("useful", "not-relevant")
FEEDBACK_MAX_AGE = timedelta(days=90)
CONFIRM_MAX_AGE = timedelta(days=7)


class BadToken(AwarenessError):
    """A link's token is forged, damaged, for another purpose or expired."""


class ExpiredToken(BadToken):
    """A link's token was genuine but is too old."""


class Signer:
    """Makes and reads the signed tokens that go into bulletin links."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("Signer needs a non-empty secret (set AWARENESS_SECRET_KEY)")
        self._unsubscribe = URLSafeTimedSerializer(secret, salt="awareness.unsubscribe")
        self._feedback = URLSafeTimedSerializer(secret, salt="awareness.feedback")
        self._confirm = URLSafeTimedSerializer(secret, salt="awareness.confirm")
        self._csrf_key = hashlib.sha256(b"awareness.csrf\0" + secret.encode("utf-8")).digest()

    # ----------------------------------------------------------------- csrf

    def csrf_token(self, browser_nonce: str) -> str:
        """The hidden form field that goes with a browser's CSRF cookie (web app forms)."""
        return hmac.new(self._csrf_key, browser_nonce.encode("utf-8"), hashlib.sha256).hexdigest()

    def check_csrf(self, browser_nonce: str, token: str) -> bool:
        return bool(browser_nonce) and hmac.compare_digest(self.csrf_token(browser_nonce), token or "")

    # ---------------------------------------------------------- unsubscribe

    def unsubscribe_token(self, profile_id: str, subscriber_id: int) -> str:
        return self._unsubscribe.dumps([profile_id, int(subscriber_id)])

    def read_unsubscribe(self, token: str) -> tuple[str, int]:
        """No expiry: an unsubscribe link in a year-old email must still work."""
        profile_id, subscriber_id = _load(self._unsubscribe, token, None, "unsubscribe", 2)
        return str(profile_id), _as_int(subscriber_id, "unsubscribe")

    # ------------------------------------------------------------- feedback

    def feedback_token(self, profile_id: str, subscriber_id: int, item_id: int, verdict: str) -> str:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not '{verdict}'")
        return self._feedback.dumps([profile_id, int(subscriber_id), int(item_id), verdict])

    def read_feedback(self, token: str,
                      max_age: timedelta | int | None = FEEDBACK_MAX_AGE) -> tuple[str, int, int, str]:
        """(profile_id, subscriber_id, item_id, verdict); old feedback links expire."""
        profile_id, subscriber_id, item_id, verdict = _load(self._feedback, token, max_age, "feedback", 4)
        if verdict not in VERDICTS:
            raise BadToken("this feedback link carries an unknown verdict")
        return (str(profile_id), _as_int(subscriber_id, "feedback"), _as_int(item_id, "feedback"),
                str(verdict))

    # -------------------------------------------------------------- confirm

    def confirm_token(self, profile_id: str, ref: str) -> str:
        # ``ref`` is the opaque key of a pending subscription (subscriptions.py),
        # never the address being confirmed; the token expires after a week.
        return self._confirm.dumps([profile_id, ref])

    def read_confirm(self, token: str,
                     max_age: timedelta | int | None = CONFIRM_MAX_AGE) -> tuple[str, str]:
        profile_id, email = _load(self._confirm, token, max_age, "confirmation", 2)
        return str(profile_id), str(email)


def _load(serializer: URLSafeTimedSerializer, token: str, max_age: timedelta | int | None,
          purpose: str, length: int) -> list[object]:
    seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
    try:
        payload = serializer.loads(token, max_age=seconds)
    except SignatureExpired:
        raise ExpiredToken(f"this {purpose} link has expired; ask for a new one") from None
    except BadSignature:
        raise BadToken(f"this {purpose} link is not valid (damaged when copied, or not from Awareness)") from None
    if not isinstance(payload, list) or len(payload) != length:
        raise BadToken(f"this {purpose} link is not valid (unexpected contents)")
    return payload


def _as_int(value: object, purpose: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadToken(f"this {purpose} link is not valid (unexpected contents)")
    return value
