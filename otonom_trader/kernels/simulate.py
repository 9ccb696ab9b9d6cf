"""The backtest kernel: one strategy over one window, on plain arrays.

It follows design.md's engine conventions exactly; ``otonom_trader.engine.reference`` is its
readable pure-Python twin and the tests check that both agree. ``simulate_nb`` walks the bars
and calls one small step per rule, in the order of design.md: a pending signal exit, the
open-stop (``open_stop_nb``), a pending entry (``enter_nb``), the intrabar stop
(``intrabar_stop_nb``), the close-mark (``add_return_nb``, ``add_block_nb``,
``drawdown_nb``) and the signals at the close (``signals_nb``); every exit goes through
``close_trade_nb``, and ``metrics_nb`` turns the sums into the metrics vector. The steps
take and return plain values and NamedTuples and are inlined into the loop
(``inline="always"``); the split costs no speed (BENCHMARKS.md).
"""

import math
from typing import NamedTuple

import numpy as np

from otonom_trader.kernels.enums import (
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    M_CAGR,
    M_CALMAR,
    M_EXPOSURE,
    M_FINAL_EQUITY,
    M_MAX_DRAWDOWN,
    M_N_TRADES,
    M_PROFIT_FACTOR,
    M_SHARPE,
    M_SORTINO,
    M_TOTAL_RETURN,
    M_WIN_RATE,
    NO_EXIT,
    ZERO_VARIANCE,
)
from otonom_trader.kernels.jit import njit


class Position(NamedTuple):
    """The position held: ``side`` +1 long, -1 short, 0 flat (then ``units`` is 0)."""

    side: int
    units: float
    entry_idx: int
    entry_px: float
    entry_fee: float
    sl_px: float
    tp_px: float


class TradeBook(NamedTuple):
    """Trade records written, closed trades, winners, gross profit and gross loss."""

    rows: int
    closed: int
    wins: int
    profit: float
    loss: float


class ReturnStats(NamedTuple):
    """The bar returns' count, sum, sum of squares, Welford mean and sum of squared
    deviations, and sum of squared negative returns."""

    n: int
    total: float
    total_sq: float
    mean: float
    m2: float
    down_sq: float


@njit(cache=True, inline="always")
def crossed_above_nb(prev: float, cur: float, level: float) -> bool:
    """``prev < level < cur``; NaN never crosses."""
    return prev < level and cur > level


@njit(cache=True, inline="always")
def crossed_below_nb(prev: float, cur: float, level: float) -> bool:
    """``prev > level > cur``; NaN never crosses."""
    return prev > level and cur < level


@njit(cache=True, inline="always")
def flat_nb() -> Position:
    """No position (after an exit, or before the first entry)."""
    return Position(0, 0.0, -1, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True, inline="always")
def open_stop_nb(pos: Position, open_t: float):
    """Rule (2), at the open: a gap through a level fills at the open, never at the stale
    level; stop-loss first. Returns (price before slippage, reason) or (0, NO_EXIT)."""
    if pos.side == 1:
        if open_t <= pos.sl_px:
            return open_t, EXIT_STOP_LOSS
        if open_t >= pos.tp_px:
            return open_t, EXIT_TAKE_PROFIT
    else:
        if open_t >= pos.sl_px:
            return open_t, EXIT_STOP_LOSS
        if open_t <= pos.tp_px:
            return open_t, EXIT_TAKE_PROFIT
    return 0.0, NO_EXIT


@njit(cache=True, inline="always")
def intrabar_stop_nb(pos: Position, high_t: float, low_t: float):
    """Rule (3), intrabar: touching a level fills at the level; both touched -> stop-loss
    (the pessimistic reading). Returns (price before slippage, reason) or (0, NO_EXIT)."""
    if pos.side == 1:
        if low_t <= pos.sl_px:
            return pos.sl_px, EXIT_STOP_LOSS
        if high_t >= pos.tp_px:
            return pos.tp_px, EXIT_TAKE_PROFIT
    else:
        if high_t >= pos.sl_px:
            return pos.sl_px, EXIT_STOP_LOSS
        if low_t <= pos.tp_px:
            return pos.tp_px, EXIT_TAKE_PROFIT
    return 0.0, NO_EXIT


@njit(cache=True, inline="always")
def write_trade_nb(trades_out, row, pos: Position, exit_idx, exit_px, fees, pnl, reason):
    """Fill record ``row`` of ``trades_out`` (a ``trade_dt`` array)."""
    rec = trades_out[row]
    rec["entry_idx"] = pos.entry_idx
    rec["exit_idx"] = exit_idx
    rec["side"] = pos.side
    rec["units"] = pos.units
    rec["entry_price"] = pos.entry_px
    rec["exit_price"] = exit_px
    rec["fees"] = fees
    rec["pnl"] = pnl
    rec["return"] = pnl / (pos.units * pos.entry_px)
    rec["reason"] = reason


