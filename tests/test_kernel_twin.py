"""The numba kernel equals its readable pure-Python twin on random paths and parameters."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otonom_trader.engine.reference import reference_backtest, reference_metrics
from otonom_trader.kernels.enums import (
    BLOCK_FIELDS,
    METRIC_NAMES,
    N_METRICS,
    SimParams,
    trade_dt,
)
from otonom_trader.kernels.simulate import simulate_nb
from tests.helpers import random_bars

stops = st.one_of(st.just(math.inf), st.floats(0.005, 0.15))


@st.composite
def cases(draw):
    n = draw(st.integers(20, 160))
    seed = draw(st.integers(0, 10_000))
    bars = random_bars(n, seed, gap=draw(st.sampled_from([0.0, 0.01, 0.04])))
    rng = np.random.default_rng(seed + 1)
    kind = draw(st.sampled_from(["sign", "smooth", "levels"]))
    if kind == "sign":  # a crossover-like score in {-1, 0, 1}
        score = np.sign(np.sin(np.arange(n) / draw(st.floats(0.7, 6.0)) + rng.normal(0, 0.3, n)))
    elif kind == "smooth":
        score = np.clip(np.cumsum(rng.normal(0, 0.2, n)) / 3, -1, 1)
    else:
        score = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], n)
    score[: draw(st.integers(0, 10))] = np.nan
    dsi = rng.choice([1.0, 0.5, 0.0], n, p=[0.8, 0.1, 0.1])
    start = draw(st.integers(0, n // 2))
    end = draw(st.integers(start + 1, n - 1))
    params = SimParams(
        entry_threshold=draw(st.sampled_from([0.0, 0.2, 0.5])),
        exit_threshold=draw(st.sampled_from([0.0, -0.2, 0.1])),
        fraction=draw(st.sampled_from([1.0, 0.5, 0.25, 2.0])),
        sl=draw(stops),
        tp=draw(stops),
        fee=draw(st.sampled_from([0.0, 0.001, 0.005])),
        slippage=draw(st.sampled_from([0.0, 0.0005, 0.002])),
        allow_short=draw(st.booleans()),
        entry_bar_stops=draw(st.booleans()),
        init_cash=10_000.0,
        min_dsi=draw(st.sampled_from([0.0, 0.5, 1.0])),
    )
    return bars, score, dsi, start, end, params


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_kernel_equals_reference(case):
    bars, score, dsi, start, end, p = case
    o, h, lo, c = (bars[k].to_numpy() for k in ("Open", "High", "Low", "Close"))
    years = (bars.index[end] - bars.index[start]).days / 365.25
    metrics = np.empty(N_METRICS)
    equity = np.full(len(c), np.nan)
    trades = np.empty(end - start + 2, trade_dt)
    n_blocks = 4
    block_of = (np.arange(len(c)) * n_blocks // len(c)).astype(np.int64)
    blocks = np.zeros((n_blocks, BLOCK_FIELDS))
    n = simulate_nb(o, h, lo, c, score, dsi, start, end, years, 252.0, p,
                    metrics, equity, trades, block_of, blocks)

    ref = reference_backtest({"open": o, "high": h, "low": lo, "close": c},
                             score, dsi, start, end, p)
    np.testing.assert_allclose(equity[start:end + 1], ref.equity, rtol=1e-12)
    assert n == len(ref.trades)
    for row, t in zip(trades[:n], ref.trades, strict=True):
        assert (row["entry_idx"], row["exit_idx"], row["side"]) == (t.entry_idx, t.exit_idx,
                                                                    t.side)
        np.testing.assert_allclose([row["entry_price"], row["exit_price"], row["pnl"]],
                                   [t.entry_price, t.exit_price, t.pnl], rtol=1e-12)
    expected = reference_metrics(ref.equity, ref.trades, years, 252.0)
    got = dict(zip(METRIC_NAMES, metrics, strict=True))
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
    assert got["exposure"] == ref.exposed_bars / (end - start + 1)
    # Per-block return statistics are those of the equity curve's returns.
    r = np.diff(ref.equity) / np.asarray(ref.equity[:-1])
    b = block_of[start + 1:end + 1]
    expected_blocks = np.array(
        [[np.sum(b == k), r[b == k].sum(), (r[b == k] ** 2).sum()] for k in range(n_blocks)]
    )
    np.testing.assert_allclose(blocks, expected_blocks, rtol=1e-9, atol=1e-15)
