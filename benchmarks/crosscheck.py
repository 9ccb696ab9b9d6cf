"""Cross-check the engine against backtesting.py (native run) and vectorbt.

    .venv/bin/python benchmarks/crosscheck.py            # table; exit 1 on an unexplained diff
    .venv/bin/python benchmarks/crosscheck.py -v         # also list the documented cases
    .venv/bin/python benchmarks/crosscheck.py --json     # machine-readable summary
    .venv/bin/python benchmarks/crosscheck.py --quick    # the subset `make test` runs

``strategies/sma_cross.yaml`` (with parameter overrides) runs through our ``backtest()`` and
through each peer's own simulator, per feature: long only, shorts (``risk.allow_short``: a
crossing down exits a long and enters short), risk sizing (f = min(max_leverage,
risk_pct/stop_loss_pct), up to f = 1.5), slippage, and DSI blocking (no entry decided on a
bar whose DSI is below ``data.dsi_threshold``). Three checks per case, each to 1e-6 relative:

- the equity curve, bar by bar, ours against the peer's own series;
- the peer's OWN total return, max drawdown and Sharpe against the peer's definition applied
  to our equity (``bt_definitions``, ``vbt_definitions``: both restate the peer's formula);
- our metric formulas (design.md), recomputed with plain numpy on the peer's equity and
  trades, against our ``backtest()`` metrics; the trades are paired one by one.

Peers: ``backtesting.py`` (sl/tp passed to ``buy()``/``sell()`` at the known next-open fill,
live on the entry bar as ours by default); ``bt-no-entry-stop`` (``trade.sl``/``trade.tp``
set at the close of the entry bar, against ours with ``execution.entry_bar_stops: false``);
``vectorbt`` (``Portfolio.from_signals``, which never checks stops on the entry bar, against
ours with ``entry_bar_stops: false``). What a peer cannot express is not run (``CANNOT``).

Where a peer's rules differ from design.md the engine is NOT bent: the bars where the
difference arises are detected and checked bar by bar (the equity must agree up to the first
such bar), and the case counts as "documented"; anything else is "UNEXPLAINED":

- ``gap-tp-then-sl`` (both peers): a bar opens at/beyond TP and then trades to SL. Ours
  exits at the open (rule 2); backtesting.py and vectorbt test the SL first and exit at SL.
  ``SYNTH-GAP`` and its mirror ``SYNTH-GAP-SHORT`` (hand-written candles) exercise it.
- ``stop-over-signal`` (vectorbt): a signal exit is pending and the bar touches SL or TP
  (intrabar, or by a gap at the open). Ours fills the signal exit at the open (rule 1);
  vectorbt fills one order per bar and gives its stop priority, so it exits at the stop
  level and, on a reversal, also drops the opposite entry ours makes at that open.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otonom_trader.domain.metrics import METRIC_KEYS, public_metrics  # noqa: E402
from otonom_trader.domain.strategy_loader import apply_overrides, load_strategy  # noqa: E402
from otonom_trader.engine.backtest import backtest  # noqa: E402
from otonom_trader.engine.data import load_bars  # noqa: E402
from otonom_trader.engine.quality import dsi  # noqa: E402
from otonom_trader.kernels.enums import METRIC_NAMES, N_METRICS  # noqa: E402

STRATEGY = ROOT / "strategies" / "sma_cross.yaml"
CASH = 1e15  # both sides: backtesting.py rounds units down to whole units, < 1e-11 here
TOL = 1e-6
PRICE_TOL = 1e-12

# (fast, slow, stop-loss %, take-profit %); None switches a stop off.
PARAM_SETS = (
    (10, 30, 5.0, 10.0),
    (20, 50, 2.0, 4.0),
    (5, 20, None, None),
    (10, 40, 3.0, None),
    (5, 20, 1.0, 1.0),
)
# Stops are scaled per symbol so they trigger at the bar frequency (hourly FX moves ~0.1%).
STOP_SCALE = {"SPX": 1.0, "NASDAQ": 1.0, "GOOG": 1.0, "EURUSD": 0.1}
WINDOWS = {  # train-like, test-like
    "SPX": (("2000-01-03", "2012-12-31"), ("2013-01-01", "2018-12-31")),
    "NASDAQ": (("2000-01-03", "2012-12-31"), ("2013-01-01", "2018-12-31")),
    "GOOG": (("2005-01-03", "2010-12-31"), ("2011-01-01", "2013-03-01")),
    "EURUSD": (("2017-05-01", "2017-11-30"), ("2017-12-01", "2018-02-07")),
}
COSTS = ((0.0, 100.0), (10.0, 100.0), (0.0, 50.0), (10.0, 50.0))  # (fee bps, position %)
# --quick (the subset `make test` runs): test windows of a daily and an hourly symbol, a
# wide and a tight stop pair, fee 10 bps at 100 % and 50 %, every feature, the synthetics.
QUICK_SYMBOLS = ("SPX", "EURUSD")
QUICK_PARAM_SETS = (PARAM_SETS[0], PARAM_SETS[4])
QUICK_COSTS = ((10.0, 100.0), (10.0, 50.0))
# Risk sizing, (risk_pct as a multiple of the stop, max_leverage): f = 0.5, 1 (capped by
# max_leverage 1), 1.5 (leveraged); fee 10 bps. Only parameter sets with a stop-loss.
RISK_SETS = ((0.5, 1.0), (2.0, 1.0), (1.5, 2.0))
SLIPPAGE_BPS = 5.0  # with fee 10 bps and 100 %, on every fill
DSI_MIN = 1.0  # any defect (gap, stale, outlier, invalid) blocks an entry decided on that bar
BT = "backtesting.py"  # sl/tp passed to buy(): live on the entry bar, as ours by default
BT_LATE = "bt-no-entry-stop"  # trade.sl/tp set after the entry bar; ours entry_bar_stops false
VBT = "vectorbt"
PEERS = (BT, BT_LATE, VBT)
FEATURES = ("long", "short", "risk", "slippage", "dsi")
SYNTH = "SYNTH-GAP"  # hand-written candles that exercise the gap-tp-then-sl rule
SYNTH_SHORT = "SYNTH-GAP-SHORT"  # the same candles mirrored (200 - price), for a short
SYNTH_DSI = "SYNTH-DSI"  # a seeded random walk with every 4th bar stale (DSI 0.5)

# What a peer cannot express, by (peer family, reason): the case is not run for that peer.
CANNOT = {
    "slippage": ("backtesting.py", "its `spread` moves only the entry fill "
                 "(`_adjusted_price`); exits and stop exits fill at the raw price and the "
                 "commission is charged on the unadjusted price. Ours slips every fill."),
    "leverage": ("vectorbt", "a buy is capped by the cash (`buy_nb`: cash_limit = cash); "
                 "open-source vectorbt has no margin, so f > 1 cannot be bought."),
    "short-fraction": ("vectorbt", "`from_signals` refuses a reversal with "
                       "size_type='percent' (\"SizeType.Percent does not support position "
                       "reversal using signals\"); only all-in (size=inf, lock_cash) reverses."),
}


def synthetic_bars() -> pd.DataFrame:
    """SMA(2) crosses SMA(4) up at bar 4's close; the entry fills at bar 5's open (101, so
    SL 95.95, TP 106.05 at 5%/5%); bar 6 opens at 108 (above TP) and trades down to 95."""
    rows = [(100, 100.5, 99.5, 100), (100, 100, 98.5, 99), (99, 99, 97.5, 98),
            (98, 98, 96.5, 97), (97, 101.5, 97, 101), (101, 102, 100, 101.5),
            (108, 109, 95, 100), (100, 101, 99.5, 100.5), (100.5, 101, 100, 100.2),
            (100.2, 100.6, 99.8, 100.1)]
    frame = pd.DataFrame(rows, columns=["Open", "High", "Low", "Close"], dtype=float)
    frame["Volume"] = 1.0
    frame.index = pd.bdate_range("2020-01-01", periods=len(rows), name="Date")
    return frame


def mirrored(bars: pd.DataFrame, level: float = 200.0) -> pd.DataFrame:
    """``level - price``: every long setup becomes the same short setup."""
    out = bars.copy()
    out["Open"], out["Close"] = level - bars["Open"], level - bars["Close"]
    out["High"], out["Low"] = level - bars["Low"], level - bars["High"]
    return out


def synthetic_dsi_bars(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """A seeded daily random walk (1 % moves) where every 4th bar repeats the previous bar's
    OHLC: stale, so its DSI is 0.5 and an entry signal on it is blocked at threshold 1."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0.0, 0.003, n))
    wick = np.abs(rng.normal(0.0, 0.005, (2, n)))
    frame = pd.DataFrame({"Open": open_, "High": np.maximum(open_, close) * (1 + wick[0]),
                          "Low": np.minimum(open_, close) * (1 - wick[1]), "Close": close})
    for t in range(4, n, 4):
        frame.iloc[t] = frame.iloc[t - 1]
    frame["Volume"] = 1.0
    frame.index = pd.bdate_range("2020-01-01", periods=n, name="Date")
    return frame


