"""`otonom experiments grid-search` end to end: store, outputs, reproduction, resume, errors."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.strategy_loader import apply_overrides, load_strategy
from otonom_trader.engine.backtest import backtest
from otonom_trader.engine.data import load_bars
from tests.helpers import otonom_here, run_cli

SPLIT = ["--train-start", "2004-01-01", "--train-end", "2011-12-31",
         "--test-start", "2012-01-01", "--test-end", "2014-12-31"]


def write_grid(tmp_path, body: dict, name="grid.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


def grid_args(tmp_path, grid, name="sweep", strategy="strategies/sma_cross.yaml", extra=()):
    return ["experiments", "grid-search", "--name", name, "--strategy-path", strategy,
            "--grid-path", grid, "--db", f"sqlite:///{tmp_path}/store.db",
            "--outputs-dir", str(tmp_path / "experiments"), *SPLIT, *extra]


SMALL = {
    "analysts.tech.fast_window": [5, 10, 20],
    "analysts.tech.slow_window": [30, 60],
    "risk.stop_loss_pct": [2.0, 5.0],
}


def test_grid_search_records_every_run_and_writes_outputs(tmp_path, capsys):
    code, out, _ = run_cli(grid_args(tmp_path, write_grid(tmp_path, SMALL)), capsys)
    assert code == 0
    assert "✓ Experiment 'sweep' created (ID: 1)" in out
    assert "Running grid search: 12 total combinations" in out
    assert "Completed: 12/12 runs" in out and "Top 5 results (by test Sharpe):" in out
    assert out.count("  Run #") == 5

    store = ExperimentStore(f"sqlite:///{tmp_path}/store.db")
    runs = store.runs_frame(1)
    assert sorted(runs["run_number"]) == list(range(1, 13))
    assert (runs["status"] == "done").all()
    # product order, last key fastest
    first = runs.sort_values("run_number").iloc[:2]
    assert first["risk.stop_loss_pct"].tolist() == [2.0, 5.0]

    folder = tmp_path / "experiments" / "sweep"
    frame = pd.read_parquet(folder / "runs.parquet")
    assert len(frame) == 12 and "test_sharpe" in frame and "analysts.tech.fast_window" in frame
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["experiment"]["done"] == 12
    assert metrics["best"]["test"]["sharpe"] == pytest.approx(runs["test_sharpe"].max())
    best = yaml.safe_load((folder / "best_params.yaml").read_text())
    assert best["run_number"] == metrics["best"]["run_number"]


def test_backtest_over_the_test_window_reproduces_a_grid_run_exactly(tmp_path, capsys):
    run_cli(grid_args(tmp_path, write_grid(tmp_path, SMALL)), capsys)
    runs = ExperimentStore(f"sqlite:///{tmp_path}/store.db").runs_frame(1)
    strategy = load_strategy("strategies/sma_cross.yaml")
    bars = load_bars("SPX")
    for _, run in runs.iterrows():
        params = {p: run[p] for p in SMALL}
        params = {k: (int(v) if "window" in k else float(v)) for k, v in params.items()}
        variant = apply_overrides(strategy, params)
        for window, start, end in (("test", "2012-01-01", "2014-12-31"),
                                   ("train", "2004-01-01", "2011-12-31")):
            result = backtest(variant, bars, symbol="SPX", start=start, end=end)
            for key in METRIC_KEYS:
                stored, fresh = run[f"{window}_{key}"], result.metrics[key]
                if np.isfinite(fresh):
                    assert stored == fresh, (window, key)
                else:
                    assert np.isnan(stored)


def test_invalid_combinations_fail_with_a_reason_and_the_rest_run(tmp_path, capsys):
    grid = write_grid(tmp_path, {"analysts.tech.fast_window": [10, 40],
                                 "analysts.tech.slow_window": [30, 60]})
    code, out, _ = run_cli(grid_args(tmp_path, grid), capsys)
    assert code == 0 and "(1 failed)" in out
    runs = ExperimentStore(f"sqlite:///{tmp_path}/store.db").runs_frame(1)
    failed = runs[runs["status"] == "failed"]
    assert len(failed) == 1 and "fast_window" in failed["error"].iloc[0]
    assert (runs["status"] == "done").sum() == 3


def test_constraints_skip_combinations(tmp_path, capsys):
    grid = write_grid(tmp_path, {"analysts.tech.fast_window": [10, 40],
                                 "analysts.tech.slow_window": [30, 60],
                                 "constraints": ["analysts.tech.fast_window < "
                                                 "analysts.tech.slow_window"]})
    code, out, _ = run_cli(grid_args(tmp_path, grid), capsys)
    assert code == 0 and "3 total combinations" in out and "failed" not in out


def test_random_search_is_reproducible(tmp_path, capsys):
    body = {"search": "random", "n_iter": 6, "seed": 7,
            "analysts.tech.fast_window": {"int": [5, 25]},
            "analysts.tech.slow_window": {"int": [40, 120, 10]},
            "risk.stop_loss_pct": {"uniform": [1.0, 8.0]}}
    grid = write_grid(tmp_path, body)
    run_cli(grid_args(tmp_path, grid, name="r1"), capsys)
    run_cli(grid_args(tmp_path, grid, name="r2"), capsys)
    store = ExperimentStore(f"sqlite:///{tmp_path}/store.db")
    a, b = store.runs_frame(1), store.runs_frame(2)
    cols = ["run_number", *body.keys() - {"search", "n_iter", "seed"}, "test_sharpe"]
    assert a[cols].equals(b[cols]) and len(a) == 6


def test_rerunning_a_finished_experiment_checks_and_rewrites_its_outputs(tmp_path, capsys):
    args = grid_args(tmp_path, write_grid(tmp_path, SMALL))
    run_cli(args, capsys)
    folder = tmp_path / "experiments" / "sweep"
    first = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "timings.json"}
    assert set(first) == {"runs.parquet", "metrics.json", "best_params.yaml",
                          "best_equity.csv", "sweep.csv"}
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "is already complete; its outputs are up to date" in out
    (folder / "runs.parquet").unlink()  # killed mid-write / deleted / truncated / edited
    (folder / "metrics.json").write_bytes(first["metrics.json"][:40])
    (folder / "sweep.csv").write_text("edited\n")
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "Running" not in out
    assert "rewrote the missing or stale outputs: runs.parquet, metrics.json, sweep.csv" in out
    assert {p: (folder / p).read_bytes() for p in first} == first
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("body", "extra", "needle"),
    [
        ({}, [], "no parameters"),
        ({"risk.stop_los_pct": [1.0]}, [], "did you mean `risk.stop_loss_pct`"),
        ({"analysts.tech.fast_window": ["ten", 20]}, [], "analysts.tech.fast_window"),
        ({"search": "random", "n_iter": 3, "risk.stop_loss_pct": {"uniform": [5.0, 1.0]}}, [],
         "risk.stop_loss_pct"),
        (SMALL, ["--train-end", "2012-06-30"], "overlap"),
        (SMALL, ["--test-end", "2024-12-31"], "outside the data"),
        (SMALL, ["--resume", "99"], "99"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, body, extra, needle):
    code, _, err = run_cli(grid_args(tmp_path, write_grid(tmp_path, body), extra=extra), capsys)
    assert code == 2, err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_existing_name_with_other_settings_suggests_resume(tmp_path, capsys):
    run_cli(grid_args(tmp_path, write_grid(tmp_path, SMALL)), capsys)
    other = write_grid(tmp_path, {"risk.stop_loss_pct": [3.0]}, "other.yaml")
    code, _, err = run_cli(grid_args(tmp_path, other), capsys)
    assert code == 2 and "--resume 1" in err


def test_unreachable_database_is_one_line(tmp_path, capsys):
    args = grid_args(tmp_path, write_grid(tmp_path, SMALL))
    args[args.index("--db") + 1] = "sqlite:////nonexistent/dir/x.db"
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "nonexistent" in err and len(err.strip().splitlines()) == 1


KILL_GRID = {
    "analysts.tech.fast_window": {"int": [5, 50, 5]},
    "analysts.tech.slow_window": {"int": [60, 240, 20]},
    "risk.stop_loss_pct": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    "risk.take_profit_pct": [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0],
}


def _spawn(args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "otonom_trader.cli", *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _count(db) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("select count(*) from experiment_runs").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait_for_rows(db, proc, minimum, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _count(db) >= minimum:
            return
        time.sleep(0.02)
    raise AssertionError(f"no rows appeared (exit {proc.poll()})")


def _comparable(frame):
    return frame.sort_values("run_number").reset_index(drop=True)


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    cwd = os.getcwd()
    grid = write_grid(tmp_path, KILL_GRID)
    small_chunks = ["--chunk-size", "200", "--workers", "1"]
    killed_dir, clean_dir = tmp_path / "killed", tmp_path / "clean"
    killed_dir.mkdir()
    clean_dir.mkdir()
    killed = grid_args(killed_dir, grid, extra=small_chunks)
    proc = _spawn(killed, cwd)
    _wait_for_rows(killed_dir / "store.db", proc, 400)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    partial = _count(killed_dir / "store.db")
    assert 0 < partial < 6400
    with sqlite3.connect(killed_dir / "store.db") as db:  # counted batch by batch
        assert db.execute("SELECT done_runs FROM experiments").fetchone()[0] == partial
    killed_store = ExperimentStore(f"sqlite:///{killed_dir}/store.db")
    killed_time = killed_store.get(1).elapsed_seconds  # recorded batch by batch
    assert killed_time > 0
    resumed = otonom_here(cwd, *killed, env=dict(os.environ))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed (ID: 1)" in resumed.stdout and "already done" in resumed.stdout
    total = killed_store.get(1).elapsed_seconds
    assert total > killed_time  # both sessions
    assert f"Time: {total:.2f}s" in resumed.stdout

    clean = grid_args(clean_dir, grid)
    done = otonom_here(cwd, *clean, env=dict(os.environ))  # the reference: no kill
    assert done.returncode == 0, done.stderr
    clean_store = ExperimentStore(f"sqlite:///{clean_dir}/store.db")
    a, b = _comparable(killed_store.runs_frame(1)), _comparable(clean_store.runs_frame(1))
    assert len(a) == len(b) == 6400
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(killed_store.block_stats(1)[1], clean_store.block_stats(1)[1])
    # the outputs, byte for byte (timings.json aside: it holds the session times)
    outputs = [p.name for p in (clean_dir / "experiments/sweep").iterdir()]
    assert len(outputs) == 6 and "timings.json" in outputs
    for name in outputs:
        if name != "timings.json":
            assert (killed_dir / "experiments/sweep" / name).read_bytes() == (
                clean_dir / "experiments/sweep" / name).read_bytes(), name


@pytest.mark.slow
def test_ctrl_c_saves_and_prints_the_resume_command(tmp_path):
    # 64,000 runs in chunks of 200 on one thread: far from done when Ctrl-C arrives.
    grid = write_grid(tmp_path, {**KILL_GRID, "execution.fee_bps": [float(f) for f in range(10)]})
    args = grid_args(tmp_path, grid, extra=["--chunk-size", "200", "--workers", "1"])
    proc = _spawn(args, os.getcwd())
    _wait_for_rows(tmp_path / "store.db", proc, 200)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "runs saved" in err and "--resume 1" in err and "Traceback" not in err
    info = ExperimentStore(f"sqlite:///{tmp_path}/store.db").get(1)
    assert info.status == "interrupted"


def test_experiments_list_shows_counts_and_best_sharpe(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OTONOM_DB", f"sqlite:///{tmp_path}/store.db")
    args = grid_args(tmp_path, write_grid(tmp_path, SMALL))
    del args[args.index("--db"):args.index("--db") + 2]  # the store comes from OTONOM_DB
    run_cli(args, capsys)
    code, out, _ = run_cli(["experiments", "list"], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if "sweep" in line)
    best = ExperimentStore(f"sqlite:///{tmp_path}/store.db").top_runs(1, "sharpe", 1)
    assert "12/12" in row and "done" in row and "sma_cross" in row
    assert f"{best['test_sharpe'].iloc[0]:.3f}" in row
