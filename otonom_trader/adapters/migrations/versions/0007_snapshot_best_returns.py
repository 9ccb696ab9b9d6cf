"""The snapshot keeps the best run's test returns (``experiments show`` computes the DSR
without re-running it) and the CPCV of a search run with ``--cv cpcv``. The runs table keeps
one metric index, test Sharpe, the only metric read best-first by index (``experiments
list``, the grid-search summary); the other three cost a pass over the table after a load.

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

DROPPED = ("cagr_pct", "sortino", "calmar")


def upgrade() -> None:
    op.add_column("experiment_snapshots", sa.Column("best_run", sa.Integer(), nullable=True))
    op.add_column("experiment_snapshots",
                  sa.Column("best_returns", sa.LargeBinary(), nullable=True))
    op.add_column("experiment_snapshots", sa.Column("cpcv", sa.JSON(), nullable=True))
    for metric in DROPPED:
        op.execute(f"DROP INDEX IF EXISTS ix_run_experiment_test_{metric}")


def downgrade() -> None:
    for metric in DROPPED:
        op.create_index(f"ix_run_experiment_test_{metric}", "experiment_runs",
                        ["experiment_id", f"test_{metric}"])
    with op.batch_alter_table("experiment_snapshots") as batch:
        batch.drop_column("cpcv")
        batch.drop_column("best_returns")
        batch.drop_column("best_run")
