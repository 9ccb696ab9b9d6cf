"""The backtest kernel: one strategy over one window, on plain arrays.

It follows design.md's engine conventions exactly; ``otonom_trader.engine.reference`` is its
readable pure-Python twin and the tests check that both agree.
"""

import math

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
    T_ENTRY_IDX,
    T_ENTRY_PRICE,
    T_EXIT_IDX,
    T_EXIT_PRICE,
    T_FEES,
    T_PNL,
    T_REASON,
    T_RETURN,
    T_SIDE,
    T_UNITS,
    ZERO_VARIANCE,
)
from otonom_trader.kernels.jit import njit

# Slots of the trade book.
B_ROWS = 0
B_CLOSED = 1
B_WINS = 2
B_PROFIT = 3
B_LOSS = 4


@njit(cache=True)
def crossed_above_nb(prev: float, cur: float, level: float) -> bool:
    """``prev < level < cur``; NaN never crosses."""
    return prev < level and cur > level


@njit(cache=True)
def crossed_below_nb(prev: float, cur: float, level: float) -> bool:
    """``prev > level > cur``; NaN never crosses."""
    return prev > level and cur < level


@njit(cache=True)
def simulate_nb(
    open_, high, low, close, score, dsi, start, end, years, periods_per_year,
    p, metrics_out, equity_out, trades_out, block_of, blocks_out,
):
    """Run one backtest over bars ``start..end`` (inclusive) and write its metrics.

    ``score`` is the ensemble score per bar (computed on all data, so warm at ``start``);
    ``dsi`` the data-quality score per bar (entries decided where ``dsi < p.min_dsi`` are
    blocked). Optional outputs, skipped when given with length 0: ``equity_out`` (len ≥ end+1)
    receives the close-marked equity, ``trades_out`` the trades, and ``blocks_out[b]`` adds
    (count, sum, sum of squares) of the returns of bars t with ``block_of[t] == b``.
    Returns the number of trade rows written (closed trades, then the open one if any).
    """
    record_equity = equity_out.shape[0] > 0
    record_blocks = blocks_out.shape[0] > 0
    max_trades = trades_out.shape[0]

    cash = p.init_cash
    pos = 0  # +1 long, -1 short, 0 flat
    units = 0.0
    entry_px = 0.0
    entry_fee = 0.0
    entry_idx = -1
    sl_px = 0.0
    tp_px = 0.0
    pending_exit = False
    pending_side = 0

    # Trade book: rows written, closed trades, wins, gross profit, gross loss.
    book = np.zeros(5)
    exposed_bars = 0

    prev_equity = p.init_cash
    peak = p.init_cash
    max_dd = 0.0
    n_ret = 0
    sum_ret = 0.0
    sum_sq = 0.0
    mean_run = 0.0  # Welford: running mean and sum of squared deviations (stable variance)
    m2 = 0.0
    down_sq = 0.0

    for t in range(start, end + 1):
        held_into_bar = pos != 0
        entered = False
        exit_px = 0.0
        exit_reason = -1

        # (1) a pending signal exit fills at the open; nothing else happens to that position.
        if pending_exit:
            exit_px = open_[t] * (1.0 - p.slippage * pos)
            exit_reason = EXIT_SIGNAL
            pending_exit = False
        elif pos != 0:
            # (2) at the open: a gap through a level fills at the open.
            if pos == 1:
                if open_[t] <= sl_px:
                    exit_px, exit_reason = open_[t], EXIT_STOP_LOSS
                elif open_[t] >= tp_px:
                    exit_px, exit_reason = open_[t], EXIT_TAKE_PROFIT
            else:
                if open_[t] >= sl_px:
                    exit_px, exit_reason = open_[t], EXIT_STOP_LOSS
                elif open_[t] <= tp_px:
                    exit_px, exit_reason = open_[t], EXIT_TAKE_PROFIT
            if exit_reason >= 0:
                exit_px = exit_px * (1.0 - p.slippage * pos)

        if exit_reason >= 0:
            cash += _book_exit_nb(book, trades_out, entry_idx, t, pos, units, entry_px,
                                  entry_fee, exit_px, exit_reason, p.fee)
            pos = 0
            units = 0.0

        # A pending entry fills at the open (after a signal exit on a reversal).
        if pending_side != 0:
            fill = open_[t] * (1.0 + p.slippage * pending_side)
            if fill > 0.0 and cash > 0.0:
                pos = pending_side
                units = p.fraction * cash / (fill * (1.0 + p.fee))
                entry_fee = units * fill * p.fee
                cash -= pos * units * fill + entry_fee
                entry_px = fill
                entry_idx = t
                sl_px = fill * (1.0 - pos * p.sl)
                tp_px = fill * (1.0 + pos * p.tp)
                entered = True
            pending_side = 0

        # (3) intrabar: touching a level counts; both touched -> stop-loss.
        if pos != 0 and (not entered or p.entry_bar_stops):
            exit_reason = -1
            if pos == 1:
                if low[t] <= sl_px:
                    exit_px, exit_reason = sl_px, EXIT_STOP_LOSS
                elif high[t] >= tp_px:
                    exit_px, exit_reason = tp_px, EXIT_TAKE_PROFIT
            else:
                if high[t] >= sl_px:
                    exit_px, exit_reason = sl_px, EXIT_STOP_LOSS
                elif low[t] <= tp_px:
                    exit_px, exit_reason = tp_px, EXIT_TAKE_PROFIT
            if exit_reason >= 0:
                exit_px = exit_px * (1.0 - p.slippage * pos)
                cash += _book_exit_nb(book, trades_out, entry_idx, t, pos, units, entry_px,
                                      entry_fee, exit_px, exit_reason, p.fee)
                pos = 0
                units = 0.0

        if held_into_bar or entered:
            exposed_bars += 1

        # Mark to the close and update the return statistics (bar `start` has no return).
        equity = cash + pos * units * close[t]
        if record_equity:
            equity_out[t] = equity
        if t > start:
            r = equity / prev_equity - 1.0
            n_ret += 1
            sum_ret += r
            sum_sq += r * r
            delta = r - mean_run
            mean_run += delta / n_ret
            m2 += delta * (r - mean_run)
            if r < 0.0:
                down_sq += r * r
            if record_blocks and block_of[t] >= 0:
                b = block_of[t]
                blocks_out[b, 0] += 1.0
                blocks_out[b, 1] += r
                blocks_out[b, 2] += r * r
        prev_equity = equity
        if equity > peak:
            peak = equity
        elif equity < peak * (1.0 - max_dd):  # a deeper drawdown: divide only then
            max_dd = 1.0 - equity / peak

        # Signals at the close of t execute at the open of t+1, which must be inside the window.
        if t < end and t > 0:
            s0 = score[t - 1]
            s1 = score[t]
            pending_exit = (pos == 1 and crossed_below_nb(s0, s1, p.exit_threshold)) or (
                pos == -1 and crossed_above_nb(s0, s1, -p.exit_threshold)
            )
            if (pos == 0 or pending_exit) and dsi[t] >= p.min_dsi:
                if pos != 1 and crossed_above_nb(s0, s1, p.entry_threshold):
                    pending_side = 1
                elif p.allow_short and pos != -1 and crossed_below_nb(
                    s0, s1, -p.entry_threshold
                ):
                    pending_side = -1

    n_rows = int(book[B_ROWS])
    if pos != 0 and n_rows < max_trades:
        mark = close[end]
        pnl = pos * units * (mark - entry_px) - entry_fee
        _write_trade_nb(trades_out[n_rows], entry_idx, -1, pos, units, entry_px, mark,
                        entry_fee, pnl, EXIT_OPEN)
        n_rows += 1
    n_closed = book[B_CLOSED]
    gross_profit = book[B_PROFIT]
    gross_loss = book[B_LOSS]

    final = prev_equity
    total = final / p.init_cash - 1.0
    metrics_out[M_TOTAL_RETURN] = total
    if years > 0.0:
        metrics_out[M_CAGR] = (final / p.init_cash) ** (1.0 / years) - 1.0 if final > 0 else -1.0
    else:
        metrics_out[M_CAGR] = np.nan
    ann = math.sqrt(periods_per_year)
    mean_ret = sum_ret / n_ret if n_ret > 0 else 0.0
    if n_ret > 1 and m2 > ZERO_VARIANCE * sum_sq:
        metrics_out[M_SHARPE] = mean_ret / math.sqrt(m2 / (n_ret - 1)) * ann
    else:
        metrics_out[M_SHARPE] = np.nan
    down = math.sqrt(down_sq / n_ret) if n_ret > 0 else 0.0
    metrics_out[M_SORTINO] = mean_ret / down * ann if down > 0.0 else np.nan
    metrics_out[M_MAX_DRAWDOWN] = max_dd
    metrics_out[M_CALMAR] = metrics_out[M_CAGR] / max_dd if max_dd > 0.0 else np.nan
    metrics_out[M_WIN_RATE] = book[B_WINS] / n_closed if n_closed > 0 else np.nan
    if gross_loss > 0.0:
        metrics_out[M_PROFIT_FACTOR] = gross_profit / gross_loss
    else:
        metrics_out[M_PROFIT_FACTOR] = np.inf if gross_profit > 0.0 else np.nan
    metrics_out[M_EXPOSURE] = exposed_bars / (end - start + 1)
    metrics_out[M_N_TRADES] = n_closed
    metrics_out[M_FINAL_EQUITY] = final
    return n_rows


