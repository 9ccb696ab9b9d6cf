"""Per finished experiment: a columnar snapshot of its runs (the ``runs_frame``, as Parquet)
and its PBO, written when the search finishes so ``experiments show`` reads one row instead
of every run and its block statistics. ``n_runs`` is the number of run rows it covers: a
snapshot that no longer matches the stored runs is ignored.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment_snapshots",
        sa.Column("experiment_id", sa.Integer(),
                  sa.ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("n_runs", sa.Integer(), nullable=False),
        sa.Column("runs", sa.LargeBinary(), nullable=False),
        sa.Column("pbo", sa.JSON(), nullable=True),
        sa.Column("pbo_logits", sa.LargeBinary(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("experiment_snapshots")
