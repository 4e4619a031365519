"""Commands start without loading the heavy libraries they do not use (issue 19, "start fast").

Every `awareness run`, the scheduler and each CLI command import the pipeline first; numpy,
scipy and scikit-learn alone cost over a second.  These load only when the work needs them
(bench/startup.py has the timings; here, which modules a fresh process holds, not how long
it took, so the tests do not depend on the machine's load).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import without_settings

HEAVY = ("numpy", "scipy", "sklearn", "scrapy", "twisted", "starlette", "uvicorn", "trafilatura", "pypdf",
         "lxml", "argon2", "alembic", "httpx", "feedparser", "jinja2")


def _run(code: str, cwd: Path | None = None) -> tuple[list[str], list[str]]:
    """What a fresh Python process running ``code`` printed, and the heavy modules it then held."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env=without_settings(), cwd=cwd)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


def _loaded_after(code: str) -> list[str]:
    return _run(code)[1]


def test_importing_the_pipeline_loads_no_heavy_library() -> None:
    assert _loaded_after("import awareness.pipeline") == []


def test_sources_list_runs_without_the_matcher_the_fetcher_or_the_web(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "sources.yaml").write_text("- id: one-feed\n  url: http://127.0.0.1:9/feed.xml\n")
    (tmp_path / "awareness.toml").write_text(
        f'database_url = "sqlite:///{tmp_path / "a.db"}"\nsources = "sources.yaml"\nprofiles = "profiles"\n'
        'fetch_allow = ["127.0.0.1"]\n')
    code = ("import sys\nfrom awareness.cli import main\n"
            f"sys.argv = ['awareness', '--config', {str(tmp_path / 'awareness.toml')!r}, 'sources', 'list']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code")
    listing, loaded = _run(code, cwd=tmp_path)
    assert any("one-feed" in line and "never fetched" in line for line in listing), listing
    assert loaded == []


def test_the_matcher_still_loads_what_it_needs_when_it_runs() -> None:
    # The stand-ins must turn into the real libraries the moment the matcher scores something.
    code = ("from awareness.match import Matcher\n"
            "from awareness.core.models import Profile, Topic\n"
            "p = Profile(id='ph', name='PH', topics=[Topic(id='tobacco', title='Tobacco control',"
            " description='Stop smoking services.', terms=['smoking', 'tobacco'])])\n"
            "m = Matcher([p], corpus=['Workforce plan published. Targets for training nurses.',"
            " 'Council budget consultation opens.'])\n"
            "row = m.predict_texts([('Stop smoking service expands', 'More smokers helped to quit tobacco.'),"
            " ('Car park charges reviewed', 'Visitors pay less at night.')])\n"
            "assert row.tolist() == [[True], [False]], row")
    loaded = _loaded_after(code)
    assert {"numpy", "scipy"} <= set(loaded)
    # TF-IDF is computed without scikit-learn (match/tfidf.py): a run with no judged topics never imports it
    assert "sklearn" not in loaded
