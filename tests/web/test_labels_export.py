"""What readers and the librarian said about a profile's items becomes a labelled file `evaluate` reads,
and `evaluate` refuses to print zeros for a topic nobody labelled."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from awareness.cli import main
from webworld import Site, site  # noqa: F401 (the fixture)


def item_id(site: Site, title_start: str) -> int:
    with site.store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT id FROM items WHERE title LIKE ?", (title_start + "%",)).scalar_one())


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_feedback_and_decisions_export_as_labels_that_evaluate_scores(site: Site, tmp_path: Path) -> None:
    c = site.client()
    web = site.app.state.web
    falls, maternity, hip = (item_id(site, t) for t in ("Preventing falls", "Maternity and neonatal", "Hip fracture"))
    vote = f"/feedback/{web.signer.feedback_token('ph-team', 1, falls, 'useful')}"
    c.post(vote, data={"csrf": c.csrf(vote)})                     # a reader confirms "useful"
    c.login("librarian@example.nhs.uk")
    csrf = c.csrf("/librarian/ph-team")
    for item, topic, verdict in ((hip, "frailty", "exclude"), (maternity, "maternity", "include")):
        assert c.post("/librarian/ph-team/judge", data={"csrf": csrf, "item_id": item, "topic_id": topic,
                                                         "verdict": verdict}).status_code == 303

    config = tmp_path / "awareness.toml"
    config.write_text(f'database_url = "{site.settings.database_url}"\nprofiles = "{site.root / "profiles"}"\n'
                      f'sources = "{site.root / "sources.yaml"}"\n')
    out = tmp_path / "ph-team-labels.jsonl"
    code, _, err = cli("--config", str(config), "profiles", "export-labels", "ph-team", "--out", str(out))
    assert code == 0, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_title = {r["title"].split(":")[0]: r for r in lines}
    assert by_title["Preventing falls in older people"]["labels"] == ["frailty"]
    assert by_title["Maternity and neonatal services"]["labels"] == ["maternity"]
    assert by_title["Hip fracture outcomes in frail older adults"]["labels"] == []
    assert by_title["Hip fracture outcomes in frail older adults"]["judged"] == {"frailty": False}

    profile = str(site.root / "profiles" / "ph-team.yaml")
    code, printed, err = cli("evaluate", profile, str(out), "--json")
    assert code == 0, err
    result = json.loads(printed)
    assert result["items"] == 3 and result["unlabelled_topics"] == []
    assert result["per_topic"]["frailty"]["support"] == 1 and result["per_topic"]["maternity"]["support"] == 1


def test_evaluate_with_no_labels_for_a_topic_says_so_and_fails(site: Site, tmp_path: Path) -> None:
    only_frailty = tmp_path / "frailty-only.jsonl"
    only_frailty.write_text(json.dumps({"id": "1", "title": "Falls prevention in frail older people",
                                        "summary": "Strength and balance.", "labels": ["frailty"]}) + "\n")
    code, printed, err = cli("evaluate", str(site.root / "profiles" / "ph-team.yaml"), str(only_frailty))
    assert code != 0
    assert "no labelled items for maternity" in printed
    row = next(line for line in printed.splitlines() if line.startswith("maternity"))
    assert "0.00" not in row, "no zeros printed for a topic nobody labelled"
    assert "maternity" in err and str(only_frailty) in err
