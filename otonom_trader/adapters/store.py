"""The experiment store: experiments and their runs in any SQLAlchemy database.

The URL comes from the argument, else ``OTONOM_DB``, else ``sqlite:///.otonom/experiments.db``
(relative to the working directory); ``postgresql://`` means ``postgresql+psycopg://`` (the
``postgres`` extra's driver). Callers get plain dataclasses and pandas frames, never
ORM objects. A *pending* run has no row: see ``store_models``. Metrics are public
(``METRIC_KEYS``); NaN/inf are stored as NULL and read back as NaN. Times are naive UTC.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    case,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from otonom_trader.adapters import migrations
from otonom_trader.adapters.store_models import (
    EXPERIMENT_STATUSES,
    EXPERIMENTS,
    RUN_STATUSES,
    RUNS,
    SNAPSHOTS,
    TEST_COLUMNS,
    TRAIN_COLUMNS,
    WALK_FORWARDS,
    ExperimentInfo,
    ExperimentSummary,
    RunBatch,
)
from otonom_trader.domain.errors import InputError, RunError
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.redact import redact

if TYPE_CHECKING:  # numpy and pandas load only where runs are: `experiments list` needs none
    import numpy as np
    import pandas as pd

DEFAULT_URL = "sqlite:///.otonom/experiments.db"
READ_ROWS = 65_536  # rows per part when reading runs back (bounds their Python objects)
BLOCK_FIELDS = 3  # count, sum, sum of squares of the per-bar returns of one time block
_EXP = EXPERIMENTS
_RUNS = RUNS
_SNAP = SNAPSHOTS
_WF = WALK_FORWARDS
_METRIC_COLUMNS = TRAIN_COLUMNS + TEST_COLUMNS
_INT_METRICS = [i for i, c in enumerate(_METRIC_COLUMNS) if c.endswith("_n_trades")]
_SHARPE = METRIC_KEYS.index("sharpe")
_INSERT_COLUMNS = ("experiment_id", "run_number", "params", "status", "error",
                   *_METRIC_COLUMNS, "block_stats")
# PostgreSQL types of _INSERT_COLUMNS, for a binary COPY.
_COPY_TYPES = ["int4", "int4", "text", "varchar", "text",
               *("int4" if c.endswith("_n_trades") else "float8" for c in _METRIC_COLUMNS),
               "bytea"]
_FRAME_COLUMNS = ("run_number", "status", "error", "params", *_METRIC_COLUMNS)
_HINT = "choose another store with --db or OTONOM_DB"
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # primary result codes of a damaged file
CONNECT_TIMEOUT = 10  # seconds to reach a database server (PostgreSQL) before giving up
LEASE_TIMEOUT = 600.0  # seconds without a heartbeat after which another host's lease lapses
__all__ = ["DEFAULT_URL", "ExperimentInfo", "ExperimentStore", "ExperimentSummary", "RunBatch",
           "Snapshot", "lease_owner", "runs_frame_of"]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _json_default(value: Any) -> Any:
    np = sys.modules.get("numpy")  # a numpy value means numpy is loaded
    if np is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_json_default))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL and a 64 MB page cache: readers do not wait for the writer, batches write fast.
    for pragma in ("busy_timeout=30000", "foreign_keys=ON", "journal_mode=WAL",
                   "synchronous=NORMAL", "cache_size=-65536"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def share_sqlite_settings(engine: Engine) -> None:
    """Give another SQLAlchemy engine on a SQLite store (Optuna's study storage) the store's
    own connection settings: WAL, ``synchronous=NORMAL`` (a commit does not wait for the
    disk: 96 trials in 2.4 s instead of 2.9–4.0 s) and the 30 s busy timeout."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        engine.dispose()  # connections opened so far lack them


class ExperimentStore:
    """Experiments and runs in one database; safe to resume, one transaction per batch."""

    def __init__(self, url: str | None = None) -> None:
        url = url or os.environ.get("OTONOM_DB") or DEFAULT_URL
        if url == DEFAULT_URL:
            Path(".otonom").mkdir(exist_ok=True)
        self.url = redact(url)  # for messages: no user-info, no password parameter
        self._password, psycopg = "", False
        try:
            parsed = make_url(url)
            if parsed.drivername == "postgresql":  # the driver of the postgres extra
                parsed = parsed.set(drivername="postgresql+psycopg")
            query_password = parsed.query.get("password")
            self._password = str(parsed.password or (query_password if isinstance(
                query_password, str) else ""))
            psycopg = parsed.get_driver_name() == "psycopg"
            # Not set by the URL: a bound on connecting, and no JIT compiling (it costs more
            # than the store's short queries save, ~0.2 s each).
            defaults = {"connect_timeout": CONNECT_TIMEOUT, "options": "-c jit=off"}
            connect_args = ({k: v for k, v in defaults.items() if k not in parsed.query}
                            if psycopg else {})
            self.engine: Engine = create_engine(parsed, connect_args=connect_args)
        except Exception as exc:  # a malformed URL or a missing driver
            todo = (("pip install 'otonom-trader[postgres]'" if psycopg
                     else "install its driver")
                    if isinstance(exc, ImportError) else "check the URL")
            raise InputError(f"cannot use experiment store {self.url} ({self._line(exc)}): "
                             f"{todo} or {_HINT}") from None
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._copy = self.engine.dialect.driver == "psycopg"  # psycopg 3's COPY for the runs
        if self._sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "handle_error", self._damaged)
        try:
            upgraded = migrations.prepare(self.engine, self.url)
            with self.engine.begin() as conn:
                # A no-op write: a read-only store fails here, before any experiment starts.
                conn.execute(update(_EXP).where(_EXP.c.id == -1).values(name=_EXP.c.name))
        except InputError:
            self.engine.dispose()
            raise
        except SQLAlchemyError as exc:
            self.engine.dispose()
            detail = self._line(exc)
            if re.search(r"read-?only|permission denied", detail, re.IGNORECASE):
                raise InputError(f"experiment store {self.url} is read-only ({detail}): "
                                 f"make it writable or {_HINT}") from None
            raise InputError(f"cannot open experiment store {self.url} ({detail}): "
                             f"check that it exists and is reachable, or {_HINT}") from None
        if upgraded:
            print(upgraded, file=sys.stderr)

    def _line(self, exc: BaseException) -> str:
        """The first line of ``exc`` without the URL's password, wherever a driver puts it."""
        return redact(_one_line(exc), *([self._password] if self._password else []))

    def _damaged(self, context: Any) -> None:
        """A corrupted or non-SQLite file, wherever it shows (opening, reading a page): one
        line naming the file instead of a driver traceback."""
        orig = context.original_exception
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            raise InputError(f"experiment store {self.url} is damaged ({_one_line(orig)}): "
                             "restore it from a backup, or move it aside and run the grid "
                             f"search again, or {_HINT}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ExperimentStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- experiments -------------------------------------------------------------------

    def create_experiment(
        self, *, name: str, strategy_path: str, strategy_hash: str, strategy_name: str,
        grid: Any, split: dict, search: dict, symbol: str, data_fingerprint: str,
        periods_per_year: float, total_runs: int, initial_capital: float, command: str = "",
        git_commit: str | None = None, git_dirty: bool | None = None, status: str = "running",
        owner: str | None = None,
    ) -> int:
        """Insert an experiment and return its ID; a taken name is an ``InputError`` (saying
        so when another process is running it). ``owner`` (``lease_owner()``) holds the
        lease of a ``running`` experiment."""
        _check_status(status, EXPERIMENT_STATUSES)
        now = _now()
        values = dict(
            name=name, strategy_path=str(strategy_path), strategy_hash=strategy_hash,
            strategy_name=strategy_name, grid=_plain(grid), split=_plain(split),
            search=_plain(search), symbol=symbol, data_fingerprint=data_fingerprint,
            periods_per_year=float(periods_per_year), git_commit=git_commit, git_dirty=git_dirty,
            status=status,
            total_runs=int(total_runs), created_at=now, started_at=now,
            finished_at=None, elapsed_seconds=0.0, command=command,
            initial_capital=float(initial_capital), schema_version=migrations.HEAD,
            owner=owner, heartbeat_at=now if owner else None,
        )
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(insert(_EXP).values(**values)).inserted_primary_key[0])
        except IntegrityError:
            existing = self.find_by_name(name)
            if existing is None:
                raise
            _refuse_if_running(existing)
            raise InputError(f"experiment '{name}' already exists (ID: {existing.id}): resume "
                             f"it with --resume {existing.id} or choose another --name") from None

    @staticmethod
    def refuse_if_running(info: ExperimentInfo) -> None:
        """``InputError`` when a live process other than this one holds ``info``'s lease."""
        if info.owner != lease_owner():
            _refuse_if_running(info)

    def claim(self, exp_id: int, owner: str) -> None:
        """Take the lease of experiment ``exp_id`` for ``owner`` and mark it running; refused
        (``InputError``) while another live process holds it. Compare-and-set on the old
        owner, so of two processes claiming at once exactly one wins."""
        info = self.get(exp_id)
        if info.owner != owner:
            _refuse_if_running(info)
        now = _now()
        stmt = (update(_EXP).where(_EXP.c.id == info.id, _owner_is(info.owner))
                .values(owner=owner, heartbeat_at=now, status="running", started_at=now,
                        finished_at=None))
        with self.engine.begin() as conn:
            taken = conn.execute(stmt).rowcount == 0
        if taken:
            _refuse_if_running(self.get(exp_id))
            raise InputError(f"experiment '{info.name}' (ID: {info.id}) was just started by "
                             "another process: wait for it to finish")

    def heartbeat(self, exp_id: int, owner: str, elapsed_seconds_delta: float) -> None:
        """The lease holder is alive: stamp ``heartbeat_at`` and add the time since its last
        heartbeat to ``elapsed_seconds`` (so a killed session's time counts up to here)."""
        stmt = (update(_EXP).where(_EXP.c.id == int(exp_id), _EXP.c.owner == owner)
                .values(heartbeat_at=_now(), elapsed_seconds=_EXP.c.elapsed_seconds
                        + float(elapsed_seconds_delta)))
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def set_outputs(self, exp_id: int, digests: dict[str, str] | None) -> None:
        """Record the sha256 of each output file last written (None: none is current)."""
        with self.engine.begin() as conn:
            conn.execute(update(_EXP).where(_EXP.c.id == int(exp_id)).values(outputs=digests))

    def extend(self, exp_id: int, total_runs: int, grid: Any, search: dict) -> None:
        """More runs for an experiment (an Optuna study given more trials)."""
        with self.engine.begin() as conn:
            conn.execute(update(_EXP).where(_EXP.c.id == int(exp_id)).values(
                total_runs=int(total_runs), grid=_plain(grid), search=_plain(search)))

    def get(self, exp_id: int) -> ExperimentInfo:
        info = self._one(_EXP.c.id == int(exp_id))
        if info is None:
            recent = self.list_experiments(limit=5)
            listing = ", ".join(f"{s.id} ({s.name})" for s in recent) or "none yet"
            raise InputError(f"no experiment with ID {exp_id} in {self.url}; "
                             f"recent experiments: {listing}")
        return info

    def find_by_name(self, name: str) -> ExperimentInfo | None:
        return self._one(_EXP.c.name == name)

    def _one(self, where: Any) -> ExperimentInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_EXP).where(where)).mappings().first()
        if row is None:
            return None
        return ExperimentInfo(**{f.name: row[f.name] for f in fields(ExperimentInfo)})

    def set_status(self, exp_id: int, status: str, elapsed_seconds_delta: float = 0.0) -> None:
        """Set the status and add to ``elapsed_seconds``. ``running`` (a resume) stamps
        ``started_at`` and clears ``finished_at``; the other statuses stamp ``finished_at``
        and release the lease."""
        _check_status(status, EXPERIMENT_STATUSES)
        now = _now()
        stamps = ({"started_at": now, "finished_at": None} if status == "running"
                  else {"finished_at": now, "owner": None, "heartbeat_at": None})
        stmt = update(_EXP).where(_EXP.c.id == int(exp_id)).values(
            status=status, elapsed_seconds=_EXP.c.elapsed_seconds + float(elapsed_seconds_delta),
            **stamps)
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise InputError(f"no experiment with ID {exp_id} in {self.url}")

    def list_experiments(self, limit: int = 50) -> list[ExperimentSummary]:
        """The most recent experiments first, with run counts and best test Sharpe (kept by
        ``write_runs``): one row read per experiment."""
        e = _EXP.c
        stmt = (select(e.id, e.name, e.strategy_name, e.status, e.done_runs, e.failed_runs,
                       e.total_runs, e.best_test_sharpe, e.created_at)
                .order_by(e.id.desc()).limit(int(limit)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [ExperimentSummary(i, n, s, st, int(d), int(f), t,
                                  None if b is None else float(b), c)
                for i, n, s, st, d, f, t, b, c in rows]

    # -- runs --------------------------------------------------------------------------

    def done_run_numbers(self, exp_id: int) -> np.ndarray:
        """Sorted run numbers that have a row (done or failed): the ones not to run again."""
        import numpy as np
        stmt = (select(_RUNS.c.run_number).where(_RUNS.c.experiment_id == int(exp_id))
                .order_by(_RUNS.c.run_number))
        with self.engine.connect() as conn:
            return np.array(conn.execute(stmt).scalars().all(), dtype=np.int64)

    def run_counts(self, exp_id: int) -> tuple[int, int]:
        """(done, failed) runs stored for ``exp_id``."""
        stmt = select(_EXP.c.done_runs, _EXP.c.failed_runs).where(_EXP.c.id == int(exp_id))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def write_runs(self, exp_id: int, batch: RunBatch) -> None:
        """Store a batch in one transaction: all of it or (on any error) none of it."""
        rows = _batch_rows(int(exp_id), batch, nan_as_null=self._sqlite)
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(_counted(int(exp_id), batch))
                if self._sqlite:  # DBAPI executemany: ~2 s faster per 160k runs than Core
                    placeholders = ", ".join("?" * len(_INSERT_COLUMNS))
                    conn.exec_driver_sql(f"INSERT INTO {_RUNS.name} ({', '.join(_INSERT_COLUMNS)})"
                                         f" VALUES ({placeholders})", rows)
                elif self._copy:  # binary COPY: ~2x the rows per second of Core's INSERTs
                    raw = conn.connection.driver_connection
                    with raw.cursor() as cursor, cursor.copy(
                            f"COPY {_RUNS.name} ({', '.join(_INSERT_COLUMNS)}) FROM STDIN "
                            "(FORMAT BINARY)") as copy:
                        copy.set_types(_COPY_TYPES)
                        for row in rows:
                            copy.write_row(row)
                else:
                    conn.execute(insert(_RUNS), [dict(zip(_INSERT_COLUMNS, row, strict=True))
                                                 for row in rows])
        except (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as exc:  # COPY: raw
            raise RunError(f"experiment {exp_id}: a batch of {len(rows)} runs was not stored "
                           f"({self._line(exc)})") from None

    def runs_frame(self, exp_id: int) -> pd.DataFrame:
        """Every stored run by run number: run_number, status, error, one column per
        parameter (dotted path), then train_* and test_* metrics as float64 (NaN = missing)."""
        stmt = (select(*(_RUNS.c[c] for c in _FRAME_COLUMNS))
                .where(_RUNS.c.experiment_id == int(exp_id)).order_by(_RUNS.c.run_number))
        return self._frame(stmt)

    def top_runs(self, exp_id: int, metric: str = "sharpe", n: int = 5,
                 window: str = "test", runs: pd.DataFrame | None = None) -> pd.DataFrame:
        """The ``n`` done runs with the highest ``<window>_<metric>`` (NULL/NaN last, then by
        run number), in ``runs_frame`` layout. Higher is better for every metric (drawdown is
        negative). ``runs``: the experiment's ``runs_frame`` when the caller holds it (sorted
        here, not read)."""
        if metric not in METRIC_KEYS:
            raise InputError(f"unknown metric '{metric}': choose one of {', '.join(METRIC_KEYS)}")
        if window not in ("train", "test"):
            raise InputError(f"unknown window '{window}': choose train or test")
        if runs is not None:
            done = runs[runs["status"] == "done"]
            top = (done.sort_values([f"{window}_{metric}", "run_number"],
                                    ascending=[False, True], na_position="last",
                                    kind="mergesort")
                   .head(int(n)).reset_index(drop=True))
            errors = top["error"].astype(object)
            top["error"] = errors.where(errors.notna(), None)  # as read: None, object dtype
            return top
        column, number = _RUNS.c[f"{window}_{metric}"], _RUNS.c.run_number
        columns = [_RUNS.c[c] for c in _FRAME_COLUMNS]
        done = (_RUNS.c.experiment_id == int(exp_id), _RUNS.c.status == "done")
        return self._frame(select(*columns).where(*done)
                           .order_by(column.desc().nulls_last(), number).limit(int(n)))

    def block_parts(self, exp_id: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(run numbers, their (n, n_blocks, 3) block statistics) of the done runs that have
        them, in run order, ``READ_ROWS`` runs at a time (read-only arrays)."""
        import numpy as np
        stmt = (select(_RUNS.c.run_number, _RUNS.c.block_stats)
                .where(_RUNS.c.experiment_id == int(exp_id), _RUNS.c.status == "done",
                       _RUNS.c.block_stats.is_not(None))
                .order_by(_RUNS.c.run_number))
        size = None
        with self.engine.connect() as conn, \
                conn.execution_options(yield_per=READ_ROWS).execute(stmt) as result:
            for rows in result.partitions():  # closed when the reader stops early, too
                size = len(rows[0][1]) if size is None else size
                if size % (8 * BLOCK_FIELDS) or any(len(r[1]) != size for r in rows):
                    raise RunError(f"experiment {exp_id}: stored block statistics differ in "
                                   "size")
                yield (np.array([r[0] for r in rows], dtype=np.int64),
                       np.frombuffer(b"".join(r[1] for r in rows), dtype="<f8")
                       .reshape(len(rows), -1, BLOCK_FIELDS))

    def block_stats(self, exp_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Run numbers of done runs with block statistics and their (n, n_blocks, 3) array:
        ``block_parts`` gathered into one array."""
        import numpy as np
        capacity = max(self.run_counts(exp_id)[0], 0)  # done runs: the rows with blocks or more
        numbers = np.empty(capacity, dtype=np.int64)
        blocks, filled = None, 0
        for part_numbers, part in self.block_parts(exp_id):
            if blocks is None:
                blocks = np.empty((capacity, *part.shape[1:]))
            end = filled + len(part)
            if end > len(numbers):  # counters behind the rows (a store edited by hand)
                numbers, blocks = _grown(numbers, end), _grown(blocks, end)
            numbers[filled:end], blocks[filled:end] = part_numbers, part
            filled = end
        if blocks is None:
            return numbers[:0], np.empty((0, 0, BLOCK_FIELDS))
        return numbers[:filled], blocks[:filled]

    def snapshot(self, exp_id: int, path: str | Path, ancestors: Sequence[int] = ()) -> Path:
        """Write experiment ``exp_id`` alone, or with the experiments it was refined from
        (``ancestors``: their trials count in its DSR), to a new SQLite store at ``path``
        (atomically), without session data (times, lease, git commit, output digests): the
        same runs and settings give the same bytes, so DVC can hash it. Experiments and runs
        keep their IDs and order."""
        from otonom_trader.adapters.atomic import atomic_path

        ids = sorted({self.get(exp_id).id, *(self.get(i).id for i in ancestors)})
        with atomic_path(path) as tmp:
            tmp.unlink()
            with ExperimentStore(f"sqlite:///{tmp}") as copy, copy.engine.begin() as target, \
                    self.engine.connect() as conn:
                for i in ids:
                    row = dict(conn.execute(select(_EXP).where(_EXP.c.id == i)).mappings().one())
                    row.update(created_at=None, started_at=None, finished_at=None,
                               elapsed_seconds=0.0, owner=None, heartbeat_at=None,
                               git_commit=None, git_dirty=None, outputs=None)
                    target.execute(insert(_EXP).values(**row))
                    runs = conn.execute(select(*(c for c in _RUNS.c if c.name != "id"))
                                        .where(_RUNS.c.experiment_id == i)
                                        .order_by(_RUNS.c.run_number)).mappings().all()
                    if runs:
                        target.execute(insert(_RUNS), [dict(r) for r in runs])
        return Path(path)

    def _frame(self, stmt: Any) -> pd.DataFrame:
        """The ``runs_frame`` layout of ``stmt``'s rows, read ``READ_ROWS`` at a time: the
        rows' Python objects never outnumber one part (1,000,000 runs: 0.5 GB, not 2 GB)."""
        import numpy as np
        import pandas as pd

        parts, nested = [], None  # each part's columns; flatten params as the first run's
        with self.engine.connect() as conn, \
                conn.execution_options(yield_per=READ_ROWS).execute(stmt) as result:
            for rows in result.partitions():
                if nested is None:
                    nested = _is_nested(json.loads(rows[0][_FRAME_COLUMNS.index("params")]))
                parts.append(_rows_columns(rows, nested))
        if len(parts) <= 1:
            return pd.DataFrame(parts[0] if parts else _rows_columns([]))
        sizes = [len(part["run_number"]) for part in parts]
        columns = {}  # joined a column at a time, each part's dropped: never all held twice
        names = dict.fromkeys(c for part in parts for c in part)  # params: first seen first
        fixed = ("run_number", "status", "error")
        for name in [*fixed, *(c for c in names if c not in fixed + _METRIC_COLUMNS),
                     *_METRIC_COLUMNS]:
            pieces = [part.pop(name) if name in part else pd.Series(np.full(n, np.nan))
                      for part, n in zip(parts, sizes, strict=True)]
            kinds = {piece.dtype for piece in pieces}
            column = pd.concat(pieces, ignore_index=True)
            if len(kinds) > 1 or column.dtype == object:  # the dtype one part would infer
                column = pd.Series(column.tolist())
            columns[name] = column
        return pd.DataFrame(columns, copy=False)

    def save_snapshot(self, exp_id: int, runs: bytes, n_runs: int, pbo: dict | None,
                      pbo_logits: np.ndarray | None, best_run: int | None = None,
                      best_returns: np.ndarray | None = None, cpcv: dict | None = None,
                      dsr: dict | None = None) -> None:
        """Keep ``runs``, the ``n_runs`` stored runs in ``runs_frame`` layout as Parquet
        (runs.parquet's bytes), with the PBO (``PBOResult`` fields but the logits, or
        ``{"note": ...}``), the test-window returns of the selected run ``best_run`` and its
        DSR record, and the CPCV record, replacing any older one."""
        values = dict(experiment_id=int(exp_id), n_runs=int(n_runs), runs=runs,
                      pbo=None if pbo is None else _plain(pbo), pbo_logits=_blob(pbo_logits),
                      best_run=None if best_run is None else int(best_run),
                      best_returns=None if best_run is None else _blob(best_returns),
                      cpcv=None if cpcv is None else _plain(cpcv),
                      dsr=None if best_run is None or dsr is None else _plain(dsr))
        with self.engine.begin() as conn:
            conn.execute(delete(_SNAP).where(_SNAP.c.experiment_id == int(exp_id)))
            conn.execute(insert(_SNAP).values(**values))

    def load_snapshot(self, exp_id: int) -> Snapshot | None:
        """What ``save_snapshot`` kept, or None when there is none or the stored runs changed
        since (their count, as the experiment's counters keep it, differs)."""
        import io

        import pandas as pd

        e = _EXP.c  # the counters, not a count(*) over the runs: 160,000 runs take 10 ms
        count = select(e.done_runs + e.failed_runs).where(e.id == int(exp_id)).scalar_subquery()
        stmt = select(_SNAP.c.n_runs, count, _SNAP.c.runs, _SNAP.c.pbo, _SNAP.c.pbo_logits,
                      _SNAP.c.best_run, _SNAP.c.best_returns, _SNAP.c.cpcv, _SNAP.c.dsr
                      ).where(_SNAP.c.experiment_id == int(exp_id))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None or row[0] != row[1]:
            return None
        return Snapshot(pd.read_parquet(io.BytesIO(row[2])), row[3], _array(row[4]), row[5],
                        _array(row[6]), row[7], row[8])

    # -- walk-forwards -----------------------------------------------------------------

    def save_walk_forward(self, name: str, settings: dict, result: dict | None) -> int:
        """Insert or replace walk-forward ``name``'s settings and result; returns its ID."""
        with self.engine.begin() as conn:
            row = conn.execute(select(_WF.c.id).where(_WF.c.name == name)).first()
            if row is None:
                return int(conn.execute(insert(_WF).values(
                    name=name, created_at=_now(), settings=_plain(settings),
                    result=_plain(result))).inserted_primary_key[0])
            conn.execute(update(_WF).where(_WF.c.id == row[0]).values(
                settings=_plain(settings), result=_plain(result)))
            return int(row[0])

    def walk_forward_settings(self, name: str) -> dict | None:
        """The settings of walk-forward ``name``, or None when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_WF.c.settings).where(_WF.c.name == name)).first()
        return None if row is None else row[0]

    def walk_forward(self, wf_id: int) -> dict:
        """Walk-forward ``wf_id`` as {id, name, created_at (UTC text), settings, result}; an
        unfinished one (no result yet) is an ``InputError`` saying how to finish it."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_WF).where(_WF.c.id == int(wf_id))).mappings().first()
            if row is None:
                names = conn.execute(select(_WF.c.id, _WF.c.name).order_by(_WF.c.id.desc())
                                     .limit(5)).all()
        if row is None:
            listing = ", ".join(f"{i} ({n})" for i, n in names) or "none yet"
            raise InputError(f"no walk-forward with ID {wf_id} in {self.url}; recent "
                             f"walk-forwards: {listing}")
        record = dict(row)
        if record["result"] is None:
            command = record["settings"].get("command") or "the walk-forward command"
            raise InputError(f"walk-forward {wf_id} ({record['name']}) has not finished: run "
                             f"`{command}` again to complete it")
        if record["created_at"] is not None:
            record["created_at"] = f"{record['created_at']:%Y-%m-%d %H:%M:%S}"
        return record

class Snapshot(NamedTuple):
    """A finished experiment's snapshot (``ExperimentStore.load_snapshot``)."""

    runs: pd.DataFrame
    pbo: dict | None  # PBOResult fields but the logits, or {"notes": [...]}
    pbo_logits: np.ndarray | None
    best_run: int | None  # the run whose test returns are kept
    best_returns: np.ndarray | None
    cpcv: dict | None  # app.experiments.cpcv_search.cpcv_record of a --cv cpcv search
    dsr: dict | None  # best_run's DSR (app.experiments.show.dsr_record)


def _blob(values: np.ndarray | None) -> bytes | None:
    import numpy as np
    return None if values is None else np.ascontiguousarray(values, "<f8").tobytes()


def _array(blob: bytes | None) -> np.ndarray | None:
    import numpy as np
    return None if blob is None else np.frombuffer(blob, "<f8").astype(np.float64)


def runs_frame_of(batches: list[RunBatch]) -> tuple[pd.DataFrame, np.ndarray]:
    """What ``runs_frame`` and ``block_stats`` return once ``batches`` (every run of an
    experiment) are stored, without reading them back: the same values, types and order."""
    import numpy as np
    numbers = np.concatenate([np.asarray(b.run_numbers, np.int64).reshape(-1) for b in batches])
    in_order = bool(np.all(numbers[1:] > numbers[:-1]))
    order = slice(None) if in_order else np.argsort(numbers, kind="stable")
    k = len(METRIC_KEYS)
    metrics = np.concatenate([np.concatenate([np.asarray(b.train, np.float64).reshape(-1, k),
                                              np.asarray(b.test, np.float64).reshape(-1, k)],
                                             axis=1) for b in batches])[order]
    metrics[~np.isfinite(metrics)] = np.nan  # stored as NULL
    metrics[:, _INT_METRICS] = np.rint(metrics[:, _INT_METRICS])
    params = [p for b in batches for p in b.params]
    status = [s for b in batches for s in b.status]
    errors = [e for b in batches for e in b.errors]
    if not in_order:
        picked = order.tolist()
        params = [params[i] for i in picked]
        status = [status[i] for i in picked]
        errors = [errors[i] for i in picked]
    data = {"run_number": numbers[order], "status": status, "error": errors, "params": params}
    data |= {c: metrics[:, j] for j, c in enumerate(_METRIC_COLUMNS)}
    runs = _build_frame(data)
    if any(b.blocks is None for b in batches):
        return runs, np.empty((0, 0, BLOCK_FIELDS))
    blocks = np.concatenate([np.asarray(b.blocks, np.float64) for b in batches])[order]
    done = runs["status"].to_numpy() == "done"
    return runs, (blocks if done.all() else blocks[done])


def _grown(values: np.ndarray, size: int) -> np.ndarray:
    import numpy as np
    more = np.empty((max(size, 2 * len(values)), *values.shape[1:]), dtype=values.dtype)
    more[:len(values)] = values
    return more


def _rows_columns(rows: list, nested: bool | None = None) -> dict[str, pd.Series]:
    """``_build_columns`` of rows read in ``_FRAME_COLUMNS`` order (params as JSON text)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_FRAME_COLUMNS)
    data = dict(zip(_FRAME_COLUMNS, columns, strict=True))
    data["params"] = json.loads("[" + ",".join(data["params"]) + "]")  # in one call
    return _build_columns(data, nested)


def _build_frame(data: dict) -> pd.DataFrame:
    """The ``runs_frame`` layout from its columns (``_FRAME_COLUMNS``; params as the plain
    mappings that are stored as JSON)."""
    import pandas as pd

    return pd.DataFrame(_build_columns(data))


def _build_columns(data: dict, nested: bool | None = None) -> dict[str, pd.Series]:
    """The ``runs_frame`` columns, by name in frame order (``nested``: see ``_params_frame``)."""
    import numpy as np
    import pandas as pd

    params = _params_frame(data["params"], nested)
    return {"run_number": pd.Series(np.array(data["run_number"], dtype=np.int64)),
            "status": pd.Series(list(data["status"])), "error": pd.Series(list(data["error"])),
            **{c: params[c] for c in params.columns},
            **{c: pd.Series(np.array(data[c], dtype=np.float64))  # None -> NaN
               for c in _METRIC_COLUMNS}}


def lease_owner() -> str:
    """This process as a lease owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is(owner: str | None) -> Any:
    return _EXP.c.owner.is_(None) if owner is None else _EXP.c.owner == owner


def _holder_alive(info: ExperimentInfo) -> bool:
    """Is the process holding ``info``'s lease still running? On this host: its pid exists;
    elsewhere: it sent a heartbeat within ``LEASE_TIMEOUT`` seconds."""
    if info.status != "running" or not info.owner:
        return False
    host, _, pid = info.owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, OverflowError):
            return True
        return True
    beat = info.heartbeat_at
    return beat is not None and (_now() - beat).total_seconds() < LEASE_TIMEOUT


def _refuse_if_running(info: ExperimentInfo) -> None:
    if _holder_alive(info):
        host, _, pid = (info.owner or "").rpartition(":")
        ago = ("" if info.heartbeat_at is None else
               f", last heartbeat {(_now() - info.heartbeat_at).total_seconds():.0f}s ago")
        raise InputError(f"experiment '{info.name}' (ID: {info.id}) is being run by another "
                         f"process (pid {pid} on {host}{ago}): wait for it to finish, or stop "
                         "it and run this command again to resume")


def _check_status(status: str, allowed: tuple[str, ...]) -> None:
    if status not in allowed:
        raise ValueError(f"status must be one of {allowed}, not {status!r}")


def _params_frame(params: list[dict], nested: bool | None = None) -> pd.DataFrame:
    """One column per parameter; nested mappings flatten to dotted paths when ``nested``
    (by default: when the first run has one)."""
    import pandas as pd

    if not params:
        return pd.DataFrame()
    if _is_nested(params[0]) if nested is None else nested:
        return pd.json_normalize(params, sep=".")
    return pd.DataFrame(params)


def _is_nested(params: dict) -> bool:
    return any(isinstance(v, dict) for v in params.values())


def _batch_rows(exp_id: int, batch: RunBatch, *, nan_as_null: bool = False) -> list[tuple]:
    """DBAPI parameter tuples in ``_INSERT_COLUMNS`` order, NaN/inf as None. With
    ``nan_as_null`` (SQLite, which stores a bound NaN as NULL and an integral float in an
    INTEGER column as an integer) the metrics go as floats, NaN for NULL: no per-value work."""
    import numpy as np
    numbers = np.asarray(batch.run_numbers, dtype=np.int64).reshape(-1)
    n, k = len(numbers), len(METRIC_KEYS)
    if not (len(batch.params) == len(batch.status) == len(batch.errors) == n):
        raise ValueError("RunBatch: run_numbers, params, status and errors differ in length")
    bad = set(batch.status) - set(RUN_STATUSES)
    if bad:
        raise ValueError(f"RunBatch: run status must be done or failed, not {sorted(bad)}")
    if n == 0:
        return []
    metrics = np.concatenate([np.asarray(batch.train, np.float64).reshape(n, k),
                              np.asarray(batch.test, np.float64).reshape(n, k)], axis=1)
    metrics = np.where(np.isfinite(metrics), metrics, np.nan)
    metrics[:, _INT_METRICS] = np.rint(metrics[:, _INT_METRICS])
    if nan_as_null:
        columns: list = metrics.T.tolist()
    else:
        columns = [[None if v != v else int(v) if j in _INT_METRICS else v for v in column]
                   for j, column in enumerate(metrics.T.tolist())]
    blobs: list[bytes | None] = [None] * n
    if batch.blocks is not None:
        blocks = np.ascontiguousarray(batch.blocks, dtype="<f8")
        if blocks.ndim != 3 or blocks.shape[0] != n or blocks.shape[2] != BLOCK_FIELDS:
            raise ValueError(f"RunBatch: blocks must be (n, n_blocks, 3), not {blocks.shape}")
        raw, size = blocks.tobytes(), blocks.shape[1] * BLOCK_FIELDS * 8
        blobs = [raw[i:i + size] for i in range(0, n * size, size)]
        for i, status in enumerate(batch.status):
            if status == "failed":
                blobs[i] = None
    return list(zip(repeat(exp_id, n), numbers.tolist(), _encode_params(batch.params),
                    batch.status, batch.errors, *columns, blobs, strict=True))


def _counted(exp_id: int, batch: RunBatch) -> Any:
    """The experiment's run counters and best test Sharpe after ``batch``: an UPDATE for the
    transaction that stores it."""
    import numpy as np
    done = np.asarray(batch.status) == "done"
    sharpe = np.asarray(batch.test, np.float64).reshape(len(done), -1)[:, _SHARPE][done]
    sharpe = sharpe[np.isfinite(sharpe)]
    e = _EXP.c
    values = {"done_runs": e.done_runs + int(done.sum()),
              "failed_runs": e.failed_runs + int((~done).sum())}
    if len(sharpe):
        best = float(sharpe.max())
        values["best_test_sharpe"] = case((e.best_test_sharpe.is_(None), best),
                                          (e.best_test_sharpe < best, best),
                                          else_=e.best_test_sharpe)
    return update(_EXP).where(e.id == exp_id).values(**values)


def _encode_params(params: list[dict]) -> list[str]:
    dumps = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode
    return list(map(dumps, params))
