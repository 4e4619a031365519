"""runs: who holds each run (to tell a killed run), and what each run did per source and profile

Revision ID: 0003_runs
Revises: 0003_security
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003_runs'
down_revision = '0003_security'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('holder', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('details', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('details')
        batch.drop_column('holder')
