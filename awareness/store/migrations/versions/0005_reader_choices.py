"""reader_choices: a reader's own frequency (as it comes, daily, weekly) and pause per subscription (issue 17)

Revision ID: 0005_reader_choices
Revises: 0003_runs
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005_reader_choices'
down_revision = '0003_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reader_choices',
                    sa.Column('subscriber_id', sa.Integer(), nullable=False),
                    sa.Column('frequency', sa.String(length=20), nullable=True),
                    sa.Column('paused', sa.Boolean(), nullable=False),
                    sa.Column('changed', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('subscriber_id'))


def downgrade() -> None:
    op.drop_table('reader_choices')
