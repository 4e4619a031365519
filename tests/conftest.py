from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from servers import CountingListener, LoopbackHTTPServer, LoopbackSMTPServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"

# The shipped example profiles, by name: a library service adds its own files to profiles/ and
# sources.yaml, so tests about the shipped ones never glob the folder. SITE_FILES is the folder whose
# profiles/ and sources.yaml the content tests read: the checkout, or (test_site_files.py) a copy of it
# with a site's own profile and source added.
EXAMPLE_PROFILES = ("frailty", "health-inequalities", "maternity", "mental-health", "physical-activity",
                    "ten-big-questions")
SITE_FILES = Path(os.environ.get("AWARENESS_TEST_SITE_FILES") or ROOT)


def example_profile_paths() -> list[Path]:
    return [SITE_FILES / "profiles" / f"{name}.yaml" for name in EXAMPLE_PROFILES]


def without_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """A newcomer's environment for a child process: no AWARENESS_* settings.

    The test run's own switches (AWARENESS_TEST_*: the moved clock of make test-any-date, the
    PostgreSQL server, the site files) stay, so the child lives on the same clock as the test.
    """
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if not k.startswith("AWARENESS_") or k.startswith("AWARENESS_TEST_")}

# In CI the system parts (Chromium, PostgreSQL) are installed by .ci/run: tests needing them must not skip.
REQUIRE_SYSTEM = os.environ.get("AWARENESS_REQUIRE_SYSTEM") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """A run asked to move the clock must really have moved it, or it proves nothing."""
    wanted = os.environ.get("AWARENESS_TEST_CLOCK_SHIFT_DAYS")
    if wanted:
        import sys

        moved = getattr(sys.modules.get("sitecustomize"), "SHIFT_DAYS", None)
        if moved != int(wanted):
            raise pytest.UsageError(
                "AWARENESS_TEST_CLOCK_SHIFT_DAYS is set but the clock was not moved: put tests/anydate on "
                "PYTHONPATH (make test-any-date does both)")


def need_system(what: str, available: bool) -> None:
    """Skip with a reason on a machine without a system part, but fail in CI where it must exist."""
    if available:
        return
    if REQUIRE_SYSTEM:
        pytest.fail(f"{what} is required (AWARENESS_REQUIRE_SYSTEM=1) but not available")
    pytest.skip(f"{what} is not installed here (sudo apt-get install it, or run .ci/run)")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def http_server() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    """A loopback port that counts connections: proof that a refused address was never contacted."""
    lst = CountingListener()
    yield lst
    lst.close()


@pytest.fixture
def smtp_server() -> Iterator[LoopbackSMTPServer]:
    server = LoopbackSMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server named by AWARENESS_TEST_POSTGRES_URL (.ci/run sets it)."""
    base = os.environ.get("AWARENESS_TEST_POSTGRES_URL")
    need_system("PostgreSQL (set AWARENESS_TEST_POSTGRES_URL)", bool(base))
    assert base
    import uuid

    import sqlalchemy as sa

    name = f"awareness_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()



CHECKOUT_KEY_FILES = (ROOT / "var" / "secret_key", ROOT / "var" / "secret_key.fingerprint")


@pytest.fixture(autouse=True)
def _checkout_keys_untouched(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test leaves a signing key or its fingerprint in the checkout's own var/: a test's
    fingerprint there made the next `make demo` refuse to start (its key did not match)."""
    before = {path: path.exists() for path in CHECKOUT_KEY_FILES}
    yield
    written = [path for path, existed in before.items() if not existed and path.exists()]
    for path in written:
        path.unlink()
    assert not written, f"{request.node.nodeid} wrote {', '.join(map(str, written))}: give it a config in its tmp folder"
