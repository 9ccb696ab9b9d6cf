"""The snapshot keeps the selected run's Deflated Sharpe Ratio as the search recorded it
(``engine.overfitting.DSRResult`` fields and the trials' Sharpe variance), so
``experiments show`` neither re-runs the run nor imports scipy for the normal quantile.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("experiment_snapshots", sa.Column("dsr", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiment_snapshots") as batch:
        batch.drop_column("dsr")
