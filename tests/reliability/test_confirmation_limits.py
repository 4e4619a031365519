"""Issue 15, case 6: the subscribe form cannot be used to mail an address over and over, or to mail
many addresses from one client; past the limit the page reads the same and nothing is sent.

Reproduced by posting the public form 25 times for one address, then for 25 addresses.
"""

from __future__ import annotations

import re

from webworld import Site, site  # noqa: F401 (the fixture)


def page_text(html: str) -> str:
    """The page without its per-request CSRF token."""
    return re.sub(r'name="csrf" value="[^"]+"', "", html)


def ask(site: Site, email: str) -> str:
    c = site.client()
    r = c.post("/profiles/ph-team/subscribe", data={"csrf": c.csrf("/profiles/ph-team"), "email": email,
                                                     "topic": ["frailty"]})
    assert r.status_code == 200
    return page_text(r.text)


def confirmations_to(site: Site, email: str) -> int:
    return sum(1 for m in site.mails_to(email) if m["Subject"].startswith("Confirm your subscription"))


def test_one_address_gets_a_few_confirmations_a_day_and_the_page_never_tells(site: Site) -> None:
    pages = {ask(site, "target@example.nhs.uk") for _ in range(25)}
    assert confirmations_to(site, "target@example.nhs.uk") == 3      # sendlimits.PER_ADDRESS a day
    assert len(pages) == 1, "the page told the sender the limit was reached"


def test_one_client_cannot_mail_many_addresses(site: Site) -> None:
    for n in range(25):
        ask(site, f"person{n}@example.nhs.uk")
    sent = sum(confirmations_to(site, f"person{n}@example.nhs.uk") for n in range(25))
    assert sent == 10                                                # sendlimits.PER_CLIENT an hour
