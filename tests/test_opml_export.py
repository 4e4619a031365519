"""`awareness sources export-opml`: the feeds of sources.yaml as OPML a feed reader (or import-opml) reads."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from awareness.cli import main
from awareness.config.sources import load_sources
from awareness.config.opml_import import import_opml, read_opml


def test_exported_opml_lists_every_feed_and_imports_back_the_same(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(textwrap.dedent("""\
        - id: nice
          name: NICE guidance & advice
          url: https://www.nice.org.uk/guidance/published.xml
          tags: [guidance, clinical]
        - id: kingsfund
          name: "The King's Fund <news>"
          url: https://www.kingsfund.org.uk/rss/publications.xml?type=report&year=2026
        - id: trust-news
          kind: spider
          spider: listing
          url: https://www.trust.example.nhs.uk/news
          item: "article"
          title: "h2::text"
          link: "a::attr(href)"
        """))
    config = tmp_path / "awareness.toml"
    config.write_text(f'sources = "{sources}"\n')
    out = tmp_path / "feeds.opml"
    result = CliRunner().invoke(main, ["--config", str(config), "sources", "export-opml", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "left out 1 spider source" in result.output
    root = ET.parse(out).getroot()
    outlines = root.findall("./body/outline")
    assert [(o.get("title"), o.get("xmlUrl")) for o in outlines] == [
        ("NICE guidance & advice", "https://www.nice.org.uk/guidance/published.xml"),
        ("The King's Fund <news>", "https://www.kingsfund.org.uk/rss/publications.xml?type=report&year=2026")]
    assert outlines[0].get("category") == "guidance,clinical"

    feeds = read_opml(out)
    assert [f.url for f in feeds] == [o.get("xmlUrl") for o in outlines]
    elsewhere = tmp_path / "other-sources.yaml"
    elsewhere.write_text("# imported\n")
    added, _ = import_opml(out, elsewhere)
    assert sorted(s.url for s in load_sources(elsewhere)) == sorted(o.get("xmlUrl") for o in outlines)
    assert len(added) == 2