@dataclass(frozen=True)
class Case:
    symbol: str
    window: tuple[str, str]
    fast: int
    slow: int
    sl_pct: float | None
    tp_pct: float | None
    fee_bps: float
    position_pct: float
    slippage_bps: float = 0.0
    feature: str = "long"  # the table row: long, short, risk, slippage, dsi
    short: bool = False  # risk.allow_short: a crossing down exits a long and enters short
    risk_pct: float | None = None  # risk sizing: f = min(max_leverage, risk_pct / sl_pct)
    max_leverage: float = 1.0
    dsi_min: float = 0.0  # data.dsi_threshold: no entry decided on a bar with a lower DSI

    @property
    def fraction(self) -> float:
        if self.risk_pct is not None:
            return min(self.max_leverage, self.risk_pct / self.sl_pct)
        return self.position_pct / 100.0

    @property
    def label(self) -> str:
        sl = f"{self.sl_pct:g}" if self.sl_pct else "-"
        tp = f"{self.tp_pct:g}" if self.tp_pct else "-"
        size = (f"risk{self.risk_pct:g}/L{self.max_leverage:g}=f{self.fraction:g}"
                if self.risk_pct is not None else f"f{self.position_pct:g}")
        return (f"{self.symbol} {self.window[0][:7]}..{self.window[1][:7]} "
                f"{self.fast}/{self.slow} sl{sl} tp{tp} fee{self.fee_bps:g} {size}"
                + (f" slip{self.slippage_bps:g}" if self.slippage_bps else "")
                + (" short" if self.short else "")
                + (f" dsi>={self.dsi_min:g}" if self.dsi_min else ""))

    def overrides(self, entry_bar_stops: bool) -> dict:
        out = {
            "analysts.tech.fast_window": self.fast,
            "analysts.tech.slow_window": self.slow,
            "risk.stop_loss_pct": self.sl_pct,
            "risk.take_profit_pct": self.tp_pct,
            "risk.position_pct": self.position_pct,
            "risk.allow_short": self.short,
            "execution.fee_bps": self.fee_bps,
            "execution.slippage_bps": self.slippage_bps,
            "execution.entry_bar_stops": entry_bar_stops,
            "data.dsi_threshold": self.dsi_min,
        }
        if self.risk_pct is not None:
            out |= {"risk.sizing": "risk", "risk.risk_pct": self.risk_pct,
                    "risk.max_leverage": self.max_leverage}
        return out


@dataclass
class PeerRun:
    """A peer's result over the window, in our terms, and the peer's own statistics."""

    equity: np.ndarray  # close-marked equity, window bars
    trades: pd.DataFrame  # entry_idx, exit_idx (-1 open), side, entry/exit price, pnl, ret
    reported: dict  # the peer's own total return %, max drawdown % and Sharpe
    reference: Callable[[pd.Series], dict]  # the peer's definitions applied to our equity
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    case: Case
    peer: str
    status: str  # "agree", "documented", "UNEXPLAINED"
    max_rel: float
    worst: str
    rel: dict  # our formulas on their equity/trades vs our metrics
    equity_rel: float  # max over the window's bars of |ours - theirs| / max(|ours|, |theirs|)
    equity_rel_before: float  # the same up to the bar before the first documented one
    reported_rel: dict  # peer-reported metric vs its definition applied to our equity
    definition_gap: float  # peer-reported Sharpe vs our Sharpe (different definitions)
    documented: list[dict]
    problems: list[str]
    ours: dict
    theirs: dict
    blocked: int = 0  # entries the DSI threshold blocked in this window (ours)


