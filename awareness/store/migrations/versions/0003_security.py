"""subscribers: a random key for readers' links, and ids never reused;
confirmation_sends; user_profiles (issue 15)

Revision ID: 0003_security
Revises: 0002
Create Date: 2026-12-03

SQLite gives a deleted row's id to the next row unless the table is declared
AUTOINCREMENT; subscriber ids reach the delivery ledger and readers' links, so a
newcomer would inherit a leaver's ledger and links.  The table is rebuilt with
AUTOINCREMENT, and its counter starts above every id the ledger has ever named.
PostgreSQL's sequences never reuse a value, so there only the key is added.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op


revision = '0003_security'
down_revision = '0002'
branch_labels = None
depends_on = None

_LEDGERS = ("deliveries", "bulletins", "delivery_refusals", "match_feedback", "subscriber_topics")


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table('confirmation_sends',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('email_hash', sa.String(length=64), nullable=False),
                    sa.Column('client', sa.Text(), nullable=False),
                    sa.Column('at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_table('user_profiles',
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('profile_id', sa.String(length=100), nullable=False),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('user_id', 'profile_id'))
    for column in ('email_hash', 'client', 'at'):
        op.create_index(op.f(f'ix_confirmation_sends_{column}'), 'confirmation_sends', [column], unique=False)
    op.add_column('subscribers', sa.Column('key', sa.String(length=32), nullable=True))
    subscribers = sa.table('subscribers', sa.column('id', sa.Integer), sa.column('key', sa.String))
    for (subscriber_id,) in conn.execute(sa.select(subscribers.c.id)).all():
        conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id)
                     .values(key=secrets.token_urlsafe(16)))
    if conn.dialect.name == "sqlite":
        highest = max([conn.execute(sa.text("SELECT max(id) FROM subscribers")).scalar() or 0]
                      + [conn.execute(sa.text(f"SELECT max(subscriber_id) FROM {t}")).scalar() or 0
                         for t in _LEDGERS])
        with op.batch_alter_table('subscribers', recreate='always',
                                  table_kwargs={'sqlite_autoincrement': True}) as batch:
            batch.alter_column('key', existing_type=sa.String(length=32), nullable=False)
        conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'subscribers'"))
        conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('subscribers', :n)"), {"n": highest})
    else:
        op.alter_column('subscribers', 'key', existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    op.drop_table('confirmation_sends')
    op.drop_table('user_profiles')
    with op.batch_alter_table('subscribers') as batch:
        batch.drop_column('key')
