"""The experiment store's plain records (what callers get) and its tables (SQLAlchemy Core:
``experiments``, ``experiment_runs``, ``experiment_snapshots``, ``walk_forwards``), made and
changed only by the Alembic revisions in ``migrations/``; a test checks they match.

A run's status is ``done`` or ``failed``. A *pending* run has no row at all: an experiment's
runs are numbered ``0 .. total_runs-1`` and rows are written in batches as runs finish, so
resuming means evaluating the run numbers that have no row yet.

Metrics are stored in public form (``otonom_trader.domain.metrics.METRIC_KEYS``) as
``train_<m>``/``test_<m>`` columns; NaN and infinities are stored as NULL. ``block_stats``
holds the per-block sufficient statistics (count, sum, sum of squares of per-bar returns)
of a run's returns as raw little-endian float64 bytes, shape (n_blocks, 3) row-major.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from otonom_trader.domain.metrics import METRIC_KEYS

if TYPE_CHECKING:  # numpy loads where runs are built: `experiments list` needs none
    import numpy as np

EXPERIMENT_STATUSES = ("running", "interrupted", "done", "failed")
RUN_STATUSES = ("done", "failed")


# -- plain records handed to callers ---------------------------------------------------


@dataclass(frozen=True)
class ExperimentInfo:
    id: int
    name: str
    strategy_path: str
    strategy_hash: str
    strategy_name: str
    grid: Any
    split: dict
    search: dict
    symbol: str
    data_fingerprint: str
    periods_per_year: float
    git_commit: str | None  # HEAD of the strategy file's repository when the search started
    git_dirty: bool | None  # ... with uncommitted changes (None: unknown)
    status: str
    total_runs: int
    created_at: datetime | None  # None in a store snapshot (no session data)
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_seconds: float  # summed over every session, killed ones up to their last batch
    command: str
    initial_capital: float
    schema_version: str  # the store schema the experiment was created with
    owner: str | None  # "host:pid" of the process running it (status running)
    heartbeat_at: datetime | None
    outputs: dict | None  # output file name -> sha256 of what was last written


@dataclass(frozen=True)
class ExperimentSummary:
    id: int
    name: str
    strategy_name: str
    status: str
    done: int
    failed: int
    total_runs: int
    best_test_sharpe: float | None  # None while no done run has a finite test Sharpe
    created_at: datetime | None


@dataclass
class RunBatch:
    """Finished runs to store. ``train``/``test`` are (n, 11) in ``METRIC_KEYS`` order;
    ``blocks`` is (n, n_blocks, 3) float64 or None (always dropped for failed runs)."""

    run_numbers: np.ndarray
    params: list[dict]
    status: list[str]
    errors: list[str | None]
    train: np.ndarray
    test: np.ndarray
    blocks: np.ndarray | None = None


# -- tables (SQLAlchemy Core) ------------------------------------------------------------

METADATA = MetaData()


EXPERIMENTS = Table(
    "experiments", METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), unique=True, nullable=False),
    Column("strategy_path", Text, nullable=False),
    Column("strategy_hash", String(128), nullable=False),
    Column("strategy_name", String(200), nullable=False),
    Column("grid", JSON, nullable=False),
    Column("split", JSON, nullable=False),  # train_start, train_end, test_start, test_end
    Column("search", JSON, nullable=False),  # kind, n_iter, seed
    Column("symbol", String(100), nullable=False),
    Column("data_fingerprint", String(128), nullable=False),
    Column("periods_per_year", Float, nullable=False),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("status", String(20), default="running", nullable=False),
    Column("total_runs", Integer, nullable=False),
    Column("created_at", DateTime, nullable=True),
    Column("started_at", DateTime, nullable=True),
    Column("finished_at", DateTime, nullable=True),
    Column("elapsed_seconds", Float, default=0.0, nullable=False),  # summed over sessions
    Column("command", Text, default="", nullable=False),
    Column("initial_capital", Float, server_default=text("10000.0"), nullable=False),
    Column("schema_version", String(32), server_default="0001", nullable=False),
    Column("owner", String(300), nullable=True),
    Column("heartbeat_at", DateTime, nullable=True),
    Column("outputs", JSON, nullable=True),
    # Kept by the transaction that stores each batch of runs: `experiments list` reads these.
    Column("done_runs", Integer, server_default=text("0"), nullable=False),
    Column("failed_runs", Integer, server_default=text("0"), nullable=False),
    Column("best_test_sharpe", Float, nullable=True),
)

RUNS = Table(
    "experiment_runs", METADATA,
    Column("id", Integer, primary_key=True),
    # Indexed by the leading column of the unique (experiment_id, run_number) index.
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"),
           nullable=False),
    Column("run_number", Integer, nullable=False),
    Column("params", Text, nullable=False),  # JSON object text: dotted path -> value
    Column("status", String(10), nullable=False),  # done | failed (pending = no row)
    Column("error", Text, nullable=True),
    Column("train_total_return_pct", Float, nullable=True),
    Column("train_cagr_pct", Float, nullable=True),
    Column("train_sharpe", Float, nullable=True),
    Column("train_sortino", Float, nullable=True),
    Column("train_max_drawdown_pct", Float, nullable=True),
    Column("train_calmar", Float, nullable=True),
    Column("train_win_rate_pct", Float, nullable=True),
    Column("train_profit_factor", Float, nullable=True),
    Column("train_exposure_pct", Float, nullable=True),
    Column("train_n_trades", Integer, nullable=True),
    Column("train_final_equity", Float, nullable=True),
    Column("test_total_return_pct", Float, nullable=True),
    Column("test_cagr_pct", Float, nullable=True),
    Column("test_sharpe", Float, nullable=True),
    Column("test_sortino", Float, nullable=True),
    Column("test_max_drawdown_pct", Float, nullable=True),
    Column("test_calmar", Float, nullable=True),
    Column("test_win_rate_pct", Float, nullable=True),
    Column("test_profit_factor", Float, nullable=True),
    Column("test_exposure_pct", Float, nullable=True),
    Column("test_n_trades", Integer, nullable=True),
    Column("test_final_equity", Float, nullable=True),
    Column("block_stats", LargeBinary, nullable=True),
    UniqueConstraint("experiment_id", "run_number", name="uq_run_experiment_number"),
    # No secondary index: each would cost a pass over the table after a load, and every
    # read is by experiment (this index) or from the experiment's own counters.
)

# A finished experiment's runs as Parquet (``runs_frame`` layout) and its PBO, so
# ``experiments show`` need not read every run; valid while ``n_runs`` rows are stored.
SNAPSHOTS = Table(
    "experiment_snapshots", METADATA,
    Column("experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"),
           primary_key=True),
    Column("n_runs", Integer, nullable=False),
    Column("runs", LargeBinary, nullable=False),
    Column("pbo", JSON, nullable=True),  # PBOResult fields, or a note
    Column("pbo_logits", LargeBinary, nullable=True),  # float64
    # The selected run's test-window returns when the snapshot was written (float64), so
    # ``show`` computes its DSR without re-running it; for run ``best_run`` only.
    Column("best_run", Integer, nullable=True),
    Column("best_returns", LargeBinary, nullable=True),
    Column("cpcv", JSON, nullable=True),  # a --cv cpcv search's CPCV
    # ``best_run``'s DSR as the search recorded it (DSRResult fields, sharpe_variance).
    Column("dsr", JSON, nullable=True),
)

TRAIN_COLUMNS = tuple(f"train_{m}" for m in METRIC_KEYS)
TEST_COLUMNS = tuple(f"test_{m}" for m in METRIC_KEYS)
_missing = set(TRAIN_COLUMNS + TEST_COLUMNS) - set(RUNS.columns.keys())
if _missing:  # METRIC_KEYS grew: add the columns above and a revision in migrations/versions
    raise RuntimeError(f"experiment_runs lacks metric columns {sorted(_missing)}")


# A walk-forward: its settings (windows, selection rule, grid) and its result (the folds with
# their experiment IDs, selections and test metrics; the stitched out-of-sample figures).
# Each fold's search is an ordinary experiment.
WALK_FORWARDS = Table(
    "walk_forwards", METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), unique=True, nullable=False),
    Column("created_at", DateTime, nullable=True),
    Column("settings", JSON, nullable=False),
    Column("result", JSON, nullable=True),
)