@njit(cache=True)
def _book_exit_nb(book, trades_out, entry_idx, t, side, units, entry_px, entry_fee, exit_px,
                  reason, fee_rate):
    """Record a closed trade in ``book`` (and ``trades_out`` if room); return the cash flow."""
    fee = units * exit_px * fee_rate
    pnl = side * units * (exit_px - entry_px) - entry_fee - fee
    n_rows = int(book[B_ROWS])
    if n_rows < trades_out.shape[0]:
        _write_trade_nb(trades_out[n_rows], entry_idx, t, side, units, entry_px, exit_px,
                        entry_fee + fee, pnl, reason)
        book[B_ROWS] += 1
    book[B_CLOSED] += 1
    if pnl > 0:
        book[B_WINS] += 1
        book[B_PROFIT] += pnl
    else:
        book[B_LOSS] -= pnl
    return side * units * exit_px - fee


@njit(cache=True)
def _write_trade_nb(row, entry_idx, exit_idx, side, units, entry_px, exit_px, fees, pnl, reason):
    row[T_ENTRY_IDX] = entry_idx
    row[T_EXIT_IDX] = exit_idx
    row[T_SIDE] = side
    row[T_UNITS] = units
    row[T_ENTRY_PRICE] = entry_px
    row[T_EXIT_PRICE] = exit_px
    row[T_FEES] = fees
    row[T_PNL] = pnl
    row[T_RETURN] = pnl / (units * entry_px)
    row[T_REASON] = reason
