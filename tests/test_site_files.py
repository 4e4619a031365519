"""The suite passes beside a library service's own files in profiles/ and sources.yaml.

A site drops its own team profiles into profiles/ and its own feeds into
sources.yaml. Tests about the shipped examples must name them, not glob the
folder, so here the content checks are run again on a copy of the checkout's
files with a site's own profile (real-looking addresses, its own threshold,
eight topics) and source added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

SITE_PROFILE = textwrap.dedent("""\
    # Our own team, added by the library service: not one of the shipped examples.
    id: east-ics-strategy
    name: East ICS strategy team
    owner: library.services@nhs.net
    subscribers: [strategy.team@nhs.net, ics.planning@nhs.net]
    schedule: "0 7 * * TUE"
    sources: [east-ics-news]
    topics:
""") + "".join(textwrap.indent(textwrap.dedent(f"""\
    - id: priority-{n}
      title: Priority {n}
      description: The board's priority number {n} for this year.
      threshold: 0.4
      terms: [term {n}]
    """), "  ") for n in range(1, 9))

SITE_SOURCE = textwrap.dedent("""\

    # Our own source, added by the library service.
    - id: east-ics-news
      name: East ICS news
      url: https://www.example.nhs.uk/news/feed/
    """)

CONTENT_CHECKS = ["tests/test_content.py", "tests/test_evaluate.py", "tests/test_demo.py",
                  "tests/test_cli.py::test_profiles_check_passes_the_shipped_examples"]


def test_the_content_checks_pass_with_a_sites_own_profile_and_source_added(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(ROOT / "profiles", site / "profiles")
    (site / "profiles" / "east-ics-strategy.yaml").write_text(SITE_PROFILE, encoding="utf-8")
    (site / "sources.yaml").write_text((ROOT / "sources.yaml").read_text(encoding="utf-8") + SITE_SOURCE,
                                       encoding="utf-8")
    env = {**os.environ, "AWARENESS_TEST_SITE_FILES": str(site)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CONTENT_CHECKS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout, done.stdout[-500:]
