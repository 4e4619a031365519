"""matches keyed by profile first, and clustered so on SQLite (issue 19)

Composing a bulletin reads one profile's matches.  Keyed (item, profile, topic),
a profile's rows lay scattered across the whole table, one in every few hundred;
keyed (profile, item, topic) in a WITHOUT ROWID table they lie together.  The
item's rows (re-scoring, deleting) are found by a new index on item_id.

Revision ID: 0008_matches_by_profile
Revises: 0007_users_disabled
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op


revision = '0008_matches_by_profile'
down_revision = '0007_users_disabled'
branch_labels = None
depends_on = None

_COLUMNS = "item_id, profile_id, topic_id, score, terms, local"


def _rebuild_sqlite(key: str, rowid: bool) -> None:
    op.execute(f"""CREATE TABLE matches_rebuilt (
        item_id INTEGER NOT NULL,
        profile_id VARCHAR(100) NOT NULL,
        topic_id VARCHAR(100) NOT NULL,
        score FLOAT NOT NULL,
        terms JSON NOT NULL,
        local BOOLEAN DEFAULT 0 NOT NULL,
        CONSTRAINT matches_pkey PRIMARY KEY ({key}),
        FOREIGN KEY(item_id) REFERENCES items (id) ON DELETE CASCADE
    ){'' if rowid else ' WITHOUT ROWID'}""")
    op.execute(f"INSERT INTO matches_rebuilt ({_COLUMNS}) SELECT {_COLUMNS} FROM matches ORDER BY {key}")
    op.execute("DROP TABLE matches")
    op.execute("ALTER TABLE matches_rebuilt RENAME TO matches")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite("profile_id, item_id, topic_id", rowid=False)
    else:
        op.drop_constraint("matches_pkey", "matches", type_="primary")
        op.create_primary_key("matches_pkey", "matches", ["profile_id", "item_id", "topic_id"])
    op.create_index("ix_matches_item_id", "matches", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_matches_item_id", "matches")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite("item_id, profile_id, topic_id", rowid=True)
    else:
        op.drop_constraint("matches_pkey", "matches", type_="primary")
        op.create_primary_key("matches_pkey", "matches", ["item_id", "profile_id", "topic_id"])
