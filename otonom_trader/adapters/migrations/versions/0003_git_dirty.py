"""Per experiment: whether the strategy repository had uncommitted changes when the search
started (``git_dirty``; NULL when unknown: outside a repository, or stored before this).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("git_dirty", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("git_dirty")
