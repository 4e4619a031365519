"""Hand bulletin emails (``message.build_message``) to a mail server, or to an outbox folder.

A ``Transport`` sends one: ``SmtpTransport`` over
one reused connection, ``OutboxTransport`` into ``.eml`` files for demos and
for trying templates.  A failed send raises ``DeliveryError`` and changes
nothing: marking items as sent is the caller's job, after ``send`` returns.
The error says what became of the message (``fate``): not sent (safe to send
again; ``send_with_retry`` does so with growing pauses while it is temporary),
refused for good (a 5xx), or unknown (the line dropped after the data went
out): the only case in which a reader may get a message twice.
"""

from __future__ import annotations

import email.generator
import email.policy
import io
import logging
import os
import re
import smtplib
import ssl
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Callable, Protocol
from urllib.parse import unquote, urlsplit

from ..config.settings import Settings
from ..core.errors import DeliveryError

logger = logging.getLogger(__name__)

SMTP_TIMEOUT = 30.0
_RETRY_HINT = "nothing was marked sent; the next run will retry"


def _profile_of(message: EmailMessage) -> str:
    """The profile id from List-Id (``<profile-id.list-domain>``), for file names."""
    m = re.search(r"<([a-z0-9][a-z0-9_-]*)\.", str(message.get("List-Id", "")))
    return m.group(1) if m else "message"


# ------------------------------------------------------------------ transports

