"""webhook_posts: the exactly-once ledger of items posted to each profile's Teams or Slack webhooks (issue 17)

Revision ID: 0006_webhook_posts
Revises: 0005_reader_choices
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006_webhook_posts'
down_revision = '0005_reader_choices'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_posts',
                    sa.Column('profile_id', sa.String(length=100), nullable=False),
                    sa.Column('hook', sa.String(length=64), nullable=False),
                    sa.Column('item_id', sa.Integer(), nullable=False),
                    sa.Column('posted_at', sa.DateTime(), nullable=False),
                    sa.UniqueConstraint('profile_id', 'hook', 'item_id', name='uq_webhook_posts_once'))


def downgrade() -> None:
    op.drop_table('webhook_posts')
