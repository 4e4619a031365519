"""Full text for thin items: HTML and PDF read once, within limits, and used for matching and summaries."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from awareness.gather import fulltext, pubinfo
from awareness.config.settings import Settings
from awareness.gather.crawl import override_settings
from awareness.gather.enrich import enrich_new_items
from awareness.gather.normalise import normalise
from awareness.pipeline import crawl_due, match_recent, open_context
from awareness.store.store import Store
from awareness.store.schema import items
from servers import LoopbackHTTPServer, Route
from site_server import FAST, make_pdf, serve_site, site_text

BRIEFING = site_text("briefings/getting-back-on-your-feet.html").encode("utf-8")
WORK_PDF_PAGES = [
    ["Back on track", "A briefing for integrated care systems"],
    ["More than two million people are out of work because of long-term sickness.",
     "Employment support delivered alongside health care helps people return to work.",
     "Occupational health advice in the first weeks of sickness absence matters most."],
    ["Individual placement and support doubles the chance of finding paid employment",
     "for people with severe mental illness, and work coaches in GP surgeries show promise."],
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", fetch_allow=("127.0.0.1",),
                    sources=tmp_path / "sources.yaml", profiles=tmp_path / "profiles", secret_key="test")


def add_thin_item(store: Store, link: str, title: str = "Getting back on your feet") -> int:
    now = datetime.now(timezone.utc)
    item = normalise("site", guid=link, link=link, title=title, summary="", published=now, now=now)
    return store.add_items("site", [item], now=now).new[0]


def row(store: Store, item_id: int) -> sa.Row:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(items).where(items.c.id == item_id)).one()


# ------------------------------------------------------------------ extraction

def test_html_main_text_leaves_out_menus_cookie_banners_and_footers() -> None:
    text = fulltext.extract(BRIEFING, "text/html; charset=utf-8")
    assert text.startswith("One in three people over 65 has a fall each year") or \
        "One in three people over 65 has a fall each year" in text[:200]
    assert "Strength and balance classes reduce falls" in text
    for furniture in ("cookies", "Skip to main content", "newsletter", "All rights reserved", "More publications"):
        assert furniture not in text, furniture


def test_the_summary_is_the_first_meaningful_sentences() -> None:
    summary = fulltext.lead_sentences(fulltext.extract(BRIEFING, "text/html"))
    assert summary.startswith("One in three people over 65 has a fall each year, and falls are the most common")
    assert summary.count(".") <= 3 and len(summary) <= 500
    noisy = "Menu\n\nWe use cookies on this site. Accept all cookies.\n\nHome > Reports\n\n" \
            "The report finds that waiting lists have grown in every region. It sets out four options."
    assert fulltext.lead_sentences(noisy) == "The report finds that waiting lists have grown in every region. " \
                                             "It sets out four options."


def test_pdf_text_is_read_from_the_first_pages_only() -> None:
    pages = [[f"Page {n} says the word marker{n} in a sentence about community services."] for n in range(1, 9)]
    text = fulltext.extract(make_pdf(pages), "application/pdf")
    assert all(f"marker{n}" in text for n in range(1, fulltext.PDF_PAGES + 1))
    assert not any(f"marker{n}" in text for n in range(fulltext.PDF_PAGES + 1, 9))


def test_a_damaged_pdf_gives_no_text_and_no_crash() -> None:
    assert fulltext.extract(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", "application/pdf") == ""


# ------------------------------------------------------------------ enrichment

def test_a_thin_item_gets_its_documents_text_once(http_server: LoopbackHTTPServer, settings: Settings) -> None:
    http_server.routes["/briefing"] = Route(BRIEFING, content_type="text/html; charset=utf-8")
    store = Store(settings.database_url)
    item_id = add_thin_item(store, http_server.url("/briefing"))
    report = enrich_new_items(store, settings)
    assert report.fetched == 1 and http_server.hits("/briefing") == 1
    got = row(store, item_id)
    assert "Strength and balance classes" in got.fulltext
    assert got.summary.startswith("One in three people over 65 has a fall each year")
    enrich_new_items(store, settings)
    assert http_server.hits("/briefing") == 1, "each document is fetched once"
    store.close()


def test_an_item_with_a_real_summary_is_not_fetched(http_server: LoopbackHTTPServer, settings: Settings) -> None:
    http_server.routes["/briefing"] = Route(BRIEFING, content_type="text/html")
    store = Store(settings.database_url)
    now = datetime.now(timezone.utc)
    item = normalise("site", guid="g", link=http_server.url("/briefing"), title="Falls prevention",
                     summary="A briefing on falls prevention services for older people in integrated care systems.",
                     published=now, now=now)
    store.add_items("site", [item], now=now)
    enrich_new_items(store, settings)
    assert http_server.hits("/briefing") == 0
    store.close()


def test_an_oversized_or_failing_document_is_recorded_and_the_item_kept(http_server: LoopbackHTTPServer,
                                                                        settings: Settings) -> None:
    http_server.routes["/huge.pdf"] = Route(b"%PDF-1.4\n" + b"0" * (fulltext.MAX_BYTES + 10),
                                            content_type="application/pdf")
    store = Store(settings.database_url)
    big = add_thin_item(store, http_server.url("/huge.pdf"), "A very large report")
    gone = add_thin_item(store, http_server.url("/missing"), "A page that has gone")
    report = enrich_new_items(store, settings)
    assert report.failed == 2
    assert "cap" in report.errors[http_server.url("/huge.pdf")]
    assert "404" in report.errors[http_server.url("/missing")]
    for item_id in (big, gone):
        got = row(store, item_id)
        assert got.title and got.fulltext is None and got.enriched_at is not None
    store.close()


def test_full_text_decides_where_an_ambiguous_title_belongs(http_server: LoopbackHTTPServer,
                                                            settings: Settings, tmp_path: Path) -> None:
    """'Getting back on your feet' and 'Back on track' could be about falls or about work: the documents say."""
    serve_site(http_server)
    http_server.routes["/briefings/back-on-track.pdf"] = Route(make_pdf(WORK_PDF_PAGES), content_type="application/pdf")
    settings.sources.write_text(textwrap.dedent(f"""\
        - id: briefings
          name: Example think tank briefings
          kind: spider
          spider: listing
          url: {http_server.url('/briefings/page-1.html')}
          item: article.card
          title: "h3 a::text"
          link: "h3 a::attr(href)"
          date: "time::attr(datetime)"
        """))
    settings.profiles.mkdir()
    (settings.profiles / "team.yaml").write_text(textwrap.dedent("""\
        id: team
        name: Public health team
        subscribers: [team@example.org]
        topics:
          - id: falls
            title: Falls and frailty
            description: Preventing falls and fractures in older people living with frailty.
            terms: [falls, frailty, hip fracture, strength and balance]
          - id: work
            title: Work and health
            description: Helping people with health conditions stay in or return to employment.
            terms: [employment, return to work, sickness absence, occupational health]
        """))
    ctx = open_context(settings)
    try:
        with override_settings(**FAST):
            crawl_due(ctx, force=True)
        by_title = {i.title: i.id for i in ctx.store.items_since(datetime.now(timezone.utc) - timedelta(days=30))}
        assert set(by_title) == {"Getting back on your feet", "Back on track"}
        match_recent(ctx)
        assert ctx.store.matches_for(by_title.values(), "team") == {}, "a title alone says too little"

        enrich_new_items(ctx.store, ctx.settings)
        match_recent(ctx)
        found = ctx.store.matches_for(by_title.values(), "team")
        assert [m.topic_id for m in found[by_title["Getting back on your feet"]]][:1] == ["falls"]
        assert [m.topic_id for m in found[by_title["Back on track"]]][:1] == ["work"]
        pdf_item = ctx.store.get_items([by_title["Back on track"]])[0]
        assert "return to work" in pdf_item.summary or "Employment support" in pdf_item.summary
    finally:
        ctx.close()


# ------------------------------------------------------------------ type, organisation, closing date

@pytest.mark.parametrize("text, published, closes", [
    ("This consultation closes at 11:59pm on 14 March 2027.", None, date(2027, 3, 14)),
    ("Consultation closes 14 March", datetime(2026, 11, 2, tzinfo=timezone.utc), date(2027, 3, 14)),
    ("The closing date for responses is 3 February 2027.", None, date(2027, 2, 3)),
    ("Respond by 28/02/2027 using the online form.", None, date(2027, 2, 28)),
    ("We want your views on the future of community pharmacy.", None, None),
])
def test_a_consultations_closing_date_is_read(text: str, published: datetime | None, closes: date | None) -> None:
    assert pubinfo.closing_date(text, published=published) == closes


def test_publication_type_and_organisation_are_told_where_they_can_be() -> None:
    d = pubinfo.describe("Consultation on a smokefree generation",
                         "The Department of Health and Social Care seeks views. The consultation closes on 14 March 2027.",
                         "https://www.gov.uk/government/consultations/smokefree")
    assert (d.pub_type, d.organisation, d.closes) == ("consultation", "Department of Health and Social Care",
                                                      date(2027, 3, 14))
    assert pubinfo.describe("Falls: assessment and prevention (NG249)", "", "https://www.nice.org.uk/guidance/ng249") \
        == pubinfo.PubInfo("guidance", "NICE", None)
    assert pubinfo.describe("Hospital admissions: official statistics for October", "").pub_type == "statistics"
    assert pubinfo.describe("A randomised trial of social prescribing", "").pub_type == "research article"
    assert pubinfo.describe("Getting back on your feet", "", "https://www.kingsfund.org.uk/insight/x").organisation \
        == "The King's Fund"
    assert pubinfo.describe("Notes from a meeting", "").pub_type is None, "no guess when nothing says"
    assert pubinfo.closes_label(date(2027, 3, 14)).startswith("closes 14 March")


def test_bulletins_show_type_organisation_and_closing_date() -> None:
    from awareness.deliver.bulletin import Composer, Links, build_bulletin
    from awareness.core.models import Match, Profile, StoredItem

    when = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    item = StoredItem(id=1, guid="g", link="https://www.gov.uk/government/consultations/smokefree",
                      title="Smokefree generation: vapes and displays", summary="We are seeking views.",
                      published=when, first_seen=when, authors=[], tags=[], sources=["govuk"],
                      pub_type="consultation", organisation="Department of Health and Social Care",
                      closes=date(2027, 3, 14))
    same_year = StoredItem(**{**item.__dict__, "id": 2, "link": "https://www.gov.uk/x", "title": "Another one",
                              "closes": date(2026, 12, 14), "organisation": "GOV.UK search"})
    team = Profile(id="t", name="Team", topics=[{"id": "tobacco", "title": "Tobacco", "terms": ["vapes"]}])
    bulletin = build_bulletin(team, [(i, [Match(i.id, "t", "tobacco", 0.5, ("vapes",))]) for i in (item, same_year)],
                              {"govuk": "GOV.UK search"}, when - timedelta(days=7), when)
    rendered = Composer().render(bulletin, links=Links(unsubscribe="https://example.org/u"))
    assert "Consultation · Department of Health and Social Care · GOV.UK search · 20 Nov 2026 · closes 14 March 2027" \
        in " ".join(rendered.text.split())
    assert "Consultation · GOV.UK search · 20 Nov 2026 · closes 14 December" in " ".join(rendered.text.split()), \
        "an organisation already named as the source is not repeated; this year's date has no year"
    assert "<strong style=\"color:#212B32;\">closes 14 December</strong>" in rendered.html
