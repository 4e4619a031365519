"""A librarian's Exclude takes an item out of a topic at once, Include puts one in; both are listed with undo.
Checked where readers notice: the next bulletin as the real SMTP server received it."""

from __future__ import annotations

import re

from webworld import Site, site  # noqa: F401 (the fixture)


def item_id(page: str, title_start: str, topic: str) -> int:
    found = re.search(r'id="item-(\d+)-' + topic + r'">\s*<h4[^>]*>(?:<a [^>]*>)?' + re.escape(title_start), page)
    assert found, f"{title_start!r} is not shown under {topic}"
    return int(found.group(1))


def add_reader(site: Site, email: str) -> None:
    path = site.root / "profiles" / "ph-team.yaml"
    path.write_text(path.read_text().replace("subscribers: [", f"subscribers: [{email}, "))


def bulletin_text(site: Site, email: str) -> str:
    mails = site.mails_to(email)
    assert len(mails) == 1, f"{email} got {len(mails)} mails"
    return mails[0].get_body(preferencelist=("plain",)).get_content()


def section(text: str, heading: str) -> str:
    """The part of a plain-text bulletin under one topic heading (its last mention: the contents list comes first)."""
    start = text.rindex(heading)
    rest = text[start + len(heading):]
    nxt = [rest.index(h) for h in ("Frailty and older people", "Maternity and perinatal care") if h in rest]
    return rest[:min(nxt)] if nxt else rest


def test_exclude_and_include_change_the_next_bulletin_at_once_and_undo_puts_it_back(site: Site) -> None:
    c = site.client()
    c.login("librarian@example.nhs.uk")
    page = c.get("/librarian/ph-team").text
    hip = item_id(page, "Hip fracture outcomes", "frailty")
    assert "None yet" in page
    csrf = c.csrf("/librarian/ph-team")
    r = c.post("/librarian/ph-team/judge", data={"csrf": csrf, "item_id": hip, "topic_id": "frailty",
                                                  "verdict": "exclude"})
    assert r.status_code == 303
    with site.store.engine.connect() as conn:
        parking = conn.exec_driver_sql("SELECT id FROM items WHERE title LIKE 'Hospital car parking%'").scalar_one()
    r = c.post("/librarian/ph-team/judge", data={"csrf": csrf, "item_id": parking, "topic_id": "maternity",
                                                  "verdict": "include"})
    assert r.status_code == 303

    page = c.get("/librarian/ph-team").text
    listed = page[page.index('id="judgements"'):page.index("Preview of the next bulletin")]
    assert "Hip fracture outcomes" in listed and "Excluded" in listed
    assert "Hospital car parking" in listed and "Included" in listed
    assert listed.count(">Undo<span") == 2
    assert "excluded by librarian@example.nhs.uk" in page and "included by librarian@example.nhs.uk" in page

    add_reader(site, "bob@example.nhs.uk")
    site.run()
    text = bulletin_text(site, "bob@example.nhs.uk")
    assert "Hip fracture outcomes" not in text, "an excluded item is not sent"
    assert "Preventing falls in older people" in text
    assert "Hospital car parking" in section(text, "Maternity and perinatal care"), "an included item is sent"

    r = c.post("/librarian/ph-team/undo", data={"csrf": c.csrf("/librarian/ph-team"), "item_id": hip,
                                                 "topic_id": "frailty"})
    assert r.status_code == 303
    page = c.get("/librarian/ph-team").text
    listed = page[page.index('id="judgements"'):page.index("Preview of the next bulletin")]
    assert "Hip fracture outcomes" not in listed and listed.count(">Undo<span") == 1
    add_reader(site, "carol@example.nhs.uk")
    site.run()
    assert "Hip fracture outcomes" in bulletin_text(site, "carol@example.nhs.uk"), "undone: sent again"


def test_undo_needs_the_form_token(site: Site) -> None:
    c = site.client()
    c.login("librarian@example.nhs.uk")
    page = c.get("/librarian/ph-team").text
    hip = item_id(page, "Hip fracture outcomes", "frailty")
    c.post("/librarian/ph-team/judge", data={"csrf": c.csrf("/librarian/ph-team"), "item_id": hip,
                                              "topic_id": "frailty", "verdict": "exclude"})
    r = c.post("/librarian/ph-team/undo", data={"item_id": hip, "topic_id": "frailty"})
    assert r.status_code == 400
    assert ">Undo<span" in c.get("/librarian/ph-team").text
