"""Use case: compare two strategies on the same data and window.

Both strategies run through the one ``engine.backtest.backtest`` on the same bars and the same
window. Whether the Sharpe difference is significant comes from a paired circular block
bootstrap (Politis & Romano 1992; ``arch.bootstrap``, through ``engine.stats``) of the two
strategies' per-bar returns: the same resampled dates for both, so their correlation is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otonom_trader.domain.errors import InputError, RunError
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.strategy_loader import load_strategy
from otonom_trader.engine.backtest import DEFAULT_CAPITAL, BacktestResult, backtest
from otonom_trader.engine.data import load_bars
from otonom_trader.engine.stats import (
    annualised_sharpe,
    optimal_block_length,
    paired_block_bootstrap,
)

DEFAULT_RESAMPLES = 2_000
MIN_RESAMPLES = 100
CONFIDENCE = 0.95
BETTER = "candidate better"
WORSE = "candidate worse"
NOT_SIGNIFICANT = "not significantly different"
UNDEFINED = "undefined: a strategy's returns have zero variance (no Sharpe ratio)"


@dataclass(frozen=True)
class SharpeDiffTest:
    """Candidate minus baseline annualised Sharpe on the common bars, and its bootstrap
    confidence interval (percentile method)."""

    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    block_length: int  # bars per bootstrap block
    n_returns: int  # per-bar returns the test uses (bars − 1)
    seed: int
    verdict: str  # BETTER, WORSE or NOT_SIGNIFICANT


@dataclass(frozen=True)
class CompareResult:
    baseline: BacktestResult
    candidate: BacktestResult
    baseline_path: str
    candidate_path: str
    difference: dict  # metric -> candidate − baseline (NaN when either side is undefined)
    sharpe_test: SharpeDiffTest
    notes: tuple[str, ...] = ()

    @property
    def symbol(self) -> str:
        return self.baseline.symbol

    @property
    def bars(self) -> int:
        return len(self.baseline.equity)


def paired_sharpe_bootstrap(baseline_returns, candidate_returns, periods_per_year: float, *,
                            n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                            block_length: int | None = None,
                            confidence: float = CONFIDENCE) -> SharpeDiffTest:
    """Confidence interval of the candidate − baseline annualised Sharpe by a paired circular
    block bootstrap.

    Each resample joins blocks of L consecutive returns (default L: the Politis–White
    optimal length of the two series, ``engine.stats.optimal_block_length``), each starting
    at a uniformly drawn bar and wrapping around the end; the same blocks are taken from both
    series. The interval is the (1−c)/2 and (1+c)/2 quantiles of the resampled differences.
    Verdict: ``BETTER`` when the interval is above 0, ``WORSE`` when below, else
    ``NOT_SIGNIFICANT``; ``UNDEFINED`` (no interval, no resample) when either whole series
    has zero variance. Resamples where a side has zero variance have no difference and are
    left out (``n_resamples`` counts the ones used). Identical series give exactly 0
    everywhere.
    """
    base = np.asarray(baseline_returns, dtype=np.float64).ravel()
    cand = np.asarray(candidate_returns, dtype=np.float64).ravel()
    if base.shape != cand.shape:
        raise RunError(f"paired bootstrap: {len(base)} baseline and {len(cand)} candidate "
                       "returns; the series must share their dates")
    t = len(base)
    if t < 2:
        raise InputError(f"the window has {t} return(s); the Sharpe test needs at least 2")
    if not (np.isfinite(base).all() and np.isfinite(cand).all()):
        raise RunError("paired bootstrap: the equity curves have non-finite returns")
    if n_resamples < MIN_RESAMPLES:
        raise InputError(f"--bootstrap: expected at least {MIN_RESAMPLES} resamples, "
                         f"got {n_resamples}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be between 0 and 1, got {confidence}")

    def sharpe(x: np.ndarray) -> float:
        return float(annualised_sharpe(x.sum(), (x * x).sum(), len(x), periods_per_year))

    point = sharpe(cand) - sharpe(base)
    length = min(int(block_length), t) if block_length else optimal_block_length(base, cand)
    diffs = np.empty(0)
    if math.isfinite(point):
        diffs = paired_block_bootstrap(lambda b, c: sharpe(c) - sharpe(b), base, cand,
                                       n_resamples=n_resamples, block_length=length,
                                       seed=seed)
        diffs = diffs[np.isfinite(diffs)]
    if len(diffs) < MIN_RESAMPLES:
        low = high = math.nan
        verdict = UNDEFINED
    else:
        alpha = (1.0 - confidence) / 2.0
        low, high = (float(v) for v in np.quantile(diffs, [alpha, 1.0 - alpha]))
        verdict = BETTER if low > 0 else WORSE if high < 0 else NOT_SIGNIFICANT
    return SharpeDiffTest(difference=point, ci_low=low, ci_high=high, confidence=confidence,
                          n_resamples=len(diffs), block_length=length, n_returns=t,
                          seed=int(seed), verdict=verdict)


def metric_differences(baseline: dict, candidate: dict) -> dict:
    """Candidate − baseline per metric; NaN when either is undefined (NaN or infinite)."""
    out = {}
    for key in METRIC_KEYS:
        b, c = baseline[key], candidate[key]
        if isinstance(b, int) and isinstance(c, int):
            out[key] = c - b
        elif math.isfinite(b) and math.isfinite(c):
            out[key] = float(c - b)
        else:
            out[key] = math.nan
    return out


def _common_symbol(baseline, candidate, baseline_path, candidate_path) -> str:
    b, c = baseline.data.symbol, candidate.data.symbol
    if b and c and b.upper() != c.upper():
        raise InputError(
            f"{baseline_path} trades {b} and {candidate_path} trades {c}: pass --symbol to "
            "compare both on one symbol"
        )
    symbol = b or c
    if not symbol:
        raise InputError("neither strategy file sets `data.symbol`; pass --symbol")
    return symbol


def _returns(equity) -> np.ndarray:
    e = equity.to_numpy(dtype=np.float64)
    return e[1:] / e[:-1] - 1.0


def run_compare(
    baseline_path: str | Path,
    candidate_path: str | Path,
    symbol: str | None = None,
    start=None,
    end=None,
    initial_capital: float = DEFAULT_CAPITAL,
    periods_per_year: float | None = None,
    data_dir: str | Path = "data",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> CompareResult:
    """Backtest both strategies on the same bars and window and test their Sharpe difference.

    The symbol defaults to the baseline's ``data.symbol`` (else the candidate's); two
    different symbols without ``symbol`` are an error. Without ``start`` each strategy would
    start when its own indicators are warm: both start at the later of the two. Periods per
    year: ``periods_per_year``, else the baseline's setting, else the candidate's, else
    inferred from the bars — the same for both, so their Sharpe ratios are comparable.
    """
    if n_resamples < MIN_RESAMPLES:
        raise InputError(f"--bootstrap: expected at least {MIN_RESAMPLES} resamples, "
                         f"got {n_resamples}")
    baseline = load_strategy(baseline_path)
    candidate = load_strategy(candidate_path)
    if symbol is None:
        symbol = _common_symbol(baseline, candidate, baseline_path, candidate_path)
    symbol = symbol.upper()
    notes: list[str] = []
    ppy = (periods_per_year or baseline.data.periods_per_year
           or candidate.data.periods_per_year)
    own = (baseline.data.periods_per_year, candidate.data.periods_per_year)
    if not periods_per_year and own[0] and own[1] and own[0] != own[1]:
        notes.append(f"the strategies set periods_per_year {own[0]:g} and {own[1]:g}; both "
                     f"are measured with the baseline's {own[0]:g}")
    both_score = baseline.data.on_bad_bars == candidate.data.on_bad_bars == "score"
    bars = load_bars(symbol, data_dir, "score" if both_score else "refuse")

    def run(strategy, window_start):
        return backtest(strategy, bars, symbol=symbol, start=window_start, end=end,
                        initial_capital=initial_capital, periods_per_year=ppy,
                        data_dir=data_dir)

    base_result = run(baseline, start)
    cand_result = run(candidate, start)
    if start is None and base_result.start != cand_result.start:
        later = max(base_result.start, cand_result.start)
        notes.append(f"both start on {later:%Y-%m-%d}, when the indicators of both are warm")
        if base_result.start < later:
            base_result = run(baseline, later)
        else:
            cand_result = run(candidate, later)
    if not base_result.equity.index.equals(cand_result.equity.index):
        raise RunError("the two backtests ended on different bars; cannot pair their returns")
    notes = [*base_result.notes, *cand_result.notes, *notes]
    test = paired_sharpe_bootstrap(_returns(base_result.equity), _returns(cand_result.equity),
                                   base_result.periods_per_year, n_resamples=n_resamples,
                                   seed=seed, confidence=confidence)
    return CompareResult(
        baseline=base_result,
        candidate=cand_result,
        baseline_path=str(baseline_path),
        candidate_path=str(candidate_path),
        difference=metric_differences(base_result.metrics, cand_result.metrics),
        sharpe_test=test,
        notes=tuple(dict.fromkeys(notes)),
    )
