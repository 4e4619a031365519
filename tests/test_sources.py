"""sources.yaml read and checked with file:line errors; OPML exports appended without losing a comment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from awareness.core.errors import SourcesError
from awareness.core.models import Source
from awareness.config.sources import check_sources, dump_source_yaml, load_sources
from awareness.config.opml_import import import_opml, read_opml

OPML = Path(__file__).parent / "fixtures" / "opml"


def write(tmp_path: Path, text: str, name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    return [str(e) for e in check_sources(path)[1]]


# ------------------------------------------------------------------ reading

def test_a_list_of_sources_loads(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        # Feeds for the public health team
        - id: nice-news
          name: NICE news
          url: https://nice.example/feed
          tags: [guidance, nice]
          every: 30m
        - id: council-reports
          kind: spider
          spider: listing           # spiders name their spider and carry its settings (issue 3)
          url: https://council.example/reports
          every: 1d
          item: li.report
          title: "a::text"
          link: "a::attr(href)"
        """)
    nice, council = load_sources(path)
    assert (nice.id, nice.label, nice.tags, nice.every) == ("nice-news", "NICE news", ("guidance", "nice"),
                                                            timedelta(minutes=30))
    assert council.kind == "spider" and council.every == timedelta(days=1)
    assert (council.spider, council.item, council.title, council.max_pages) == ("listing", "li.report", "a::text", 3)


def test_the_list_may_sit_under_a_sources_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        sources:
          - id: a
            url: https://a.example/feed
        """)
    assert [s.id for s in load_sources(path)] == ["a"]


def test_an_empty_file_has_no_sources(tmp_path: Path) -> None:
    assert load_sources(write(tmp_path, "# nothing yet\n")) == []


def test_a_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(SourcesError) as raised:
        load_sources(tmp_path / "sources.yaml")
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / 'sources.yaml'}: the sources file does not exist; create it")
    assert "- id:" in message and "OPML" in message


BAD_SOURCES = [
    pytest.param("""\
        - id: a
          url: https://a.example/feed
        - id: b
          name: No address
        """, 3, "source 'b' has no 'url'; add the address of its feed or page", id="no-url"),
    pytest.param("""\
        - id: a
          url: ftp://a.example/feed
        """, 2, 'source \'a\': url "ftp://a.example/feed" is not a web address; it must start with http:// or https://',
        id="bad-url"),
    pytest.param("""\
        - id: NICE News
          url: https://a.example/feed
        """, 1, "source id \"NICE News\" must use lower case letters, digits, - and _ — try 'nice-news'", id="bad-id"),
    pytest.param("""\
        - name: NICE news
          url: https://a.example/feed
        """, 1, "source 1 has no 'id'; add a short one such as 'id: nice-news'", id="no-id"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
        - id: a
          url: https://b.example/feed
        """, 3, "the source id 'a' is used twice (first on line 1); give each source its own id", id="duplicate-id"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
        - id: b
          url: http://A.example/feed/
        """, 4, "source 'b': this url is already listed as 'a' (line 1); list each feed once", id="duplicate-url"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
          evry: 1h
        """, 3, "source 'a': unknown setting 'evry' — did you mean 'every'?", id="unknown-setting"),
    pytest.param("""\
        - id: a
          kind: rss
          url: https://a.example/feed
        """, 2, 'source \'a\': kind must be feed or spider (got "rss")', id="kind"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
          every: hourly
        """, 3, "source 'a': every \"hourly\" is not a duration; write a number and a unit, e.g. 30m, 6h, 1d",
        id="every"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
          every: 0m
        """, 3, 'source \'a\': every must be longer than zero (got "0m")', id="every-zero"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
          tags: guidance
        """, 3, "source 'a': 'tags' must be a list: write tags: [first, second]", id="tags"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
          url: https://b.example/feed
        """, 3, "'url' is set twice (first on line 2); keep one", id="duplicate-key"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
        - https://b.example/feed
        """, 3, 'source 2 must be a set of settings (id:, url: …), not "https://b.example/feed"', id="not-mapping"),
    pytest.param("""\
        - id: a
          url: https://a.example/feed
         - id: b
        """, 3, "this is not valid YAML", id="syntax"),
    pytest.param("""\
        feeds:
          - id: a
            url: https://a.example/feed
        """, 1, "unknown setting 'feeds': the file should be a list of sources", id="wrong-key"),
    pytest.param("""\
        id: a
        """, 1, "unknown setting 'id'", id="one-source-not-list"),
]


@pytest.mark.parametrize("text, line, problem", BAD_SOURCES)
def test_each_problem_names_file_line_and_what_to_do(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, text)
    found = problems(path)
    assert any(p.startswith(f"{path}:{line}: {problem}") for p in found), found
    with pytest.raises(SourcesError):
        load_sources(path)


def test_every_problem_is_collected_and_the_good_sources_kept(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        - id: good
          url: https://good.example/feed
        - id: Bad
          url: https://bad.example/feed
        - id: no-url
        - id: good
          url: https://other.example/feed
        - id: also-good
          url: https://also.example/feed
          tags: [x]
        """)
    sources, errors = check_sources(path)
    assert [s.id for s in sources] == ["good", "also-good"]
    assert [e.line for e in errors] == [3, 5, 6]


# ------------------------------------------------------------------ writing

def test_a_dumped_source_reads_back_the_same(tmp_path: Path) -> None:
    source = Source(id="kings-fund", name="King's Fund: blog", url="https://kf.example/rss?x=1&y=2",
                    tags=("policy", "think tanks"), every="6h", site="https://kf.example/")
    text = dump_source_yaml(source)
    assert text.startswith("- id: kings-fund\n")
    assert "  tags: [policy, think tanks]\n" in text and "  every: 6h\n" in text
    assert load_sources(write(tmp_path, text)) == [source]
    nested = "sources:\n" + dump_source_yaml(source, indent=2)
    assert load_sources(write(tmp_path, nested, "nested.yaml")) == [source]


