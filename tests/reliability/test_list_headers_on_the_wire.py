"""Issue 15, case 3: List-Unsubscribe reaches the mail server as bare ``<https://...>``.

No mailto: the app reads no mailbox, so an unsubscribe mail would go unread (issue 17).

Reproduced by reading the bytes a real SMTP server (aiosmtpd on 127.0.0.1) received,
not the header parsed back by the email package (which decodes RFC 2047 and hid
``=?utf-8?q?=3Chttp...``).
"""

from __future__ import annotations

import re

from webworld import Site, site  # noqa: F401 (the fixture)


def raw_header(raw: bytes, name: str) -> str:
    """A header from raw message bytes, unfolded but otherwise untouched."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = re.sub(r"\r\n[ \t]+", " ", head)
    found = [line.split(":", 1)[1].strip() for line in unfolded.split("\r\n")
             if line.lower().startswith(name.lower() + ":")]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def test_list_unsubscribe_is_plain_on_the_wire_and_its_link_unsubscribes(site: Site) -> None:
    raw = site.smtp.handler.raw[-1]
    assert b"alice@example.nhs.uk" in raw
    value = raw_header(raw, "List-Unsubscribe")
    assert "=?" not in value
    m = re.fullmatch(r"<(http://testserver/unsubscribe/[A-Za-z0-9_.\-]+)>", value)
    assert m, value
    assert raw_header(raw, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))

    c = site.client()   # what Gmail does with it: an RFC 8058 POST, no cookies
    r = c.post(m.group(1).replace("http://testserver", ""), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert "You are not subscribed" in c.get(m.group(1).replace("http://testserver", "").replace(
        "/unsubscribe/", "/preferences/")).text
