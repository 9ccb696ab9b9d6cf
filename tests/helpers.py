"""Shared builders for tests: synthetic OHLC paths and hand-written candles."""

from __future__ import annotations

import numpy as np
import pandas as pd


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


def run_cli(argv, capsys) -> tuple[int, str, str]:
    """Run ``otonom argv`` in this process: (exit code, stdout, stderr)."""
    import pytest

    from otonom_trader.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err
