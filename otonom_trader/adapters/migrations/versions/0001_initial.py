"""The experiment store as first released: experiments and experiment_runs.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies (a later change to the metric list needs a new revision, not an edit here).
_METRICS = ("total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct", "calmar",
            "win_rate_pct", "profit_factor", "exposure_pct", "n_trades", "final_equity")
_INDEXED = ("sharpe", "cagr_pct", "sortino", "calmar")


def _metric_columns() -> list[sa.Column]:
    return [sa.Column(f"{window}_{m}", sa.Integer() if m == "n_trades" else sa.Float(),
                      nullable=True)
            for window in ("train", "test") for m in _METRICS]


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("strategy_path", sa.Text(), nullable=False),
        sa.Column("strategy_hash", sa.String(128), nullable=False),
        sa.Column("strategy_name", sa.String(200), nullable=False),
        sa.Column("grid", sa.JSON(), nullable=False),
        sa.Column("split", sa.JSON(), nullable=False),
        sa.Column("search", sa.JSON(), nullable=False),
        sa.Column("symbol", sa.String(100), nullable=False),
        sa.Column("data_fingerprint", sa.String(128), nullable=False),
        sa.Column("periods_per_year", sa.Float(), nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_runs", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
    )
    op.create_table(
        "experiment_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("experiment_id", sa.Integer(),
                  sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        *_metric_columns(),
        sa.Column("block_stats", sa.LargeBinary(), nullable=True),
        sa.UniqueConstraint("experiment_id", "run_number", name="uq_run_experiment_number"),
    )
    op.create_index("ix_run_experiment_status", "experiment_runs", ["experiment_id", "status"])
    for m in _INDEXED:
        op.create_index(f"ix_run_experiment_test_{m}", "experiment_runs",
                        ["experiment_id", f"test_{m}"])


def downgrade() -> None:
    op.drop_table("experiment_runs")
    op.drop_table("experiments")
