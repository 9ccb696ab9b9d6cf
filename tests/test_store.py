"""The experiment store on throwaway SQLite files and PostgreSQL databases (``any_db``)."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect

from otonom_trader.adapters.store import ExperimentStore, RunBatch
from otonom_trader.domain.errors import InputError, RunError
from otonom_trader.domain.metrics import METRIC_KEYS

K = len(METRIC_KEYS)
SHARPE = METRIC_KEYS.index("sharpe")


@pytest.fixture
def db_url(any_db):
    return any_db


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'experiments.db'}"


def raw_rows(store: ExperimentStore, sql: str) -> list[tuple]:
    """Rows as the database holds them, by plain SQL on the store's own engine."""
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(sql).all()]


def is_pg(store: ExperimentStore) -> bool:
    return store.engine.dialect.name == "postgresql"


@pytest.fixture
def store(db_url):
    with ExperimentStore(db_url) as s:
        yield s


def create(store: ExperimentStore, name: str = "exp", **over) -> int:
    fields = dict(
        name=name, strategy_path="strategies/baseline_v1.yaml", strategy_hash="abc123",
        strategy_name="baseline", grid={"risk.risk_pct": [0.5, 1.0]},
        split={"train_start": "2001-01-01", "train_end": "2010-12-31",
               "test_start": "2011-01-01", "test_end": "2015-12-31"},
        search={"kind": "grid", "n_iter": None, "seed": None}, symbol="SPX",
        data_fingerprint="fp", periods_per_year=252, total_runs=10,
        command="otonom experiments grid-search ...", initial_capital=10_000.0,
    )
    fields.update(over)
    return store.create_experiment(**fields)


def batch(numbers, status=None, sharpe=None, blocks=True) -> RunBatch:
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    status = status or ["done"] * n
    train = np.arange(n * K, dtype=float).reshape(n, K)
    test = train + 0.5
    if sharpe is not None:
        test[:, SHARPE] = sharpe
    return RunBatch(
        run_numbers=numbers,
        params=[{"risk.risk_pct": 0.5 + int(r), "analysts.tech.fast": int(r)} for r in numbers],
        status=status,
        errors=[None if s == "done" else f"boom {r}" for s, r in zip(status, numbers, strict=True)],
        train=train, test=test,
        blocks=np.random.default_rng(0).normal(size=(n, 16, 3)) if blocks else None,
    )


def test_create_get_and_list(store):
    first = create(store, "first")
    second = create(store, "second", git_commit="deadbeef", git_dirty=True, total_runs=3)
    info = store.get(second)
    assert (info.id, info.name, info.git_commit, info.git_dirty, info.status,
            info.total_runs) == (second, "second", "deadbeef", True, "running", 3)
    assert store.get(first).git_dirty is None  # unknown
    assert info.split["test_start"] == "2011-01-01" and info.grid == {"risk.risk_pct": [0.5, 1.0]}
    assert info.elapsed_seconds == 0.0 and info.created_at is not None
    assert store.find_by_name("first").id == first and store.find_by_name("nope") is None

    store.write_runs(first, batch([0, 1, 2], status=["done", "failed", "done"],
                                  sharpe=[1.0, 9.0, 2.0]))
    summaries = store.list_experiments()
    assert [s.id for s in summaries] == [second, first]
    assert (summaries[1].done, summaries[1].failed, summaries[1].best_test_sharpe) == (2, 1, 2.0)
    assert (summaries[0].done, summaries[0].failed, summaries[0].best_test_sharpe) == (0, 0, None)
    assert [s.id for s in store.list_experiments(limit=1)] == [second]


def test_set_status_accumulates_elapsed_time(store):
    exp = create(store)
    store.set_status(exp, "interrupted", elapsed_seconds_delta=1.5)
    assert store.get(exp).finished_at is not None
    store.set_status(exp, "running")
    assert store.get(exp).finished_at is None
    store.set_status(exp, "done", elapsed_seconds_delta=2.0)
    info = store.get(exp)
    assert (info.status, info.elapsed_seconds) == ("done", 3.5)
    with pytest.raises(InputError, match="no experiment with ID 99"):
        store.set_status(99, "done")


def test_duplicate_name_says_how_to_resume(store):
    exp = create(store, "sweep")
    with pytest.raises(InputError) as err:
        create(store, "sweep")
    assert str(err.value) == (f"experiment 'sweep' already exists (ID: {exp}): "
                              f"resume it with --resume {exp} or choose another --name")


