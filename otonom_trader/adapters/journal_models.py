"""The daemon's journal and the paper broker's book: tables in the store's database (made
and changed only by the Alembic revisions in ``migrations/``; a test checks they match).

Journal: ``journal_ticks`` (one row per strategy per bar decided: bar, commit, segment, stage),
``journal_orders`` (the intent, committed before it is sent, keyed by a deterministic client
order id), ``journal_fills``, ``journal_positions``, ``journal_equity`` (per bar) and
``journal_events`` (version switches, refusals, feed stalls, broker errors). The paper broker
keeps its own book in ``paper_accounts`` and ``paper_orders``, so it survives a restart.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from otonom_trader.adapters.store_models import METADATA

_M = METADATA


def _name() -> Column:
    return Column("deployment", String(200), nullable=False)


TICKS = Table(
    "journal_ticks", _M,
    Column("id", Integer, primary_key=True),
    _name(),
    Column("tick_at", DateTime, nullable=False),
    Column("bar_time", DateTime, nullable=True),
    Column("commit_sha", String(64), nullable=True),
    Column("strategy_hash", String(128), nullable=True),  # version/book: the engine's segment
    Column("stage", String(10), nullable=False),  # shadow | paper | live
    Index("ix_journal_ticks_deployment", "deployment", "id"),
)

ORDERS = Table(
    "journal_orders", _M,
    Column("id", Integer, primary_key=True),
    Column("client_order_id", String(64), nullable=False, unique=True),
    _name(),
    Column("strategy_hash", String(128), nullable=False),
    Column("commit_sha", String(64), nullable=True),
    Column("bar_time", DateTime, nullable=True),
    Column("symbol", String(100), nullable=False),
    Column("side", String(4), nullable=False),
    Column("qty", Float, nullable=False),
    Column("ref_price", Float, nullable=True),  # the engine's price (paper fills at it)
    Column("reason", String(40), nullable=False),  # entry | signal | stop_loss | ...
    Column("stage", String(10), nullable=False),
    Column("broker", String(40), nullable=False),
    Column("status", String(20), nullable=False),  # intent | <broker status>
    Column("broker_order_id", String(100), nullable=True),
    Column("external", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_journal_orders_deployment", "deployment", "id"),
)

FILLS = Table(
    "journal_fills", _M,
    Column("id", Integer, primary_key=True),
    Column("client_order_id", String(64), nullable=False, unique=True),
    _name(),
    Column("bar_time", DateTime, nullable=True),
    Column("symbol", String(100), nullable=False),
    Column("side", String(4), nullable=False),
    Column("qty", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)

POSITIONS = Table(
    "journal_positions", _M,
    Column("id", Integer, primary_key=True),
    _name(),
    Column("bar_time", DateTime, nullable=True),
    Column("symbol", String(100), nullable=False),
    Column("qty", Float, nullable=False),
    Column("avg_price", Float, nullable=False),
    Index("ix_journal_positions_deployment", "deployment", "id"),
)

EQUITY = Table(
    "journal_equity", _M,
    Column("id", Integer, primary_key=True),
    _name(),
    Column("bar_time", DateTime, nullable=False),
    Column("equity", Float, nullable=False),
    UniqueConstraint("deployment", "bar_time", name="uq_journal_equity_bar"),
)

EVENTS = Table(
    "journal_events", _M,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("deployment", String(200), nullable=True),
    Column("kind", String(40), nullable=False),
    Column("level", String(10), nullable=False),  # info | warning | error
    Column("message", Text, nullable=False),
    Column("commit_sha", String(64), nullable=True),
)

PAPER_ACCOUNTS = Table(
    "paper_accounts", _M,
    Column("account", String(200), primary_key=True),
    Column("initial_cash", Float, nullable=False),
    Column("fee_bps", Float, nullable=False),
)

PAPER_ORDERS = Table(
    "paper_orders", _M,
    Column("id", Integer, primary_key=True),
    Column("account", String(200), nullable=False),
    Column("client_order_id", String(64), nullable=False, unique=True),
    Column("symbol", String(100), nullable=False),
    Column("side", String(4), nullable=False),
    Column("qty", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("fee", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("submitted_at", DateTime, nullable=False),
)
