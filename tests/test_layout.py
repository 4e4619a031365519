"""The house by stage keeps its rules (issue 18): read from every module's imports, not from a list.

The rules themselves are in tests/layout_rules.py: which floor may import which, no import
inside a function, no module over 400 lines, the shells asking pipeline and service rather than
the tables, spiders importing only core, gather and store, and no import cycle at all.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from layout_rules import cycles, violations

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_keeps_the_house_rules() -> None:
    assert violations(ROOT) == []


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(ROOT) == []


def _house(tmp_path: Path, files: dict[str, str]) -> Path:
    """A small awareness/ of its own, laid out like the real one, with these files added."""
    base = {
        "awareness/__init__.py": '__version__ = "0"\n',
        "awareness/core/__init__.py": "", "awareness/core/models.py": "ITEM = 1\n",
        "awareness/config/__init__.py": "", "awareness/config/settings.py": "from ..core.models import ITEM\n",
        "awareness/store/__init__.py": "", "awareness/store/schema.py": "items = 1\nutcnow = 2\n",
        "awareness/store/store.py": "from .schema import items\n",
        "awareness/gather/__init__.py": "", "awareness/gather/fetch.py": "from ..store.store import items\n",
        "awareness/match/__init__.py": "", "awareness/match/scoring.py": "from ..core import models\n",
        "awareness/deliver/__init__.py": "", "awareness/deliver/bulletin.py": "from ..core.models import ITEM\n",
        "awareness/pipeline.py": "from .gather import fetch\nfrom .match import scoring\nfrom .deliver import bulletin\n",
        "awareness/service/__init__.py": "", "awareness/service/runs.py": "from .. import pipeline\n",
        "awareness/web/__init__.py": "from ..service import runs\n",
        "awareness/cli/__init__.py": "from ..service import runs\nfrom ..web import runs as _\n",
        "spiders/__init__.py": "from awareness.gather import fetch\n",
    }
    for name, text in {**base, **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_the_checker_passes_a_house_that_keeps_the_rules(tmp_path: Path) -> None:
    root = _house(tmp_path, {})
    assert violations(root) == [] and cycles(root) == []


@pytest.mark.parametrize("files, expected", [
    ({"awareness/gather/fetch.py": "from ..match.scoring import models\n"},
     "awareness/gather/fetch.py:1: gather imports awareness.match.scoring (match)"),
    ({"awareness/deliver/bulletin.py": "from ..gather import fetch\n"},
     "awareness/deliver/bulletin.py:1: deliver imports awareness.gather.fetch (gather)"),
    ({"awareness/core/models.py": "from ..config import settings\n"},
     "awareness/core/models.py:1: core imports awareness.config.settings (config)"),
    ({"awareness/store/store.py": "from .. import pipeline\n"},
     "awareness/store/store.py:1: store imports awareness.pipeline (run)"),
    ({"awareness/service/runs.py": "from ..web import create_app\n"},
     "awareness/service/runs.py:1: service imports awareness.web (web)"),
    ({"awareness/match/scoring.py": "def score():\n    from ..core import models\n    return models\n"},
     "awareness/match/scoring.py:2: imports awareness.core.models inside a function"),
    ({"awareness/cli/__init__.py": "from ..store.store import items\n"},
     "awareness/cli/__init__.py:1: the CLI imports awareness.store.store; it opens no Store"),
    ({"awareness/web/__init__.py": "from ..store.schema import items, utcnow\n"},
     "awareness/web/__init__.py:1: web takes tables (items) from awareness.store.schema"),
    ({"spiders/__init__.py": "from awareness.deliver import bulletin\n"},
     "spiders/__init__.py:1: a spider imports awareness.deliver.bulletin (deliver)"),
    ({"awareness/match/scoring.py": "X = 1\n" * 401},
     "awareness/match/scoring.py: 401 lines, over 400"),
])
def test_the_checker_names_each_forbidden_import(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    found = violations(_house(tmp_path, files))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_the_checker_finds_a_cycle_even_through_imports_inside_functions(tmp_path: Path) -> None:
    root = _house(tmp_path, {
        "awareness/config/settings.py": "from ..config import logs\n",
        "awareness/config/logs.py": "def check():\n    from .settings import ITEM\n    return ITEM\n",
    })
    assert [set(c) for c in cycles(root)] == [{"awareness.config.settings", "awareness.config.logs"}]
    assert any("inside a function" in v for v in violations(root))


def test_a_new_folder_must_be_given_a_floor(tmp_path: Path) -> None:
    root = _house(tmp_path, {"awareness/extras/__init__.py": "from ..core import models\n"})
    with pytest.raises(ValueError, match="awareness/extras is on no floor"):
        violations(root)
