"""The size of a full 50-item bulletin as sent: HTML against Gmail's 102 KB clipping limit, and the text part.

Run: .venv/bin/python bench/bulletin_size.py   (prints figures; the limit itself is checked by
tests/test_bulletin_size.py on the same bulletin).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bulletin_sizes import message_for, rendered_fifty  # noqa: E402

GMAIL_CLIPS_AT = 102 * 1000


def main() -> None:
    bulletin, rendered, links = rendered_fifty()
    html = len(rendered.html.encode("utf-8"))
    text = len(rendered.text.encode("utf-8"))
    wire = len(bytes(message_for(bulletin, rendered, links, "reader@trust.example.nhs.uk")))  # type: ignore[call-overload]
    urls = len(re.findall(r"https?://\S+", rendered.text))
    print(f"items                 {bulletin.count}")
    print(f"HTML                  {html / 1000:6.1f} KB  ({html / GMAIL_CLIPS_AT:.0%} of Gmail's 102 KB)")
    print(f"HTML per item         {html / bulletin.count / 1000:6.2f} KB")
    print(f"plain text            {text / 1000:6.1f} KB, {urls} links ({urls / bulletin.count:.2f} per item)")
    print(f"whole message (wire)  {wire / 1000:6.1f} KB")


if __name__ == "__main__":
    main()
