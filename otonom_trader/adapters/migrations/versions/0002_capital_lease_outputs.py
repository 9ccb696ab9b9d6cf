"""Per experiment: the initial capital and the schema version it was written with, the lease
of the process running it (owner, heartbeat), the digests of its output files; created_at
becomes optional (a store snapshot for DVC carries no session times).

An experiment stored before this revision gets the ``--initial-capital`` of its recorded
command (10,000 when the command has none): the only place the command line is parsed.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import shlex

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_CAPITAL = 10_000.0


def capital_from_command(command: str | None) -> float:
    """``--initial-capital`` of a recorded grid-search command line (default 10,000)."""
    try:
        argv = shlex.split(command or "")
    except ValueError:
        return DEFAULT_CAPITAL
    for i, arg in enumerate(argv):
        text = None
        if arg == "--initial-capital" and i + 1 < len(argv):
            text = argv[i + 1]
        elif arg.startswith("--initial-capital="):
            text = arg.split("=", 1)[1]
        if text is not None:
            try:
                value = float(text)
            except ValueError:
                return DEFAULT_CAPITAL
            return value if value > 0 and value != float("inf") else DEFAULT_CAPITAL
    return DEFAULT_CAPITAL


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("initial_capital", sa.Float(), nullable=False,
                                   server_default=sa.text(str(DEFAULT_CAPITAL))))
        batch.add_column(sa.Column("schema_version", sa.String(32), nullable=False,
                                   server_default="0001"))
        batch.add_column(sa.Column("owner", sa.String(300), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("outputs", sa.JSON(), nullable=True))
        batch.alter_column("created_at", existing_type=sa.DateTime(), nullable=True)
    experiments = sa.table("experiments", sa.column("id", sa.Integer()),
                           sa.column("command", sa.Text()),
                           sa.column("initial_capital", sa.Float()))
    conn = op.get_bind()
    for exp_id, command in conn.execute(sa.select(experiments.c.id, experiments.c.command)):
        capital = capital_from_command(command)
        if capital != DEFAULT_CAPITAL:
            conn.execute(sa.update(experiments).where(experiments.c.id == exp_id)
                         .values(initial_capital=capital))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.alter_column("created_at", existing_type=sa.DateTime(), nullable=False)
        for column in ("outputs", "heartbeat_at", "owner", "schema_version", "initial_capital"):
            batch.drop_column(column)