def test_unknown_id_lists_recent_experiments(store):
    with pytest.raises(InputError, match="recent experiments: none yet"):
        store.get(1)
    a, b = create(store, "alpha"), create(store, "beta")
    with pytest.raises(InputError) as err:
        store.get(42)
    message = str(err.value)
    assert "no experiment with ID 42" in message and "\n" not in message
    assert f"{b} (beta), {a} (alpha)" in message


def test_batches_and_done_run_numbers(store):
    exp = create(store)
    assert store.done_run_numbers(exp).tolist() == []
    store.write_runs(exp, batch([3, 0, 1]))
    store.write_runs(exp, batch([7, 5], status=["failed", "done"]))
    store.write_runs(exp, batch([]))
    done = store.done_run_numbers(exp)
    assert done.dtype == np.int64 and done.tolist() == [0, 1, 3, 5, 7]
    assert store.done_run_numbers(exp + 1).tolist() == []


def test_a_batch_is_stored_whole_or_not_at_all(store):
    exp = create(store)
    store.write_runs(exp, batch([0, 1, 2]))
    with pytest.raises(RunError, match="batch of 4 runs was not stored"):
        store.write_runs(exp, batch([3, 4, 4, 5]))  # duplicate inside the batch, after 3 rows
    with pytest.raises(RunError, match="unique constraint" if is_pg(store) else "UNIQUE"):
        store.write_runs(exp, batch([6, 2]))  # run 2 is already stored
    assert store.done_run_numbers(exp).tolist() == [0, 1, 2]
    with pytest.raises(RunError):
        store.write_runs(exp + 1, batch([0]))  # no such experiment: foreign key
    store.write_runs(exp, batch([3, 4, 5]))
    assert store.done_run_numbers(exp).tolist() == [0, 1, 2, 3, 4, 5]


def test_nan_and_inf_are_null_in_the_database_and_nan_when_read(store):
    exp = create(store)
    runs = batch([0, 1], sharpe=[math.nan, math.inf])
    runs.train[:, METRIC_KEYS.index("n_trades")] = [math.nan, 7.0]
    runs.test[:, METRIC_KEYS.index("n_trades")] = [3.0, 4.0]
    store.write_runs(exp, runs)
    stored = raw_rows(store, "SELECT test_sharpe, train_n_trades, test_n_trades "
                             "FROM experiment_runs ORDER BY run_number")
    assert stored == [(None, None, 3), (None, 7, 4)]
    frame = store.runs_frame(exp)
    assert frame["test_sharpe"].isna().all()
    assert np.isnan(frame.loc[0, "train_n_trades"]) and frame.loc[1, "train_n_trades"] == 7


def test_runs_frame_columns_and_values(store):
    exp = create(store)
    store.write_runs(exp, batch([1, 0], status=["failed", "done"]))
    frame = store.runs_frame(exp)
    expected = (["run_number", "status", "error", "risk.risk_pct", "analysts.tech.fast"]
                + [f"train_{m}" for m in METRIC_KEYS] + [f"test_{m}" for m in METRIC_KEYS])
    assert list(frame.columns) == expected
    assert frame["run_number"].tolist() == [0, 1]
    assert frame["status"].tolist() == ["done", "failed"]
    assert frame.loc[1, "error"] == "boom 1" and frame.loc[1, "risk.risk_pct"] == 1.5
    assert frame["test_sharpe"].dtype == np.float64
    assert frame.loc[0, "train_total_return_pct"] == K  # row 1 of the batch: arange values
    empty = store.runs_frame(exp + 1)
    assert len(empty) == 0 and "test_sharpe" in empty.columns


def test_top_runs_best_first_nan_last_done_only(store):
    exp = create(store)
    store.write_runs(exp, batch([0, 1, 2, 3, 4, 5],
                                status=["done", "done", "failed", "done", "done", "done"],
                                sharpe=[1.0, math.nan, 99.0, 3.0, 2.0, 3.0]))
    top = store.top_runs(exp, "sharpe", n=10)
    assert top["run_number"].tolist() == [3, 5, 4, 0, 1]
    assert top["test_sharpe"].iloc[-1] != top["test_sharpe"].iloc[-1]  # NaN
    assert store.top_runs(exp, n=2)["run_number"].tolist() == [3, 5]
    best_train = store.top_runs(exp, "total_return_pct", n=1, window="train")
    assert best_train["run_number"].tolist() == [5]
    with pytest.raises(InputError, match="unknown metric 'alpha'"):
        store.top_runs(exp, "alpha")
    with pytest.raises(InputError, match="unknown window"):
        store.top_runs(exp, window="both")


