"""Alembic migrations: the chain builds exactly the schema the code uses, on SQLite and PostgreSQL,
and an old database is refused with the command that upgrades it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from awareness.cli import main

from awareness.store.migrations import SchemaError, _config, head_revision, known_revisions, upgrade
from awareness.store.store import Store, create_engine
from awareness.store.schema import metadata, utcnow
from service_world import database_url  # noqa: F401 - fixture

FIRST_SCHEMA_TABLES = {"sources", "items", "item_sources", "matches", "subscribers", "deliveries", "bulletins",
                       "profile_runs"}


def _diffs(engine: sa.engine.Engine) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "apscheduler_jobs")]


def _make_first_schema(url: str) -> None:
    """A database as the release before migrations left it: 0001's tables, no version table."""
    from alembic import command

    logging.getLogger("alembic").setLevel(logging.WARNING)
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0001")
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text("INSERT INTO sources (id, url, name, kind, consecutive_failures) "
                             "VALUES ('kept', 'https://example.org/feed', 'Kept', 'feed', 0)"))
    engine.dispose()


def test_the_head_read_without_alembic_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    assert head_revision() == script.get_current_head()
    assert known_revisions() == {s.revision for s in script.walk_revisions()}


def test_upgrading_an_empty_database_gives_exactly_the_schema_the_code_uses(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        before, after = upgrade(engine)
        assert (before, after) == (None, head_revision())
        assert _diffs(engine) == [], "store.metadata changed without a migration: write one (see README)"
    finally:
        engine.dispose()


def test_a_new_database_is_created_at_the_latest_revision(database_url: str) -> None:
    store = Store(database_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
        assert _diffs(store.engine) == []
    finally:
        store.close()


def test_a_database_from_before_migrations_is_refused_then_upgraded_keeping_its_data(database_url: str) -> None:
    _make_first_schema(database_url)
    with pytest.raises(SchemaError, match=r"run `awareness db upgrade`"):
        Store(database_url)
    engine = create_engine(database_url)
    try:
        assert upgrade(engine) == ("0001", head_revision())
        assert _diffs(engine) == []
    finally:
        engine.dispose()
    store = Store(database_url)
    try:
        assert [s.id for s in store.source_states()] == ["kept"]
    finally:
        store.close()


def test_a_database_at_an_older_revision_is_refused_naming_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _make_first_schema(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        from alembic import command

        command.stamp(_config(conn), "0001")
    engine.dispose()
    config = tmp_path / "awareness.toml"
    config.write_text(f'database_url = "{url}"\n')

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, ["--config", str(config), *args], env={"AWARENESS_SECRET_KEY": "x"})

    refused = cli("runs")
    assert refused.exit_code == 1
    assert f"revision 0001, but this version of Awareness needs {head_revision()}" in refused.output
    assert "run `awareness db upgrade`" in refused.output
    done = cli("db", "upgrade")
    assert done.exit_code == 0, done.output
    assert f"from schema revision 0001 to {head_revision()}" in done.output
    again = cli("runs")
    assert again.exit_code == 0 and "No runs recorded yet" in again.output


def test_opening_a_store_at_the_latest_revision_touches_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    Store(url).close()
    store = Store(url)
    try:
        store.sync_subscribers("p", ["a@example.org"], now=utcnow())
    finally:
        store.close()
