"""A reader chooses, on the page their bulletin's footer links to, how often it comes (the profile's schedule,
as it comes, a daily or a weekly digest) or pauses it; the sending honours the choice, and every item still
reaches them exactly once."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from awareness import pipeline
from awareness.deliver import frequency
from awareness.core.models import Profile, Topic
from awareness.config.schedule import cron_trigger
from servers import Route
from webworld import ITEMS, NOW, PROFILE, Site, rss, site  # noqa: F401 (the fixture)

from test_manage_subscriptions import manage_link

NEW = [("new-1", "Falls clinics for older people open in the community", "Frailty and falls services.", 0),
       ("new-2", "Hip fracture recovery at home for frail older adults", "Older people after hip fracture.", 0)]


def publish(site: Site, *extra: tuple[str, str, str, int]) -> None:
    site.feeds.routes["/policy.xml"] = Route(rss(ITEMS + list(extra)))


def run_unforced(site: Site, now: datetime) -> list[pipeline.ProfileReport]:
    """The feeds read now, then only the bulletins that are due go (as a scheduled run sends)."""
    ctx = pipeline.open_context(site.settings)
    try:
        pipeline.refresh_due(ctx, now=now, force=True)
        pipeline.match_recent(ctx, now=now)
        return pipeline.send_due_bulletins(ctx, now=now)
    finally:
        ctx.close()


def choose(site: Site, link: str, frequency_value: str, paused: bool = False) -> str:
    c = site.client()
    data = {"csrf": c.csrf(link), "action": "save", "profile": "ph-team", "frequency": frequency_value}
    if paused:
        data["paused"] = "yes"
    r = c.post(link, data=data)
    assert r.status_code == 200, r.text
    return r.text


def test_a_weekly_reader_gets_one_digest_on_monday_with_each_item_once(site: Site) -> None:
    (site.root / "profiles" / "ph-team.yaml").write_text(PROFILE.replace('"0 8 * * MON"', '"0 8 * * MON-FRI"'))
    link = manage_link(site, "alice@example.nhs.uk")
    page = site.client().get(link).text
    assert "Weekly digest" in page and "Daily digest" in page and "As it comes" in page and "Pause" in page
    saved = choose(site, link, "weekly")
    assert "Saved: Public Health Team comes every Monday, as a digest." in saved
    assert "Comes every Monday, as a digest." in saved

    before = len(site.mails_to("alice@example.nhs.uk"))
    publish(site, NEW[0])
    site.run(now=NOW + timedelta(minutes=5))                       # a weekday run: not her day
    assert len(site.mails_to("alice@example.nhs.uk")) == before
    publish(site, *NEW)
    monday = cron_trigger("0 8 * * MON", "Europe/London").get_next_fire_time(None, NOW + timedelta(minutes=5))
    site.run(now=monday + timedelta(minutes=30))
    mails = site.mails_to("alice@example.nhs.uk")
    assert len(mails) == before + 1, "one digest"
    digest = mails[-1].get_body(preferencelist=("plain",)).get_content()
    assert NEW[0][1][:40] in digest and NEW[1][1][:40] in digest
    assert "This bulletin comes every Monday, as a digest." in " ".join(digest.split())
    site.run(now=monday + timedelta(hours=2))                      # a later run that Monday
    assert len(site.mails_to("alice@example.nhs.uk")) == before + 1, "never twice"


def test_a_paused_reader_gets_nothing_until_they_resume_and_then_each_item_once(site: Site) -> None:
    link = manage_link(site, "alice@example.nhs.uk")
    saved = choose(site, link, "", paused=True)
    assert "Public Health Team is paused; nothing will come until you resume it." in saved
    before = len(site.mails_to("alice@example.nhs.uk"))
    publish(site, NEW[0])
    site.run()                                                     # even "Run now" sends her nothing
    assert len(site.mails_to("alice@example.nhs.uk")) == before
    assert "Comes every Monday." in choose(site, link, "")         # resumed, on the profile's schedule
    site.run()
    site.run()
    mails = site.mails_to("alice@example.nhs.uk")
    assert len(mails) == before + 1
    assert NEW[0][1] in " ".join(mails[-1].get_body(preferencelist=("plain",)).get_content().split())


def test_as_it_comes_sends_between_the_profiles_own_issues_and_others_wait(site: Site) -> None:
    (site.root / "profiles" / "ph-team.yaml").write_text(
        PROFILE.replace("subscribers: [alice@example.nhs.uk]", "subscribers: [alice@example.nhs.uk, bob@example.nhs.uk]"))
    site.run()                                                     # bob's first bulletin; alice has had hers
    bob_before = len(site.mails_to("bob@example.nhs.uk"))
    assert bob_before == 1
    choose(site, manage_link(site, "alice@example.nhs.uk"), "as-it-comes")
    alice_before = len(site.mails_to("alice@example.nhs.uk"))
    publish(site, NEW[0])
    report = run_unforced(site, NOW + timedelta(minutes=10))       # the profile is not due (it came just now)
    assert len(site.mails_to("alice@example.nhs.uk")) == alice_before + 1
    assert len(site.mails_to("bob@example.nhs.uk")) == bob_before, "bob keeps the profile's schedule"
    assert "with a frequency of their own served" in report[0].note
    footer = " ".join(site.mails_to("alice@example.nhs.uk")[-1].get_body(preferencelist=("plain",)).get_content().split())
    assert "This bulletin comes whenever there is something new." in footer
    run_unforced(site, NOW + timedelta(minutes=20))
    assert len(site.mails_to("alice@example.nhs.uk")) == alice_before + 1, "nothing new: nothing sent"


def test_a_choice_for_a_bulletin_the_address_does_not_get_is_refused(site: Site) -> None:
    link = manage_link(site, "alice@example.nhs.uk")
    c = site.client()
    r = c.post(link, data={"csrf": c.csrf(link), "action": "save", "profile": "someone-else", "frequency": "daily"})
    assert r.status_code == 400 and "could not be saved" in r.text
    r = c.post(link, data={"csrf": c.csrf(link), "action": "save", "profile": "ph-team", "frequency": "hourly"})
    assert r.status_code == 400


def test_the_unsubscribe_header_names_no_unread_mailbox(site: Site) -> None:
    value = site.mails_to("alice@example.nhs.uk")[-1]["List-Unsubscribe"]
    assert re.fullmatch(r"<http://testserver/unsubscribe/\S+>", value), value


PROFILE_OBJ = Profile(id="t", name="T", schedule="0 8 * * MON", timezone="Europe/London",
                      topics=[Topic(id="a", title="A", terms=["a"])])
TUESDAY_9 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)     # fixed days of the week, not today's date


def plan(choice: frequency.ReaderChoice, now: datetime, due: bool = False) -> frequency.ReaderPlan | None:
    return frequency.plan_for(PROFILE_OBJ, choice, profile_due=due, last_sent=TUESDAY_9,
                              since=TUESDAY_9 - timedelta(days=30), now=now)


def test_a_daily_digest_comes_once_a_day_at_the_profiles_hour_and_reaches_back_far_enough() -> None:
    daily = frequency.ReaderChoice("daily")
    assert plan(daily, TUESDAY_9 + timedelta(hours=11)) is None                 # Tuesday evening: had today's
    got = plan(daily, TUESDAY_9 + timedelta(hours=23, minutes=5))               # Wednesday 08:05
    assert got is not None and got.every == "every day, as a digest" and got.profile.lookback_days >= 2
    assert plan(frequency.ReaderChoice("daily", paused=True), TUESDAY_9 + timedelta(days=3), due=True) is None
    assert plan(frequency.ReaderChoice(), TUESDAY_9 + timedelta(hours=1), due=False) is None
    assert plan(frequency.ReaderChoice(), TUESDAY_9 + timedelta(hours=1), due=True) is not None


def test_leaving_after_choosing_a_frequency_leaves_nothing_behind(site: Site) -> None:
    import sqlalchemy as sa

    from awareness.store.schema import reader_choices

    link = manage_link(site, "alice@example.nhs.uk")
    choose(site, link, "daily")
    c = site.client()
    r = c.post(link, data={"csrf": c.csrf(link), "action": "leave-all"})
    assert r.status_code == 200 and "You have left every bulletin" in r.text
    with site.store.engine.connect() as conn:
        assert conn.execute(sa.select(reader_choices)).all() == [], "the choice went with the subscription"
