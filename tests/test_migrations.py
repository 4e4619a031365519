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


def test_matches_rekeyed_by_profile_keep_every_row_and_read_back_the_same(database_url: str) -> None:
    """0008 re-keys matches (profile, item, topic): a bulletin's matches survive the upgrade, and
    a profile's many items read as one range give what item-by-item reading gives."""
    from alembic import command

    logging.getLogger("alembic").setLevel(logging.WARNING)
    engine = create_engine(database_url)
    now = utcnow()
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0007_users_disabled")
        conn.execute(sa.text("INSERT INTO sources (id, url, name, kind, consecutive_failures) "
                             "VALUES ('s', 'https://example.org/feed', 'S', 'feed', 0)"))
        conn.execute(metadata.tables["items"].insert(), [
            dict(id=n, guid=f"g{n}", link=f"https://example.org/{n}", title=f"Item {n}", summary="", published=now,
                 first_seen=now, authors=[], tags=[], content_hash=f"h{n}", title_key=f"item {n}")
            for n in range(1, 2301)])
        rows = [dict(item=n, profile=profile, topic=topic, score=(n % 97) / 100 + (0.005 if topic == "b" else 0),
                     terms=f'["term {n}"]')
                for n in range(1, 2301) for profile in ("frailty", "maternity") for topic in ("a", "b")
                if (n + len(profile)) % 3]
        conn.execute(sa.text("INSERT INTO matches (item_id, profile_id, topic_id, score, terms, local) "
                             "VALUES (:item, :profile, :topic, :score, :terms, false)"), rows)
    assert upgrade(engine) == ("0007_users_disabled", head_revision())
    assert _diffs(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM matches")).scalar_one() == len(rows)
        if conn.dialect.name == "sqlite":
            table_sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'matches'")).scalar_one()
            assert "WITHOUT ROWID" in table_sql
    engine.dispose()

    store = Store(database_url)
    try:
        wanted = [n for n in range(1, 2301) if n % 7]   # more than a range read needs, with gaps
        whole = store.matches_for(wanted, "frailty")
        one_by_one = {n: found for n in wanted for n, found in store.matches_for([n], "frailty").items()}
        assert whole == one_by_one and len(whole) > 1000
        assert all(m.profile_id == "frailty" for found in whole.values() for m in found)
        assert all([m.score for m in found] == sorted((m.score for m in found), reverse=True)
                   for found in whole.values())
        assert whole[1][0].terms == ("term 1",)
    finally:
        store.close()