# ---------------------------------------------------------------- metric formulas (design.md)


def window_metrics(equity: np.ndarray, index: pd.DatetimeIndex, init_cash: float,
                   trades: pd.DataFrame, ppy: float) -> dict:
    """Our public metrics, from an equity curve and a trade list, with plain numpy."""
    e = np.asarray(equity, dtype=np.float64)
    r = e[1:] / e[:-1] - 1.0
    years = (index[-1] - index[0]).total_seconds() / (365.25 * 86400)
    final = e[-1]
    v = np.full(N_METRICS, np.nan)
    m = dict.fromkeys(METRIC_NAMES, np.nan)
    m["total_return"] = final / init_cash - 1.0
    m["cagr"] = (final / init_cash) ** (1.0 / years) - 1.0 if final > 0 else -1.0
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    m["sharpe"] = r.mean() / sd * math.sqrt(ppy) if sd > 0 else np.nan
    down = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if len(r) else 0.0
    m["sortino"] = r.mean() / down * math.sqrt(ppy) if down > 0 else np.nan
    peak = np.maximum.accumulate(np.r_[init_cash, e])[1:]
    mdd = float(np.max(1.0 - e / peak))
    m["max_drawdown"] = mdd
    m["calmar"] = m["cagr"] / mdd if mdd > 0 else np.nan
    closed = trades[trades["exit_idx"] >= 0]
    pnl = closed["pnl"].to_numpy()
    m["win_rate"] = float(np.mean(pnl > 0)) if len(pnl) else np.nan
    profit, loss = pnl[pnl > 0].sum(), -pnl[pnl <= 0].sum()
    m["profit_factor"] = profit / loss if loss > 0 else (np.inf if profit > 0 else np.nan)
    held = np.zeros(len(e), dtype=bool)  # a reversal bar ends one trade and starts another
    for entry, exit_ in zip(trades["entry_idx"], trades["exit_idx"], strict=True):
        held[entry:(exit_ if exit_ >= 0 else len(e) - 1) + 1] = True
    m["exposure"] = float(held.mean())
    m["n_trades"] = float(len(closed))
    m["final_equity"] = final
    for k, name in enumerate(METRIC_NAMES):
        v[k] = m[name]
    return public_metrics(v)


# ---------------------------------------------------------------- the peers' own definitions

REPORTED = ("total_return_pct", "max_drawdown_pct", "sharpe")


def bt_definitions(equity: pd.Series) -> dict:
    """backtesting.py 0.6.6's Return [%], Max. Drawdown [%] and Sharpe Ratio (risk-free 0),
    restated from ``backtesting/_stats.py::compute_stats`` and applied to ``equity``.

    Sharpe = ((1+g)^N - 1) / sqrt((s^2 + (1+g)^2)^N - (1+g)^(2N)), where the equity is
    resampled to its last value per calendar day (per week/month/year for weekly/monthly/
    yearly data; empty periods dropped), g is the geometric mean of those day returns, s^2
    their variance (ddof=1) and N = 252 (365 when weekend bars exceed 60 % of 2/7 of the
    bars; 52/12/1 for weekly/monthly/yearly data): an annualised geometric return over a
    volatility annualised for compounding, not mean/std·sqrt(P).
    """
    e = equity.to_numpy(dtype=np.float64)
    idx = pd.DatetimeIndex(equity.index)
    period_days = pd.Series(idx[-100:]).diff().dropna().median().days
    weekends = float(np.mean(idx.day_of_week >= 5)) > 2 / 7 * 0.6
    n = {7: 52, 31: 12, 365: 1}.get(period_days, 365 if weekends else 252)
    rule = {7: "W", 31: "ME", 365: "YE"}.get(period_days, "D")
    day = equity.resample(rule).last().dropna().pct_change().dropna().to_numpy()
    growth = day + 1.0
    g = 0.0 if np.any(growth <= 0) else math.exp(np.log(growth).sum() / len(day)) - 1.0
    var = day.var(ddof=1) if len(day) > 1 else np.nan
    vol = math.sqrt((var + (1 + g) ** 2) ** n - (1 + g) ** (2 * n))
    return {
        "total_return_pct": (e[-1] - e[0]) / e[0] * 100.0,
        "max_drawdown_pct": -float(np.max(1.0 - e / np.maximum.accumulate(e))) * 100.0,
        "sharpe": ((1 + g) ** n - 1) / vol if vol else np.nan,
    }


def vbt_definitions(equity: pd.Series, init_cash: float, ann_factor: float) -> dict:
    """vectorbt's ``total_return()``, ``max_drawdown()`` and ``sharpe_ratio()`` (as %, % and
    ratio) on ``equity``: returns include the first bar against the initial cash
    (r_0 = E_0/init - 1), Sharpe = mean(r)/std(r, ddof=1)·sqrt(ann_factor) with
    ann_factor = year_freq/freq, and +inf (not NaN) when std is 0."""
    e = equity.to_numpy(dtype=np.float64)
    r = e / np.r_[init_cash, e[:-1]] - 1.0
    sd = r.std(ddof=1) if len(r) > 1 else np.nan
    peak = np.maximum.accumulate(np.r_[init_cash, e])[1:]
    return {
        "total_return_pct": (e[-1] / init_cash - 1.0) * 100.0,
        "max_drawdown_pct": float(np.min(e / peak - 1.0)) * 100.0,
        "sharpe": (np.inf if sd == 0 else r.mean() / sd * math.sqrt(ann_factor)),
    }


def rel_diff(a: float, b: float) -> float:
    if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        both_nan = (isinstance(a, float) and math.isnan(a)) and (
            isinstance(b, float) and math.isnan(b))
        return 0.0 if both_nan else math.inf
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


# ---------------------------------------------------------------- our side


def run_ours(strategy, bars: pd.DataFrame, case: Case):
    res = backtest(strategy, bars, symbol=case.symbol, start=case.window[0],
                   end=case.window[1], initial_capital=CASH)
    pos = bars.index.get_indexer
    start = int(pos([res.start])[0])
    t = res.trades
    exit_idx = [(-1 if pd.isna(x) else int(pos([x])[0]) - start) for x in t["exit_time"]]
    trades = pd.DataFrame({
        "entry_idx": pos(t["entry_time"]) - start,
        "exit_idx": np.asarray(exit_idx, dtype=int),
        "side": np.where(t["side"] == "short", -1, 1),
        "entry_price": t["entry_price"].to_numpy(),
        "exit_price": np.where(np.asarray(exit_idx) >= 0, t["exit_price"], np.nan),
        "pnl": t["pnl"].to_numpy(),
        "ret": t["return_pct"].to_numpy() / 100.0,
        "reason": t["exit_reason"].to_numpy(),
    })
    return res, start, trades


