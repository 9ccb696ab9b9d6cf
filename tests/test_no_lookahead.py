"""Changing bars after t changes no decision at or before t (whole pipeline: analysts, DSI,
ensemble, kernel)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from otonom_trader.domain.strategy_loader import strategy_from_mapping
from otonom_trader.engine.backtest import backtest
from tests.helpers import random_bars

ENSEMBLE = {
    "name": "lookahead_probe",
    "analysts": {
        "tech": {"fast_window": 5, "slow_window": 20},
        "momentum": {"lookback": 10, "scale_pct": 3.0},
        "meanrev": {"window": 15, "z_scale": 1.5},
        "regime": {"source": "realized", "window": 10, "vol_threshold_pct": 25.0},
    },
    "ensemble": {
        "analyst_weights": {"tech": 0.4, "momentum": 0.3, "meanrev": 0.2, "regime": 0.1},
        "entry_threshold": 0.1,
        "exit_threshold": -0.1,
    },
    "risk": {"sizing": "fixed", "position_pct": 90, "stop_loss_pct": 4.0,
             "take_profit_pct": 8.0, "allow_short": True},
    "execution": {"fee_bps": 5, "slippage_bps": 2},
    "data": {"dsi_threshold": 0.5},
}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(40, 230), shock=st.floats(0.5, 2.0))
def test_future_bars_do_not_change_past_decisions(seed, cut, shock, tmp_path_factory):
    strategy = strategy_from_mapping(ENSEMBLE)
    bars = random_bars(260, seed)
    changed = bars.copy()
    rng = np.random.default_rng(seed + 7)
    noise = rng.uniform(0.9, 1.1, (len(bars) - cut - 1, 1)) * shock
    changed.iloc[cut + 1:, :4] = changed.iloc[cut + 1:, :4].to_numpy() * noise
    changed["High"] = changed[["Open", "High", "Low", "Close"]].max(axis=1)
    changed["Low"] = changed[["Open", "High", "Low", "Close"]].min(axis=1)
    data_dir = tmp_path_factory.mktemp("data")
    kw = {"symbol": "SYN", "start": bars.index[30], "data_dir": data_dir}
    a = backtest(strategy, bars, **kw)
    b = backtest(strategy, changed, **kw)
    t = bars.index[cut]
    # Equity through the close of t is identical...
    np.testing.assert_array_equal(a.equity.loc[:t].to_numpy(), b.equity.loc[:t].to_numpy())
    # ...and so is every entry decided at or before t (it fills at the open of t+1 at the
    # latest, whose price may differ).
    filled_by = bars.index[cut + 1]
    ea = a.trades[a.trades.entry_time <= filled_by][["entry_time", "side"]]
    eb = b.trades[b.trades.entry_time <= filled_by][["entry_time", "side"]]
    assert ea.reset_index(drop=True).equals(eb.reset_index(drop=True))
