"""The kernel's Sharpe in a numerically stable form (Welford), and the zero-variance rule the
kernel, its Python twin, PBO and `compare` share (kernels.enums.ZERO_VARIANCE)."""

import math

import numpy as np
import pytest

from otonom_trader.engine.backtest import NO_BLOCKS
from otonom_trader.engine.reference import reference_metrics
from otonom_trader.kernels.enums import M_SHARPE, N_METRICS, SimParams, trade_dt
from otonom_trader.kernels.simulate import simulate_nb


def hold(closes: np.ndarray, init_cash: float) -> tuple[np.ndarray, np.ndarray]:
    """Trading starts at bar 1, whose close signals; buy at bar 2's open (= bar 1's close)
    and hold: every return from bar 2 on is the price's. The kernel's metrics and equity."""
    n = len(closes)
    o = np.concatenate([[closes[0]], closes[:-1]])  # open = previous close: no gaps
    h, lo = np.maximum(o, closes), np.minimum(o, closes)
    score = np.full(n, 1.0)
    score[0] = -1.0  # crosses above 0 at the close of bar 1
    metrics, equity = np.empty(N_METRICS), np.full(n, np.nan)
    trades = np.empty(n + 1, trade_dt)
    params = SimParams(0.0, -10.0, 1.0, math.inf, math.inf, 0.0, 0.0, False, True, init_cash)
    simulate_nb(o, h, lo, closes, score, np.ones(n), 1, n - 1, n / 252, 252.0, params, metrics,
                equity, trades, *NO_BLOCKS)
    return metrics, equity


@pytest.mark.parametrize("init_cash", [1e4, 1e12])
def test_sharpe_keeps_its_digits_when_the_mean_dwarfs_the_dispersion(init_cash):
    """Returns of 0.1% a bar ± 1e-6 at large equity: the one-pass formula (Σr² − (Σr)²/n)
    loses about 8 digits here (2e-9 relative); Welford keeps the numpy two-pass value."""
    rng = np.random.default_rng(7)
    r = 1e-3 + rng.normal(0.0, 1e-6, 2000)
    closes = 100.0 * np.cumprod(np.concatenate([[1.0], 1.0 + r]))
    metrics, equity = hold(closes, init_cash)
    full = equity[2:] / equity[1:-1] - 1.0  # the kernel's returns (bar 1 has none)
    exact = full.mean() / full.std(ddof=1) * math.sqrt(252)  # numpy's two-pass
    assert metrics[M_SHARPE] == pytest.approx(exact, rel=1e-11)
    one_pass = (np.sum(full * full) - np.sum(full) ** 2 / len(full)) / (len(full) - 1)
    assert abs(full.mean() / math.sqrt(one_pass) * math.sqrt(252) / exact - 1) > 1e-11
    assert exact > 1e4  # a nearly riskless series: a very large, still defined, Sharpe


def test_zero_variance_has_no_sharpe_in_kernel_and_twin():
    flat = np.full(50, 100.0)  # held, but the price never moves: every return is 0
    metrics, equity = hold(flat, 1e4)
    assert math.isnan(metrics[M_SHARPE])
    assert math.isnan(reference_metrics(equity[1:], [], 1.0, 252.0)["sharpe"])
    steady = 100.0 * 1.001 ** np.arange(50)  # a constant 0.1% a bar: variance ~ 1e-32
    metrics, equity = hold(steady, 1e4)
    assert math.isnan(metrics[M_SHARPE])
    assert math.isnan(reference_metrics(equity[1:], [], 1.0, 252.0)["sharpe"])
