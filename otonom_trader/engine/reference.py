"""A readable pure-Python twin of the backtest kernel, written from design.md's rules.

It is slow and plain on purpose: tests run it beside ``kernels.simulate.simulate_nb`` on
random paths and require the same trades, equity and metrics. Metrics here are computed
from the whole equity curve with numpy, independently of the kernel's one-pass formulas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from otonom_trader.kernels.enums import ZERO_VARIANCE, SimParams


@dataclass
class Trade:
    entry_idx: int
    side: int
    units: float
    entry_price: float
    entry_fee: float
    exit_idx: int = -1
    exit_price: float = math.nan
    exit_fee: float = 0.0
    reason: str = "open"
    sl: float = math.nan
    tp: float = math.nan

    @property
    def pnl(self) -> float:
        return self.side * self.units * (self.exit_price - self.entry_price) - (
            self.entry_fee + self.exit_fee
        )


@dataclass
class ReferenceResult:
    equity: list[float]
    trades: list[Trade] = field(default_factory=list)
    exposed_bars: int = 0


def reference_backtest(bars, score, dsi, start: int, end: int, p: SimParams):
    """Simulate bars ``start..end`` one rule at a time; ``bars`` has open/high/low/close."""
    o, h, lo, c = bars["open"], bars["high"], bars["low"], bars["close"]
    cash = p.init_cash
    trade: Trade | None = None  # the open position
    pending_exit = False
    pending_side = 0
    result = ReferenceResult(equity=[])

    def close_trade(t: int, price: float, reason: str) -> None:
        nonlocal cash, trade
        price = price * (1 - p.slippage) if trade.side == 1 else price * (1 + p.slippage)
        trade.exit_idx, trade.exit_price, trade.reason = t, price, reason
        trade.exit_fee = trade.units * price * p.fee
        cash += trade.side * trade.units * price - trade.exit_fee
        result.trades.append(trade)
        trade = None

    for t in range(start, end + 1):
        exposed = trade is not None
        # Rule 1: a signal exit decided at the previous close fills at this open.
        if pending_exit:
            close_trade(t, o[t], "signal")
            pending_exit = False
        elif trade is not None:
            # Rule 2: the open gaps through a stop level.
            if trade.side == 1 and o[t] <= trade.sl:
                close_trade(t, o[t], "stop_loss")
            elif trade.side == 1 and o[t] >= trade.tp:
                close_trade(t, o[t], "take_profit")
            elif trade.side == -1 and o[t] >= trade.sl:
                close_trade(t, o[t], "stop_loss")
            elif trade.side == -1 and o[t] <= trade.tp:
                close_trade(t, o[t], "take_profit")

        entered_now = False
        if pending_side != 0:
            side = pending_side
            pending_side = 0
            fill = o[t] * (1 + p.slippage) if side == 1 else o[t] * (1 - p.slippage)
            if fill > 0 and cash > 0:
                units = p.fraction * cash / (fill * (1 + p.fee))
                trade = Trade(t, side, units, fill, units * fill * p.fee)
                trade.sl = fill * (1 - p.sl) if side == 1 else fill * (1 + p.sl)
                trade.tp = fill * (1 + p.tp) if side == 1 else fill * (1 - p.tp)
                cash -= side * units * fill + trade.entry_fee
                entered_now = True
                exposed = True

        # Rule 3: intrabar touches; stop-loss wins when both levels are touched.
        if trade is not None and (p.entry_bar_stops or not entered_now):
            if trade.side == 1:
                if lo[t] <= trade.sl:
                    close_trade(t, trade.sl, "stop_loss")
                elif h[t] >= trade.tp:
                    close_trade(t, trade.tp, "take_profit")
            else:
                if h[t] >= trade.sl:
                    close_trade(t, trade.sl, "stop_loss")
                elif lo[t] <= trade.tp:
                    close_trade(t, trade.tp, "take_profit")

        result.exposed_bars += exposed
        held = 0.0 if trade is None else trade.side * trade.units * c[t]
        result.equity.append(cash + held)

        # Signals at this close; they fill at the next open, so not on the last bar.
        if t == end or t == 0:
            continue
        prev, cur = score[t - 1], score[t]
        side_now = 0 if trade is None else trade.side
        if side_now == 1 and prev > p.exit_threshold > cur:
            pending_exit = True
        if side_now == -1 and prev < -p.exit_threshold < cur:
            pending_exit = True
        if (side_now == 0 or pending_exit) and dsi[t] >= p.min_dsi:
            if side_now != 1 and prev < p.entry_threshold < cur:
                pending_side = 1
            elif p.allow_short and side_now != -1 and prev > -p.entry_threshold > cur:
                pending_side = -1

    if trade is not None:
        trade.exit_price = c[end]
        result.trades.append(trade)
    return result


def reference_metrics(equity, trades, years: float, periods_per_year: float) -> dict:
    """design.md's metric formulas applied to a close-marked equity curve."""
    e = np.asarray(equity, dtype=float)
    r = e[1:] / e[:-1] - 1
    closed = [t for t in trades if t.reason != "open"]
    pnl = np.array([t.pnl for t in closed])
    ann = math.sqrt(periods_per_year)
    flat = len(r) < 2 or not ((r - r.mean()) ** 2).sum() > ZERO_VARIANCE * (r * r).sum()
    std = math.nan if flat else r.std(ddof=1)
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2)) if len(r) else 0.0
    max_dd = float(np.max(1 - e / np.maximum.accumulate(e)))
    cagr = (e[-1] / e[0]) ** (1 / years) - 1 if e[-1] > 0 else -1.0
    gross_profit, gross_loss = pnl[pnl > 0].sum(), -pnl[pnl <= 0].sum()
    if gross_loss > 0:
        profit_factor = gross_profit / gross_loss
    else:
        profit_factor = math.inf if gross_profit > 0 else math.nan
    return {
        "total_return": e[-1] / e[0] - 1,
        "cagr": cagr,
        "sharpe": math.nan if flat else r.mean() / std * ann,
        "sortino": r.mean() / downside * ann if downside > 0 else math.nan,
        "max_drawdown": max_dd,
        "calmar": cagr / max_dd if max_dd > 0 else math.nan,
        "win_rate": (pnl > 0).mean() if len(pnl) else math.nan,
        "profit_factor": profit_factor,
        "n_trades": len(closed),
        "final_equity": e[-1],
    }
