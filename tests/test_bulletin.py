"""Bulletins: what goes where, and what the reader sees in HTML and plain text."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from awareness.deliver.bulletin import Bulletin, Composer, Links, build_bulletin, period_label, shorten, templates_dir
from awareness.core.models import Match, Profile, StoredItem
from conftest import chromium_path, need_system
from screenshot import read_png, sample_bulletin, sample_links, screenshot_html

GOLDEN = Path(__file__).resolve().parent / "golden"
T0 = datetime(2026, 11, 16, 8, 0, tzinfo=timezone.utc)


def profile(max_items: int = 50, **extra: object) -> Profile:
    return Profile(id="team", name="Falls Team", owner="lib@trust.example.nhs.uk", max_items=max_items,
                   topics=[{"id": "falls", "title": "Falls", "terms": ["falls"]},
                           {"id": "frailty", "title": "Frailty", "terms": ["frailty"]},
                           {"id": "drugs", "title": "Medicines", "terms": ["deprescribing"]}],
                   **extra)


def item(item_id: int, days_ago: float = 1, title: str | None = None, summary: str = "A summary.",
         sources: tuple[str, ...] = ("nice",), link: str | None = None) -> StoredItem:
    when = T0 - timedelta(days=days_ago)
    return StoredItem(id=item_id, guid=f"g{item_id}", link=link or f"https://example.org/{item_id}",
                      title=title or f"Item {item_id}", summary=summary, published=when, first_seen=when,
                      authors=[], tags=[], sources=list(sources))


def match(item_id: int, topic: str, score: float, *terms: str, profile_id: str = "team") -> Match:
    return Match(item_id, profile_id, topic, score, terms)


def build(matched: list[tuple[StoredItem, list[Match]]], p: Profile | None = None) -> Bulletin:
    return build_bulletin(p or profile(), matched, {"nice": "NICE", "bmj": "BMJ"}, T0 - timedelta(days=7), T0)


def render(b: Bulletin, feedback: bool = True) -> tuple[str, str, str]:
    links = Links(unsubscribe="https://aw.example/u/TOKEN", view_online="https://aw.example/b/1",
                  feedback=(lambda i, v: f"https://aw.example/f/{i}/{v}") if feedback else None)
    r = Composer().render(b, links=links)
    return r.subject, r.html, r.text


# ------------------------------------------------------------------ grouping

def test_an_item_appears_once_under_its_best_topic_and_names_the_others() -> None:
    b = build([(item(1), [match(1, "falls", 0.3, "falls"), match(1, "frailty", 0.6, "frailty"),
                          match(1, "drugs", 0.2, "deprescribing")])])
    assert b.item_ids == [1]
    [section] = b.sections
    assert section.topic.id == "frailty"
    [entry] = section.entries
    assert entry.terms == ("frailty",)
    assert entry.also == ["Falls", "Medicines"]   # in the profile's topic order


def test_sections_follow_the_profile_order_and_empty_topics_are_dropped() -> None:
    b = build([(item(1), [match(1, "drugs", 0.5)]), (item(2), [match(2, "falls", 0.5)])])
    assert [s.topic.id for s in b.sections] == ["falls", "drugs"]


def test_within_a_topic_newest_first_then_higher_score() -> None:
    b = build([(item(1, days_ago=3), [match(1, "falls", 0.9)]),
               (item(2, days_ago=1), [match(2, "falls", 0.2)]),
               (item(3, days_ago=1), [match(3, "falls", 0.4)])])
    assert b.item_ids == [3, 2, 1]


def test_max_items_keeps_the_highest_scores() -> None:
    matched = [(item(i, days_ago=i), [match(i, "falls" if i % 2 else "frailty", i / 10)]) for i in range(1, 8)]
    b = build(matched, profile(max_items=3))
    assert b.count == 3
    assert sorted(b.item_ids) == [5, 6, 7]


def test_source_names_are_human_names_and_unknown_ids_show_as_they_are() -> None:
    b = build([(item(1, sources=("nice", "bmj", "local-feed")), [match(1, "falls", 0.5)])])
    assert b.sections[0].entries[0].source_names == ["NICE", "BMJ", "local-feed"]


def test_matches_for_another_profile_or_an_unknown_topic_are_ignored() -> None:
    b = build([(item(1), [match(1, "falls", 0.5, profile_id="other")]), (item(2), [match(2, "gone", 0.9)])])
    assert b.count == 0 and b.sections == []


# ------------------------------------------------------------------ words and dates

def test_subject_names_profile_period_and_count() -> None:
    subject, _, _ = render(build([(item(1), [match(1, "falls", 0.5)])]))
    assert subject == "Falls Team — current awareness, 9–16 Nov 2026 (1 item)"


@pytest.mark.parametrize("start, end, label", [
    (datetime(2026, 11, 9), datetime(2026, 11, 16), "9–16 Nov 2026"),
    (datetime(2026, 10, 28), datetime(2026, 11, 4), "28 Oct – 4 Nov 2026"),
    (datetime(2026, 12, 28), datetime(2027, 1, 4), "28 Dec 2026 – 4 Jan 2027"),
])
def test_period_labels(start: datetime, end: datetime, label: str) -> None:
    assert period_label(start, end, "Europe/London") == label


def test_long_summaries_are_cut_at_a_word_boundary() -> None:
    text = "Word " * 200
    short = shorten(text)
    assert len(short) <= 401 and short.endswith("Word…")
    four = "One thing. Two things. Three things. Four things."
    assert shorten(four) == "One thing. Two things. Three things."


# ------------------------------------------------------------------ HTML and text

class Outline(HTMLParser):
    """What a reader (or a screen reader) meets in the HTML.

    An element's style is what a mail client applies: the rules of the head's
    <style> for its tag and class (simple selectors, outside @media), then its
    own style attribute.
    """

    VOID = {"meta", "br", "hr", "img", "link", "input", "col", "area", "base", "wbr", "source"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.lang = ""
        self.title = ""
        self.headings: list[tuple[int, str]] = []
        self.links: list[tuple[str, str]] = []
        self.imgs: list[dict[str, str]] = []
        self.colour_pairs: list[tuple[str, str, str]] = []   # (text colour, background, tag)
        self._captures: list[tuple[str, list[str]]] = []   # open a/title/h* elements and their text
        self.rules: dict[str, str] = {}    # "h3" or ".m" -> declarations, from the head's <style>
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "img":
            self.imgs.append(a)
        if tag in self.VOID:
            return
        a["style"] = ";".join(filter(None, [self.rules.get(tag, ""), *(self.rules.get("." + c, "") for c in
                                            a.get("class", "").split()), a.get("style", "")]))
        self.stack.append((tag, a))
        colour = _style(a, "color")
        if colour:
            self.colour_pairs.append((colour, self._background(), tag))
        if _captured(tag):
            self._captures.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if _captured(tag) and self._captures and self._captures[-1][0] == tag:
            text = " ".join("".join(self._captures.pop()[1]).split())
            if tag == "title":
                self.title = text
            elif tag == "a":
                self.links.append((self.stack[-1][1].get("href", ""), text))
            else:
                self.headings.append((int(tag[1]), text))
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][0] == "style":
            outside_media = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", data)
            for selectors, declarations in re.findall(r"([^{}]+)\{([^{}]*)\}", outside_media):
                for selector in selectors.split(","):
                    key = selector.strip()
                    self.rules[key] = ";".join(filter(None, [self.rules.get(key, ""), declarations.strip()]))
        for _, parts in self._captures:   # a link's text inside a heading counts for both
            parts.append(data)

    def _background(self) -> str:
        for _, a in reversed(self.stack):
            bg = _style(a, "background-color") or _style(a, "background")
            if bg:
                return bg
        return "#FFFFFF"


def _captured(tag: str) -> bool:
    return tag in ("a", "title") or re.fullmatch(r"h[1-6]", tag) is not None


def _style(attrs: dict[str, str], prop: str) -> str:
    m = re.search(rf"(?:^|;)\s*{prop}\s*:\s*(#[0-9A-Fa-f]{{6}})", attrs.get("style", ""))
    return m.group(1).upper() if m else ""


def contrast(fg: str, bg: str) -> float:
    def luminance(hex_colour: str) -> float:
        r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture(scope="module")
def sample() -> tuple[str, str, str]:
    r = Composer().render(sample_bulletin(), links=sample_links())
    return r.subject, r.html, r.text


def test_html_has_topics_as_headings_in_profile_order_with_linked_titles(sample: tuple[str, str, str]) -> None:
    _, html, _ = sample
    page = Outline(html)
    h2 = [t for level, t in page.headings if level == 2]
    assert h2 == ["In this bulletin", "Frailty and falls", "Health inequalities", "Smoking and vaping"]
    h3 = [t for level, t in page.headings if level == 3]
    assert len(h3) == 8 and h3[0].startswith("Falls in older people")
    assert (f"https://www.example.org/falls-in-older-people-assessing-risk", h3[0]) in page.links
    assert ("#topic-tobacco", "Smoking and vaping") in page.links
    assert ("https://awareness.lancs-library.example.nhs.uk/u/TOKEN", "Unsubscribe") in page.links
    assert ("mailto:priya.shah@lancs-library.example.nhs.uk", "Priya Shah") in page.links
    assert ("https://awareness.lancs-library.example.nhs.uk/f/101/useful", "Useful") in page.links
    assert "Matched: falls, older people" in html
    assert "Also relevant to: Health inequalities" in html
    assert "NICE &middot; 13 Nov 2026" in html or "NICE · 13 Nov 2026" in html
    assert "8 new items across 3 topics" in html


def test_without_feedback_links_there_are_none() -> None:
    _, html, text = render(build([(item(1), [match(1, "falls", 0.5)])]), feedback=False)
    assert "Useful" not in html and "Useful" not in text
    assert "https://aw.example/u/TOKEN" in html and "https://aw.example/u/TOKEN" in text


def test_hostile_titles_and_links_are_made_harmless() -> None:
    evil = item(1, title="<script>alert('x')</script> Falls & frailty", summary="<b>bold</b> claims",
                link="javascript:alert(1)")
    _, html, text = render(build([(evil, [match(1, "falls", 0.5, "falls")])]))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "javascript:" not in html and "javascript:" not in text
    assert "<script>alert('x')</script> Falls & frailty" in text   # plain text stays literal


def test_plain_text_has_the_same_items_readable_at_72_columns(sample: tuple[str, str, str]) -> None:
    _, html, text = sample
    titles = [t for level, t in Outline(html).headings if level == 3]
    flat = " ".join(text.split())
    for title in titles:
        assert title in flat
    lines = text.splitlines()
    for line in lines:
        assert len(line) <= 72 or re.fullmatch(r"\s*https?://\S+", line), line
    for topic in ("Frailty and falls", "Health inequalities", "Smoking and vaping"):
        i = lines.index(topic)
        assert lines[i + 1] == "-" * len(topic)
    assert "  https://www.example.org/falls-in-older-people-assessing-risk" in lines
    assert "https://awareness.lancs-library.example.nhs.uk/u/TOKEN" in lines
    assert "  Matched: falls, older people" in lines


def test_composed_html_is_ascii_and_reads_as_the_same_characters() -> None:
    team = Profile(id="sante", name="Équipe santé — Preston", owner="lib@trust.example.nhs.uk",
                   topics=[{"id": "t", "title": "Café culture", "terms": ["café"]}])
    bulletin = sample_bulletin()
    bulletin.profile = team
    bulletin.sections[0].topic = team.topics[0]
    html = Composer().render(bulletin, links=sample_links()).html
    assert html.isascii()
    assert ">Équipe santé — Preston</h1>" in html_unescape(html) and "&mdash;" in html
    assert ">Café culture</h2>" in html_unescape(html)


def test_an_empty_bulletin_still_renders_politely() -> None:
    subject, html, text = render(build([]))
    assert subject.endswith("(0 items)")
    assert "Nothing new matched" in html and "Nothing new matched" in text


def test_a_template_dir_given_first_overrides_the_packaged_one(tmp_path: Path) -> None:
    (tmp_path / "bulletin.txt.j2").write_text("Local text for {{ profile.name }}\n")
    r = Composer([tmp_path, templates_dir()]).render(build([]), links=Links(unsubscribe="https://u"))
    assert r.text == "Local text for Falls Team\n"
    assert "<h1" in r.html


def test_golden_bulletin(sample: tuple[str, str, str]) -> None:
    """A template change shows up as a diff here; AWARENESS_UPDATE_GOLDEN=1 rewrites the files."""
    subject, html, text = sample
    files = {"bulletin.html": html, "bulletin.txt": text, "subject.txt": subject + "\n"}
    if os.environ.get("AWARENESS_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        for name, content in files.items():
            (GOLDEN / name).write_text(content, encoding="utf-8")
    for name, content in files.items():
        path = GOLDEN / name
        assert path.exists(), f"{path} is missing: run with AWARENESS_UPDATE_GOLDEN=1 to create it"
        assert content == path.read_text(encoding="utf-8"), (
            f"{path} differs from the rendered bulletin; if the change is intended, "
            "rerun with AWARENESS_UPDATE_GOLDEN=1 and review the diff")


def test_html_is_accessible(sample: tuple[str, str, str]) -> None:
    subject, html, _ = sample
    page = Outline(html)
    assert page.lang == "en-GB"
    assert page.title == subject
    assert [level for level, _ in page.headings].count(1) == 1
    assert page.headings[0] == (1, "Lancashire Public Health")
    levels = [level for level, _ in page.headings]
    for before, after in zip(levels, levels[1:]):
        assert after <= before + 1, f"heading jumps from h{before} to h{after}"
    assert page.links and all(text for _, text in page.links), [l for l in page.links if not l[1]]
    assert all(img.get("alt") is not None for img in page.imgs)
    assert len(page.colour_pairs) > 20
    for fg, bg, tag in page.colour_pairs:
        assert contrast(fg, bg) >= 4.5, f"<{tag}> {fg} on {bg} has contrast {contrast(fg, bg):.2f}"


def test_contrast_formula_matches_wcag() -> None:
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)   # famously just fails


@pytest.mark.chromium
def test_screenshot_shows_an_nhs_blue_header(sample: tuple[str, str, str], tmp_path: Path) -> None:
    need_system("Chromium", chromium_path() is not None)
    out = screenshot_html(sample[1], tmp_path / "bulletin.png", width=800)
    width, height, rows = read_png(out)
    assert width == 800 and height > 1500          # the whole bulletin, not a blank viewport
    assert out.stat().st_size > 50_000
    band = [rows[y][x * 3:x * 3 + 3] for y in range(30, 60) for x in range(100, 700, 7)]
    blue = sum(1 for px in band if all(abs(c - t) <= 6 for c, t in zip(px, (0x00, 0x5E, 0xB8))))
    assert blue / len(band) > 0.8
    body = [rows[y][x * 3:x * 3 + 3] for y in range(height // 2, height // 2 + 200, 4) for x in range(100, 700, 5)]
    dark = sum(1 for px in body if max(px) < 0x60)
    assert dark > 20                                 # text is drawn in the body


def test_plain_text_wraps_as_textwrap_would_and_never_breaks_a_link() -> None:
    """bulletin.wrap is a fast greedy loop; its lines must be textwrap's (no breaking of long
    words or at hyphens), whatever the spaces, widths and indents."""
    import random
    import textwrap

    from awareness.deliver.bulletin import wrap

    rng = random.Random(7)
    link = "https://www.gov.uk/government/publications/a-very-long-path-that-is-longer-than-a-line/and-more"
    for _ in range(3000):
        words = [rng.choice([link, "a", "care", "co-ordinated", "é", "x" * rng.randint(1, 80)])
                 for _ in range(rng.randint(0, 20))]
        text = "".join(w + rng.choice([" ", "  ", "\n", "\t", "\xa0"]) for w in words)
        width, indent, first = rng.choice([20, 40, 72]), rng.choice(["", "  ", "    "]), rng.choice([None, "", "- "])
        expected = "\n".join(textwrap.wrap(" ".join(text.split()), width=width, subsequent_indent=indent,
                                           initial_indent=indent if first is None else first,
                                           break_long_words=False, break_on_hyphens=False))
        assert wrap(text, width, indent, first) == expected, (text, width, indent, first)
    assert link in wrap(f"See {link} today", 40).splitlines()[1]
