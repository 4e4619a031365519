"""What a reader's mail client gets from a full 50-item bulletin, as the real SMTP server received it
through the app's own transport: the whole message's size on the wire (issue 19), the HTML under
Gmail's 102 KB clipping limit and sent as it is (7bit), every item with its title link, summary,
why it matched and both signed feedback links, and the plain text with one link per item."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from markupsafe import escape

from awareness.deliver.bulletin import Bulletin, ascii_html, shorten
from awareness.deliver.tokens import FEEDBACK_PATH, Signer
from awareness.deliver.transport import SmtpTransport
from bulletin_sizes import BASE, SECRET, message_for, rendered_fifty
from servers import LoopbackSMTPServer

GMAIL_CLIPS_AT = 102 * 1000   # bytes of HTML; Gmail hides the rest behind "[Message clipped]"
WIRE_BAR = 100 * 1000         # issue 19: one subscriber's whole email
# The worst case (every title, summary and why-line at its longest, all of it in both parts) is
# ~113 KB: under 100 KB it would have to say less.  This keeps it from growing back.
WORST_CASE_WIRE = 116 * 1000


def received(smtp_server: LoopbackSMTPServer, typical: bool = False) -> tuple[Bulletin, EmailMessage, bytes]:
    bulletin, rendered, links = rendered_fifty(typical=typical)
    assert bulletin.count == 50
    with SmtpTransport(smtp_server.url) as transport:
        transport.send(message_for(bulletin, rendered, links, "reader@trust.example.nhs.uk"))  # type: ignore[arg-type]
    [mail], [raw] = smtp_server.messages, smtp_server.handler.raw
    return bulletin, mail, raw


@pytest.mark.parametrize("typical, bar", [(True, WIRE_BAR), (False, WORST_CASE_WIRE)], ids=["typical", "worst"])
def test_the_whole_fifty_item_email_on_the_wire(smtp_server: LoopbackSMTPServer, typical: bool, bar: int) -> None:
    _, mail, raw = received(smtp_server, typical)
    assert len(raw) < bar, f"the email is {len(raw) / 1000:.1f} KB on the wire, over {bar / 1000:.0f} KB"
    html = mail.get_body(preferencelist=("html",))
    assert html["Content-Transfer-Encoding"] == "7bit", "the HTML goes as it is: no =3D, no soft breaks"
    assert len(html.get_content().encode("utf-8")) < GMAIL_CLIPS_AT


def test_every_item_keeps_its_title_link_summary_reasons_and_two_feedback_links(
        smtp_server: LoopbackSMTPServer) -> None:
    bulletin, mail, _ = received(smtp_server)
    html = mail.get_body(preferencelist=("html",)).get_content()
    entries = [e for s in bulletin.sections for e in s.entries]
    for e in entries:
        assert f'<a href="{e.item.link}">{e.item.title}</a>' in html
        assert _text(shorten(e.item.summary)) in html
        assert f"Matched: {', '.join(e.terms)}" in html and f"Also relevant to: {', '.join(e.also)}" in html
    signer = Signer(SECRET)
    votes = [signer.read_feedback(token) for token in re.findall(rf'href="{BASE}{FEEDBACK_PATH}([^"]+)"', html)]
    assert sorted((item, verdict) for _, _, item, verdict in votes) == sorted(
        (e.item.id, v) for e in entries for v in ("useful", "not-relevant")), "two signed links an item"
    assert {(p, s) for p, s, _, _ in votes} == {(bulletin.profile.id, 123456)}


def test_plain_text_gives_each_item_one_link_its_own_address(smtp_server: LoopbackSMTPServer) -> None:
    bulletin, mail, _ = received(smtp_server)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    urls = re.findall(r"https?://\S+", text)
    item_links = [u for u in urls if "/publications/" in u]
    assert item_links == [e.item.link for s in bulletin.sections for e in s.entries]
    other = [u for u in urls if "/publications/" not in u]
    assert len(other) == 3 and {u.split("/")[3] for u in other} == {"unsubscribe", "manage", "profiles"}
    assert FEEDBACK_PATH not in text, "no long signed links between the items"
    assert "HTML version" in text, "it says where to give feedback"


def _text(plain: str) -> str:
    """How the HTML writes a run of text: escaped, other than ASCII as character references."""
    return ascii_html(str(escape(plain)))
