"""From any bulletin's footer a reader reaches one page of every bulletin their address gets, with how often
each comes, and can leave them all at once."""

from __future__ import annotations

import re

from servers import Route
from webworld import ITEMS, PROFILE, Site, rss, site  # noqa: F401 (the fixture)


def add_second_profile(site: Site) -> None:
    board = (PROFILE.replace("id: ph-team", "id: ph-board").replace("name: Public Health Team", "name: Board Briefing")
             .replace('schedule: "0 8 * * MON"', 'schedule: "30 7 * * MON-FRI"'))
    (site.root / "profiles" / "ph-board.yaml").write_text(board)


def manage_link(site: Site, address: str) -> str:
    mail = site.mails_to(address)[-1]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "This bulletin comes" in text
    found = re.search(r"Manage your subscriptions:\s+(\S+)", text)
    assert found, text[-600:]
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert f'href="{found.group(1)}"' in html and "Manage your subscriptions</a>" in html
    return found.group(1).replace("http://testserver", "")


def test_the_footer_leads_to_every_subscription_and_leave_all_ends_them(site: Site) -> None:
    add_second_profile(site)
    site.run()
    board_mail = site.mails_to("alice@example.nhs.uk")[-1]
    assert board_mail["Subject"].startswith("Board Briefing")
    assert "This bulletin comes every weekday." in board_mail.get_body(preferencelist=("plain",)).get_content()
    c = site.client()
    link = manage_link(site, "alice@example.nhs.uk")
    page = c.get(link)
    assert page.status_code == 200 and "Your subscriptions" in page.text
    assert "alice" not in page.text, "the page never shows the address"
    names = re.findall(r'<h2 id="sub-[^"]+" class="h3">([^<]+)</h2>', page.text)
    assert names == ["Public Health Team", "Board Briefing"] or names == ["Board Briefing", "Public Health Team"]
    assert "Comes every Monday." in page.text and "Comes every weekday." in page.text
    assert page.text.count("/preferences/") == 2 and page.text.count("/unsubscribe/") == 2

    assert c.post(link, data={"action": "leave-all"}).status_code == 400, "no change without the form's token"
    r = c.post(link, data={"csrf": c.csrf(link), "action": "leave-all"})
    assert r.status_code == 200 and "You have left every bulletin" in r.text and "2 subscriptions" in r.text
    before = len(site.mails_to("alice@example.nhs.uk"))
    site.feeds.routes["/policy.xml"] = Route(rss(ITEMS + [("new", "Frailty and falls: new guidance for older people",
                                                           "Falls prevention for older people.", 0)]))
    site.run()
    assert len(site.mails_to("alice@example.nhs.uk")) == before, "the profile files' subscribers: cannot re-add her"
    assert "You are not subscribed" in c.get(link).text
