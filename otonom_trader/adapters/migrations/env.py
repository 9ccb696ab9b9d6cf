"""Alembic environment of the experiment store: migrations run on the connection the store
hands over in ``config.attributes["connection"]`` (``migrations.prepare``), never from a URL in
an ini file. SQLite alters tables in batch mode (copy and move), PostgreSQL in place."""

from __future__ import annotations

from alembic import context

from otonom_trader.adapters import journal_models  # noqa: F401  (its tables join the store's METADATA)
from otonom_trader.adapters.store_models import METADATA

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
