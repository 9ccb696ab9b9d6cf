"""The statistics the use cases share: per-bar returns of an equity curve, the Sharpe ratio
from sums, η² of a grouping, and the paired circular block bootstrap (``arch.bootstrap``).

Zero variance follows ``kernels.enums.ZERO_VARIANCE``, the rule of the backtest metrics and
PBO: a series whose variance is negligible next to its mean square has no Sharpe ratio (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["annualised_sharpe", "bar_returns", "eta_squared", "optimal_block_length",
           "paired_block_bootstrap"]


def bar_returns(equity) -> np.ndarray:
    """r_t = E_t / E_{t-1} − 1 of a close-marked equity curve (a pandas Series), bar 0
    excluded: the engine's convention, and what the DSR, ``validate``, the monitor and the
    walk-forward read."""
    return equity.pct_change().to_numpy()[1:]


def annualised_sharpe(total, total_sq, n, periods_per_year: float = 1.0):
    """mean/std(ddof=1)·√P from sums, sums of squares and counts (arrays or scalars;
    counts broadcast like the sums); NaN where the series has zero variance (e.g. a strategy
    that never trades)."""
    from otonom_trader.kernels.enums import ZERO_VARIANCE  # here: η² users need no kernels

    total = np.asarray(total, dtype=np.float64)
    total_sq = np.asarray(total_sq, dtype=np.float64)
    d = total_sq * n - total * total  # n²·(biased variance)
    ok = d > ZERO_VARIANCE * total_sq * n
    safe = np.where(ok, d, 1.0)
    root = np.sqrt(np.asarray(n, dtype=np.float64) - 1)
    sharpe = total * root / np.sqrt(n * safe) * math.sqrt(periods_per_year)
    return np.where(ok, sharpe, np.nan)


def eta_squared(y: np.ndarray, codes: np.ndarray, k: int) -> tuple[float, np.ndarray,
                                                                  np.ndarray]:
    """η² of ``y`` grouped by ``codes`` (0..k−1): the share of its variance the group means
    explain, in [0, 1] (0 when ``y`` is empty or constant); with each group's count and mean
    (NaN for an empty group)."""
    y = np.asarray(y, dtype=np.float64)
    counts = np.bincount(codes, minlength=k)
    sums = np.bincount(codes, weights=y, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    if not len(y):
        return 0.0, counts, means
    mean = y.mean()
    total = float(((y - mean) ** 2).sum())
    present = counts > 0
    between = float((counts[present] * (means[present] - mean) ** 2).sum())
    eta2 = min(max(between / total, 0.0), 1.0) if total > 0 else 0.0
    return eta2, counts, means


def optimal_block_length(*series: np.ndarray) -> int:
    """Block length for a circular block bootstrap that resamples ``series`` together: the
    largest of their Politis–White (2004, corrected 2009) estimates, rounded up, in [1, T];
    ⌈√T⌉ when no series has variance to estimate from."""
    from arch.bootstrap import optimal_block_length as politis_white

    t = len(series[0])
    estimates = [float(politis_white(x)["circular"].iloc[0]) for x in series
                 if np.ptp(x) > 0]
    estimates = [e for e in estimates if math.isfinite(e)]
    length = math.ceil(max(estimates)) if estimates else math.ceil(math.sqrt(t))
    return min(max(length, 1), t)


def paired_block_bootstrap(statistic: Callable[[np.ndarray, np.ndarray], float],
                           a: np.ndarray, b: np.ndarray, *, n_resamples: int,
                           block_length: int, seed: int) -> np.ndarray:
    """``statistic(a*, b*)`` for ``n_resamples`` circular block bootstrap resamples of the
    pair: the same blocks (the same dates) are drawn from both series, so their correlation
    is kept. Seeded: the same arguments give the same values."""
    from arch.bootstrap import CircularBlockBootstrap

    boot = CircularBlockBootstrap(block_length, a, b, seed=np.random.default_rng(seed))
    return boot.apply(statistic, n_resamples).ravel()
