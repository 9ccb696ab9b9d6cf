"""Schema versions of the experiment store (Alembic revisions in ``versions/``).

``prepare`` runs on every store the program opens: a new database gets every revision; an
older one is upgraded in place (a store made before versioning, which has the tables but no
``alembic_version``, is first stamped as revision ``BASE``); a store written by a newer
otonom, or one whose tables are not the store's, is refused. Reading the version is one
query; Alembic itself is imported only when a migration has to run. On PostgreSQL, which
several processes share, one process at a time decides and migrates (an advisory lock).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from otonom_trader.domain.errors import InputError

BASE = "0001"  # the schema of stores made before versioning
HEAD = "0008"  # the newest revision (a test checks it is Alembic's head)
VERSION_TABLE = "alembic_version"
_LOCK_KEY = 0x6F746F6E6F6D  # "otonom": the PostgreSQL advisory lock held while migrating
# Columns revision BASE created: a store without a version table must have at least these.
BASE_COLUMNS = {
    "experiments": {"id", "name", "strategy_path", "strategy_hash", "strategy_name", "grid",
                    "split", "search", "symbol", "data_fingerprint", "periods_per_year",
                    "git_commit", "status", "total_runs", "created_at", "started_at",
                    "finished_at", "elapsed_seconds", "command"},
    "experiment_runs": {"id", "experiment_id", "run_number", "params", "status", "error",
                        "block_stats",
                        *(f"{w}_{m}" for w in ("train", "test") for m in (
                            "total_return_pct", "cagr_pct", "sharpe", "sortino",
                            "max_drawdown_pct", "calmar", "win_rate_pct", "profit_factor",
                            "exposure_pct", "n_trades", "final_equity"))},
}


def _config(conn: Connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    return config


def known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(__file__).parent))
    return [s.revision for s in script.walk_revisions()]


def _current(conn: Connection) -> str | None:
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _upgrade(engine: Engine, stamp: str | None) -> None:
    """Stamp (an unversioned store) and upgrade to HEAD in one transaction. On SQLite the
    connection is ``_transactional_sqlite``'s, whose foreign keys are off (SQLite's default):
    SQLite alters a table by copying it, and dropping the old copy must not cascade to the
    runs."""
    from alembic import command

    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        engine = _transactional_sqlite(engine)
    try:
        with engine.connect() as conn, conn.begin():
            config = _config(conn)
            if stamp is not None:
                command.stamp(config, stamp)
            command.upgrade(config, "head")
    finally:
        if sqlite:
            engine.dispose()


def _transactional_sqlite(engine: Engine) -> Engine:
    """An engine on the same SQLite file whose transactions hold DDL too: Python's sqlite3
    driver would commit each CREATE/ALTER at once, so a migration killed halfway would leave
    a schema no revision describes. Here the driver never begins or commits by itself and
    each transaction is an explicit BEGIN (SQLAlchemy's documented pysqlite recipe)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    mine = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(mine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(mine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN")

    return mine


@contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    """Hold the migration lock while deciding and migrating (other processes opening the
    store wait): an advisory lock on PostgreSQL; on a SQLite file, an exclusive ``flock`` on
    a lock file in the temporary folder named after the database's path (none in the
    repository, nothing to clean up)."""
    if engine.dialect.name == "sqlite":
        with _file_lock(engine.url.database):
            yield
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
            conn.commit()


@contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:":
        yield
        return
    import fcntl
    import hashlib
    import tempfile

    key = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:16]
    with open(os.path.join(tempfile.gettempdir(), f"otonom-migrate-{key}.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _version(engine: Engine) -> tuple[set[str], str | None]:
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        return tables, _current(conn) if VERSION_TABLE in tables else None


def prepare(engine: Engine, where: str) -> str | None:
    """Bring the store at ``engine`` to ``HEAD``; returns a one-line message when an existing
    store was upgraded (None otherwise). ``where`` names the store in messages."""
    if _version(engine)[1] == HEAD:
        return None
    with _exclusive(engine):
        return _prepare(engine, where)


def _prepare(engine: Engine, where: str) -> str | None:
    tables, current = _version(engine)  # again: another process may have migrated meanwhile
    if current == HEAD:
        return None
    if current is not None:
        if current not in known_revisions():
            raise InputError(f"experiment store {where} has schema version {current}, which "
                             f"this otonom does not know (its newest is {HEAD}): it was written "
                             "by a newer otonom; upgrade otonom (pip install -U otonom-trader) "
                             "or choose another store with --db")
        _upgrade(engine, None)
        return f"Upgraded experiment store {where} from schema {current} to {HEAD}"
    ours = tables & set(BASE_COLUMNS)
    if not ours:  # a new (or empty) database
        _upgrade(engine, None)
        return None
    with engine.connect() as conn:
        inspector = inspect(conn)
        for table, needed in BASE_COLUMNS.items():
            have = ({c["name"] for c in inspector.get_columns(table)} if table in tables
                    else set())
            if not needed <= have:
                missing = ", ".join(sorted(needed - have)[:4])
                raise InputError(f"experiment store {where}: table `{table}` is not an otonom "
                                 f"experiment table (no column {missing}): choose another "
                                 "store with --db or OTONOM_DB, or move this file aside")
    _upgrade(engine, BASE)
    return f"Upgraded experiment store {where} from schema {BASE} (unversioned) to {HEAD}"
