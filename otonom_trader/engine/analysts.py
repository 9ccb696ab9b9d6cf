"""Analysts turn bars (and external series) into a score in [-1, 1] per bar.

Every score at bar t uses data up to and including bar t only. Warm-up bars are NaN, and a
NaN score never crosses a threshold, so no signal comes from an unwarmed indicator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from otonom_trader.domain.errors import DataError
from otonom_trader.domain.strategy import (
    MeanRevParams,
    MomentumParams,
    NewsParams,
    RegimeParams,
    Strategy,
    TechParams,
)


@dataclass(frozen=True)
class AnalystContext:
    """What analysts may read besides the bars."""

    symbol: str
    periods_per_year: float
    data_dir: Path = Path("data")
    notes: list[str] = field(default_factory=list)  # things the user should be told once
    cache: dict = field(default_factory=dict)  # indicator series shared across parameter sets


def moving_average(close: pd.Series, kind: str, window: int, ctx: AnalystContext) -> np.ndarray:
    """SMA or EMA of ``close`` (NaN until ``window`` bars), cached in ``ctx`` by its params."""
    key = (kind, window)
    if key not in ctx.cache:
        if kind == "ema":
            ma = close.ewm(span=window, adjust=False, min_periods=window).mean()
        else:
            ma = close.rolling(window).mean()
        ctx.cache[key] = ma.to_numpy()
    return ctx.cache[key]


def tech_score(close: pd.Series, p: TechParams, ctx: AnalystContext) -> np.ndarray:
    """sign(fast MA - slow MA): its crossings of 0 are the MA crossovers."""
    fast = moving_average(close, p.ma_type, p.fast_window, ctx)
    slow = moving_average(close, p.ma_type, p.slow_window, ctx)
    return np.sign(fast - slow)


def momentum_score(close: pd.Series, p: MomentumParams) -> np.ndarray:
    """Rate of change over ``lookback`` bars, scaled so ``scale_pct`` percent scores 1."""
    roc = close / close.shift(p.lookback) - 1.0
    return np.clip(roc.to_numpy() / (p.scale_pct / 100.0), -1.0, 1.0)


def meanrev_score(close: pd.Series, p: MeanRevParams) -> np.ndarray:
    """Minus the z-score of the close over ``window`` bars, ``z_scale`` sigmas scoring 1."""
    roll = close.rolling(p.window)
    z = (close - roll.mean()) / roll.std()
    return np.clip(-z.to_numpy() / p.z_scale, -1.0, 1.0)


def regime_score(close: pd.Series, p: RegimeParams, ctx: AnalystContext) -> np.ndarray:
    """(threshold - vol) / threshold clipped to [-1, 1]; vol in annualised percent."""
    if p.source == "vix":
        from otonom_trader.engine.data import load_vix

        vix = load_vix()
        vol = vix.reindex(close.index.union(vix.index)).ffill().reindex(close.index)
        vol = vol.where(close.index >= vix.index[0])
        if vol.isna().all():
            raise DataError(
                f"`analysts.regime.source: vix`: the bundled VIX covers "
                f"{vix.index[0]:%Y-%m-%d} → {vix.index[-1]:%Y-%m-%d}, no bar of "
                f"{ctx.symbol} falls in it; use `source: realized`"
            )
    else:
        log_ret = np.log(close).diff()
        vol = log_ret.rolling(p.window).std() * np.sqrt(ctx.periods_per_year) * 100.0
    thr = p.vol_threshold_pct
    return np.clip((thr - vol.to_numpy()) / thr, -1.0, 1.0)


def news_score(index: pd.DatetimeIndex, p: NewsParams, ctx: AnalystContext) -> np.ndarray:
    """Sentiment from a CSV (date, sentiment in [-1, 1]), as of each bar's date.

    A missing file is reported once in ``ctx.notes`` and contributes 0; nothing is invented.
    """
    path = Path(p.path) if p.path else ctx.data_dir / "news" / f"{ctx.symbol}.csv"
    if not path.exists():
        ctx.notes.append(f"news: no sentiment file {path}; the news analyst contributes 0")
        return np.zeros(len(index))
    key = "`analysts.news.path`" if p.path else "the news file"
    if not path.is_file():
        raise DataError(f"{path} ({key}): not a file; expected a CSV with columns "
                        "`date,sentiment`")
    try:
        frame = pd.read_csv(path)
        dates = pd.to_datetime(frame.iloc[:, 0])
        values = frame["sentiment"].astype(float)
    except (KeyError, ValueError, IndexError, OSError) as exc:
        raise DataError(
            f"{path} ({key}): expected columns `date,sentiment` with dates and numbers ({exc})"
        ) from None
    series = pd.Series(values.to_numpy(), index=dates.to_numpy()).sort_index()
    series = series[~series.index.duplicated(keep="last")]
    aligned = series.reindex(index, method="ffill")
    return np.clip(aligned.fillna(0.0).to_numpy(), -1.0, 1.0)


def analyst_scores(bars: pd.DataFrame, strategy: Strategy, ctx: AnalystContext) -> dict:
    """Name -> score array for every analyst with a positive weight."""
    close = bars["Close"]
    weights = strategy.ensemble.analyst_weights
    scores = {}
    for name, params in strategy.analysts.configured().items():
        if weights.get(name, 0.0) <= 0.0:
            continue
        if name == "tech":
            scores[name] = tech_score(close, params, ctx)
        elif name == "momentum":
            scores[name] = momentum_score(close, params)
        elif name == "meanrev":
            scores[name] = meanrev_score(close, params)
        elif name == "regime":
            scores[name] = regime_score(close, params, ctx)
        else:
            scores[name] = news_score(bars.index, params, ctx)
    return scores


def ensemble_score(scores: dict, weights) -> np.ndarray:
    """sum(w * s) / sum(w); NaN wherever a weighted analyst is not warm yet."""
    total_weight = sum(weights[name] for name in scores)
    combined = sum(weights[name] * score for name, score in scores.items())
    return np.asarray(combined / total_weight, dtype=np.float64)