def crossings(bars: pd.DataFrame, case: Case) -> tuple[np.ndarray, np.ndarray]:
    """SMA(fast) crossing above / below SMA(slow) at the close of each bar (pandas means)."""
    close = bars["Close"]
    fast = close.rolling(case.fast).mean().to_numpy()
    slow = close.rolling(case.slow).mean().to_numpy()
    up = np.r_[False, (fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])]
    down = np.r_[False, (fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])]
    return up, down


def entry_allowed(bars: pd.DataFrame, case: Case) -> np.ndarray:
    """Bars on which an entry may be decided: DSI >= the threshold (our DSI, engine/quality)."""
    key = id(bars)
    if key not in _DSI:
        _DSI[key] = (bars, dsi(bars))  # keeps `bars` alive, so the id stays unique
    return _DSI[key][1] >= case.dsi_min


_DSI: dict[int, tuple[pd.DataFrame, np.ndarray]] = {}


# ---------------------------------------------------------------- backtesting.py


def _bt_strategy_class():
    from backtesting import Strategy
    from backtesting.lib import crossover

    def sma(values, n):
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):
        fast = 10
        slow = 30
        sl = math.inf  # fractions; inf = off
        tp = math.inf
        size = 0.5
        short = False  # a crossing down also enters short (a reversal when long)
        start_bar = 0  # first bar (of the data given) whose close may signal
        opens = None  # the data's opens: the next bar's open is the known market fill
        allowed = None  # per bar: may an entry be decided here (DSI >= threshold)
        late_stops = False  # True: stops armed after the entry bar (entry_bar_stops: false)

        def init(self):
            self.fast_ma = self.I(sma, self.data.Close, self.fast)
            self.slow_ma = self.I(sma, self.data.Close, self.slow)
            self.fallbacks = []

        def levels(self, fill, side):
            sl = fill * (1.0 - side * self.sl) if math.isfinite(self.sl) else None
            tp = fill * (1.0 + side * self.tp) if math.isfinite(self.tp) else None
            return sl, tp

        def next(self):
            i = len(self.data) - 1
            if self.late_stops:
                # At the close of the entry bar: set the levels from the actual fill, so
                # they are live from the next bar on (after any signal exit placed below).
                for trade in self.trades:
                    if trade.sl is None and trade.tp is None:
                        trade.sl, trade.tp = self.levels(trade.entry_price,
                                                         1 if trade.is_long else -1)
            if i < self.start_bar or i + 1 >= len(self.opens):
                return  # before the window, or no bar left to execute on
            up = crossover(self.fast_ma, self.slow_ma)
            down = crossover(self.slow_ma, self.fast_ma)
            side = 0
            if (self.position.is_long and down) or (self.position.is_short and up):
                self.position.close()
            elif self.position:
                return
            if up:
                side = 1
            elif down and self.short:
                side = -1
            if side == 0 or not self.allowed[i]:
                return
            order = self.buy if side > 0 else self.sell
            if self.late_stops:
                order(size=self.size)
                return
            # A market order fills at the next open (trade_on_close=False, no spread), so
            # the stops are set from that known fill and are live on the entry bar.
            sl, tp = self.levels(self.opens[i + 1], side)
            try:
                order(size=self.size, sl=sl, tp=tp)
            except ValueError:
                # buy()/sell() check SL < current close < TP (mirrored for a short); an
                # overnight gap beyond a level fails that check, so attach the same levels
                # to the order directly.
                order(size=self.size)._replace(sl_price=sl, tp_price=tp)
                self.fallbacks.append(self.data.index[-1])

    return SmaCross


def bt_size(f: float) -> tuple[float, float]:
    """(size, margin) such that backtesting.py buys f·equity / (fill·(1+c)) units.

    Its relative size is a fraction of margin_available·leverage with leverage = 1/margin,
    and must be < 1: f < 1 -> (f, 1); f = 1 -> (1-ε, 1), its own ``_FULL_EQUITY``;
    f > 1 -> (1/2, 1/(2f)), i.e. leverage 2f."""
    if f > 1.0:
        return 0.5, 1.0 / (2.0 * f)
    return min(f, 1.0 - sys.float_info.epsilon), 1.0


