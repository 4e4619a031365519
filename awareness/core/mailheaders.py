"""Mail headers that must reach the reader's mail client exactly as written.

The email package's default policy RFC 2047-encodes any header with a "word"
longer than a line (a signed unsubscribe URL is one), so List-Unsubscribe went
out as ``=?utf-8?q?=3Chttp...`` and Gmail and Outlook saw no one-click link
(issue 15).  RFC 2369 and RFC 8058 want the bare ``<https://...>, <mailto:...>``;
lines may run to 998 characters (RFC 5322), so the header is folded only
between its URLs.
"""

from __future__ import annotations

from typing import Any

MAX_LINE = 998


class UnsafeHeader(ValueError):
    """A value would break out of its header (CR, LF or another control character)."""


class RawListHeader(str):
    """A comma-separated list of ``<URI>``s, written verbatim, folded only after its commas.

    EmailPolicy.header_store_parse keeps a value that has a matching ``name`` as is,
    and the generator then calls its ``fold``; nothing re-encodes it.
    """

    name: str

    def __new__(cls, name: str, value: str) -> "RawListHeader":
        check_header_text(value, name)
        if not value.isascii():
            raise UnsafeHeader(f"the {name} header must be ASCII (an IRI's host or path needs encoding first)")
        self = super().__new__(cls, value)
        self.name = name
        return self

    def fold(self, *, policy: Any) -> str:
        linesep = getattr(policy, "linesep", "\n")
        parts = [p.strip() for p in str(self).split(",")]
        out, line = [], f"{self.name}: {parts[0]}"
        for part in parts[1:]:
            if len(line) + 2 + len(part) > 78:
                out.append(line + ",")
                line = " " + part
            else:
                line += ", " + part
        out.append(line)
        if any(len(x) > MAX_LINE for x in out):
            raise UnsafeHeader(f"a {self.name} URL is longer than a mail header line may be ({MAX_LINE})")
        return linesep.join(out) + linesep


def check_header_text(value: str, what: str) -> str:
    """``value`` when it can go into a header as it is; UnsafeHeader naming ``what`` when it cannot."""
    bad = next((c for c in value if c in "\r\n" or (ord(c) < 32 and c != "\t") or ord(c) == 127), None)
    if bad is not None:
        raise UnsafeHeader(f"{what} contains a control character ({bad!r}); a mail header cannot carry it")
    return value
