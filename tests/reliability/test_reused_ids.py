"""Issue 15, case 1: a subscriber's id is never given to a newcomer, and a leaver's links act on nobody.

Reproduced as a reader would: Bob subscribes on the web (the newest subscriber), gets
a bulletin, unsubscribes; Carol then subscribes.  Bob's old unsubscribe and
preferences links must not reach Carol, and Carol must get the items Bob had.
"""

from __future__ import annotations

import re
from email.message import EmailMessage

import sqlalchemy as sa

from awareness.deliver import subscriptions
from awareness.store.schema import subscribers, utcnow
from webworld import Site, site  # noqa: F401 (the fixture)


def links(message: EmailMessage) -> list[str]:
    html = message.get_body(preferencelist=("html",)).get_content()
    return [h.replace("&amp;", "&").replace("http://testserver", "") for h in re.findall(r'href="([^"]+)"', html)]


def web_subscriber(site: Site, email: str) -> int:
    ref = subscriptions.request_subscription(site.store, profile_id="ph-team", email=email, topics=[])
    done = subscriptions.confirm(site.store, ref, "ph-team")
    assert done is not None
    return done.subscriber_id


def test_a_leavers_links_and_ledger_never_pass_to_the_next_subscriber(site: Site) -> None:
    bob = web_subscriber(site, "bob@example.nhs.uk")
    site.run()
    bob_mail = site.mails_to("bob@example.nhs.uk")[-1]
    unsubscribe = next(u for u in links(bob_mail) if u.startswith("/unsubscribe/"))
    preferences = unsubscribe.replace("/unsubscribe/", "/preferences/")
    c = site.client()
    assert c.post(unsubscribe).status_code == 200          # one-click, as a mail client does

    carol = web_subscriber(site, "carol@example.nhs.uk")
    assert carol != bob, "the leaver's id was given to the newcomer"

    page = c.get(preferences)
    assert "You are not subscribed" in page.text and "carol" not in page.text.lower()
    c.post(unsubscribe)                                    # Bob clicks his old link again
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(subscribers.c.email).where(subscribers.c.id == carol)).scalar() \
            == "carol@example.nhs.uk", "Bob's old link unsubscribed Carol"

    site.run()
    carol_mail = site.mails_to("carol@example.nhs.uk")
    assert len(carol_mail) == 1, "Carol inherited Bob's ledger and got no bulletin"
    assert carol_mail[0]["Subject"] == bob_mail["Subject"]


def test_a_revoked_key_ends_every_link_made_before(site: Site) -> None:
    signer = site.app.state.web.signer
    alice = site.store.sync_subscribers("ph-team", ["alice@example.nhs.uk"], now=utcnow())["alice@example.nhs.uk"]
    token = signer.unsubscribe_token("ph-team", alice, subscriptions.subscriber_key(site.store, alice))
    c = site.client()
    before = c.get(f"/preferences/{token}")
    assert before.status_code == 200 and "You are not subscribed" not in before.text
    subscriptions.revoke_links(site.store, alice)
    assert "You are not subscribed" in c.get(f"/preferences/{token}").text
    c.post(f"/unsubscribe/{token}")
    assert subscriptions.is_subscribed(site.store, "ph-team", alice)


def test_upgrading_an_old_database_keys_every_subscriber_and_never_reuses_a_ledger_id(tmp_path) -> None:
    import logging

    from alembic import command

    from awareness.store.migrations import _config, upgrade
    from awareness.store.store import Store, create_engine

    logging.getLogger("alembic").setLevel(logging.WARNING)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0002")
        conn.execute(sa.text("INSERT INTO subscribers (id, profile_id, email, created, origin) VALUES "
                             "(1, 'p', 'a@example.nhs.uk', '2026-01-01', 'yaml')"))
        # subscriber 3 left before the upgrade; the ledger still names them
        conn.execute(sa.text("INSERT INTO deliveries (profile_id, subscriber_id, item_id, sent_at, message_id) "
                             "VALUES ('p', 3, 1, '2026-01-01', '<m@x>')"))
    upgrade(engine)
    engine.dispose()
    store = Store(url)
    try:
        ids = store.sync_subscribers("p", ["a@example.nhs.uk", "new@example.nhs.uk"], now=utcnow())
        assert ids["new@example.nhs.uk"] > 3
        with store.engine.connect() as conn:
            keys = conn.execute(sa.select(subscribers.c.key)).scalars().all()
        assert len(keys) == 2 and all(len(k) >= 16 for k in keys) and len(set(keys)) == 2
    finally:
        store.close()


def test_a_confirmation_link_lives_a_few_days(site: Site) -> None:
    import time

    import itsdangerous

    class FourDaysAgo(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - 4 * 86400)

    ref = subscriptions.request_subscription(site.store, profile_id="ph-team", email="dan@example.nhs.uk", topics=[])
    old = itsdangerous.URLSafeTimedSerializer("test-secret-key", salt="awareness.confirm",
                                              signer=FourDaysAgo).dumps(["ph-team", ref])
    assert site.client().get(f"/confirm/{old}").status_code == 410
