"""The schema as released before migrations existed (the end-to-end pipeline).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_checked", sa.DateTime),
        sa.Column("last_success", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("last_warning", sa.Text),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("next_check", sa.DateTime),
        sa.Column("retry_until", sa.DateTime),
        sa.Column("moved_to", sa.Text),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("guid", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("published", sa.DateTime, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("authors", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("title_key", sa.Text, nullable=False),
    )
    for column in ("link", "published", "first_seen", "content_hash", "title_key"):
        op.create_index(f"ix_items_{column}", "items", [column])
    op.create_table(
        "item_sources",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("guid", sa.Text, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.UniqueConstraint("source_id", "guid", name="uq_item_sources_source_guid"),
    )
    op.create_index("ix_item_sources_item_id", "item_sources", ["item_id"])
    op.create_table(
        "matches",
        sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("profile_id", sa.String(100), primary_key=True),
        sa.Column("topic_id", sa.String(100), primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("terms", sa.JSON, nullable=False),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("profile_id", sa.String(100), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.UniqueConstraint("profile_id", "email", name="uq_subscribers_profile_email"),
    )
    op.create_table(
        "deliveries",
        sa.Column("profile_id", sa.String(100), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.UniqueConstraint("profile_id", "subscriber_id", "item_id", name="uq_deliveries_once"),
    )
    op.create_table(
        "bulletins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("profile_id", sa.String(100), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_bulletins_profile_id", "bulletins", ["profile_id"])
    op.create_table(
        "profile_runs",
        sa.Column("profile_id", sa.String(100), primary_key=True),
        sa.Column("last_complete", sa.DateTime),
        sa.Column("pending_retry", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("profile_runs", "bulletins", "deliveries", "subscribers", "matches", "item_sources", "items",
                  "sources"):
        op.drop_table(table)
