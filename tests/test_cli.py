"""The commands a librarian types, through click's runner: what they print and how they exit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from conftest import FIXTURES, ROOT, example_profile_paths
from awareness.cli import main

EVAL = FIXTURES / "eval"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_evaluate_json_has_the_documented_keys_and_beats_the_keyword_baseline() -> None:
    code, out = invoke("evaluate", str(EVAL / "profile.yaml"), str(EVAL / "labelled.jsonl"), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert {"micro_f1", "macro_f1", "per_topic", "baseline"} <= set(result)
    assert {"micro_f1", "macro_f1", "per_topic"} <= set(result["baseline"])
    assert set(result["per_topic"]) == {"frailty", "maternity", "mental-health", "antimicrobial"}
    assert result["micro_f1"] > result["baseline"]["micro_f1"]


def test_evaluate_prints_a_table_for_people() -> None:
    code, out = invoke("evaluate", str(EVAL / "profile.yaml"), str(EVAL / "labelled.jsonl"))
    assert code == 0
    assert "frailty" in out and "micro" in out and "baseline" in out


def test_evaluate_names_the_bad_line_of_a_labelled_file(tmp_path: Path) -> None:
    bad = tmp_path / "labelled.jsonl"
    bad.write_text('{"id": "a", "title": "t", "summary": "s", "labels": []}\n{"id": "b", "title": \n')
    code, out = invoke("evaluate", str(EVAL / "profile.yaml"), str(bad))
    assert code != 0 and f"{bad}:2" in out and "Traceback" not in out


def test_profiles_check_passes_the_shipped_examples() -> None:
    paths = example_profile_paths()
    code, out = invoke("--config", "/dev/null", "profiles", "check", *map(str, paths))
    assert code == 0, out
    assert out.count("ok  ") == len(paths) == 6


def test_profiles_check_reports_every_problem_and_fails(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: A\nshedule: '0 8 * * MON'\ntopics:\n  - id: x\n    title: X\n    terms: [a]\n")
    (tmp_path / "b.yaml").write_text("name: B\ntopics: []\n")
    code, out = invoke("profiles", "check", str(tmp_path))
    assert code != 0
    assert f"{tmp_path / 'a.yaml'}:2" in out and "schedule" in out
    assert str(tmp_path / "b.yaml") in out
    assert "2 problems found" in out


def test_import_opml_adds_feeds_to_sources_yaml(tmp_path: Path) -> None:
    config = tmp_path / "awareness.toml"
    config.write_text('sources = "sources.yaml"\n')
    shutil.copy(FIXTURES / "opml" / "nested.opml", tmp_path / "reader.opml")
    code, out = invoke("--config", str(config), "sources", "import-opml", str(tmp_path / "reader.opml"))
    assert code == 0, out
    assert "Added" in out
    code, listing = invoke("--config", str(config), "sources", "list", "--json")
    rows = [json.loads(line) for line in listing.splitlines()]
    assert rows and all(r["ok"] is False and r["last_success"] is None for r in rows)  # never fetched yet
    code, again = invoke("--config", str(config), "sources", "import-opml", str(tmp_path / "reader.opml"))
    assert code == 0 and "Added 0 sources" in again


def test_a_bad_config_value_names_the_key_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "awareness.toml"
    config.write_text('smtp_url = "not a url"\n')
    code, out = invoke("--config", str(config), "sources", "list")
    assert code != 0 and "smtp_url" in out and "Traceback" not in out


def test_profiles_check_also_reports_a_broken_sources_file(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    shutil.copy(ROOT / "profiles" / "frailty.yaml", tmp_path / "profiles")
    (tmp_path / "sources.yaml").write_text("- id: Bad Id\n  url: https://example.org/feed\n  every: soon\n")
    (tmp_path / "awareness.toml").write_text("")
    code, out = invoke("--config", str(tmp_path / "awareness.toml"), "profiles", "check")
    assert code != 0
    assert f"{tmp_path / 'sources.yaml'}:1" in out and "not checked" in out
