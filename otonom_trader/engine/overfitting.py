"""Overfitting statistics: train/test Sharpe gap, Probabilistic and Deflated Sharpe Ratio
(Bailey & López de Prado 2014), Probability of Backtest Overfitting by CSCV (Bailey, Borwein,
López de Prado & Zhu 2017) from per-block return statistics, minimum backtest length.

Sharpe ratios here are per period (not annualised) unless a name says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GAP_WARNING = 1.0  # train Sharpe - test Sharpe above this warns


@dataclass(frozen=True)
class DSRResult:
    dsr: float  # probability that the true Sharpe exceeds the expected maximum of N trials
    sharpe: float  # per-period Sharpe of the evaluated returns
    sharpe_0: float  # expected maximum per-period Sharpe of N unskilled trials
    n_obs: int
    n_trials: int
    skew: float
    kurtosis: float  # non-excess (normal = 3)


@dataclass(frozen=True)
class PBOResult:
    pbo: float  # share of splits whose in-sample best ranks in the out-of-sample bottom half
    logits: np.ndarray  # one lambda per split
    n_splits: int  # C(S, S/2)
    n_runs: int
    n_blocks: int


def sharpe_gap(train_sharpe, test_sharpe) -> np.ndarray:
    """Train minus test Sharpe per run (annualised inputs give an annualised gap)."""
    raise NotImplementedError


def probabilistic_sharpe_ratio(sharpe: float, sharpe_benchmark: float, n_obs: int,
                               skew: float, kurtosis: float) -> float:
    """PSR(SR*) = Φ((SR − SR*)·√(n−1) / √(1 − γ₃·SR + (γ₄−1)/4·SR²)); per-period SR,
    γ₄ non-excess kurtosis."""
    raise NotImplementedError


def expected_max_sharpe(sharpe_variance: float, n_trials: int) -> float:
    """SR₀ = √V[SR]·((1−γ)Φ⁻¹(1−1/N) + γΦ⁻¹(1−1/(N·e))), γ the Euler–Mascheroni constant."""
    raise NotImplementedError


def deflated_sharpe_ratio(returns: np.ndarray, sharpe_variance: float,
                          n_trials: int) -> DSRResult:
    """DSR = PSR(SR₀) of ``returns`` (per-period), N = ``n_trials``, V[SR] = the variance of
    the per-period Sharpe ratios across the trials."""
    raise NotImplementedError


def pbo_cscv(block_stats: np.ndarray) -> PBOResult:
    """PBO by CSCV over all C(S, S/2) splits of S blocks, from ``block_stats`` of shape
    (n_runs, S, 3) = per-block (count, sum, sum of squares) of each run's per-bar returns.
    In-sample and out-of-sample performance is the Sharpe ratio of the union of blocks."""
    raise NotImplementedError


def minimum_backtest_length(n_trials: int, target_sharpe: float = 1.0) -> float:
    """Years of data needed so that the expected maximum annualised Sharpe of ``n_trials``
    unskilled trials stays below ``target_sharpe`` (Bailey et al. 2014, MinBTL)."""
    raise NotImplementedError
