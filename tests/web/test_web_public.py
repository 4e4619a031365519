"""Readers' endpoints, in-process: subscribe with double opt-in, confirm, topic choice,
one-click unsubscribe, feedback, the archive and its downloads, the Atom feed."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from email.message import EmailMessage

import sqlalchemy as sa

from awareness.store.store import email_hash
from awareness.store.schema import match_feedback, pending_subscriptions, subscribers, suppressions, utcnow
from awareness.deliver.subscriptions import chosen_topics
from webworld import Site, site  # noqa: F401 (the fixture)

ATOM = "{http://www.w3.org/2005/Atom}"


def links(message: EmailMessage) -> list[str]:
    html = message.get_body(preferencelist=("html",)).get_content()
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


def one(found: list[str], part: str) -> str:
    hits = [u for u in found if part in u]
    assert hits, f"no link containing {part!r} in {found}"
    return hits[0].replace("http://testserver", "")


def subscriber_rows(site: Site) -> list[tuple[str, str]]:
    with site.store.engine.connect() as conn:
        return [(r.email, r.origin) for r in conn.execute(sa.select(subscribers).order_by(subscribers.c.email))]


def subscribe(site: Site, email: str, topics: list[str] | None = None) -> str:
    """Fill in the public form; returns the confirm path from the email that arrives."""
    c = site.client()
    data: dict = {"csrf": c.csrf("/profiles/ph-team"), "email": email,
                  "topic": topics if topics is not None else ["frailty", "maternity"]}
    r = c.post("/profiles/ph-team/subscribe", data=data)
    assert r.status_code == 200 and "Check your email" in r.text
    mail = site.mails_to(email)[-1]
    assert mail["Subject"] == "Confirm your subscription: Public Health Team"
    assert "List-Unsubscribe" not in mail      # not on the list yet
    return one(links(mail), "/confirm/")


def test_public_page_lists_topics_and_offers_subscription(site: Site) -> None:
    r = site.client().get("/profiles/ph-team")
    assert r.status_code == 200
    assert "Frailty and older people" in r.text and "Maternity and perinatal care" in r.text
    assert 'action="/profiles/ph-team/subscribe"' in r.text
    assert site.client().get("/profiles/nobody").status_code == 404


def test_double_opt_in_sends_nothing_until_confirmed_and_token_carries_no_address(site: Site) -> None:
    confirm = subscribe(site, "Carol@Example.nhs.uk", topics=["maternity"])
    assert "carol" not in confirm.lower()
    token = confirm.rsplit("/", 1)[1]
    import base64
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==").decode("utf-8", "replace")
    assert "example" not in payload.lower()
    assert ("carol@example.nhs.uk", "web") not in subscriber_rows(site)
    site.run()                                     # unconfirmed: not a recipient
    assert len(site.mails_to("carol@example.nhs.uk")) == 1   # only the confirmation

    c = site.client()
    page = c.get(confirm)
    assert page.status_code == 200 and "Confirm subscription" in page.text
    assert ("carol@example.nhs.uk", "web") not in subscriber_rows(site), "GET must not confirm"
    r = c.post(confirm, data={"csrf": c.csrf(confirm)})
    assert r.status_code == 200 and "Subscription confirmed" in r.text
    assert ("carol@example.nhs.uk", "web") in subscriber_rows(site)
    again = c.post(confirm, data={"csrf": c.csrf(confirm)})
    assert again.status_code == 200 and "already been used" in again.text
    assert subscriber_rows(site).count(("carol@example.nhs.uk", "web")) == 1

    site.run()
    mails = site.mails_to("carol@example.nhs.uk")
    assert len(mails) == 2
    text = mails[-1].get_body(preferencelist=("plain",)).get_content()
    assert "Maternity and neonatal services" in text
    assert "Preventing falls" not in text, "carol chose maternity only"


def test_bad_email_is_refused_with_a_message_and_nothing_stored(site: Site) -> None:
    c = site.client()
    r = c.post("/profiles/ph-team/subscribe", data={"csrf": c.csrf("/profiles/ph-team"), "email": "not-an-address"})
    assert r.status_code == 400 and "correct format" in r.text
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pending_subscriptions)).scalar_one() == 0


def test_subscribe_without_csrf_is_refused(site: Site) -> None:
    c = site.client()
    r = c.post("/profiles/ph-team/subscribe", data={"email": "dave@example.nhs.uk"})
    assert r.status_code == 400
    r = c.post("/profiles/ph-team/subscribe", data={"email": "dave@example.nhs.uk", "csrf": "forged"})
    assert r.status_code == 400
    assert site.mails_to("dave@example.nhs.uk") == []


def test_confirm_tokens_tampered_expired_or_for_another_purpose_are_refused(site: Site) -> None:
    confirm = subscribe(site, "erin@example.nhs.uk")
    c = site.client()
    token = confirm.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert c.get(f"/confirm/{tampered}").status_code == 400
    web = site.app.state.web
    unsub = web.signer.unsubscribe_token("ph-team", 1)
    assert c.get(f"/confirm/{unsub}").status_code == 400        # wrong purpose
    # An expired link: signed (with the app's key and salt) eight days ago.
    import time

    import itsdangerous

    class EightDaysAgo(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 86400

    signer = itsdangerous.URLSafeTimedSerializer("test-secret-key", salt="awareness.confirm", signer=EightDaysAgo)
    expired = signer.dumps(["ph-team", "ref"])
    r = c.post(f"/confirm/{expired}", data={"csrf": c.csrf("/profiles/ph-team")})
    assert r.status_code == 410 and "expired" in r.text
    assert ("erin@example.nhs.uk", "web") not in subscriber_rows(site)


def test_unsubscribe_get_changes_nothing_post_is_one_click_idempotent_and_leaves_only_a_suppression(site: Site) -> None:
    mail = site.mails_to("alice@example.nhs.uk")[0]
    header = str(mail["List-Unsubscribe"])
    url = re.search(r"<(http[^>]+)>", header).group(1).replace("http://testserver", "")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    c = site.client()
    for _ in range(2):
        page = c.get(url)
        assert page.status_code == 200 and "Unsubscribe from Public Health Team?" in page.text
    assert ("alice@example.nhs.uk", "yaml") in subscriber_rows(site), "a GET (link scanner) must not unsubscribe"

    # RFC 8058: a mail client POSTs with no cookies and no CSRF token.
    fresh = site.client()
    r = fresh.post(url, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and "You have been unsubscribed" in r.text
    assert not any(e == "alice@example.nhs.uk" for e, _ in subscriber_rows(site))
    with site.store.engine.connect() as conn:
        rows = conn.execute(sa.select(suppressions)).all()
    assert [(r.profile_id, r.email_hash) for r in rows] == [("ph-team", email_hash("alice@example.nhs.uk"))]
    again = fresh.post(url, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert "You are not subscribed" in c.get(url).text

    # The address is still in the profile file: the next run must not send to it or re-add it.
    site.feeds.routes["/policy.xml"].body = site.feeds.routes["/policy.xml"].body.replace(
        b"</channel>", b"<item><title>Falls in care homes: new frailty guidance</title>"
        b"<link>https://example.org/pub/new</link><guid>new</guid><description>Falls and frailty in older "
        b"people.</description></item></channel>")
    site.run()
    assert len(site.mails_to("alice@example.nhs.uk")) == 1
    assert not any(e == "alice@example.nhs.uk" for e, _ in subscriber_rows(site))


def test_resubscribing_after_unsubscribe_needs_a_fresh_confirmation(site: Site) -> None:
    confirm = subscribe(site, "fay@example.nhs.uk")
    c = site.client()
    c.post(confirm, data={"csrf": c.csrf(confirm)})
    sub_id = site.store.sync_subscribers("ph-team", [], now=utcnow())["fay@example.nhs.uk"]
    unsub = f"/unsubscribe/{site.app.state.web.signer.unsubscribe_token('ph-team', sub_id)}"
    assert c.post(unsub).status_code == 200
    r = c.post(confirm, data={"csrf": c.csrf(confirm)})     # the old link is spent
    assert "already been used" in r.text
    assert not any(e == "fay@example.nhs.uk" for e, _ in subscriber_rows(site))
    fresh = subscribe(site, "fay@example.nhs.uk")
    c.post(fresh, data={"csrf": c.csrf(fresh)})
    assert ("fay@example.nhs.uk", "web") in subscriber_rows(site)
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(suppressions)).scalar_one() == 0


def test_topic_choice_page_saves_and_needs_csrf(site: Site) -> None:
    mail = site.mails_to("alice@example.nhs.uk")[0]
    token = one(links(mail), "/unsubscribe/").rsplit("/", 1)[1]
    c = site.client()
    page = c.get(f"/preferences/{token}")
    assert page.status_code == 200 and page.text.count("checked") == 2
    sub_id = site.app.state.web.signer.read_unsubscribe(token)[1]
    assert c.post(f"/preferences/{token}", data={"topic": ["frailty"]}).status_code == 400
    assert chosen_topics(site.store, sub_id) == set()
    r = c.post(f"/preferences/{token}", data={"csrf": c.csrf(f"/preferences/{token}"), "topic": ["frailty"]})
    assert r.status_code == 200 and "saved" in r.text
    assert chosen_topics(site.store, sub_id) == {"frailty"}
    r = c.post(f"/preferences/{token}", data={"csrf": c.csrf(f"/preferences/{token}")})
    assert r.status_code == 400 and "at least one topic" in r.text
    assert chosen_topics(site.store, sub_id) == {"frailty"}


def feedback_rows(site: Site) -> list:
    with site.store.engine.connect() as conn:
        return conn.execute(sa.select(match_feedback)).all()


def test_mail_scanner_opening_every_feedback_link_casts_no_vote(site: Site) -> None:
    """Safe Links / Mimecast / Proofpoint GET every link in a mail: none of that may vote."""
    mail = site.mails_to("alice@example.nhs.uk")[0]
    fb = [u.replace("http://testserver", "") for u in links(mail) if "/f/" in u]
    assert len(fb) >= 2
    scanner = site.client()
    for url in fb:
        r = scanner.get(url)
        assert r.status_code == 200 and '<form method="post">' in r.text and "Yes, mark as" in r.text
    assert feedback_rows(site) == [], "a GET must not record a vote"


def test_feedback_counts_on_the_confirm_button_last_press_wins_and_never_redirects(site: Site) -> None:
    mail = site.mails_to("alice@example.nhs.uk")[0]
    found = links(mail)
    useful = one(found, "/f/")
    fb = [u.replace("http://testserver", "") for u in found if "/f/" in u]
    c = site.client()
    page = c.get(fb[1])
    assert "Mark this item as not relevant?" in page.text
    for _ in range(3):   # repeated presses are harmless
        r = c.post(fb[1], data={"csrf": c.csrf(fb[1])})
        assert r.status_code == 200 and "Thank you" in r.text
    rows = feedback_rows(site)
    assert len(rows) == 1 and rows[0].verdict == "not_relevant" and rows[0].topic_id
    c.post(useful, data={"csrf": c.csrf(useful)})
    rows = feedback_rows(site)
    assert len(rows) == 1 and rows[0].verdict == "useful", "last press wins"
    assert c.post(fb[1], data={"csrf": "forged"}).status_code == 400
    assert feedback_rows(site)[0].verdict == "useful", "a forged form changes nothing"
    # An open-redirect attempt: extra parameters are ignored, nothing points off-site.
    r = c.get(fb[1] + "?next=https://evil.example/&url=//evil.example", follow_redirects=False)
    assert r.status_code == 200 and "location" not in r.headers and "evil.example" not in r.text
    r = c.get("/feedback/" + "x" * 40 + "?next=https://evil.example/", follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers
    wrong_purpose = site.app.state.web.signer.unsubscribe_token("ph-team", 1)
    assert c.get(f"/feedback/{wrong_purpose}").status_code == 400
    assert c.post(f"/feedback/{wrong_purpose}", data={"csrf": c.csrf(useful)}).status_code == 400
    # An email sent before the links were shortened carries /feedback/TOKEN: it still counts.
    old = useful.replace("/f/", "/feedback/", 1)
    assert "Mark this item as useful?" in c.get(old).text
    c.post(fb[1], data={"csrf": c.csrf(fb[1])})
    assert c.post(old, data={"csrf": c.csrf(old)}).status_code == 200
    assert [r.verdict for r in feedback_rows(site)] == ["useful"], "the old link voted"


def test_view_in_browser_archive_and_downloads(site: Site) -> None:
    mail = site.mails_to("alice@example.nhs.uk")[0]
    view = one(links(mail), "/bulletins/")
    c = site.client()
    page = c.get(view)
    assert page.status_code == 200
    assert "Preventing falls in older people" in page.text and "Frailty and older people" in page.text
    assert "unsubscribe" not in page.text.lower(), "the public copy carries no personal links"
    listing = c.get("/profiles/ph-team/bulletins")
    assert view in listing.text
    ris = c.get(view + ".ris")
    assert ris.headers["content-type"].startswith("application/x-research-info-systems")
    assert "TI  - Preventing falls in older people" in ris.text
    assert "AU  - Department of Health and Social Care," in ris.text
    assert "UR  - https://example.org/pub/falls-1" in ris.text and "KW  - Frailty and older people" in ris.text
    rows = list(csv.DictReader(io.StringIO(c.get(view + ".csv").text)))
    assert list(rows[0]) == ["title", "organisation", "date", "url", "type", "topic"]
    assert {r["url"] for r in rows} >= {"https://example.org/pub/falls-1", "https://example.org/pub/mat-1"}
    assert all(r["organisation"] == "Department of Health and Social Care" for r in rows)
    assert c.get("/profiles/ph-team/bulletins/999").status_code == 404
    assert c.get(view.replace("ph-team", "other")).status_code == 404


def test_atom_feed_lists_matched_items(site: Site) -> None:
    r = site.client().get("/profiles/ph-team/feed.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    titles = [e.findtext(f"{ATOM}title") for e in root.iter(f"{ATOM}entry")]
    assert "Preventing falls in older people: strength and balance programmes" in titles
    assert "Hospital car parking procurement framework renewed" not in titles
    first = next(root.iter(f"{ATOM}entry"))
    assert first.find(f"{ATOM}link").get("href").startswith("https://example.org/pub/")
    assert first.find(f"{ATOM}author/{ATOM}name").text == "Department of Health and Social Care"


def test_health_and_security_headers(site: Site) -> None:
    c = site.client()
    r = c.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    for path in ("/", "/profiles/ph-team", "/login", "/nowhere"):
        r = c.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp   # no script allowed at all
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_mail_server_down_at_subscription_says_so_and_keeps_nothing(site: Site) -> None:
    c = site.client()
    csrf = c.csrf("/profiles/ph-team")
    site.smtp.stop()
    try:
        r = c.post("/profiles/ph-team/subscribe", data={"csrf": csrf, "email": "gus@example.nhs.uk"})
    finally:
        site.smtp.start()
    assert r.status_code == 503 and "could not send the confirmation email" in r.text
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pending_subscriptions)).scalar_one() == 0
    subscribe(site, "gus@example.nhs.uk")     # and it works once the server is back
