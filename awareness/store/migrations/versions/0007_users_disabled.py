"""users.disabled: an administrator can disable an account without removing it (issue 17)

Revision ID: 0007_users_disabled
Revises: 0006_webhook_posts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007_users_disabled'
down_revision = '0006_webhook_posts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('disabled')