def test_block_stats_round_trip(store):
    exp = create(store)
    runs = batch([2, 0, 1], status=["done", "failed", "done"])
    store.write_runs(exp, runs)
    store.write_runs(exp, batch([3], blocks=False))
    numbers, blocks = store.block_stats(exp)
    assert numbers.tolist() == [1, 2] and blocks.shape == (2, 16, 3)
    assert np.array_equal(blocks[0], runs.blocks[2]) and np.array_equal(blocks[1], runs.blocks[0])
    blobs = dict(raw_rows(store, "SELECT run_number, block_stats FROM experiment_runs"))
    assert bytes(blobs[2]) == runs.blocks[0].astype("<f8").tobytes()  # raw little-endian float64
    assert blobs[0] is None and blobs[3] is None  # failed run; batch without blocks
    assert store.block_stats(exp + 1)[1].shape == (0, 0, 3)


def test_sqlite_settings_and_test_metric_indexes(sqlite_url):
    with ExperimentStore(sqlite_url) as store:
        _check_settings_and_indexes(store)


def _check_settings_and_indexes(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    # no secondary index on the runs: each would cost a pass over the table after a load
    assert inspect(store.engine).get_indexes("experiment_runs") == []
    exp = create(store)
    store.write_runs(exp, batch(range(50), sharpe=np.r_[np.nan, np.linspace(-1, 1, 49)]))
    assert store.top_runs(exp, "sharpe", n=3)["run_number"].tolist() == [49, 48, 47]
    assert store.top_runs(exp, "sharpe", n=50)["run_number"].tolist()[-1] == 0  # NaN last


def test_otonom_db_environment_variable(tmp_path, monkeypatch):
    target = tmp_path / "from_env.db"
    monkeypatch.setenv("OTONOM_DB", f"sqlite:///{target}")
    with ExperimentStore() as s:
        create(s)
    assert target.exists()
    monkeypatch.delenv("OTONOM_DB")
    monkeypatch.chdir(tmp_path)
    with ExperimentStore() as s:
        assert s.list_experiments() == []
    assert (tmp_path / ".otonom" / "experiments.db").exists()


def one_line_input_error(url: str) -> str:
    with pytest.raises(InputError) as err:
        ExperimentStore(url)
    message = str(err.value)
    assert "\n" not in message and "--db" in message
    return message


def test_unreachable_store_is_a_one_line_input_error():
    message = one_line_input_error("sqlite:////nonexistent/dir/x.db")
    assert message.startswith("cannot open experiment store sqlite:////nonexistent/dir/x.db")
    message = one_line_input_error("postgresql://otonom:s3cret@127.0.0.1:1/experiments")
    assert "s3cret" not in message and "***" in message


def test_read_only_store_is_a_one_line_input_error(tmp_path, sqlite_url):
    ExperimentStore(sqlite_url).close()  # an existing store, opened read-only below
    path = tmp_path / "experiments.db"
    message = one_line_input_error(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert "is read-only" in message and str(path) in message


def test_store_in_a_read_only_directory(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: a read-only directory is still writable")
        message = one_line_input_error(f"sqlite:///{folder / 'x.db'}")
        assert str(folder) in message
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize(("order", "read_rows"), [("in order", 65_536),
                                                  ("shuffled batches", 65_536),
                                                  ("in order", 4), ("shuffled batches", 5)])
def test_runs_in_memory_equal_the_runs_read_back(store, order, read_rows, monkeypatch):
    """The grid search builds its outputs from the runs it just wrote, without reading them
    back: the frame and block statistics must be exactly what the store returns, read in
    one part or in several."""
    from otonom_trader.adapters import store as store_module
    from otonom_trader.adapters.store import runs_frame_of

    monkeypatch.setattr(store_module, "READ_ROWS", read_rows)

    exp = create(store, total_runs=12)
    first = batch(range(0, 6), status=["done", "failed"] * 3,
                  sharpe=[np.inf, np.nan, -np.inf, 1.25, 0.1, 3.0])
    first.train[:, METRIC_KEYS.index("n_trades")] = [3, 0, 7, np.nan, 2, np.inf]
    second = batch(range(6, 12), sharpe=[0.5, np.nan, 2.0, -1.0, 0.0, 1e-300])
    batches = [first, second] if order == "in order" else [second, first]
    for b in batches:
        store.write_runs(exp, b)
    runs, blocks = runs_frame_of(batches)
    stored = store.runs_frame(exp)
    numbers, stored_blocks = store.block_stats(exp)
    pd.testing.assert_frame_equal(runs, stored)
    assert np.array_equal(blocks, stored_blocks)
    assert numbers.tolist() == [0, 2, 4, *range(6, 12)]
    with store.engine.begin() as conn:  # counters behind the rows: the array grows
        conn.exec_driver_sql(f"UPDATE experiments SET done_runs = 1 WHERE id = {exp}")
    numbers, stored_blocks = store.block_stats(exp)
    assert np.array_equal(blocks, stored_blocks)
    assert numbers.tolist() == [0, 2, 4, *range(6, 12)]


def test_snapshot_is_ignored_once_the_runs_change(store):
    exp = create(store, total_runs=12)
    store.write_runs(exp, batch(range(6)))
    runs = store.runs_frame(exp)
    store.save_snapshot(exp, runs.to_parquet(index=False), len(runs), {"pbo": 0.25, "notes": []},
                        np.array([0.5, -1.0]), 3,
                        np.array([0.01, -0.02, 0.005]), dsr={"dsr": 0.9, "skew": None})
    kept, pbo, logits, best_run, best_returns, cpcv, dsr = store.load_snapshot(exp)
    pd.testing.assert_frame_equal(kept, runs)
    assert pbo == {"pbo": 0.25, "notes": []} and logits.tolist() == [0.5, -1.0]
    assert best_run == 3 and best_returns.tolist() == [0.01, -0.02, 0.005]
    assert dsr == {"dsr": 0.9, "skew": None}
    store.save_snapshot(exp, runs.to_parquet(index=False), len(runs), None, None)  # replaced
    assert cpcv is None and store.load_snapshot(exp)[2:] == (None, None, None, None, None)
    store.write_runs(exp, batch(range(6, 8)))  # a resumed search added runs
    assert store.load_snapshot(exp) is None
    assert store.load_snapshot(exp + 1) is None


def test_top_runs_from_a_frame_in_memory_equal_the_stored_ones(store):
    """The grid search's summary sorts the runs it holds instead of reading them back: the
    same runs in the same order (NaN last, ties by run number)."""
    exp = create(store, total_runs=40)
    sharpe = np.r_[np.nan, 1.0, 1.0, np.nan, np.linspace(-1, 0.5, 36)]
    status = ["done"] * 40
    status[5] = "failed"
    store.write_runs(exp, batch(range(40), status=status, sharpe=sharpe))
    frame = store.runs_frame(exp)
    for n in (1, 5, 40):
        for metric, window in (("sharpe", "test"), ("cagr_pct", "train")):
            pd.testing.assert_frame_equal(store.top_runs(exp, metric, n, window, runs=frame),
                                          store.top_runs(exp, metric, n, window))


def test_the_experiment_counts_its_runs_in_the_batch_transaction(store):
    """`experiments list` reads each experiment's counters and best test Sharpe, kept by the
    transaction that stores a batch: they always agree with the stored runs."""
    first, second = create(store, "first"), create(store, "second")
    store.write_runs(first, batch(range(4), status=["done", "failed", "done", "done"],
                                  sharpe=[0.5, 9.0, np.nan, -0.2]))
    store.write_runs(second, batch(range(3), sharpe=[np.nan, np.nan, np.nan]))
    store.write_runs(first, batch(range(4, 6), sharpe=[0.1, 0.7]))
    with pytest.raises(RunError):  # a batch that fails is not counted either
        store.write_runs(first, batch([5]))
    listed = {s.name: s for s in store.list_experiments()}
    assert (listed["first"].done, listed["first"].failed) == (5, 1)
    assert listed["first"].best_test_sharpe == 0.7  # the failed run's 9.0 is no trial
    assert (listed["second"].done, listed["second"].best_test_sharpe) == (3, None)
    assert store.run_counts(first) == (5, 1) and store.run_counts(second) == (3, 0)
    frame = store.runs_frame(first)
    assert (frame["status"] == "done").sum() == 5 and len(frame) == 6
