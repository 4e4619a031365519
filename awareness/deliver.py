"""Hand rendered bulletins to a mail server, or to an outbox folder.

``build_message`` makes one email per subscriber with the headers that bulk
mail needs to be well behaved (List-Id, one-click List-Unsubscribe per
RFC 8058, Auto-Submitted).  A ``Transport`` sends it: ``SmtpTransport`` over
one reused connection, ``OutboxTransport`` into ``.eml`` files for demos and
for trying templates.  A failed send raises ``DeliveryError`` and changes
nothing: marking items as sent is the caller's job, after ``send`` returns.
"""

from __future__ import annotations

import email.policy
import logging
import os
import re
import secrets
import smtplib
import ssl
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from .bulletin import Rendered
from .config import Settings
from .errors import DeliveryError
from .models import Profile

logger = logging.getLogger(__name__)

SMTP_TIMEOUT = 30.0
_RETRY_HINT = "nothing was marked sent; the next run will retry"
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


# ------------------------------------------------------------------ the message

def build_message(*, rendered: Rendered, sender: str, to: str, profile: Profile, list_domain: str,
                  unsubscribe_url: str, unsubscribe_mailto: str, message_id_domain: str) -> EmailMessage:
    """One bulletin email: text first, then HTML, so clients prefer the HTML."""
    msg = EmailMessage(policy=email.policy.default)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = _message_id(message_id_domain)
    owner_name, owner_address = parseaddr(profile.owner) if profile.owner else ("", "")
    if "@" in owner_address:
        # Replies reach the librarian who tunes the profile, not an unread sender mailbox.
        msg["Reply-To"] = str(Address(display_name=owner_name, addr_spec=owner_address))
    msg["List-Id"] = f"{_phrase(profile.name)} <{profile.id}.{list_domain}>"
    mailto = unsubscribe_mailto if unsubscribe_mailto.startswith("mailto:") else f"mailto:{unsubscribe_mailto}"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <{mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "bulk"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg


def _message_id(domain: str) -> str:
    """A Message-ID short enough not to be folded.

    make_msgid's ids are ~40 characters before the domain, so with a long NHS
    domain the header passes 78 columns and gets folded; Python then reads it
    back with a leading space, and threading by Message-ID breaks.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{secrets.token_hex(6)}@{domain}>"


def _phrase(name: str) -> str:
    """The List-Id description: quoted when plain ASCII needs it.

    A non-ASCII name is RFC 2047-encoded by the email package, and encoded
    words may not sit inside quotes, so its specials are dropped instead.
    """
    name = " ".join(name.split())
    if not _SPECIALS.search(name):
        return name
    if name.isascii():
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return " ".join(_SPECIALS.sub(" ", name).split())


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
        logger.info("wrote %s for %s", eml, message["To"])

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
                                f"{_reply(e)}; check AWARENESS_SMTP_PASSWORD — {_RETRY_HINT}") from e
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(f"the mail server {self.where} does not support {e}; check the "
                                f"scheme of smtp_url — {_RETRY_HINT}") from e
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"could not connect to the mail server {self.where}: {_reason(e)} "
                                f"— {_RETRY_HINT}", unreachable=True) from e
        logger.info("connected to mail server %s", self.where)
        return smtp

    # ---------------------------------------------------------- sending

    def send(self, message: EmailMessage) -> None:
        reused = self._smtp is not None
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._send_once(self._smtp, message)
        except (smtplib.SMTPServerDisconnected, ConnectionError) as e:
            self._drop()
            if not reused:
                raise DeliveryError(f"the mail server {self.where} closed the connection: {_reason(e)} "
                                    f"— {_RETRY_HINT}") from e
            # An idle connection the server has since closed: reopen once and try again.
            logger.info("mail server %s dropped the connection; reconnecting", self.where)
            self._smtp = self._connect()
            try:
                self._send_once(self._smtp, message)
            except (smtplib.SMTPServerDisconnected, ConnectionError) as e2:
                self._drop()
                raise DeliveryError(f"the mail server {self.where} closed the connection twice: "
                                    f"{_reason(e2)} — {_RETRY_HINT}") from e2
        logger.info("sent %s to %s via %s", message["Message-ID"], message["To"], self.where)

    def _send_once(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryError(f"the mail server {self.where} refused the recipient "
                                f"{_recipients(e.recipients)} — {_RETRY_HINT}") from e
        except smtplib.SMTPSenderRefused as e:
            raise DeliveryError(f"the mail server {self.where} refused the sender {e.sender!s}: "
                                f"{_reply(e)}; check the 'sender' setting — {_RETRY_HINT}") from e
        except smtplib.SMTPResponseException as e:
            raise DeliveryError(f"the mail server {self.where} would not take the message for "
                                f"{message['To']}: {_reply(e)} — {_RETRY_HINT}") from e
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            raise
        except (smtplib.SMTPException, OSError) as e:
            self._drop()
            raise DeliveryError(f"sending to the mail server {self.where} failed: {_reason(e)} "
                                f"— {_RETRY_HINT}") from e
        if refused:  # only some recipients refused; we send one recipient per message
            raise DeliveryError(f"the mail server {self.where} refused the recipient "
                                f"{_recipients(refused)} — {_RETRY_HINT}")

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


def _recipients(refused: dict[str, tuple[int, bytes]]) -> str:
    parts = []
    for address, (code, text) in refused.items():
        reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        parts.append(f"{address} ({code} {reply})")
    return ", ".join(parts)


def open_transport(settings: Settings) -> Transport:
    """The outbox folder when no SMTP URL is set (demos, trying templates), else SMTP."""
    if not settings.smtp_url:
        return OutboxTransport(settings.outbox)
    return SmtpTransport(settings.smtp_url, settings.smtp_password)
