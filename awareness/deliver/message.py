"""One bulletin email per subscriber, with the headers bulk mail needs to be well behaved:
List-Id, one-click List-Unsubscribe (RFC 8058), Auto-Submitted, Reply-To the profile's owner.
(``transport`` sends it.)
"""

from __future__ import annotations

import binascii
from functools import lru_cache
import email.policy
import re
import secrets
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, parseaddr
from urllib.parse import urlsplit

from .bulletin import Rendered
from ..config.settings import Settings
from ..core.mailheaders import RawListHeader
from ..core.models import Profile


MAX_7BIT_LINE = 998   # bytes before CRLF (RFC 5322 2.1.1)
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def build_message(*, rendered: Rendered, sender: str, to: str, profile: Profile, list_domain: str,
                  unsubscribe_url: str | None, unsubscribe_mailto: str, message_id_domain: str) -> EmailMessage:
    """One bulletin email: text first, then HTML, so clients prefer the HTML.


    Without ``unsubscribe_url`` (a subscription's confirmation email: the reader
    is not on the list yet) the list headers are left out; an empty
    ``unsubscribe_mailto`` leaves the mailto out of List-Unsubscribe.
    """
    msg = EmailMessage(policy=email.policy.default)
    _put(msg, "From", sender)
    msg["To"] = to
    _put(msg, "Subject", rendered.subject)
    _put(msg, "Date", format_datetime(datetime.now(timezone.utc).replace(microsecond=0)))
    msg["Message-ID"] = _message_id(message_id_domain)
    owner_name, owner_address = parseaddr(profile.owner) if profile.owner else ("", "")
    if "@" in owner_address:
        # Replies reach the librarian who tunes the profile, not an unread sender mailbox.
        _put(msg, "Reply-To", str(Address(display_name=owner_name, addr_spec=owner_address)))
    if unsubscribe_url is not None:
        _put(msg, "List-Id", f"{_phrase(profile.name)} <{profile.id}.{list_domain}>")
        targets = [f"<{unsubscribe_url}>"]
        if unsubscribe_mailto:   # only a mailbox someone reads: Awareness sends with none (issue 17)
            mailto = unsubscribe_mailto if unsubscribe_mailto.startswith("mailto:") else f"mailto:{unsubscribe_mailto}"
            targets.append(f"<{mailto}>")
        msg["List-Unsubscribe"] = RawListHeader("List-Unsubscribe", ", ".join(targets))
        _put(msg, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        _put(msg, "Precedence", "bulk")
    _put(msg, "Auto-Submitted", "auto-generated")
    _put(msg, "MIME-Version", "1.0")
    msg.make_alternative()
    msg.attach(_text_part(rendered.text, "plain"))
    msg.attach(_text_part(rendered.html, "html"))
    return msg


def bulletin_message(settings: Settings, profile: Profile, address: str, rendered: Rendered,
                     unsubscribe_url: str) -> EmailMessage:
    """A bulletin for one reader, from the install's settings (sender, list and Message-ID domains)."""
    sender_address = parseaddr(settings.sender)[1]
    domain = sender_address.rpartition("@")[2] or (urlsplit(settings.base_url).hostname or "localhost")
    return build_message(
        rendered=rendered, sender=settings.sender, to=address, profile=profile, list_domain=domain,
        unsubscribe_url=unsubscribe_url,
        unsubscribe_mailto="",   # no mailbox of the app's is read: a mailto would go to an unread address
        message_id_domain=domain)


def _text_part(text: str, subtype: str) -> MIMEPart:
    """A UTF-8 text part in the shortest encoding every mail server takes (issue 19).

    ASCII in lines of at most 998 bytes (the bulletin HTML, whose other characters are
    character references) goes as 7bit: the bytes as they are, nothing to decode, and no
    server needs 8BITMIME for it.  Anything else is encoded as the email package would
    encode it, only faster: with long lines the package picks quoted-printable and
    encodes it in pure Python, a few milliseconds per bulletin; binascii does the same
    in C.  Short lines (7bit or 8bit) are left to the package.
    """
    part = MIMEPart(policy=email.policy.default)
    data = text.encode("utf-8")
    lines = data.splitlines()
    if _is_7bit(data, lines):   # what set_content(cte="7bit") makes, without parsing the same headers again
        _put(part, "Content-Type", f'text/{subtype}; charset="utf-8"')
        _put(part, "Content-Transfer-Encoding", "7bit")
        part.set_payload(b"\n".join(lines).decode("ascii") + "\n")
        return part
    limit = part.policy.max_line_length or 78
    if max((len(line) for line in lines), default=0) <= limit or not _qp_is_shorter(lines[:10]):
        part.set_content(text, subtype=subtype, charset="utf-8")
        return part
    _put(part, "Content-Type", f'text/{subtype}; charset="utf-8"')
    _put(part, "Content-Transfer-Encoding", "quoted-printable")
    part.set_payload(binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).decode("ascii"))
    return part


def _put(msg: MIMEPart, name: str, value: str) -> None:
    """``msg[name] = value`` for a header most messages of a run share (issue 19).

    Parsing a header into the email package's header object is most of the cost of
    building a message; a bulletin's sender, subject, list headers and part headers are
    the same for every reader, so each is parsed once and the (immutable) object reused.
    """
    msg.set_raw(*_parsed(name, value))


@lru_cache(maxsize=4096)
def _parsed(name: str, value: str) -> tuple[str, str]:
    return email.policy.default.header_store_parse(name, value)


def _is_7bit(data: bytes, lines: list[bytes]) -> bool:
    """RFC 5322 and 2045's 7bit: ASCII, no NUL or bare CR, lines of at most 998 bytes."""
    return (data.isascii() and b"\0" not in data and b"\r" not in data
            and max((len(line) for line in lines), default=0) <= MAX_7BIT_LINE)


def _qp_is_shorter(sniff: list[bytes]) -> bool:
    """The email package's own choice between quoted-printable and base64, from the first lines."""
    sample = b"\n".join(sniff) + b"\n"
    return len(binascii.b2a_qp(sample, istext=True)) <= len(binascii.b2a_base64(sample))


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
