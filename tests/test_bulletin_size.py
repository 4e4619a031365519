"""What a reader's mail client gets from a full 50-item bulletin, as the real SMTP server received it:
the HTML stays under Gmail's 102 KB clipping limit, and the plain text has one link per item."""

from __future__ import annotations

import re
import smtplib

from bulletin_sizes import rendered_fifty, message_for
from servers import LoopbackSMTPServer

GMAIL_CLIPS_AT = 102 * 1000   # bytes of HTML; Gmail hides the rest behind "[Message clipped]"


def received(smtp_server: LoopbackSMTPServer):  # type: ignore[no-untyped-def]
    bulletin, rendered, links = rendered_fifty()
    assert bulletin.count == 50
    with smtplib.SMTP("127.0.0.1", smtp_server.port) as smtp:
        smtp.send_message(message_for(bulletin, rendered, links, "reader@trust.example.nhs.uk"))  # type: ignore[arg-type]
    [mail] = smtp_server.messages
    return bulletin, mail


def test_a_fifty_item_bulletin_is_not_clipped_by_gmail(smtp_server: LoopbackSMTPServer) -> None:
    _, mail = received(smtp_server)
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert html.count("/f/") == 100, "every item keeps its two feedback links"
    size = len(html.encode("utf-8"))
    assert size < GMAIL_CLIPS_AT, f"the HTML is {size / 1000:.1f} KB: Gmail clips it at 102 KB"


def test_plain_text_gives_each_item_one_link_its_own_address(smtp_server: LoopbackSMTPServer) -> None:
    bulletin, mail = received(smtp_server)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    urls = re.findall(r"https?://\S+", text)
    item_links = [u for u in urls if "/publications/" in u]
    assert item_links == [e.item.link for s in bulletin.sections for e in s.entries]
    other = [u for u in urls if "/publications/" not in u]
    assert len(other) == 3 and {u.split("/")[3] for u in other} == {"unsubscribe", "manage", "profiles"}
    assert "/feedback/" not in text, "no long signed links between the items"
    assert "HTML version" in text, "it says where to give feedback"
