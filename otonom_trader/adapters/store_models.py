"""The experiment store's plain records (what callers get) and its SQLAlchemy models
(the ``experiments`` and ``experiment_runs`` tables). The tables are made and changed only by
the Alembic revisions in ``migrations/``; a test checks they match these models.

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
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from otonom_trader.domain.metrics import METRIC_KEYS

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


# -- ORM models ------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    strategy_path: Mapped[str] = mapped_column(Text)
    strategy_hash: Mapped[str] = mapped_column(String(128))
    strategy_name: Mapped[str] = mapped_column(String(200))
    grid: Mapped[Any] = mapped_column(JSON)
    split: Mapped[Any] = mapped_column(JSON)  # train_start, train_end, test_start, test_end
    search: Mapped[Any] = mapped_column(JSON)  # kind, n_iter, seed
    symbol: Mapped[str] = mapped_column(String(100))
    data_fingerprint: Mapped[str] = mapped_column(String(128))
    periods_per_year: Mapped[float] = mapped_column(Float)
    git_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    git_dirty: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    total_runs: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    elapsed_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # summed over sessions
    command: Mapped[str] = mapped_column(Text, default="")
    initial_capital: Mapped[float] = mapped_column(Float, server_default=text("10000.0"))
    schema_version: Mapped[str] = mapped_column(String(32), server_default="0001")
    owner: Mapped[str | None] = mapped_column(String(300), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    outputs: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    # Kept by the transaction that stores each batch of runs: `experiments list` reads these.
    done_runs: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    failed_runs: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    best_test_sharpe: Mapped[float | None] = mapped_column(Float, nullable=True)


class ExperimentRun(Base):
    __tablename__ = "experiment_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed by the leading column of the unique (experiment_id, run_number) index.
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    run_number: Mapped[int] = mapped_column(Integer)
    params: Mapped[str] = mapped_column(Text)  # JSON object text: dotted path -> value
    status: Mapped[str] = mapped_column(String(10))  # done | failed (pending = no row)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    train_total_return_pct: Mapped[float | None] = mapped_column(Float)
    train_cagr_pct: Mapped[float | None] = mapped_column(Float)
    train_sharpe: Mapped[float | None] = mapped_column(Float)
    train_sortino: Mapped[float | None] = mapped_column(Float)
    train_max_drawdown_pct: Mapped[float | None] = mapped_column(Float)
    train_calmar: Mapped[float | None] = mapped_column(Float)
    train_win_rate_pct: Mapped[float | None] = mapped_column(Float)
    train_profit_factor: Mapped[float | None] = mapped_column(Float)
    train_exposure_pct: Mapped[float | None] = mapped_column(Float)
    train_n_trades: Mapped[int | None] = mapped_column(Integer)
    train_final_equity: Mapped[float | None] = mapped_column(Float)

    test_total_return_pct: Mapped[float | None] = mapped_column(Float)
    test_cagr_pct: Mapped[float | None] = mapped_column(Float)
    test_sharpe: Mapped[float | None] = mapped_column(Float)
    test_sortino: Mapped[float | None] = mapped_column(Float)
    test_max_drawdown_pct: Mapped[float | None] = mapped_column(Float)
    test_calmar: Mapped[float | None] = mapped_column(Float)
    test_win_rate_pct: Mapped[float | None] = mapped_column(Float)
    test_profit_factor: Mapped[float | None] = mapped_column(Float)
    test_exposure_pct: Mapped[float | None] = mapped_column(Float)
    test_n_trades: Mapped[int | None] = mapped_column(Integer)
    test_final_equity: Mapped[float | None] = mapped_column(Float)

    block_stats: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    __table_args__ = (
        UniqueConstraint("experiment_id", "run_number", name="uq_run_experiment_number"),
        # No secondary index: each would cost a pass over the table after a load, and every
        # read is by experiment (this index) or from the experiment's own counters.
    )


class ExperimentSnapshot(Base):
    """A finished experiment's runs as Parquet (``runs_frame`` layout) and its PBO, so
    ``experiments show`` need not read every run; valid while ``n_runs`` rows are stored."""

    __tablename__ = "experiment_snapshots"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True)
    n_runs: Mapped[int] = mapped_column(Integer)
    runs: Mapped[bytes] = mapped_column(LargeBinary)
    pbo: Mapped[Any | None] = mapped_column(JSON, nullable=True)  # PBOResult fields, or a note
    pbo_logits: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float64
    # The selected run's test-window returns when the snapshot was written (float64), so
    # ``show`` computes its DSR without re-running it; for run ``best_run`` only.
    best_run: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_returns: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    cpcv: Mapped[Any | None] = mapped_column(JSON, nullable=True)  # a --cv cpcv search's CPCV


TRAIN_COLUMNS = tuple(f"train_{m}" for m in METRIC_KEYS)
TEST_COLUMNS = tuple(f"test_{m}" for m in METRIC_KEYS)
_missing = set(TRAIN_COLUMNS + TEST_COLUMNS) - set(ExperimentRun.__table__.columns.keys())
if _missing:  # METRIC_KEYS grew: add the columns above and a revision in migrations/versions
    raise RuntimeError(f"experiment_runs lacks metric columns {sorted(_missing)}")


class WalkForward(Base):
    """A walk-forward: its settings (windows, selection rule, grid) and its result (the
    folds with their experiment IDs, selections and test metrics; the stitched out-of-sample
    figures). Each fold's search is an ordinary experiment."""

    __tablename__ = "walk_forwards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    settings: Mapped[Any] = mapped_column(JSON)
    result: Mapped[Any | None] = mapped_column(JSON, nullable=True)
