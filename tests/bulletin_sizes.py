"""Full 50-item bulletins with real signed per-reader links: the worst case a busy profile sends
(long titles and summaries, several sources, two topics an item), and a typical one made of the
sample bulletin's items.  Shared by the size test and bench/bulletin_size.py."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from awareness.deliver.bulletin import Bulletin, Composer, Links, Rendered, build_bulletin
from awareness.deliver.message import build_message
from awareness.core.models import Match, Profile, StoredItem
from awareness.deliver.tokens import FEEDBACK_PATH, Signer
from screenshot import SAMPLE_PROFILE, SAMPLE_SOURCES, sample_matched

BASE = "https://awareness.lancashire-and-south-cumbria.example.nhs.uk"
SECRET = "a-secret-key-for-sizes"
TOPICS = [("falls", "Falls prevention and frailty"), ("maternity", "Maternity and perinatal mental health"),
          ("workforce", "Workforce, retention and wellbeing"), ("inequalities", "Health inequalities"),
          ("digital", "Digital transformation and data")]


def busy_profile() -> Profile:
    return Profile(id="lancs-ics-board", name="Lancashire and South Cumbria ICB — Board briefing",
                   owner="Priya Shah <priya.shah@lancs-library.example.nhs.uk>", max_items=50,
                   topics=[{"id": t, "title": title, "terms": [t]} for t, title in TOPICS])


def long_item(n: int, now: datetime) -> StoredItem:
    when = now - timedelta(hours=3 * n + 1)
    title = (f"Integrated care systems and the NHS long term workforce plan: an evaluation of item {n} "
             "across community, acute and mental health providers in England")
    summary = ("This report looks at how integrated care boards have used their new duties to improve "
               "outcomes, tackle inequalities and support broader social and economic development. "
               "It draws on interviews with chief executives, finance directors and clinical leads. ") * 3
    return StoredItem(id=1000 + n, guid=f"urn:item:{n}", link=f"https://www.example.org/publications/2026/"
                      f"integrated-care-systems-workforce-evaluation-{n}", title=title, summary=summary,
                      published=when, first_seen=when, authors=[], tags=[], sources=["kingsfund", "nhse"])


def fifty_item_bulletin(now: datetime | None = None) -> Bulletin:
    now = now or datetime.now(timezone.utc)
    profile = busy_profile()
    matched = []
    for n in range(50):
        topic = TOPICS[n % len(TOPICS)][0]
        other = TOPICS[(n + 1) % len(TOPICS)][0]
        matched.append((long_item(n, now), [
            Match(1000 + n, profile.id, topic, 0.6, ("integrated care", "workforce", "community providers")),
            Match(1000 + n, profile.id, other, 0.3, ("inequalities",))]))
    names = {"kingsfund": "The King's Fund", "nhse": "NHS England"}
    return build_bulletin(profile, matched, names, now - timedelta(days=7), now)


def typical_fifty_item_bulletin(now: datetime | None = None) -> Bulletin:
    """50 items of the sample bulletin's kind (real titles and summaries, 1 or 2 topics), its 8 in turn."""
    now = now or datetime.now(timezone.utc)
    sample = sample_matched()
    matched = []
    for n in range(50):
        item, matches = sample[n % len(sample)]
        when = now - timedelta(hours=3 * n + 1)
        matched.append((dataclasses.replace(item, id=2000 + n, guid=f"urn:typical:{n}", link=f"{item.link}-{n}",
                                            published=when, first_seen=when),
                        [dataclasses.replace(m, item_id=2000 + n) for m in matches]))
    profile = SAMPLE_PROFILE.model_copy(update={"max_items": 50})
    return build_bulletin(profile, matched, SAMPLE_SOURCES, now - timedelta(days=7), now)


def reader_links(signer: Signer, profile_id: str, subscriber_id: int, page_id: int) -> Links:
    def feedback(item_id: int, verdict: str) -> str:
        return f"{BASE}{FEEDBACK_PATH}{signer.feedback_token(profile_id, subscriber_id, item_id, verdict)}"

    token = signer.unsubscribe_token(profile_id, subscriber_id)
    return Links(unsubscribe=f"{BASE}/unsubscribe/{token}", manage=f"{BASE}/manage/{token}",
                 view_online=f"{BASE}/profiles/{profile_id}/bulletins/{page_id}", feedback=feedback)


def rendered_fifty(now: datetime | None = None, typical: bool = False) -> tuple[Bulletin, Rendered, Links]:
    bulletin = typical_fifty_item_bulletin(now) if typical else fifty_item_bulletin(now)
    links = reader_links(Signer(SECRET), bulletin.profile.id, 123456, 98765)
    return bulletin, Composer().render(bulletin, links=links), links


def message_for(bulletin: Bulletin, rendered: Rendered, links: Links, to: str) -> object:
    return build_message(rendered=rendered, sender="Library <library@example.nhs.uk>", to=to,
                         profile=bulletin.profile, list_domain="awareness.example.nhs.uk",
                         unsubscribe_url=links.unsubscribe, unsubscribe_mailto="library@example.nhs.uk",
                         message_id_domain="example.nhs.uk")
