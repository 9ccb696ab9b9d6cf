"""Shared builders for tests: synthetic OHLC paths, hand-written candles, scratch strategy
repositories."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def copy_repo(dest: Path, dirs=("strategies", "grids"), files=("params.yaml",)) -> Path:
    """``dest`` holding copies of this repository's ``dirs`` and ``files``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in dirs:
        shutil.copytree(REPO / name, dest / name)
    for name in files:
        shutil.copy(REPO / name, dest / name)
    return dest


def git_init(path: Path) -> Path:
    """``path`` as a git repository on ``main`` with everything in it committed."""
    for args in (("init", "-q", "-b", "main"), ("config", "user.name", "Test"),
                 ("config", "user.email", "test@example.com"),
                 ("config", "commit.gpgsign", "false"), ("add", "-A"),
                 ("commit", "-q", "-m", "initial")):
        subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True)
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without forge or store settings (GITHUB_*, OTONOM_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "OTONOM_"))}
    return {**env, **extra}


def random_bars(n: int, seed: int, gap: float = 0.01, vol: float = 0.02) -> pd.DataFrame:
    """A random OHLC path on business days, with overnight gaps and intrabar ranges."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    prev = np.r_[100.0, close[:-1]]
    open_ = prev * np.exp(rng.normal(0, gap, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, n))
    index = pd.bdate_range("2001-01-01", periods=n, name="Date")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": np.ones(n)},
        index=index,
    )


def candles(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Bars from (open, high, low, close) tuples on consecutive business days."""
    frame = pd.DataFrame(rows, columns=["Open", "High", "Low", "Close"], dtype=float)
    frame["Volume"] = 1.0
    frame.index = pd.bdate_range("2020-01-01", periods=len(rows), name="Date")
    return frame


def run_cli(argv, capsys=None) -> tuple[int, str, str]:
    """Run ``otonom argv`` in this process: (exit code, stdout, stderr), read from ``capsys``
    or, where there is none, captured here."""
    import pytest

    from otonom_trader.cli import main

    argv = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, pytest.raises(SystemExit) as exc:
        if capsys is None:
            mp.setattr(sys, "stdout", out)
            mp.setattr(sys, "stderr", err)
        main(argv)
    if capsys is None:
        return exc.value.code, out.getvalue(), err.getvalue()
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def warm_kernels() -> None:
    """Run a 4-run grid search (its outputs re-run the best run with ``backtest()``) so that
    the engine's, the grid's and the PBO's kernels are in numba's cache."""
    import tempfile

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="otonom-warm-") as tmp:
        grid = Path(tmp) / "grid.yaml"
        grid.write_text("analysts.tech.fast_window: [5, 10]\n"
                        "analysts.tech.slow_window: [30, 60]\n")
        run_cli(["experiments", "grid-search", "--name", "warm", "--strategy-path",
                 root / "strategies" / "sma_cross.yaml", "--grid-path", grid,
                 "--train-start", "2004-01-01", "--train-end", "2011-12-31",
                 "--test-start", "2012-01-01", "--test-end", "2014-12-31",
                 "--db", f"sqlite:///{tmp}/store.db", "--outputs-dir", Path(tmp) / "out",
                 "--data-dir", root / "data"])


def otonom_here(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``otonom args`` run in this process as a subprocess would run it: in ``cwd``, with
    ``env`` as the whole environment and ``sys.argv`` as the command line (an experiment
    records it); the CLI's own behaviour, without a new interpreter."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["otonom", *map(str, args)])
        for var in set(os.environ) - set(env):
            mp.delenv(var)
        for var, value in env.items():
            mp.setenv(var, value)
        mp.chdir(cwd)
        code, out, err = run_cli(args)
    return subprocess.CompletedProcess(["otonom", *args], code, out, err)

MINI_STRATEGY = """\
name: mini
analysts:
  tech: {fast_window: 10, slow_window: 30, ma_type: sma}
ensemble:
  analyst_weights: {tech: 1.0}
  entry_threshold: 0
  exit_threshold: 0
risk: {sizing: fixed, position_pct: 100, stop_loss_pct: 5.0, take_profit_pct: 10.0}
execution: {fee_bps: 0, slippage_bps: 0}
data: {symbol: MINI, dsi_threshold: 0}
"""


def mini_project(root: Path) -> Path:
    """``root`` with ``data/MINI.csv`` (1,600 random business days from 2001) and
    ``strategy.yaml``, a small SMA-crossover strategy trading MINI."""
    (root / "data").mkdir(exist_ok=True)
    random_bars(1600, seed=7).to_csv(root / "data" / "MINI.csv")
    (root / "strategy.yaml").write_text(MINI_STRATEGY)
    return root