def run_backtesting_py(bars: pd.DataFrame, start: int, end: int, case: Case,
                       sl: float, tp: float, late_stops: bool = False) -> PeerRun:
    import backtesting.backtesting as btmod
    from backtesting import Backtest

    btmod._tqdm = lambda seq, **_: seq  # no progress bars
    first = max(0, start - case.slow - 5)  # early enough for warm SMAs at start - 1
    data = bars.iloc[first:end + 1]
    strat = _bt_strategy_class()
    size, margin = bt_size(case.fraction)
    bt = Backtest(data, strat, cash=CASH, commission=case.fee_bps / 1e4, spread=0.0,
                  margin=margin, trade_on_close=False, hedging=False, exclusive_orders=False,
                  finalize_trades=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run(fast=case.fast, slow=case.slow, sl=sl, tp=tp, size=size,
                       short=case.short, start_bar=start - first,
                       opens=data["Open"].to_numpy(),
                       allowed=entry_allowed(bars, case)[first:end + 1],
                       late_stops=late_stops)
    off = start - first
    equity = stats._equity_curve["Equity"].to_numpy()[off:]
    tr = stats._trades
    rows = [{
        "entry_idx": int(r.EntryBar) - off, "exit_idx": int(r.ExitBar) - off,
        "side": 1 if r.Size > 0 else -1,
        "entry_price": float(r.EntryPrice), "exit_price": float(r.ExitPrice),
        "pnl": float(r.PnL), "ret": float(r.ReturnPct),
    } for r in tr.itertuples()]
    strategy = stats._strategy
    for t in strategy.trades:  # still open at the end: marked, not closed
        rows.append({"entry_idx": int(t.entry_bar) - off, "exit_idx": -1,
                     "side": 1 if t.is_long else -1,
                     "entry_price": float(t.entry_price), "exit_price": np.nan,
                     "pnl": float(t.pl), "ret": float(t.pl_pct)})
    trades = pd.DataFrame(rows, columns=["entry_idx", "exit_idx", "side", "entry_price",
                                         "exit_price", "pnl", "ret"])
    reported = {"total_return_pct": float(stats["Return [%]"]),
                "max_drawdown_pct": float(stats["Max. Drawdown [%]"]),
                "sharpe": float(stats["Sharpe Ratio"])}
    # Its statistics cover the whole run, which starts `off` bars before the window with
    # no position (equity = cash): apply its definitions to ours over the same bars.
    prefix = pd.Series(CASH, index=data.index[:off])

    def reference(ours: pd.Series) -> dict:
        return bt_definitions(pd.concat([prefix, ours]))

    return PeerRun(equity, trades, reported, reference,
                   [f"{ts:%Y-%m-%d %H:%M}" for ts in strategy.fallbacks])


# ---------------------------------------------------------------- vectorbt


def run_vectorbt(bars: pd.DataFrame, start: int, end: int, case: Case, sl: float, tp: float,
                 ppy: float) -> PeerRun:
    import vectorbt as vbt

    w = bars.iloc[start:end + 1]
    up, down = crossings(bars, case)
    ok = entry_allowed(bars, case)
    # A signal at the close of t executes at the open of t+1: shift by one bar; the signal
    # at start-1 (before the window) is dropped, and the slice ends at `end`.

    def shifted(mask):
        return pd.Series(np.r_[False, mask[start:end]], index=w.index)

    if case.short:
        # All-in both ways (size=inf, lock_cash): a crossing down while long reverses the
        # position at the next open (upon_opposite_entry='reverse'); where the DSI blocks the
        # entry, the crossing only exits. Percent sizes refuse reversals (see the docstring).
        sizing = {"size": np.inf, "size_type": "amount", "lock_cash": True,
                  "upon_opposite_entry": "reverse"}
        signals = {"entries": shifted(up & ok), "exits": shifted(down & ~ok),
                   "short_entries": shifted(down & ok), "short_exits": shifted(up & ~ok)}
    else:
        sizing = {"size": case.fraction, "size_type": "percent", "direction": "longonly"}
        signals = {"entries": shifted(up & ok), "exits": shifted(down)}
    pf = vbt.Portfolio.from_signals(
        close=w["Close"], **signals,
        price=w["Open"], open=w["Open"], high=w["High"], low=w["Low"], **sizing,
        fees=case.fee_bps / 1e4, slippage=case.slippage_bps / 1e4, init_cash=CASH,
        sl_stop=sl if math.isfinite(sl) else np.nan,
        tp_stop=tp if math.isfinite(tp) else np.nan,
        # Stops from the actual (slipped) fill; a stop exit fills at the level, or at the open
        # after a gap, with slippage ("stopmarket"; the default "close" / "stoplimit" would
        # measure stops from the entry bar's close and skip slippage on stop exits).
        stop_entry_price="fillprice", stop_exit_price="stopmarket",
        accumulate=False, freq=pd.Timedelta(days=365.25) / ppy,
    )
    equity = pf.value().to_numpy()
    rec = pf.trades.records
    is_open = rec["status"] == 0
    trades = pd.DataFrame({
        "entry_idx": rec["entry_idx"].astype(int),
        "exit_idx": np.where(is_open, -1, rec["exit_idx"]).astype(int),
        "side": np.where(rec["direction"] == 0, 1, -1),
        "entry_price": rec["entry_price"],
        "exit_price": np.where(is_open, np.nan, rec["exit_price"]),
        "pnl": rec["pnl"],
        "ret": rec["return"],
    })
    reported = {"total_return_pct": float(pf.total_return()) * 100.0,
                "max_drawdown_pct": float(pf.max_drawdown()) * 100.0,
                "sharpe": float(pf.sharpe_ratio())}
    ann = pd.Timedelta(vbt.settings.returns["year_freq"]) / pf.wrapper.freq  # year_freq/freq

    def reference(ours: pd.Series) -> dict:
        return vbt_definitions(ours, CASH, ann)

    return PeerRun(equity, trades, reported, reference)


# ---------------------------------------------------------------- comparison


def explain(peer: str, ours: pd.DataFrame, theirs: pd.DataFrame, w: pd.DataFrame,
            sl: float, tp: float, slip: float) -> tuple[list[dict], list[str]]:
    """Pair the trades; return (documented bars, unexplained problems).

    Entry/exit bars, sides and entry prices must always match. An exit price may differ only
    on a bar where a documented rule applies, and then both prices must be what each rule
    says. Levels and gaps are mirrored for a short.
    """
    documented, problems = [], []
    ours, theirs = list(ours.itertuples()), list(theirs.itertuples())
    i = j = 0
    while i < len(ours) and j < len(theirs):
        a, b = ours[i], theirs[j]
        k = i
        i, j = i + 1, j + 1
        if a.entry_idx != b.entry_idx or a.exit_idx != b.exit_idx or a.side != b.side:
            problems.append(f"trade {k}: ours {_span(w, a)} vs theirs {_span(w, b)}")
            break
        if rel_diff(a.entry_price, b.entry_price) > PRICE_TOL:
            problems.append(f"trade {k} entry {w.index[a.entry_idx]}: price ours "
                            f"{a.entry_price!r} vs theirs {b.entry_price!r}")
            continue
        if a.exit_idx < 0:
            continue
        bar = w.iloc[a.exit_idx]
        o, hi, lo = bar["Open"], bar["High"], bar["Low"]
        d = a.side
        sl_px = a.entry_price * (1.0 - d * sl)
        tp_px = a.entry_price * (1.0 + d * tp)
        at_open = a.exit_price == o * (1.0 - d * slip)  # ours: filled at this bar's open

        def theirs_at(level, theirs=b.exit_price, d=d):
            return rel_diff(theirs, level * (1.0 - d * slip)) <= PRICE_TOL

        def beyond(x, level, d=d):  # x at or past `level` in the position's favour
            return d * (x - level) >= 0

        hit_sl = lo <= sl_px if d > 0 else hi >= sl_px  # the bar reaches the stop-loss
        hit_tp = hi >= tp_px if d > 0 else lo <= tp_px
        # vectorbt fills one order per bar: when its stop wins over a signal exit, the
        # reversal entry that ours makes at that open (the next trade) is dropped as well.
        lost_reversal = (peer == VBT and a.reason == "signal" and i < len(ours)
                         and ours[i].entry_idx == a.exit_idx
                         and (j >= len(theirs) or theirs[j].entry_idx != a.exit_idx))
        item = {"trade": k, "date": str(w.index[a.exit_idx]), "side": int(d), "open": o,
                "high": hi, "low": lo, "close": bar["Close"], "sl": sl_px, "tp": tp_px,
                "ours": a.exit_price, "ours_reason": a.reason, "theirs": b.exit_price,
                "lost_reversal": lost_reversal}
        reason = None
        if rel_diff(a.exit_price, b.exit_price) <= PRICE_TOL:
            if rel_diff(a.ret, b.ret) > TOL:
                problems.append(f"trade {k}: return ours {a.ret!r} vs theirs {b.ret!r}")
            if not lost_reversal:
                continue
            # Same price: vectorbt's stop filled at the open, which gapped through a level.
            if at_open and (not beyond(o, sl_px) or o == sl_px or beyond(o, tp_px)):
                reason = "stop-over-signal"
        elif (a.reason == "take_profit" and at_open and beyond(o, tp_px) and hit_sl
                and theirs_at(sl_px)):
            reason = "gap-tp-then-sl"
        elif (peer == VBT and a.reason == "signal" and at_open
              and beyond(o, sl_px) and not beyond(o, tp_px) and o != sl_px
              and ((hit_sl and theirs_at(sl_px)) or (not hit_sl and hit_tp
                                                      and theirs_at(tp_px)))):
            reason = "stop-over-signal"
        if not reason:
            problems.append(f"trade {k} ({'long' if d > 0 else 'short'}) exit "
                            f"{w.index[a.exit_idx]} O={o} H={hi} L={lo} "
                            f"SL={sl_px} TP={tp_px}: ours {a.exit_price!r} ({a.reason}) "
                            f"vs theirs {b.exit_price!r}"
                            + (" and ours reverses there, theirs not" if lost_reversal else ""))
            continue
        if lost_reversal:
            i += 1
        documented.append({**item, "reason": reason})
    if not problems and (i < len(ours) or j < len(theirs)):
        problems.append(f"trade count differs: ours {len(ours)}, theirs {len(theirs)}")
    return documented, problems


def _span(w, t) -> str:
    exit_ = "open" if t.exit_idx < 0 else f"{w.index[t.exit_idx]}"
    side = "long" if t.side > 0 else "short"
    return f"{side} {w.index[t.entry_idx]} → {exit_}"


def equity_rel(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Relative difference bar by bar."""
    return np.abs(ours - theirs) / np.maximum(np.abs(ours), np.abs(theirs))


def compare(case: Case, peer: str, res, start: int, ours_tr: pd.DataFrame, run: PeerRun,
            bars: pd.DataFrame, sl: float, tp: float) -> Outcome:
    end = start + len(res.equity) - 1
    w = bars.iloc[start:end + 1]
    theirs = window_metrics(run.equity, w.index, CASH, run.trades, res.periods_per_year)
    rel = {k: rel_diff(float(res.metrics[k]), float(theirs[k])) for k in METRIC_KEYS}
    documented, problems = explain(peer, ours_tr, run.trades, w, sl, tp,
                                   case.slippage_bps / 1e4)
    worst = max(rel, key=rel.get)
    eq = equity_rel(res.equity.to_numpy(), run.equity)
    first_doc = min((w.index.get_loc(pd.Timestamp(d["date"])) for d in documented),
                    default=len(eq))
    eq_before = float(eq[:first_doc].max()) if first_doc else 0.0
    ref = run.reference(res.equity)
    reported_rel = {k: rel_diff(ref[k], run.reported[k]) for k in REPORTED}
    gap = rel_diff(float(res.metrics["sharpe"]), run.reported["sharpe"])
    # Exposure and the trade count never depend on fill prices, nor does the equity before
    # the first documented bar: they must always agree.
    # (A reversal vectorbt drops changes both; it is checked bar by bar in explain().)
    strict = (METRIC_KEYS if not documented else () if any(
        d["lost_reversal"] for d in documented) else ("exposure_pct", "n_trades"))
    for k in strict:
        if rel[k] > TOL:
            problems.append(f"{k}: ours {res.metrics[k]!r} vs theirs {theirs[k]!r}")
    if eq_before > TOL:
        bad = int(np.argmax(eq[:first_doc] > TOL))
        problems.append(f"equity at {w.index[bad]}: ours {res.equity.iloc[bad]!r} vs theirs "
                        f"{run.equity[bad]!r}")
    if not documented:
        for k in REPORTED:
            if reported_rel[k] > TOL:
                problems.append(f"{peer}'s own {k}: {run.reported[k]!r} vs its definition "
                                f"on our equity {ref[k]!r}")
    if problems:
        status = "UNEXPLAINED"
    elif documented:
        status = "documented"
    else:
        status = "agree"
    blocked = 0
    if case.dsi_min:
        up, down = crossings(bars, case)
        signal = up | (down if case.short else False)
        blocked = int(np.sum((signal & ~entry_allowed(bars, case))[start:end]))
    return Outcome(case, peer, status, rel[worst], worst, rel, float(eq.max()), eq_before,
                   reported_rel, gap, documented, problems, dict(res.metrics), theirs,
                   blocked)


# ---------------------------------------------------------------- driver


def synth_window(symbol: str, bars: pd.DataFrame) -> tuple[str, str]:
    first = 3 if symbol in (SYNTH, SYNTH_SHORT) else 30
    return f"{bars.index[first]:%Y-%m-%d}", f"{bars.index[-1]:%Y-%m-%d}"


def build_cases(quick: bool, bars_by: dict) -> list[Case]:
    """Every (feature, symbol, window, parameters, costs) case; see BENCHMARKS.md."""
    cases = []
    for symbol, windows in WINDOWS.items():
        if quick and symbol not in QUICK_SYMBOLS:
            continue
        k = STOP_SCALE[symbol]
        for window in windows[1:] if quick else windows:
            for fast, slow, sl, tp in QUICK_PARAM_SETS if quick else PARAM_SETS:
                base = Case(symbol, window, fast, slow, None if sl is None else sl * k,
                            None if tp is None else tp * k, 10.0, 100.0)
                for short in (False, True):
                    name = "short" if short else "long"
                    cases += [replace(base, fee_bps=fee, position_pct=size, feature=name,
                                      short=short)
                              for fee, size in (QUICK_COSTS if quick else COSTS)]
                    cases.append(replace(base, slippage_bps=SLIPPAGE_BPS, feature="slippage",
                                         short=short))
                    cases.append(replace(base, dsi_min=DSI_MIN, feature="dsi", short=short))
                    if sl is not None:
                        cases += [replace(base, risk_pct=m * base.sl_pct, max_leverage=lev,
                                          feature="risk", short=short)
                                  for m, lev in RISK_SETS]
    for symbol, short in ((SYNTH, False), (SYNTH_SHORT, True)):
        window = synth_window(symbol, bars_by[symbol])
        cases += [Case(symbol, window, 2, 4, 5.0, 5.0, fee, size,
                       feature="short" if short else "long", short=short)
                  for fee, size in COSTS]
    window = synth_window(SYNTH_DSI, bars_by[SYNTH_DSI])
    cases += [Case(SYNTH_DSI, window, 5, 20, 3.0, 6.0, 10.0, 100.0, feature="dsi",
                   short=short, dsi_min=DSI_MIN) for short in (False, True)]
    return cases


def cannot(peer: str, case: Case) -> str | None:
    """The CANNOT key when ``peer`` cannot express ``case``, else None."""
    if peer in (BT, BT_LATE):
        return "slippage" if case.slippage_bps else None
    if case.fraction > 1.0:
        return "leverage"
    if case.short and case.fraction != 1.0:
        return "short-fraction"
    return None


def run(quick: bool, peers: tuple[str, ...]) -> tuple[list[Outcome], dict]:
    base = load_strategy(STRATEGY)
    bars_by = {s: load_bars(s) for s in WINDOWS}
    bars_by[SYNTH] = synthetic_bars()
    bars_by[SYNTH_SHORT] = mirrored(bars_by[SYNTH])
    bars_by[SYNTH_DSI] = synthetic_dsi_bars()
    outcomes, info = [], {"fallbacks": [], "timings": {}, "skipped": {}}
    if "vectorbt" in peers:
        try:
            from vectorbt.portfolio import nb as vbt_nb
        except ImportError as exc:
            info["vectorbt"] = f"not installed ({exc}); install with pip install -e '.[peers]'"
            peers = tuple(p for p in peers if p != "vectorbt")
        else:  # vectorbt compiles its simulator in every process (~10 s): keep it on disk
            vbt_nb.simulate_from_signals_nb.enable_caching()
    names = {"backtesting": (BT, BT_LATE), "vectorbt": (VBT,)}
    jobs = []
    for case in build_cases(quick, bars_by):
        for peer in (n for p in peers for n in names[p]):
            why = cannot(peer, case)
            if why:
                key = (peer, case.feature, why)
                info["skipped"][key] = info["skipped"].get(key, 0) + 1
            else:
                jobs.append((peer, case))
    for peer, case in jobs:
        bars = bars_by[case.symbol]
        sl = case.sl_pct / 100.0 if case.sl_pct else math.inf
        tp = case.tp_pct / 100.0 if case.tp_pct else math.inf
        # vectorbt never checks stops on the entry bar: switch ours off for that comparison.
        strategy = apply_overrides(base, case.overrides(entry_bar_stops=peer == BT))
        res, start, ours_tr = run_ours(strategy, bars, case)
        end = start + len(res.equity) - 1
        t0 = time.perf_counter()
        if peer in (BT, BT_LATE):
            peer_run = run_backtesting_py(bars, start, end, case, sl, tp, peer == BT_LATE)
            info["fallbacks"] += [(case.label, ts) for ts in peer_run.notes]
        else:
            peer_run = run_vectorbt(bars, start, end, case, sl, tp, res.periods_per_year)
        info["timings"][peer] = info["timings"].get(peer, 0.0) + time.perf_counter() - t0
        outcomes.append(compare(case, peer, res, start, ours_tr, peer_run, bars, sl, tp))
    return outcomes, info


def _fmt_rel(x: float) -> str:
    return "0" if x == 0 else ("inf" if math.isinf(x) else f"{x:.1e}")


def _versions() -> str:
    import backtesting

    out = f"backtesting.py {backtesting.__version__}"
    try:
        import vectorbt

        out += f", vectorbt {vectorbt.__version__}"
    except ImportError:
        pass
    return out


def _groups(outcomes: list[Outcome]) -> dict:
    """(feature, peer) -> outcomes, in table order."""
    out: dict = {}
    for f in FEATURES:
        for p in PEERS:
            rows = [o for o in outcomes if o.case.feature == f and o.peer == p]
            if rows:
                out[(f, p)] = rows
    return out


def _summary(rows: list[Outcome]) -> dict:
    agree = [o for o in rows if o.status == "agree"]
    docs = [o for o in rows if o.status == "documented"]
    gaps = [o.definition_gap for o in agree if math.isfinite(o.definition_gap)]
    return {
        "cases": len(rows),
        "agree": len(agree),
        "documented": len(docs),
        "unexplained": sum(o.status == "UNEXPLAINED" for o in rows),
        "max_rel_metrics": max((o.max_rel for o in agree), default=0.0),
        "max_rel_equity": max((o.equity_rel for o in agree), default=0.0),
        "max_rel_equity_before_documented": max((o.equity_rel_before for o in docs),
                                                default=0.0),
        "max_rel_reported": {k: max((o.reported_rel[k] for o in agree), default=0.0)
                             for k in REPORTED},
        "sharpe_definition_gap": {"median": float(np.median(gaps)) if gaps else None,
                                  "max": max(gaps, default=None)},
        "dsi_blocked_signals": sum(o.blocked for o in rows),
    }


def report(outcomes: list[Outcome], info: dict, elapsed: float, verbose: bool) -> None:
    print(f"crosscheck: {STRATEGY.relative_to(ROOT)} vs {_versions()}; "
          f"tolerance {TOL:g} relative; cash {CASH:g} on both sides")
    if "vectorbt" in info:
        print(f"vectorbt: {info['vectorbt']}")
    groups = _groups(outcomes)
    print("\nper feature and peer; max relative differences over the cases that agree "
          "(equity: bar by bar;\nreturn/maxdd/sharpe: the peer's own figure vs its definition "
          "on our equity; ours: our formulas\non the peer's equity and trades; before-doc: "
          "equity up to the first documented bar)")
    head = (f"{'feature':<9}{'peer':<18}{'cases':>6}{'agree':>6}{'doc':>5}{'unexp':>6}"
            f"{'equity':>9}{'before-doc':>11}{'return':>9}{'maxdd':>9}{'sharpe':>9}{'ours':>9}")
    print(head)
    for (f, p), rows in groups.items():
        s = _summary(rows)
        r = s["max_rel_reported"]
        print(f"{f:<9}{p:<18}{s['cases']:>6}{s['agree']:>6}{s['documented']:>5}"
              f"{s['unexplained']:>6}{_fmt_rel(s['max_rel_equity']):>9}"
              f"{_fmt_rel(s['max_rel_equity_before_documented']):>11}"
              + "".join(f"{_fmt_rel(r[k]):>9}" for k in REPORTED)
              + f"{_fmt_rel(s['max_rel_metrics']):>9}")
    if info["skipped"]:
        print("\nnot expressible by the peer (not run):")
        for (p, f, why), n in info["skipped"].items():
            print(f"  {p:<16} {f:<9} {n:>4} case(s): {why}")
    print("\npeer-reported Sharpe vs our Sharpe (different definitions), agreeing cases:")
    for p in PEERS:
        gaps = [o.definition_gap for o in outcomes if o.peer == p and o.status == "agree"
                and math.isfinite(o.definition_gap)]
        if gaps:
            print(f"  {p:<16} relative gap median {np.median(gaps):.1e}, max {max(gaps):.1e}")
    blocked = sum(o.blocked for o in outcomes if o.peer in (BT, VBT))
    if blocked:
        print(f"\nDSI: {blocked} entry signals fell on bars below the threshold and were "
              "blocked on both sides (backtesting.py and vectorbt runs)")

    docs = [(o, d) for o in outcomes for d in o.documented]
    if docs:
        exits: dict = {}
        cases: dict = {}
        for o, d in docs:
            key = (o.peer, d["reason"])
            exits[key] = exits.get(key, 0) + 1
            cases.setdefault(key, set()).add(o.case)
        print("\ndocumented differences: " + "; ".join(
            f"{p} {r}: {n} trade exit(s) in {len(cases[(p, r)])} case(s)"
            for (p, r), n in exits.items()))
        print("  distinct bars (ours is design.md's rule; theirs is the peer's):")
        seen = set()
        for o, d in docs:
            key = (o.peer, o.case.symbol, d["date"], d["reason"], d["side"])
            if key in seen:
                continue
            seen.add(key)
            print(f"  {o.peer:<16} {d['reason']:<16} {o.case.symbol:<9} {d['date'][:16]} "
                  f"{'long' if d['side'] > 0 else 'short':<5} "
                  f"O={d['open']:.6g} H={d['high']:.6g} L={d['low']:.6g} C={d['close']:.6g}  "
                  f"SL={d['sl']:.6g} TP={d['tp']:.6g}  ours {d['ours']:.6g} "
                  f"({d['ours_reason']}) vs theirs {d['theirs']:.6g}  "
                  f"[{o.case.fast}/{o.case.slow}]")
        if verbose:
            print("  cases:")
            for o in outcomes:
                if o.status == "documented":
                    print(f"    {o.peer:<14} {o.case.label}: {len(o.documented)} bar(s), "
                          f"metrics differ by up to {_fmt_rel(o.max_rel)} ({o.worst})")

    bad = [o for o in outcomes if o.status == "UNEXPLAINED"]
    if bad:
        print("\nUNEXPLAINED differences (engine bug or a new rule difference):")
        for o in bad:
            print(f"  {o.peer} {o.case.label}:")
            for p in o.problems[:10]:
                print(f"    {p}")
    if info["fallbacks"]:
        bars = sorted({ts for _, ts in info["fallbacks"]})
        print(f"\nbacktesting.py rejected buy()/sell() with sl/tp for {len(info['fallbacks'])} "
              f"entries ({len(bars)} distinct signal bars) because the next open gapped beyond "
              "a level relative to the signal close; the same levels were set on the order.")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in info["timings"].items())
    print(f"\nelapsed {elapsed:.1f}s ({timings}); exit status "
          f"{1 if bad else 0}{' (unexplained differences)' if bad else ''}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="test windows only (the subset `make test` runs)")
    ap.add_argument("--json", action="store_true", help="print a JSON summary")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="list the cases that differ for a documented reason")
    ap.add_argument("--peer", choices=("backtesting", "vectorbt"), action="append",
                    help="only this peer (repeatable)")
    args = ap.parse_args(argv)
    peers = tuple(args.peer or ("backtesting", "vectorbt"))
    t0 = time.perf_counter()
    outcomes, info = run(args.quick, peers)
    elapsed = time.perf_counter() - t0
    unexplained = [o for o in outcomes if o.status == "UNEXPLAINED"]
    if args.json:
        print(json.dumps(_json(outcomes, info, elapsed), indent=2, default=_jsonable))
    else:
        report(outcomes, info, elapsed, args.verbose)
    return 1 if unexplained else 0


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


def _json(outcomes: list[Outcome], info: dict, elapsed: float) -> dict:
    table = {f"{f} / {p}": _clean(_summary(rows)) for (f, p), rows in _groups(outcomes).items()}
    peers = {}
    for p in PEERS:
        rows = [o for o in outcomes if o.peer == p]
        if rows:
            peers[p] = _clean(_summary(rows))
    return {
        "tolerance": TOL,
        "elapsed_s": elapsed,
        "peers": peers,
        "table": table,
        "not_expressible": [{"peer": p, "feature": f, "cases": n, "why": why,
                             "reason": CANNOT[why][1]}
                            for (p, f, why), n in info["skipped"].items()],
        "documented": [{"peer": o.peer, "case": o.case.label, **{k: _clean(v) for k, v in
                                                                  d.items()}}
                       for o in outcomes for d in o.documented],
        "unexplained": [{"peer": o.peer, "case": o.case.label, "problems": o.problems}
                        for o in outcomes if o.status == "UNEXPLAINED"],
        "versions": _versions(),
        "backtesting_gap_fallbacks": len(info["fallbacks"]),
    }


if __name__ == "__main__":
    sys.exit(main())
