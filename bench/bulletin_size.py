"""The size of a full 50-item bulletin as sent: the whole message on the wire against issue 19's
100 KB bar, the HTML against Gmail's 102 KB clipping limit, and the text part.

Two bulletins: the worst case (every title, summary and why-line at its longest) and a typical
one (the sample bulletin's items).  Run: .venv/bin/python bench/bulletin_size.py
(tests/test_bulletin_size.py checks the same bulletins through a real SMTP server).
"""

from __future__ import annotations

import re
import sys
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bulletin_sizes import message_for, rendered_fifty  # noqa: E402

GMAIL_CLIPS_AT = 102 * 1000
WIRE_BAR = 100 * 1000      # issue 19: one subscriber's whole email (aim 60 KB)


def report(typical: bool) -> None:
    bulletin, rendered, links = rendered_fifty(typical=typical)
    html = len(rendered.html.encode("utf-8"))
    text = len(rendered.text.encode("utf-8"))
    message: EmailMessage = message_for(bulletin, rendered, links, "reader@trust.example.nhs.uk")  # type: ignore[assignment]
    wire = len(message.as_bytes().replace(b"\n", b"\r\n"))   # SMTP sends CRLF line ends
    encodings = ", ".join(f"{p.get_content_subtype()} {p['Content-Transfer-Encoding']}" for p in message.iter_parts())
    urls = len(re.findall(r"https?://\S+", rendered.text))
    print(f"{'typical' if typical else 'worst case'}: {bulletin.count} items")
    print(f"  HTML                  {html / 1000:6.1f} KB  ({html / GMAIL_CLIPS_AT:.0%} of Gmail's 102 KB)")
    print(f"  HTML per item         {html / bulletin.count / 1000:6.2f} KB")
    print(f"  plain text            {text / 1000:6.1f} KB, {urls} links ({urls / bulletin.count:.2f} per item)")
    print(f"  whole message (wire)  {wire / 1000:6.1f} KB  ({wire / WIRE_BAR:.0%} of the 100 KB bar: "
          f"{'under' if wire < WIRE_BAR else 'OVER'}; {encodings})")


def main() -> None:
    report(typical=False)
    report(typical=True)


if __name__ == "__main__":
    main()
