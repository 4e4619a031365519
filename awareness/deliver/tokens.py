"""Signed tokens for the links in a bulletin: unsubscribe, feedback, confirm.

One secret, a different salt per purpose, so a token made for one purpose
cannot be replayed for another.  Tokens are signed, not encrypted: anyone can
read the payload, so it carries opaque ids (profile id, subscriber id, item id)
and never an email address.

A subscriber's links also carry that subscriber's random key (issue 15): a link
names one subscriber and nobody who later gets the same id, and the key can be
changed to revoke every link made before.  Links made before keys existed carry
none; they are honoured only for a subscriber who existed when they were signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from typing import Any, Callable

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..core.errors import AwarenessError

logger = logging.getLogger(__name__)

VERDICTS = ("useful", "not-relevant")
# A bulletin's feedback links: /f/TOKEN, short because a 50-item bulletin carries 100 of them
# (issue 19); /feedback/TOKEN, in emails sent before, is served the same.
FEEDBACK_PATH = "/f/"
OLD_FEEDBACK_PATH = "/feedback/"
FEEDBACK_MAX_AGE = timedelta(days=90)
CONFIRM_MAX_AGE = timedelta(days=3)      # issue 15: a confirmation link lives a few days


class BadToken(AwarenessError):
    """A link's token is forged, damaged, for another purpose or expired."""


class ExpiredToken(BadToken):
    """A link's token was genuine but is too old."""


@dataclass(frozen=True)
class SubscriberLink:
    """What an unsubscribe or preferences link says: whose, and when it was made."""

    profile_id: str
    subscriber_id: int
    key: str                 # "" in links made before subscribers had keys
    issued: datetime