class Transport(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver or raise DeliveryError; never half-deliver."""

    def close(self) -> None: ...


class OutboxTransport:
    """Writes each message to ``<timestamp>-<profile>-<n>.eml`` plus an ``.html`` preview."""

    def __init__(self, outbox_dir: Path | str) -> None:
        self.outbox = Path(outbox_dir)
        self.written: list[Path] = []
        self._n = 0

    def send(self, message: EmailMessage) -> None:
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
            stem = self._free_stem(_profile_of(message))
            html = message.get_body(preferencelist=("html",))
            if html is not None:
                _atomic_write(self.outbox / f"{stem}.html", html.get_content().encode("utf-8"))
            # The .eml goes last: its presence means the whole message is there.
            eml = self.outbox / f"{stem}.eml"
            _atomic_write(eml, message.as_bytes(policy=email.policy.default))
        except OSError as e:
            raise DeliveryError(f"could not write to the outbox {self.outbox}: {e.strerror or e} "
                                f"— {_RETRY_HINT}") from e
        self.written.append(eml)
        logger.info("wrote %s", eml)   # no addresses in logs (issue 5)

    def _free_stem(self, profile_id: str) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        while True:
            self._n += 1
            stem = f"{stamp}-{profile_id}-{self._n}"
            if not (self.outbox / f"{stem}.eml").exists():
                return stem

    def close(self) -> None:
        pass

    def __enter__(self) -> "OutboxTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class SmtpTransport:
    """One SMTP connection reused for many messages, reopened once if the server dropped it.

    ``smtp://host:25`` plain, ``smtps://host:465`` implicit TLS,
    ``smtp+starttls://user@host:587`` STARTTLS then login.
    """

    DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}

    def __init__(self, url: str, password: str = "", *, timeout: float = SMTP_TIMEOUT,
                 tls_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in self.DEFAULT_PORTS or not parts.hostname:
            raise DeliveryError(f"'{url}' is not an SMTP URL; use smtp://host:25, smtps://host:465 "
                                "or smtp+starttls://user@host:587")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or self.DEFAULT_PORTS[parts.scheme]
        self.user = unquote(parts.username) if parts.username else ""
        self.password = password or (unquote(parts.password) if parts.password else "")
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # ---------------------------------------------------------- connection

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp: smtplib.SMTP
            if self.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.tls_context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                smtp.ehlo_or_helo_if_needed()
                if self.scheme == "smtp+starttls":
                    smtp.starttls(context=self.tls_context)
                    smtp.ehlo()
                if self.user:
                    if self.scheme == "smtp":
                        logger.warning("logging in to %s without TLS; use smtp+starttls:// or smtps://",
                                       self.where)
                    smtp.login(self.user, self.password)
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(f"the mail server {self.where} refused the login for '{self.user}': "
                                f"{_reply(e)}; check AWARENESS_SMTP_PASSWORD — {_RETRY_HINT}", unreachable=True) from e
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(f"the mail server {self.where} does not support {e}; check the "
                                f"scheme of smtp_url — {_RETRY_HINT}") from e
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"could not connect to the mail server {self.where}: {_reason(e)} "
                                f"— {_RETRY_HINT}", unreachable=True, temporary=True) from e
        logger.info("connected to mail server %s", self.where)
        return smtp

    # ---------------------------------------------------------- sending

    def send(self, message: EmailMessage) -> None:
        reused = self._smtp is not None
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._send_once(self._smtp, message)
        except _DroppedBeforeData as e:
            self._drop()
            if not reused:
                raise DeliveryError(f"the mail server {self.where} closed the connection: {_reason(e.cause)} "
                                    f"— {_RETRY_HINT}", temporary=True) from e.cause
            # An idle connection the server has since closed: reopen once and try again.
            # Safe, because the message data had not gone out.
            logger.info("mail server %s dropped the connection; reconnecting", self.where)
            self._smtp = self._connect()
            try:
                self._send_once(self._smtp, message)
            except _DroppedBeforeData as e2:
                self._drop()
                raise DeliveryError(f"the mail server {self.where} closed the connection twice: "
                                    f"{_reason(e2.cause)} — {_RETRY_HINT}", temporary=True) from e2.cause
        logger.debug("sent %s via %s", message["Message-ID"], self.where)   # no addresses in logs (issue 5)

    def _send_once(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        """One SMTP transaction, step by step, so that a failure is known to be before or after the data.

        Before the data went out nothing can have arrived and the message may be
        sent again; once it has gone out, a dropped connection leaves its fate
        unknown (``fate="unknown"``), and it is never resent within the run.
        """
        sender = parseaddr(str(message["From"]))[1]
        recipient = parseaddr(str(message["To"]))[1]
        international = not (sender + recipient).isascii()
        try:
            smtp.ehlo_or_helo_if_needed()
            options = []
            if international:
                if not smtp.has_extn("smtputf8"):
                    raise DeliveryError(f"the mail server {self.where} cannot take the address {recipient} "
                                        "(it does not support SMTPUTF8); the address was marked as refused",
                                        fate="refused")
                options = ["SMTPUTF8", "BODY=8BITMIME"]
            code, reply = smtp.mail(sender, options)
            if code != 250:
                self._reset(smtp)
                raise DeliveryError(f"the mail server {self.where} refused the sender {sender}: {code} "
                                    f"{_text(reply)}; check the 'sender' setting — {_RETRY_HINT}",
                                    unreachable=True, temporary=400 <= code < 500)
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                self._reset(smtp)
                raise self._refusal(f"the recipient {recipient}", code, reply)
            code, reply = smtp.docmd("data")
            if code != 354:
                self._reset(smtp)
                raise self._refusal(f"the message for {recipient}", code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            raise _DroppedBeforeData(e) from e
        payload = _payload(message, international)
        try:
            smtp.send(payload)
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            self._drop()
            raise DeliveryError(f"the connection to the mail server {self.where} was lost after the message for "
                                f"{recipient} had been sent ({_reason(e)}); it may or may not have arrived. "
                                "Nothing was marked sent, so the next run sends it again and the reader may get "
                                "it twice", fate="unknown") from e
        if code != 250:
            raise self._refusal(f"the message for {recipient}", code, reply)

    def _refusal(self, what: str, code: int, reply: bytes | str) -> DeliveryError:
        if 400 <= code < 500:
            return DeliveryError(f"the mail server {self.where} turned away {what} for now: {code} {_text(reply)} "
                                 f"— {_RETRY_HINT}", temporary=True, unreachable=code == 421)
        return DeliveryError(f"the mail server {self.where} refused {what}: {code} {_text(reply)}; this is "
                             "permanent, so it is marked as refused and not sent again", fate="refused")

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._drop()

    def __enter__(self) -> "SmtpTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reply(e: smtplib.SMTPResponseException) -> str:
    text = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
    return f"{e.smtp_code} {text}"


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__


class _DroppedBeforeData(Exception):
    """The connection failed before any message data was sent: nothing can have arrived."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _payload(message: EmailMessage, international: bool) -> bytes:
    """The DATA payload as smtplib's send_message would make it: CRLF lines, dots doubled, ending CRLF.CRLF."""
    buffer = io.BytesIO()
    policy = message.policy.clone(utf8=True) if international else message.policy  # type: ignore[call-arg]
    email.generator.BytesGenerator(buffer, policy=policy).flatten(message, linesep="\r\n")
    data = re.sub(rb"(?m)^\.", b"..", buffer.getvalue())
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def send_with_retry(transport: Transport, message: EmailMessage, *, retry_for: float,
                    wait: Callable[[float], bool | None] = time.sleep, first_delay: float = 0.5) -> None:
    """transport.send, retrying temporary failures with a growing pause until ``retry_for`` seconds have passed.

    Only a message that certainly did not arrive is retried (a refused connection,
    a 4xx reply, a connection dropped before the data); a refusal or an unknown
    fate is raised at once.  ``wait`` pauses; when it returns True (a stop
    event was set, e.g. ``threading.Event.wait``) the retrying ends early.
    """
    deadline = time.monotonic() + retry_for
    delay = first_delay
    while True:
        try:
            transport.send(message)
            return
        except DeliveryError as e:
            if not (e.temporary and e.fate == "not sent") or time.monotonic() + delay > deadline:
                raise
            logger.warning("%s; retrying in %g s", e, delay)
            if wait(delay):
                raise
            delay = min(delay * 2, 60.0)


def open_transport(settings: Settings) -> Transport:
    """The outbox folder when no SMTP URL is set (demos, trying templates), else SMTP."""
    if not settings.smtp_url:
        return OutboxTransport(settings.outbox)
    return SmtpTransport(settings.smtp_url, settings.smtp_password)