@njit(cache=True, inline="always")
def close_trade_nb(cash, book: TradeBook, trades_out, pos: Position, t, level, reason, p):
    """The exit bookkeeping every exit shares: slippage moves the fill at ``level`` against
    the trader, the fee is taken, the trade is recorded (in ``trades_out`` if room) and the
    position goes flat. Returns (cash, book, flat position)."""
    exit_px = level * (1.0 - p.slippage * pos.side)
    fee = pos.units * exit_px * p.fee
    pnl = pos.side * pos.units * (exit_px - pos.entry_px) - pos.entry_fee - fee
    rows = book.rows
    if rows < trades_out.shape[0]:
        write_trade_nb(trades_out, rows, pos, t, exit_px, pos.entry_fee + fee, pnl, reason)
        rows += 1
    if pnl > 0:
        book = TradeBook(rows, book.closed + 1, book.wins + 1, book.profit + pnl, book.loss)
    else:
        book = TradeBook(rows, book.closed + 1, book.wins, book.profit, book.loss - pnl)
    cash += pos.side * pos.units * exit_px - fee
    return cash, book, flat_nb()


@njit(cache=True, inline="always")
def enter_nb(cash, side, open_t, t, p):
    """A pending entry fills at the open (slipped against the trader), sized to a fraction
    of current equity with the fee included; stops from the fill. Returns (cash, position,
    entered); no entry without a positive fill price and cash."""
    fill = open_t * (1.0 + p.slippage * side)
    if fill > 0.0 and cash > 0.0:
        units = p.fraction * cash / (fill * (1.0 + p.fee))
        entry_fee = units * fill * p.fee
        cash -= side * units * fill + entry_fee
        pos = Position(side, units, t, fill, entry_fee, fill * (1.0 - side * p.sl),
                       fill * (1.0 + side * p.tp))
        return cash, pos, True
    return cash, flat_nb(), False


@njit(cache=True, inline="always")
def add_return_nb(n, total, total_sq, mean, m2, down_sq, r):
    """The return statistics (``ReturnStats`` fields, as scalars) with return ``r`` added;
    the variance by Welford's update (stable when the mean dwarfs the dispersion)."""
    n += 1
    total += r
    total_sq += r * r
    delta = r - mean
    mean += delta / n
    m2 += delta * (r - mean)
    if r < 0.0:
        down_sq += r * r
    return n, total, total_sq, mean, m2, down_sq


@njit(cache=True, inline="always")
def add_block_nb(blocks_out, b, r):
    """Add return ``r`` to block ``b``'s (count, sum, sum of squares) for PBO."""
    blocks_out[b, 0] += 1.0
    blocks_out[b, 1] += r
    blocks_out[b, 2] += r * r


@njit(cache=True, inline="always")
def drawdown_nb(peak, max_dd, equity):
    """(peak, deepest drawdown) after marking ``equity``; divides only on a deeper one."""
    if equity > peak:
        peak = equity
    elif equity < peak * (1.0 - max_dd):
        max_dd = 1.0 - equity / peak
    return peak, max_dd


@njit(cache=True, inline="always")
def signals_nb(s0, s1, dsi_t, side, p):
    """The signals at a close: (pending exit, pending entry side or 0). An exit on the
    opposite crossing of ``exit_threshold``; an entry (also a reversal after that exit)
    on a crossing of ``entry_threshold`` while the bar's DSI is at least ``min_dsi``."""
    pending_exit = (side == 1 and crossed_below_nb(s0, s1, p.exit_threshold)) or (
        side == -1 and crossed_above_nb(s0, s1, -p.exit_threshold)
    )
    pending_side = 0
    if (side == 0 or pending_exit) and dsi_t >= p.min_dsi:
        if side != 1 and crossed_above_nb(s0, s1, p.entry_threshold):
            pending_side = 1
        elif p.allow_short and side != -1 and crossed_below_nb(s0, s1, -p.entry_threshold):
            pending_side = -1
    return pending_exit, pending_side


@njit(cache=True, inline="always")
def metrics_nb(metrics_out, final, max_dd, m: ReturnStats, book: TradeBook, exposed_bars,
               n_bars, years, periods_per_year, init_cash):
    """Write the 11 metrics from the final equity, the deepest drawdown, the return
    statistics and the trade book (design.md's formulas)."""
    metrics_out[M_TOTAL_RETURN] = final / init_cash - 1.0
    if years > 0.0:
        metrics_out[M_CAGR] = (final / init_cash) ** (1.0 / years) - 1.0 if final > 0 else -1.0
    else:
        metrics_out[M_CAGR] = np.nan
    ann = math.sqrt(periods_per_year)
    n_ret = m.n
    mean_ret = m.total / n_ret if n_ret > 0 else 0.0
    if n_ret > 1 and m.m2 > ZERO_VARIANCE * m.total_sq:
        metrics_out[M_SHARPE] = mean_ret / math.sqrt(m.m2 / (n_ret - 1)) * ann
    else:
        metrics_out[M_SHARPE] = np.nan
    down = math.sqrt(m.down_sq / n_ret) if n_ret > 0 else 0.0
    metrics_out[M_SORTINO] = mean_ret / down * ann if down > 0.0 else np.nan
    metrics_out[M_MAX_DRAWDOWN] = max_dd
    metrics_out[M_CALMAR] = metrics_out[M_CAGR] / max_dd if max_dd > 0.0 else np.nan
    metrics_out[M_WIN_RATE] = book.wins / book.closed if book.closed > 0 else np.nan
    if book.loss > 0.0:
        metrics_out[M_PROFIT_FACTOR] = book.profit / book.loss
    else:
        metrics_out[M_PROFIT_FACTOR] = np.inf if book.profit > 0.0 else np.nan
    metrics_out[M_EXPOSURE] = exposed_bars / n_bars
    metrics_out[M_N_TRADES] = book.closed
    metrics_out[M_FINAL_EQUITY] = final


