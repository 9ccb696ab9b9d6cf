"""DSI, the data-quality score of each bar, in [0, 1].

``dsi[t]`` uses only bars ``0..t`` (no look-ahead): computing it on ``bars[:t+1]`` gives the
same value. The engine blocks new entries decided at bar t when ``dsi[t] < data.dsi_threshold``.

Rule: start at 1.0 and apply every defect of the bar (factors multiply):

* invalid price -> 0: any of Open/High/Low/Close not finite or <= 0.
* inconsistent bar -> 0: High < Low, or Open or Close outside [Low, High].
* gap -> x0.5: bar t follows a hole. On the same calendar date as bar t-1 (intraday): the
  spacing exceeds 3.5x the median of the previous 50 same-date spacings. On a new date: the
  trading days stepped (weekdays counted by ``np.busday_count``; calendar days once the market
  trades 7 days a week, i.e. >= 5% of bars so far fall on Saturdays) exceed 3.5x the median of
  the previous 50 new-date steps (at least 1 day); the first step of each kind is not judged.
  So a weekend, a one-day holiday, two missing weekdays and the overnight/weekend break of
  intraday data are not gaps; in daily equities three or more missing weekdays are.
  Holes at the start of an intraday session are not seen (a new date is measured in days).
* stale -> x0.5: Close equals the previous Close and High == Low, or the whole OHLC repeats
  the previous bar.
* outlier -> x0.25: |log(Close[t] / Close[t-1])| > 10x the median |log return| of the previous
  50 bars (at least 10 of them, median > 0). A spike and the return back both count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from otonom_trader.engine.data import PRICE_COLUMNS, SATURDAY_SHARE

GAP_FACTOR = 0.5
STALE_FACTOR = 0.5
OUTLIER_FACTOR = 0.25
GAP_MULTIPLE = 3.5
OUTLIER_MULTIPLE = 10.0
WINDOW = 50
OUTLIER_MIN_PERIODS = 10


def dsi(bars: pd.DataFrame) -> np.ndarray:
    """The DSI of every bar (float64, same length as ``bars``); see the module docstring."""
    o, h, low, c = (bars[col].to_numpy(dtype=np.float64) for col in PRICE_COLUMNS)
    score = np.ones(len(bars))
    if len(bars) == 0:
        return score
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(o) & np.isfinite(h) & np.isfinite(low) & np.isfinite(c)
        valid &= (o > 0) & (h > 0) & (low > 0) & (c > 0)
        valid &= (h >= low) & (o >= low) & (o <= h) & (c >= low) & (c <= h)
    score[~valid] = 0.0
    score[gaps(pd.DatetimeIndex(bars.index))] *= GAP_FACTOR
    score[stale(o, h, low, c)] *= STALE_FACTOR
    score[outliers(c)] *= OUTLIER_FACTOR
    return score


def gaps(index: pd.DatetimeIndex) -> np.ndarray:
    """True where a bar follows a hole in the series (the gap rule above)."""
    n = len(index)
    gap = np.zeros(n, dtype=bool)
    if n < 2:
        return gap
    ns = index.as_unit("ns").asi8
    dates = index.normalize().to_numpy().astype("datetime64[D]")
    same_date = dates[1:] == dates[:-1]
    saturday_share = np.cumsum(index.day_of_week == 5) / np.arange(1, n + 1)
    calendar_days = (dates[1:] - dates[:-1]).astype(np.int64).astype(np.float64)
    weekdays = np.busday_count(dates[:-1], dates[1:]).astype(np.float64)
    day_step = np.where(saturday_share[1:] >= SATURDAY_SHARE, calendar_days, weekdays)
    intra = np.where(same_date, np.diff(ns).astype(np.float64), np.nan)
    inter = np.where(same_date, np.nan, day_step)
    ref_intra = _past_median(intra)
    ref_inter = np.maximum(_past_median(inter), 1.0)  # NaN (no reference yet) stays NaN
    with np.errstate(invalid="ignore"):
        gap[1:] = np.where(
            same_date, intra > GAP_MULTIPLE * ref_intra, day_step > GAP_MULTIPLE * ref_inter
        )
    return gap


def stale(o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray) -> np.ndarray:
    """True where the price did not move (the stale rule above)."""
    out = np.zeros(len(c), dtype=bool)
    same_close = c[1:] == c[:-1]
    same_bar = same_close & (o[1:] == o[:-1]) & (h[1:] == h[:-1]) & (low[1:] == low[:-1])
    out[1:] = (same_close & (h[1:] == low[1:])) | same_bar
    return out


def outliers(close: np.ndarray) -> np.ndarray:
    """True where the close-to-close log return is an outlier against the past 50 bars."""
    n = len(close)
    size = np.full(n, np.nan)
    if n >= 2:
        prev, cur = close[:-1], close[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = np.isfinite(prev) & np.isfinite(cur) & (prev > 0) & (cur > 0)
            size[1:] = np.where(ok, np.abs(np.log(np.where(ok, cur / prev, 1.0))), np.nan)
    scale = (
        pd.Series(size).rolling(WINDOW, min_periods=OUTLIER_MIN_PERIODS).median().shift(1)
    ).to_numpy()
    with np.errstate(invalid="ignore"):
        return (scale > 0) & (size > OUTLIER_MULTIPLE * scale)


def _past_median(values: np.ndarray) -> np.ndarray:
    """At each non-NaN entry, the median of the previous ``WINDOW`` non-NaN entries (else NaN)."""
    out = np.full(len(values), np.nan)
    present = ~np.isnan(values)
    past = pd.Series(values[present]).rolling(WINDOW, min_periods=1).median().shift(1)
    out[present] = past.to_numpy()
    return out
