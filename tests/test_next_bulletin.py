"""Issue 17 point 1: `profiles preview` is the next bulletin, as `run --dry-run` and the real run send it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from runs_world import make_runs_world
from servers import LoopbackHTTPServer, LoopbackSMTPServer, Route
from worlds import rss

PROFILE = """\
id: frailty-team
name: Frailty Team
owner: librarian@example.org
schedule: "0 8 * * MON"
lookback_days: 5
max_items: 3
sources: [feed-0, feed-1]
subscribers: [ann@example.org]
topics:
  - id: frailty
    title: Frailty
    description: Frailty and falls.
    terms: [frailty, falls]
  - id: older
    title: Older people
    description: Services for older people.
    terms: [older people]
"""


def _dry_run_links(output: str, address: str) -> list[str]:
    links, mine = [], False
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith("to "):
            mine = stripped.startswith(f"to {address}:")
        elif mine and stripped.startswith("- [") and stripped.endswith(">"):
            links.append(stripped.rsplit("<", 1)[1][:-1])
    return links


def test_preview_is_the_next_bulletin_and_says_why_each_matching_item_is_in_or_out(
        tmp_path: Path, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer) -> None:
    world = make_runs_world(tmp_path, http_server, smtp_server, good=0)
    now = datetime.now(timezone.utc)
    http_server.routes["/a.xml"] = Route(rss([("sent", "Frailty and falls: the first report", "Frailty.", 1)],
                                             now=now), conditional=False)
    http_server.routes["/other.xml"] = Route(rss([("elsewhere", "Frailty and falls: from a source not chosen",
                                                   "Frailty and falls.", 1)], now=now))
    (tmp_path / "sources.yaml").write_text(
        f"- id: feed-0\n  url: {http_server.url('/a.xml')}\n- id: feed-1\n  url: {http_server.url('/b.xml')}\n"
        f"- id: other\n  url: {http_server.url('/other.xml')}\n")
    http_server.routes["/b.xml"] = Route(rss([], now=now))
    for old in (tmp_path / "profiles").iterdir():
        old.unlink()
    (tmp_path / "profiles" / "frailty-team.yaml").write_text(PROFILE)
    assert world.invoke("run").exit_code == 0                       # "the first report" is sent
    assert len(smtp_server.to("ann@example.org")) == 1

    http_server.routes["/b.xml"] = Route(rss([
        ("old", "Frailty and falls: an old briefing", "Frailty and falls.", 8),
        *[(f"new-{n}", f"Frailty and falls: new guidance {n}", "Falls prevention and frailty.", 1) for n in range(4)],
        ("both", "Frailty and falls among older people at home", "Frailty, falls and older people.", 1)],
        now=now))
    assert world.invoke("gather", "--now").exit_code == 0

    shown = world.invoke("profiles", "preview", "frailty-team", "--days", "14", "--json")
    assert shown.exit_code == 0, shown.output
    preview = json.loads(shown.stdout)
    bulletin = preview["bulletin"]
    assert len(bulletin) == 3, "max_items"
    assert all(set(b) >= {"topic", "title", "url"} for b in bulletin)
    reasons = {p["title"]: (p["in_bulletin"], p["left_out"]) for t in preview["topics"] for p in t["would_send"]}
    assert reasons["Frailty and falls: the first report"] == (False, "already sent")
    assert reasons["Frailty and falls: an old briefing"] == (False, "outside lookback (5 days)")
    assert reasons["Frailty and falls: from a source not chosen"] == (False, "not from this profile's sources")
    assert any(left.startswith("over max_items (3)") for _, left in reasons.values())
    older = {p["title"]: p for t in preview["topics"] if t["topic_id"] == "older" for p in t["would_send"]}
    both = older.get("Frailty and falls among older people at home")
    if both is not None and not both["in_bulletin"]:
        assert "(one topic per item)" in both["left_out"] or both["left_out"].startswith("over max_items")

    text = world.invoke("profiles", "preview", "frailty-team", "--days", "14").stdout
    assert "The next bulletin, if it were sent now: 3 items" in text and "NOT in the next bulletin: already sent" in text

    dry = world.invoke("run", "--dry-run", "--now")
    assert _dry_run_links(dry.stdout, "ann@example.org") == [b["url"] for b in bulletin], \
        "preview and dry run: the same items in the same order"
    assert world.invoke("run", "--now").exit_code == 0
    [_, second] = smtp_server.to("ann@example.org")
    text_part = second.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    positions = [text_part.find(b["title"]) for b in bulletin]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), "the real run sent exactly those"
    for title, (inside, _) in reasons.items():
        if not inside and title not in {b["title"] for b in bulletin}:
            assert title not in text_part