# --------------------------------------------------------------------- OPML

EXISTING = """\
# Sources for the library — kept by hand.
- id: existing          # the trust's own news
  name: Already here
  url: https://existing.example/feed
  every: 6h

# Local authority pages
- id: council
  kind: spider
  spider: listing
  url: https://council.example/reports
  item: li.report
  title: "a::text"
  link: "a::attr(href)"
"""


def test_opml_folders_become_tags_and_attributes_are_read() -> None:
    feeds = read_opml(OPML / "nested.opml")
    digest = feeds[0]
    assert (digest.title, digest.url, digest.site) == ("Health Policy Digest", "https://policy.example/feed.xml",
                                                       "https://policy.example/")
    assert digest.tags == ["public-health", "policy-guidance"]
    kings = feeds[1]
    assert kings.url == "https://kf.example/blog/rss"                         # xmlurl in lower case
    assert kings.tags == ["public-health", "policy-guidance", "think-tanks", "policy"]
    assert feeds[2].tags == ["public-health"]                                  # folder closed again
    assert [f.title for f in feeds[3:5]] == ["Health Policy Digest", "Screening news (copy)"]
    assert feeds[3].tags == ["evidence"]
    assert "A web page, not a feed" not in [f.title for f in feeds]


def test_import_appends_new_feeds_keeping_the_file_as_written(tmp_path: Path) -> None:
    sources_path = write(tmp_path, EXISTING)
    added, messages = import_opml(OPML / "nested.opml", sources_path)
    text = sources_path.read_text(encoding="utf-8")
    assert text.startswith(EXISTING)                                  # comments, order and spacing kept
    assert [s.id for s in added] == ["health-policy-digest", "kings-fund-blog", "screening-news",
                                     "health-policy-digest-2"]
    assert added[3].tags == ("evidence",) and added[3].url == "https://digest-two.example/rss"
    assert added[0].model_extra == {"site": "https://policy.example/"}
    assert [s.id for s in load_sources(sources_path)] == ["existing", "council"] + [s.id for s in added]
    assert "# Imported from nested.opml on " in text
    report = "\n".join(messages)
    assert "skipped 'Already here': already in sources.yaml as 'existing'" in report
    assert "http://screening.example/atom/ is listed more than once in nested.opml" in report
    assert "skipped 'Gopher feed' (line 22): gopher://old.example/feed is not an http(s) address" in report
    assert messages[-1] == f"added 4 sources to {sources_path}"


def test_importing_the_same_file_again_adds_nothing_and_leaves_the_file_alone(tmp_path: Path) -> None:
    sources_path = write(tmp_path, EXISTING)
    import_opml(OPML / "nested.opml", sources_path)
    before = sources_path.read_text(encoding="utf-8")
    added, messages = import_opml(OPML / "nested.opml", sources_path)
    assert added == [] and sources_path.read_text(encoding="utf-8") == before
    assert messages[-1] == f"nothing new to add to {sources_path}"


def test_import_creates_a_missing_sources_file(tmp_path: Path) -> None:
    sources_path = tmp_path / "config" / "sources.yaml"
    added, _ = import_opml(OPML / "opml1.opml", sources_path)
    assert [(s.id, s.name) for s in added] == [("cafe-health", "Café health"), ("no-title-example", "")]
    assert load_sources(sources_path) == added
    assert sources_path.read_text(encoding="utf-8").startswith("# Sources Awareness gathers from")


def test_import_continues_a_list_under_a_sources_key(tmp_path: Path) -> None:
    sources_path = write(tmp_path, """\
        # settings
        sources:
          - id: existing
            url: https://existing.example/feed
        """)
    added, _ = import_opml(OPML / "nested.opml", sources_path)
    assert [s.id for s in load_sources(sources_path)] == ["existing"] + [s.id for s in added]
    assert "\n  - id: kings-fund-blog\n" in sources_path.read_text(encoding="utf-8")


def test_import_refuses_a_broken_sources_file_and_writes_nothing(tmp_path: Path) -> None:
    sources_path = write(tmp_path, "- id: a\n  url: https://a.example/feed\n- id: a\n  url: https://b.example/x\n")
    before = sources_path.read_text(encoding="utf-8")
    with pytest.raises(SourcesError, match=r":3: the source id 'a' is used twice.*fix sources.yaml before importing"):
        import_opml(OPML / "nested.opml", sources_path)
    assert sources_path.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("name", ["doctype.opml", "entities.opml"])
def test_an_opml_file_with_a_doctype_or_entities_is_refused(tmp_path: Path, name: str) -> None:
    sources_path = write(tmp_path, EXISTING)
    with pytest.raises(SourcesError) as raised:
        import_opml(OPML / name, sources_path)
    assert str(raised.value).startswith(f"{OPML / name}:2: refused: the file declares a DOCTYPE or entities")
    assert sources_path.read_text(encoding="utf-8") == EXISTING


def test_malformed_or_foreign_xml_is_reported_with_its_line(tmp_path: Path) -> None:
    broken = write(tmp_path, '<opml version="2.0">\n<body>\n<outline text="a">\n</body>\n</opml>\n', "broken.opml")
    with pytest.raises(SourcesError, match=r"broken.opml:4: this is not well-formed XML"):
        read_opml(broken)
    rss = write(tmp_path, '<rss version="2.0"><channel/></rss>\n', "feed.xml")
    with pytest.raises(SourcesError, match=r"feed.xml:1: this is not an OPML file \(it starts with <rss>"):
        read_opml(rss)