@njit(cache=True)
def simulate_nb(
    open_, high, low, close, score, dsi, start, end, years, periods_per_year,
    p, metrics_out, equity_out, trades_out, block_of, blocks_out,
):
    """Run one backtest over bars ``start..end`` (inclusive) and write its metrics.

    ``score`` is the ensemble score per bar (computed on all data, so warm at ``start``);
    ``dsi`` the data-quality score per bar (entries decided where ``dsi < p.min_dsi`` are
    blocked). Optional outputs, skipped when given with length 0: ``equity_out`` (len ≥ end+1)
    receives the close-marked equity, ``trades_out`` (a ``trade_dt`` array) the trades, and
    ``blocks_out[b]`` adds (count, sum, sum of squares) of the returns of bars t with
    ``block_of[t] == b``. Returns the number of trade records written (closed trades, then
    the open one if any).
    """
    record_equity = equity_out.shape[0] > 0
    record_blocks = blocks_out.shape[0] > 0

    cash = p.init_cash
    pos = flat_nb()
    pending_exit = False
    pending_side = 0
    book = TradeBook(0, 0, 0, 0.0, 0.0)
    # The close-mark statistics stay loop scalars: carried in a NamedTuple rebuilt every
    # bar, they cost about a fifth of the kernel's speed (measured).
    prev_equity = peak = p.init_cash
    max_dd = 0.0
    n_ret, sum_ret, sum_sq, mean_ret, m2, down_sq = 0, 0.0, 0.0, 0.0, 0.0, 0.0
    exposed_bars = 0

    for t in range(start, end + 1):
        held_into_bar = pos.side != 0
        entered = False

        # (1) a pending signal exit fills at the open; nothing else happens to that position.
        # (2) else, at the open: a gap through a level fills at the open.
        if pending_exit:
            cash, book, pos = close_trade_nb(cash, book, trades_out, pos, t, open_[t],
                                             EXIT_SIGNAL, p)
            pending_exit = False
        elif pos.side != 0:
            level, reason = open_stop_nb(pos, open_[t])
            if reason != NO_EXIT:
                cash, book, pos = close_trade_nb(cash, book, trades_out, pos, t, level, reason,
                                                 p)

        # A pending entry fills at the open (after a signal exit on a reversal).
        if pending_side != 0:
            cash, new_pos, entered = enter_nb(cash, pending_side, open_[t], t, p)
            if entered:
                pos = new_pos
            pending_side = 0

        # (3) intrabar: touching a level counts; both touched -> stop-loss.
        if pos.side != 0 and (not entered or p.entry_bar_stops):
            level, reason = intrabar_stop_nb(pos, high[t], low[t])
            if reason != NO_EXIT:
                cash, book, pos = close_trade_nb(cash, book, trades_out, pos, t, level, reason,
                                                 p)

        if held_into_bar or entered:
            exposed_bars += 1

        # Mark to the close and update the return statistics (bar `start` has no return).
        equity = cash + pos.side * pos.units * close[t]
        if record_equity:
            equity_out[t] = equity
        if t > start:
            r = equity / prev_equity - 1.0
            n_ret, sum_ret, sum_sq, mean_ret, m2, down_sq = add_return_nb(
                n_ret, sum_ret, sum_sq, mean_ret, m2, down_sq, r)
            if record_blocks and block_of[t] >= 0:
                add_block_nb(blocks_out, block_of[t], r)
        prev_equity = equity
        peak, max_dd = drawdown_nb(peak, max_dd, equity)

        # Signals at the close of t execute at the open of t+1, which must be inside the window.
        if t < end and t > 0:
            pending_exit, pending_side = signals_nb(score[t - 1], score[t], dsi[t], pos.side, p)

    n_rows = book.rows
    if pos.side != 0 and n_rows < trades_out.shape[0]:
        mark = close[end]
        pnl = pos.side * pos.units * (mark - pos.entry_px) - pos.entry_fee
        write_trade_nb(trades_out, n_rows, pos, -1, mark, pos.entry_fee, pnl, EXIT_OPEN)
        n_rows += 1
    stats = ReturnStats(n_ret, sum_ret, sum_sq, mean_ret, m2, down_sq)
    metrics_nb(metrics_out, prev_equity, max_dd, stats, book, exposed_bars, end - start + 1,
               years, periods_per_year, p.init_cash)
    return n_rows
