"""tables and columns of the service, web app, matching and spider work

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bulletin_pages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('profile_id', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('first_sent', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index(op.f('ix_bulletin_pages_profile_id'), 'bulletin_pages', ['profile_id'], unique=False)
    op.create_table('delivery_refusals',
    sa.Column('profile_id', sa.String(length=100), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('refused_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.UniqueConstraint('profile_id', 'subscriber_id', 'item_id', name='uq_delivery_refusals_once')
    )
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('client', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_login_attempts_at'), 'login_attempts', ['at'], unique=False)
    op.create_index(op.f('ix_login_attempts_client'), 'login_attempts', ['client'], unique=False)
    op.create_index(op.f('ix_login_attempts_email'), 'login_attempts', ['email'], unique=False)
    op.create_table('match_feedback',
    sa.Column('profile_id', sa.String(length=100), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.String(length=100), nullable=True),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('profile_id', 'item_id', 'subscriber_id')
    )
    op.create_table('match_judgements',
    sa.Column('profile_id', sa.String(length=100), nullable=False),
    sa.Column('topic_id', sa.String(length=100), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('include', sa.Boolean(), nullable=False),
    sa.Column('who', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('profile_id', 'topic_id', 'item_id')
    )
    op.create_table('pending_subscriptions',
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('profile_id', sa.String(length=100), nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('ref')
    )
    op.create_table('profile_versions',
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('profile_id', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('saved', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('path')
    )
    op.create_table('runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('who', sa.Text(), nullable=True),
    sa.Column('profile', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('started', sa.DateTime(), nullable=False),
    sa.Column('finished', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('sources_fetched', sa.Integer(), nullable=False),
    sa.Column('sources_failed', sa.Integer(), nullable=False),
    sa.Column('items_new', sa.Integer(), nullable=False),
    sa.Column('matches', sa.Integer(), nullable=False),
    sa.Column('bulletins_sent', sa.Integer(), nullable=False),
    sa.Column('bulletins_failed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('fetch_errors', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_runs_started'), 'runs', ['started'], unique=False)
    op.create_table('scheduler_lock',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('holder', sa.Text(), nullable=False),
    sa.Column('acquired', sa.DateTime(), nullable=False),
    sa.Column('heartbeat', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('subscriber_topics',
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('topic_id', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('subscriber_id', 'topic_id')
    )
    op.create_table('suppressions',
    sa.Column('profile_id', sa.String(length=100), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('profile_id', 'email_hash')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('email', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    op.create_table('web_sessions',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.Column('expires', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_hash')
    )
    op.create_index(op.f('ix_web_sessions_expires'), 'web_sessions', ['expires'], unique=False)
    op.add_column('items', sa.Column('fulltext', sa.Text(), nullable=True))
    op.add_column('items', sa.Column('pub_type', sa.String(length=40), nullable=True))
    op.add_column('items', sa.Column('organisation', sa.Text(), nullable=True))
    op.add_column('items', sa.Column('closes', sa.Date(), nullable=True))
    op.add_column('items', sa.Column('enriched_at', sa.DateTime(), nullable=True))
    op.add_column('matches', sa.Column('local', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('subscribers', sa.Column('origin', sa.String(length=10), server_default='yaml', nullable=False))


def downgrade() -> None:
    op.drop_column('subscribers', 'origin')
    op.drop_column('matches', 'local')
    op.drop_column('items', 'enriched_at')
    op.drop_column('items', 'closes')
    op.drop_column('items', 'organisation')
    op.drop_column('items', 'pub_type')
    op.drop_column('items', 'fulltext')
    op.drop_index(op.f('ix_web_sessions_expires'), table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_table('users')
    op.drop_table('suppressions')
    op.drop_table('subscriber_topics')
    op.drop_table('scheduler_lock')
    op.drop_index(op.f('ix_runs_started'), table_name='runs')
    op.drop_table('runs')
    op.drop_table('profile_versions')
    op.drop_table('pending_subscriptions')
    op.drop_table('match_judgements')
    op.drop_table('match_feedback')
    op.drop_index(op.f('ix_login_attempts_email'), table_name='login_attempts')
    op.drop_index(op.f('ix_login_attempts_client'), table_name='login_attempts')
    op.drop_index(op.f('ix_login_attempts_at'), table_name='login_attempts')
    op.drop_table('login_attempts')
    op.drop_table('delivery_refusals')
    op.drop_index(op.f('ix_bulletin_pages_profile_id'), table_name='bulletin_pages')
    op.drop_table('bulletin_pages')