class Signer:
    """Makes and reads the signed tokens that go into bulletin links."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("Signer needs a non-empty secret (set AWARENESS_SECRET_KEY)")
        self._unsubscribe = URLSafeTimedSerializer(secret, salt="awareness.unsubscribe")
        self._feedback = URLSafeTimedSerializer(secret, salt="awareness.feedback")
        self._confirm = URLSafeTimedSerializer(secret, salt="awareness.confirm")
        self._csrf_key = hashlib.sha256(b"awareness.csrf\0" + secret.encode("utf-8")).digest()
        self._feedback_key = hashlib.sha256(b"awareness.feedback.compact\0" + secret.encode("utf-8")).digest()

    # ----------------------------------------------------------------- csrf

    def csrf_token(self, browser_nonce: str) -> str:
        """The hidden form field that goes with a browser's CSRF cookie (web app forms)."""
        return hmac.new(self._csrf_key, browser_nonce.encode("utf-8"), hashlib.sha256).hexdigest()

    def check_csrf(self, browser_nonce: str, token: str) -> bool:
        return bool(browser_nonce) and hmac.compare_digest(self.csrf_token(browser_nonce), token or "")

    # ---------------------------------------------------------- unsubscribe

    def unsubscribe_token(self, profile_id: str, subscriber_id: int, key: str = "") -> str:
        """The unsubscribe and preferences link; ``key`` is the subscriber's (store.subscribers.key)."""
        return self._unsubscribe.dumps([profile_id, int(subscriber_id), key] if key
                                       else [profile_id, int(subscriber_id)])

    def read_unsubscribe(self, token: str) -> tuple[str, int]:
        """No expiry: an unsubscribe link in a year-old email must still work."""
        link = self.read_subscriber_link(token)
        return link.profile_id, link.subscriber_id

    def read_subscriber_link(self, token: str) -> SubscriberLink:
        """The whole link; subscriptions.link_holder() checks it still names a subscriber."""
        payload, issued = _load(self._unsubscribe, token, None, "unsubscribe", (2, 3), with_time=True)
        key = payload[2] if len(payload) == 3 else ""
        if not isinstance(key, str):
            raise BadToken("this unsubscribe link is not valid (unexpected contents)")
        return SubscriberLink(str(payload[0]), _as_int(payload[1], "unsubscribe"), key, issued)

    # ------------------------------------------------------------- feedback

    def feedback_token(self, profile_id: str, subscriber_id: int, item_id: int, verdict: str) -> str:
        return self.feedback_links(profile_id, subscriber_id)(item_id, verdict)

    def feedback_links(self, profile_id: str, subscriber_id: int) -> Callable[[int, str], str]:
        """One reader's feedback tokens for one message: the reader part is made once (issue 19).

        A compact token, ``profile.subscriber.issued.item.verdict.mac`` (numbers in base 36, a
        truncated HMAC-SHA256), about half the length of an itsdangerous one: a 50-item
        bulletin carries 100 of them.  A profile id with a dot gets the older format.
        """
        if "." in profile_id:
            return lambda item_id, verdict: self._feedback.dumps(
                [profile_id, int(subscriber_id), int(item_id), _verdict(verdict)])
        reader = f"{profile_id}.{_b36(int(subscriber_id))}.{_b36(int(time.time()))}."

        def token(item_id: int, verdict: str) -> str:
            body = f"{reader}{_b36(int(item_id))}.{_SHORT[_verdict(verdict)]}"
            return f"{body}.{self._mac(body)}"
        return token

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._feedback_key, body.encode("utf-8"), hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(digest).decode("ascii")

    def read_feedback(self, token: str,
                      max_age: timedelta | int | None = FEEDBACK_MAX_AGE) -> tuple[str, int, int, str]:
        """(profile_id, subscriber_id, item_id, verdict); old feedback links expire."""
        if token.count(".") == 5:
            return self._read_compact(token, max_age)
        profile_id, subscriber_id, item_id, verdict = _load(self._feedback, token, max_age, "feedback", 4)
        if verdict not in VERDICTS:
            raise BadToken("this feedback link carries an unknown verdict")
        return (str(profile_id), _as_int(subscriber_id, "feedback"), _as_int(item_id, "feedback"),
                str(verdict))

    def _read_compact(self, token: str, max_age: timedelta | int | None) -> tuple[str, int, int, str]:
        body, _, mac = token.rpartition(".")
        if not hmac.compare_digest(self._mac(body), mac):
            raise BadToken("this feedback link is not valid (damaged when copied, or not from Awareness)")
        profile_id, subscriber, issued, item, short = body.split(".")
        verdict = {v: k for k, v in _SHORT.items()}.get(short)
        try:
            subscriber_id, item_id, when = int(subscriber, 36), int(item, 36), int(issued, 36)
        except ValueError:
            raise BadToken("this feedback link is not valid (unexpected contents)") from None
        if verdict is None:
            raise BadToken("this feedback link carries an unknown verdict")
        seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
        if seconds is not None and time.time() - when > seconds:
            raise ExpiredToken("this feedback link has expired; ask for a new one")
        return profile_id, subscriber_id, item_id, verdict

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
          purpose: str, length: int | tuple[int, ...], with_time: bool = False) -> Any:
    seconds = max_age.total_seconds() if isinstance(max_age, timedelta) else max_age
    lengths = (length,) if isinstance(length, int) else length
    try:
        payload, issued = serializer.loads(token, max_age=seconds, return_timestamp=True)
    except SignatureExpired:
        raise ExpiredToken(f"this {purpose} link has expired; ask for a new one") from None
    except BadSignature:
        raise BadToken(f"this {purpose} link is not valid (damaged when copied, or not from Awareness)") from None
    if not isinstance(payload, list) or len(payload) not in lengths:
        raise BadToken(f"this {purpose} link is not valid (unexpected contents)")
    if with_time:
        return payload, issued.astimezone(timezone.utc)
    return payload


_SHORT = {"useful": "u", "not-relevant": "n"}
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _verdict(verdict: str) -> str:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not '{verdict}'")
    return verdict


def _b36(n: int) -> str:
    """A non-negative int in base 36 (int(text, 36) reads it back)."""
    if n < 0:
        raise ValueError("ids and times in tokens are never negative")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if not n:
            return out


def _as_int(value: object, purpose: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadToken(f"this {purpose} link is not valid (unexpected contents)")
    return value
