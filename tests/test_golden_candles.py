"""Hand-written candles, one scenario per engine rule of design.md, with expected trades."""

import math

import numpy as np
import pytest

from otonom_trader.engine.backtest import NO_BLOCKS
from otonom_trader.kernels.enums import N_METRICS, SimParams, trade_dt
from otonom_trader.kernels.simulate import simulate_nb
from tests.helpers import candles

FLAT = (100.0, 101.0, 99.0, 100.0)
UP = [math.nan, -1.0, 1.0]  # the score crosses above 0 at the close of bar 2


def run(rows, score, start=0, end=None, can_enter=None, **kw):
    bars = candles(rows)
    n = len(bars)
    end = n - 1 if end is None else end
    params = dict(entry_threshold=0.0, exit_threshold=0.0, fraction=1.0, sl=math.inf,
                  tp=math.inf, fee=0.0, slippage=0.0, allow_short=False, entry_bar_stops=True,
                  init_cash=10_000.0)
    params.update(kw)
    score = np.array(score + [score[-1]] * (n - len(score)), dtype=float)
    dsi = np.ones(n) if can_enter is None else np.asarray(can_enter, dtype=float)
    metrics, equity = np.empty(N_METRICS), np.full(n, np.nan)
    trades = np.empty(n + 1, trade_dt)
    k = simulate_nb(*(bars[c].to_numpy() for c in ("Open", "High", "Low", "Close")), score,
                    dsi, start, end, 1.0, 252.0, SimParams(**params, min_dsi=0.5), metrics,
                    equity, trades, *NO_BLOCKS)
    out = [dict(entry=int(r["entry_idx"]), exit=int(r["exit_idx"]), side=int(r["side"]),
                units=r["units"], entry_px=r["entry_price"], exit_px=r["exit_price"],
                fees=r["fees"], pnl=r["pnl"], reason=int(r["reason"])) for r in trades[:k]]
    return out, equity, metrics


def test_signal_at_close_fills_at_next_open():
    rows = [FLAT, FLAT, FLAT, (102.0, 103.0, 101.0, 102.5), FLAT]
    trades, equity, _ = run(rows, UP)
    assert trades[0]["entry"] == 3 and trades[0]["entry_px"] == 102.0
    assert trades[0]["reason"] == 3  # still open at the end: marked, not closed
    assert equity[2] == 10_000.0 and equity[3] == pytest.approx(10_000 / 102 * 102.5)


def test_signal_exit_fills_at_next_open():
    rows = [FLAT, FLAT, FLAT, FLAT, FLAT, (98.0, 99.0, 97.0, 98.0)]
    trades, _, m = run(rows, [*UP, 1.0, -1.0])  # crosses below 0 at the close of bar 4
    assert (trades[0]["exit"], trades[0]["exit_px"], trades[0]["reason"]) == (5, 98.0, 0)
    assert m[9] == 1


def test_entry_bar_counts_for_stops():
    rows = [FLAT, FLAT, FLAT, (100.0, 100.5, 94.0, 99.0), FLAT]
    trades, _, _ = run(rows, UP, sl=0.05)
    assert (trades[0]["entry"], trades[0]["exit"], trades[0]["reason"]) == (3, 3, 1)
    assert trades[0]["exit_px"] == pytest.approx(95.0)


def test_entry_bar_stops_can_be_switched_off():
    rows = [FLAT, FLAT, FLAT, (100.0, 100.5, 94.0, 99.0), FLAT]
    trades, _, _ = run(rows, UP, sl=0.05, entry_bar_stops=False)
    assert trades[0]["reason"] == 3


def test_pending_signal_exit_fills_before_stops():
    # Exit signal at bar 4's close; bar 5 also trades through the stop: exit at the open.
    rows = [FLAT, FLAT, FLAT, FLAT, FLAT, (99.0, 99.5, 80.0, 85.0)]
    trades, _, _ = run(rows, [*UP, 1.0, -1.0], sl=0.05)
    assert (trades[0]["exit"], trades[0]["exit_px"], trades[0]["reason"]) == (5, 99.0, 0)


def test_gap_through_stop_loss_fills_at_open():
    rows = [FLAT, FLAT, FLAT, FLAT, (90.0, 92.0, 89.0, 91.0)]
    trades, _, _ = run(rows, UP, sl=0.05)
    assert (trades[0]["exit"], trades[0]["exit_px"], trades[0]["reason"]) == (4, 90.0, 1)


def test_gap_through_take_profit_fills_at_open_even_if_low_touches_stop():
    # backtesting.py would exit this bar at SL (95); design.md rule 2 exits at the open (112).
    rows = [FLAT, FLAT, FLAT, FLAT, (112.0, 113.0, 94.0, 96.0)]
    trades, _, _ = run(rows, UP, sl=0.05, tp=0.10)
    assert (trades[0]["exit"], trades[0]["exit_px"], trades[0]["reason"]) == (4, 112.0, 2)


