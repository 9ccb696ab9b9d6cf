"""Cheaper loads and reads. Each experiment counts its done and failed runs and keeps its
best test Sharpe (updated in the transaction that stores a batch), so ``experiments list``
reads one row per experiment and the runs table needs no secondary index: each cost a pass
over the whole table after a load. The snapshot keeps the best run's test returns
(``experiments show`` computes the DSR without re-running it) and the CPCV of a search run
with ``--cv cpcv``.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DROPPED = ("ix_run_experiment_status", *(f"ix_run_experiment_test_{m}" for m in (
    "sharpe", "cagr_pct", "sortino", "calmar")))
_RUNS = ("SELECT {} FROM experiment_runs r WHERE r.experiment_id = experiments.id "
         "AND r.status = '{}'")


def upgrade() -> None:
    op.add_column("experiment_snapshots", sa.Column("best_run", sa.Integer(), nullable=True))
    op.add_column("experiment_snapshots",
                  sa.Column("best_returns", sa.LargeBinary(), nullable=True))
    op.add_column("experiment_snapshots", sa.Column("cpcv", sa.JSON(), nullable=True))
    op.add_column("experiments", sa.Column("done_runs", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("experiments", sa.Column("failed_runs", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("experiments", sa.Column("best_test_sharpe", sa.Float(), nullable=True))
    op.execute(f"UPDATE experiments SET done_runs = ({_RUNS.format('count(*)', 'done')}), "
               f"failed_runs = ({_RUNS.format('count(*)', 'failed')}), "
               f"best_test_sharpe = ({_RUNS.format('max(r.test_sharpe)', 'done')})")
    for index in DROPPED:
        op.execute(f"DROP INDEX IF EXISTS {index}")


def downgrade() -> None:
    for index in DROPPED:
        column = "status" if index.endswith("status") else index.removeprefix("ix_run_experiment_")
        op.create_index(index, "experiment_runs", ["experiment_id", column])
    with op.batch_alter_table("experiments") as batch:
        for column in ("best_test_sharpe", "failed_runs", "done_runs"):
            batch.drop_column(column)
    with op.batch_alter_table("experiment_snapshots") as batch:
        batch.drop_column("cpcv")
        batch.drop_column("best_returns")
        batch.drop_column("best_run")
