"""normalise: the one place feed and spider items are made safe and comparable."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from awareness.gather.normalise import canonical_link, clean_text, content_hash, normalise, title_key

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)


# ------------------------------------------------------------------ canonical_link

@pytest.mark.parametrize("raw, expected", [
    ("HTTPS://WWW.England.NHS.uk:443/Long-Term-Plan/?utm_source=rss&utm_medium=feed#section-2",
     "https://www.england.nhs.uk/Long-Term-Plan/"),
    ("http://news.example.nhs.uk:80/a?id=7&fbclid=XyZ&page=2&gclid=1&mc_cid=a&mc_eid=b",
     "http://news.example.nhs.uk/a?id=7&page=2"),
    ("https://example.org.uk:8443/x?_hsenc=p&_hsmi=1&ref_src=twsrc&cmpid=9&q=frailty",
     "https://example.org.uk:8443/x?q=frailty"),
    ("https://example.org.uk", "https://example.org.uk/"),
    ("https://[2001:DB8::1]:443/feed", "https://[2001:db8::1]/feed"),
    ("  https://example.org.uk/path%20with%20spaces?b=2&a=1  ", "https://example.org.uk/path%20with%20spaces?b=2&a=1"),
])
def test_canonical_link_strips_tracking_and_noise_but_keeps_the_page(raw: str, expected: str) -> None:
    assert canonical_link(raw) == expected
    assert canonical_link(expected) == expected  # idempotent


def test_canonical_link_keeps_path_case_and_http_scheme() -> None:
    # Paths are case-sensitive on many servers and http is not silently upgraded.
    assert canonical_link("http://Example.org/NHS/Report.PDF") == "http://example.org/NHS/Report.PDF"


def test_canonical_link_of_junk_does_not_raise() -> None:
    assert canonical_link("") == ""
    assert canonical_link("http://[::1") == "http://[::1"
    assert canonical_link("not a url at all") == "not a url at all"


# ------------------------------------------------------------------ clean_text

def test_clean_text_removes_markup_scripts_and_styles() -> None:
    html = ('<p>Funding for <b>mental health</b> rises.</p><script>alert("x")</script>'
            '<style>p{color:red}</style><p>Trusts &amp; ICBs must report.</p>')
    assert clean_text(html) == "Funding for mental health rises. Trusts & ICBs must report."


def test_clean_text_catches_markup_escaped_twice() -> None:
    assert clean_text("Waiting lists &lt;script&gt;alert(1)&lt;/script&gt;fall") == "Waiting lists fall"


def test_clean_text_keeps_plain_text_comparisons() -> None:
    assert clean_text("Over-65s < 10% & under-18s > 5%") == "Over-65s < 10% & under-18s > 5%"


def test_clean_text_truncates_at_a_word_boundary() -> None:
    text = "integrated care systems " * 20
    out = clean_text(text, limit=50)
    assert len(out) <= 50
    assert out.endswith("…")
    assert out[:-1].split()[-1] in {"integrated", "care", "systems"}


def test_clean_text_collapses_whitespace_and_control_characters() -> None:
    assert clean_text("  NHS\n\n\tworkforce\x00 plan\u200b ") == "NHS workforce plan"


# ------------------------------------------------------------------ keys

def test_title_key_matches_the_same_story_from_two_sources() -> None:
    a = title_key("NHS England: Café-style ‘Warm Spaces’ Pilot — Evaluation!")
    b = title_key("nhs england cafe style warm spaces pilot evaluation")
    assert a == b == "nhs england cafe style warm spaces pilot evaluation"


def test_content_hash_ignores_formatting_but_not_wording() -> None:
    base = content_hash("Smoking in pregnancy", "Rates fell to 7.4%.")
    assert base == content_hash("Smoking in Pregnancy!", "Rates  fell to\n7.4%.")
    assert base != content_hash("Smoking in pregnancy", "Rates fell to 8.1%.")
    assert len(base) == 64


# ------------------------------------------------------------------ normalise

def test_normalise_makes_a_clean_item() -> None:
    item = normalise("kingsfund", guid=" kf-123 ", link="HTTPS://Example.org/a?utm_campaign=x#top",
                     title="<b>Social care</b> reform &amp; funding", summary="<p>The Green Paper.</p>",
                     published=datetime(2026, 1, 5, 10, tzinfo=timezone(timedelta(hours=1))),
                     authors=["Sally Warren", "sally warren", ""], tags=["Social care", "<i>Policy</i>"], now=NOW)
    assert item.source_id == "kingsfund"
    assert item.guid == "kf-123"
    assert item.link == "https://example.org/a"
    assert item.title == "Social care reform & funding"
    assert item.summary == "The Green Paper."
    assert item.published == datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    assert item.authors == ["Sally Warren"]
    assert item.tags == ["Social care", "Policy"]
    assert item.title_key == "social care reform funding"
    assert item.content_hash == content_hash(item.title, item.summary)


def test_normalise_falls_back_when_the_source_leaves_things_out() -> None:
    summary = ("Maternity safety investigations found recurring problems with fetal monitoring "
               "in seven trusts, according to a national review")
    item = normalise("hsib", guid=None, link="https://example.org.uk/m", title="", summary=summary,
                     published=None, now=NOW)
    assert item.title == "Maternity safety investigations found recurring problems with fetal monitoring in seven trusts…"
    assert item.guid == "https://example.org.uk/m"
    assert item.published is None

    bare = normalise("hsib", guid="", link="", title="", summary="", published=None, now=NOW)
    assert bare.guid == bare.content_hash  # still identifiable
    assert bare.title

    link_only = normalise("hsib", guid="", link="https://example.org.uk/x", title=None, summary=None,
                          published=None, now=NOW)
    assert link_only.title == "https://example.org.uk/x"


def test_normalise_drops_links_a_reader_must_never_click() -> None:
    for bad in ("javascript:alert(1)", "data:text/html,<script>x</script>", "/relative/only"):
        item = normalise("s", guid="g", link=bad, title="t", summary="", published=None, now=NOW)
        assert item.link == ""


def test_normalise_clamps_future_dates_and_takes_naive_dates_as_utc(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="awareness.gather.normalise"):
        future = normalise("s", guid="g", link="", title="t", summary="", published=datetime(2039, 1, 1), now=NOW)
    assert future.published == NOW
    assert "future" in caplog.text

    soon = NOW + timedelta(hours=20)  # within a day: time zones and scheduled posts, kept as is
    assert normalise("s", guid="g", link="", title="t", summary="", published=soon, now=NOW).published == soon

    naive = normalise("s", guid="g", link="", title="t", summary="", published=datetime(2026, 1, 2, 8, 30), now=NOW)
    assert naive.published == datetime(2026, 1, 2, 8, 30, tzinfo=timezone.utc)