def test_both_levels_touched_stop_loss_wins():
    rows = [FLAT, FLAT, FLAT, FLAT, (100.0, 111.0, 94.0, 100.0)]
    trades, _, _ = run(rows, UP, sl=0.05, tp=0.10)
    assert (trades[0]["exit_px"], trades[0]["reason"]) == (pytest.approx(95.0), 1)


def test_touching_a_level_counts():
    # 100 × 1.25 and 100 × 0.75 are exact in binary floating point.
    rows = [FLAT, FLAT, FLAT, FLAT, (100.0, 125.0, 99.0, 100.0)]
    trades, _, _ = run(rows, UP, tp=0.25)
    assert (trades[0]["exit_px"], trades[0]["reason"]) == (125.0, 2)
    rows = [FLAT, FLAT, FLAT, FLAT, (100.0, 101.0, 75.0, 100.0)]
    trades, _, _ = run(rows, UP, sl=0.25)
    assert (trades[0]["exit_px"], trades[0]["reason"]) == (75.0, 1)


def test_fixed_sizing_and_fees():
    rows = [FLAT, FLAT, FLAT, FLAT, FLAT, (110.0, 111.0, 109.0, 110.0)]
    trades, equity, _ = run(rows, [*UP, 1.0, -1.0], fraction=0.5, fee=0.001)
    units = 0.5 * 10_000 / (100 * 1.001)
    t = trades[0]
    assert t["units"] == pytest.approx(units, rel=1e-12)
    assert t["fees"] == pytest.approx(units * 100 * 0.001 + units * 110 * 0.001, rel=1e-12)
    assert t["pnl"] == pytest.approx(units * 10 - t["fees"], rel=1e-12)
    assert equity[5] == pytest.approx(10_000 + t["pnl"], rel=1e-12)


def test_risk_sizing_fraction_is_capped_by_leverage():
    from otonom_trader.domain.strategy import Risk

    assert Risk(sizing="risk", risk_pct=1.0, stop_loss_pct=2.0).fraction == 0.5
    assert Risk(sizing="risk", risk_pct=3.0, stop_loss_pct=1.0, max_leverage=2.0).fraction == 2.0


def test_slippage_moves_fills_against_the_trader_before_stops():
    rows = [FLAT, FLAT, FLAT, (100.0, 100.5, 94.0, 99.0), FLAT]
    trades, _, _ = run(rows, UP, sl=0.05, slippage=0.01)
    fill = 101.0
    assert trades[0]["entry_px"] == pytest.approx(fill)
    assert trades[0]["exit_px"] == pytest.approx(fill * 0.95 * 0.99)


def test_window_ignores_earlier_signals_and_marks_open_position():
    rows = [FLAT] * 6
    # Crossing at bar 2 (before start=3): ignored; nothing trades.
    trades, equity, m = run(rows, UP, start=3)
    assert trades == [] and m[9] == 0 and equity[5] == 10_000.0
    # Crossing on the last bar of the window would fill after it: not executed.
    trades, _, _ = run(rows, UP, end=2)
    assert trades == []


def test_new_entry_needs_a_new_crossing_after_a_stop():
    rows = [FLAT, FLAT, FLAT, FLAT, (100.0, 100.0, 90.0, 95.0), FLAT, FLAT]
    trades, _, _ = run(rows, UP, sl=0.05)  # score stays above 0 after the stop
    assert len(trades) == 1 and trades[0]["reason"] == 1


def test_short_side_mirrors_stops():
    rows = [FLAT, FLAT, FLAT, FLAT, (100.0, 106.0, 99.0, 100.0)]
    trades, _, _ = run(rows, [math.nan, 1.0, -1.0], sl=0.05, allow_short=True)
    t = trades[0]
    assert (t["side"], t["entry"], t["exit"], t["reason"]) == (-1, 3, 4, 1)
    assert t["exit_px"] == pytest.approx(105.0)
    assert t["pnl"] == pytest.approx(-t["units"] * 5.0)


def test_long_only_ignores_short_crossings():
    trades, _, _ = run([FLAT] * 5, [math.nan, 1.0, -1.0])
    assert trades == []


def test_reversal_on_one_crossing_when_shorts_allowed():
    rows = [FLAT, FLAT, FLAT, FLAT, FLAT, (98.0, 99.0, 97.0, 98.0), FLAT]
    trades, _, _ = run(rows, [*UP, 1.0, -1.0], allow_short=True)
    assert [(t["side"], t["entry"], t["exit"]) for t in trades] == [(1, 3, 5), (-1, 5, -1)]


def test_bad_data_blocks_new_entries():
    can_enter = [True, True, False, True, True]
    trades, _, _ = run([FLAT] * 5, UP, can_enter=can_enter)
    assert trades == []
