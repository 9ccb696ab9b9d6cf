"""The daemon's journal (ticks, orders, fills, positions, equity, events) and the paper
broker's book (paper_accounts, paper_orders).

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("journal_ticks", "journal_orders", "journal_fills", "journal_positions",
          "journal_equity", "journal_events", "paper_accounts", "paper_orders")


def upgrade() -> None:
    op.create_table(
        "journal_ticks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment", sa.String(200), nullable=False),
        sa.Column("tick_at", sa.DateTime(), nullable=False),
        sa.Column("bar_time", sa.DateTime(), nullable=True),
        sa.Column("commit_sha", sa.String(64), nullable=True),
        sa.Column("strategy_hash", sa.String(128), nullable=True),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Index("ix_journal_ticks_deployment", "deployment", "id"),
    )

    op.create_table(
        "journal_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_order_id", sa.String(64), nullable=False, unique=True),
        sa.Column("deployment", sa.String(200), nullable=False),
        sa.Column("strategy_hash", sa.String(128), nullable=False),
        sa.Column("commit_sha", sa.String(64), nullable=True),
        sa.Column("bar_time", sa.DateTime(), nullable=True),
        sa.Column("symbol", sa.String(100), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("ref_price", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("broker", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("broker_order_id", sa.String(100), nullable=True),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Index("ix_journal_orders_deployment", "deployment", "id"),
    )

    op.create_table(
        "journal_fills",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_order_id", sa.String(64), nullable=False, unique=True),
        sa.Column("deployment", sa.String(200), nullable=False),
        sa.Column("bar_time", sa.DateTime(), nullable=True),
        sa.Column("symbol", sa.String(100), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )

    op.create_table(
        "journal_positions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment", sa.String(200), nullable=False),
        sa.Column("bar_time", sa.DateTime(), nullable=True),
        sa.Column("symbol", sa.String(100), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("avg_price", sa.Float(), nullable=False),
        sa.Index("ix_journal_positions_deployment", "deployment", "id"),
    )

    op.create_table(
        "journal_equity",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deployment", sa.String(200), nullable=False),
        sa.Column("bar_time", sa.DateTime(), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.UniqueConstraint("deployment", "bar_time", name="uq_journal_equity_bar"),
    )

    op.create_table(
        "journal_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("deployment", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("commit_sha", sa.String(64), nullable=True),
    )

    op.create_table(
        "paper_accounts",
        sa.Column("account", sa.String(200), primary_key=True),
        sa.Column("initial_cash", sa.Float(), nullable=False),
        sa.Column("fee_bps", sa.Float(), nullable=False),
    )

    op.create_table(
        "paper_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False, unique=True),
        sa.Column("symbol", sa.String(100), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("qty", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
