"""A full 50-item bulletin as a busy profile sends it: long titles, summaries, several sources, and
real signed per-reader links.  Shared by the size test and bench/bulletin_size.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from awareness.deliver.bulletin import Bulletin, Composer, Links, Rendered, build_bulletin
from awareness.deliver.message import build_message
from awareness.core.models import Match, Profile, StoredItem
from awareness.deliver.tokens import FEEDBACK_PATH, Signer

BASE = "https://awareness.lancashire-and-south-cumbria.example.nhs.uk"
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


def reader_links(signer: Signer, profile_id: str, subscriber_id: int, page_id: int) -> Links:
    def feedback(item_id: int, verdict: str) -> str:
        return f"{BASE}{FEEDBACK_PATH}{signer.feedback_token(profile_id, subscriber_id, item_id, verdict)}"

    token = signer.unsubscribe_token(profile_id, subscriber_id)
    return Links(unsubscribe=f"{BASE}/unsubscribe/{token}", manage=f"{BASE}/manage/{token}",
                 view_online=f"{BASE}/profiles/{profile_id}/bulletins/{page_id}", feedback=feedback)


def rendered_fifty(now: datetime | None = None) -> tuple[Bulletin, Rendered, Links]:
    bulletin = fifty_item_bulletin(now)
    links = reader_links(Signer("a-secret-key-for-sizes"), bulletin.profile.id, 123456, 98765)
    return bulletin, Composer().render(bulletin, links=links), links


def message_for(bulletin: Bulletin, rendered: Rendered, links: Links, to: str) -> object:
    return build_message(rendered=rendered, sender="Library <library@example.nhs.uk>", to=to,
                         profile=bulletin.profile, list_domain="awareness.example.nhs.uk",
                         unsubscribe_url=links.unsubscribe, unsubscribe_mailto="library@example.nhs.uk",
                         message_id_domain="example.nhs.uk")
