"""One ``backtest()`` for the single-run command and the grid: bars + strategy -> result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from otonom_trader.domain.errors import DataError, InputError
from otonom_trader.domain.metrics import public_metrics
from otonom_trader.domain.strategy import Strategy
from otonom_trader.engine.analysts import AnalystContext, analyst_scores, ensemble_score
from otonom_trader.kernels.enums import (
    BLOCK_FIELDS,
    EXIT_REASONS,
    N_METRICS,
    SimParams,
    trade_dt,
)
from otonom_trader.kernels.simulate import simulate_nb

DEFAULT_CAPITAL = 10_000.0
NO_BLOCKS = (np.empty(0, np.int64), np.empty((0, BLOCK_FIELDS)))  # block statistics off
BAD_BAR_DSI_LIMIT = float(np.nextafter(0.0, 1.0))  # just above a bad bar's DSI of 0


@dataclass(frozen=True)
class Window:
    """Bars ``start..end`` (inclusive positions) of the data."""

    start: int
    end: int

    def years(self, index: pd.DatetimeIndex) -> float:
        return (index[self.end] - index[self.start]).total_seconds() / (365.25 * 86400)


@dataclass(frozen=True)
class BacktestResult:
    strategy: Strategy
    symbol: str
    start: pd.Timestamp
    end: pd.Timestamp
    periods_per_year: float
    initial_capital: float
    metrics: dict
    equity: pd.Series
    trades: pd.DataFrame
    notes: tuple[str, ...] = ()


def sim_params(strategy: Strategy, initial_capital: float = DEFAULT_CAPITAL) -> SimParams:
    """The kernel's view of a strategy's trading rules (percent and bps become fractions)."""
    risk, ex = strategy.risk, strategy.execution
    return SimParams(
        entry_threshold=float(strategy.ensemble.entry_threshold),
        exit_threshold=float(strategy.ensemble.exit_threshold),
        fraction=float(risk.fraction),
        sl=risk.stop_loss_pct / 100.0 if risk.stop_loss_pct else np.inf,
        tp=risk.take_profit_pct / 100.0 if risk.take_profit_pct else np.inf,
        fee=ex.fee_bps / 1e4,
        slippage=ex.slippage_bps / 1e4,
        allow_short=bool(risk.allow_short),
        entry_bar_stops=bool(ex.entry_bar_stops),
        init_cash=float(initial_capital),
        min_dsi=_min_dsi(strategy),
    )


def _min_dsi(strategy: Strategy) -> float:
    """The entry threshold on DSI. With ``data.on_bad_bars: score`` the bad bars (DSI 0) never
    take an entry, even at threshold 0; with clean data this changes nothing."""
    threshold = float(strategy.data.dsi_threshold)
    return max(threshold, BAD_BAR_DSI_LIMIT) if strategy.data.on_bad_bars == "score" else threshold


def _parse_date(value, flag: str) -> pd.Timestamp | None:
    if value is None or isinstance(value, pd.Timestamp):
        return value
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(f"{flag}: cannot parse {value!r} as a date; use YYYY-MM-DD") from None


def resolve_window(index: pd.DatetimeIndex, start, end, score: np.ndarray, symbol: str,
                   what: str = "window") -> Window:
    """Positions of the bars in [start, end], checked against the data and the warm-up.

    A date-only ``end`` includes that whole day. Without ``start``, trading starts at the
    first bar where every indicator is warm; an explicit ``start`` before that is kept (no
    signal comes before the warm-up) unless the window ends before any signal is possible.
    """
    start = _parse_date(start, "--start-date")
    end = _parse_date(end, "--end-date")
    if start is not None and end is not None and start > end:
        raise InputError(f"{what}: start {start:%Y-%m-%d} is after end {end:%Y-%m-%d}")
    first, last = index[0], index[-1]
    spacing = pd.Timedelta(np.median(np.diff(index.asi8[-50:])) if len(index) > 1 else 0)
    slack = max(pd.Timedelta(days=7), 2 * spacing)
    span = f"{symbol} data covers {first:%Y-%m-%d} → {last:%Y-%m-%d}"
    if (start is not None and (start < first - slack or start > last)) or (
        end is not None and (end > last + slack or end < first)
    ):
        lo = "…" if start is None else f"{start:%Y-%m-%d}"
        hi = "…" if end is None else f"{end:%Y-%m-%d}"
        raise DataError(f"{what} {lo} → {hi} is outside the data: {span}")
    warm = first_warm(score)
    s = int(index.searchsorted(start)) if start is not None else min(warm, len(index) - 1)
    if end is None:
        e = len(index) - 1
    elif end == end.normalize():
        e = int(index.searchsorted(end + pd.Timedelta(days=1))) - 1
    else:
        e = int(index.searchsorted(end, side="right")) - 1
    if e - s < 1:
        raise DataError(f"{what} {index[s]:%Y-%m-%d} → {index[e]:%Y-%m-%d} has fewer than 2 bars")
    problem = warmup_problem(score, Window(s, e))
    if problem:
        span = f"{index[s]:%Y-%m-%d} → {index[e]:%Y-%m-%d}"
        raise DataError(f"{what} {span} of {symbol} is {problem}")
    return Window(s, e)


def first_warm(score: np.ndarray) -> int:
    """Position of the first bar with a score (``len(score)`` if none)."""
    finite = np.flatnonzero(np.isfinite(score))
    return int(finite[0]) if len(finite) else len(score)


def warmup_problem(score: np.ndarray, window: Window) -> str | None:
    """Why no signal can happen in ``window`` (a crossing needs two scored bars before its
    last bar), or None."""
    warm = first_warm(score)
    if warm + 1 < window.end:
        return None
    return (f"too short for the indicators: a signal needs {warm + 2} bars of history, the "
            f"window ends at bar {window.end + 1}; end it later")


@dataclass(frozen=True)
class PreparedData:
    """Plain arrays the kernel runs on, shared by every run over the same bars."""

    index: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    dsi: np.ndarray
    periods_per_year: float

    @classmethod
    def from_bars(cls, bars: pd.DataFrame, periods_per_year: float | None = None):
        from otonom_trader.engine.data import infer_periods_per_year
        from otonom_trader.engine.quality import dsi

        def col(name):
            return np.ascontiguousarray(bars[name].to_numpy(dtype=np.float64))

        ppy = periods_per_year or infer_periods_per_year(bars.index)
        return cls(bars.index, col("Open"), col("High"), col("Low"), col("Close"),
                   dsi(bars), float(ppy))


def strategy_score(strategy: Strategy, bars: pd.DataFrame, ctx: AnalystContext) -> np.ndarray:
    scores = analyst_scores(bars, strategy, ctx)
    return ensemble_score(scores, strategy.ensemble.analyst_weights)


def run_window(data: PreparedData, score: np.ndarray, window: Window, strategy: Strategy,
               initial_capital: float = DEFAULT_CAPITAL, record: bool = False):
    """Run the kernel once; returns (metrics vector, equity array or None, ``trade_dt``
    records)."""
    metrics = np.empty(N_METRICS)
    equity = np.empty(len(data.close) if record else 0)
    trades = np.empty(window.end - window.start + 2 if record else 0, trade_dt)
    n = simulate_nb(
        data.open, data.high, data.low, data.close, np.ascontiguousarray(score, np.float64),
        data.dsi, window.start, window.end, window.years(data.index), data.periods_per_year,
        sim_params(strategy, initial_capital), metrics, equity, trades, NO_BLOCKS[0], NO_BLOCKS[1],
    )
    return metrics, (equity if record else None), trades[:n]


def trades_frame(rows: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """``trade_dt`` records as a readable table (an open trade has no exit time)."""
    return pd.DataFrame({
        "entry_time": index[rows["entry_idx"]],
        "exit_time": pd.DatetimeIndex([index[i] if i >= 0 else pd.NaT for i in rows["exit_idx"]]),
        "side": np.where(rows["side"] > 0, "long", "short"),
        "units": rows["units"],
        "entry_price": rows["entry_price"],
        "exit_price": rows["exit_price"],
        "fees": rows["fees"],
        "pnl": rows["pnl"],
        "return_pct": rows["return"] * 100.0,
        "exit_reason": [EXIT_REASONS[r] for r in rows["reason"]],
    })


def backtest(strategy: Strategy, bars: pd.DataFrame, *, symbol: str, start=None, end=None,
             initial_capital: float = DEFAULT_CAPITAL, periods_per_year: float | None = None,
             data_dir: Path | str = "data") -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` over [start, end] with warm indicators."""
    if not 0 < initial_capital < np.inf:
        raise InputError(f"--initial-capital: expected a positive amount, got {initial_capital}")
    data = PreparedData.from_bars(bars, periods_per_year or strategy.data.periods_per_year)
    ctx = AnalystContext(symbol=symbol, periods_per_year=data.periods_per_year,
                         data_dir=Path(data_dir))
    score = strategy_score(strategy, bars, ctx)
    window = resolve_window(data.index, start, end, score, symbol)
    if first_warm(score) > window.start:
        ctx.notes.append(f"the indicators warm up on {data.index[first_warm(score)]:%Y-%m-%d}; "
                         "no signal before that date")
    metrics, equity, rows = run_window(data, score, window, strategy, initial_capital, True)
    sl = slice(window.start, window.end + 1)
    return BacktestResult(
        strategy=strategy,
        symbol=symbol,
        start=data.index[window.start],
        end=data.index[window.end],
        periods_per_year=data.periods_per_year,
        initial_capital=float(initial_capital),
        metrics=public_metrics(metrics),
        equity=pd.Series(equity[sl], index=data.index[sl], name="equity"),
        trades=trades_frame(rows, data.index),
        notes=tuple(dict.fromkeys(ctx.notes)),
    )
