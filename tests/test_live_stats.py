"""Live-vs-expected statistics with known answers: PSR/MinTRL consistency, the triple
penance bounds, Page's CUSUM, the win-rate interval, and each verdict."""

import math

import numpy as np
import pytest

from otonom_trader.engine.live_stats import (
    ADVANCE,
    INCONCLUSIVE,
    ROLLBACK,
    Expected,
    assess,
    cusum_mean_drop,
    drawdown_bound,
    min_track_record_length,
    time_under_water_bound,
    win_rate_interval,
)
from otonom_trader.engine.overfitting import probabilistic_sharpe_ratio

Z95 = 1.6448536269514722


def test_min_track_record_length_is_where_psr_reaches_the_confidence():
    sr, target, skew, kurt = 0.12, 0.05, -0.8, 6.0
    trl = min_track_record_length(sr, target, skew, kurt, 0.95)
    var = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    assert trl == pytest.approx(1 + var * (Z95 / (sr - target)) ** 2, rel=1e-12)
    n = math.ceil(trl)
    assert probabilistic_sharpe_ratio(sr, target, n, skew, kurt) >= 0.95
    assert probabilistic_sharpe_ratio(sr, target, n - 2, skew, kurt) < 0.95
    assert min_track_record_length(0.05, 0.05, 0.0, 3.0) == math.inf


def test_triple_penance_bounds():
    mu, sigma = 0.0005, 0.01
    t = np.linspace(1, 10_000_000, 2_000_001)
    quantile_path = mu * t - Z95 * sigma * np.sqrt(t)  # 5% quantile of the cumulative return
    assert drawdown_bound(mu, sigma) == pytest.approx(-quantile_path.min(), rel=1e-6)
    tuw = time_under_water_bound(mu, sigma)
    t_star = (Z95 * sigma / (2 * mu)) ** 2
    assert tuw == pytest.approx(4 * t_star, rel=1e-12)  # the fall t*, then 3·t* to recover
    assert mu * tuw - Z95 * sigma * math.sqrt(tuw) == pytest.approx(0, abs=1e-12)
    # simulated: 5% of IID normal paths are below −bound at t*
    rng = np.random.default_rng(3)
    k = round(t_star)
    sums = rng.normal(mu * k, sigma * math.sqrt(k), 200_000)
    assert np.mean(sums < -drawdown_bound(mu, sigma)) == pytest.approx(0.05, abs=0.003)
    assert drawdown_bound(0.0, sigma) == math.inf == time_under_water_bound(-1e-4, sigma)


def test_cusum_alarms_after_a_known_number_of_periods():
    dropped = np.full(30, -1.0)  # one σ below μ₀ = 0: S_t = 0.5·t, above h = 8 from t = 17
    c = cusum_mean_drop(dropped, 0.0, 1.0)
    assert c.alarm_at == 16 and c.statistic[15] == 8.0
    assert cusum_mean_drop(dropped, 0.0, 1.0, threshold=5.0).alarm_at == 10
    assert cusum_mean_drop(np.full(1000, 0.001), 0.001, 0.01).alarm_at is None
    # in control: about one false alarm in 19,000 periods (Siegmund); 50 paths of 2,000
    rng = np.random.default_rng(0)
    alarms = sum(cusum_mean_drop(rng.normal(0.001, 0.01, 2000), 0.001, 0.01).alarm_at
                 is not None for _ in range(50))
    assert alarms <= 15


def test_win_rate_interval_is_clopper_pearson():
    low, high = win_rate_interval(5, 10)
    assert (low, high) == pytest.approx((0.18708602, 0.81291398), abs=1e-7)
    assert all(math.isnan(v) for v in win_rate_interval(0, 0))


def test_verdicts_on_constructed_series():
    expected = Expected(mean=0.001, std=0.01)
    rng = np.random.default_rng(11)
    matches = rng.normal(0.001, 0.01, 2500)  # behaves like its backtest
    v = assess(matches, expected)
    assert v.verdict == ADVANCE and v.psr >= 0.95 and v.n >= v.min_trl
    dropped = np.concatenate([rng.normal(0.001, 0.01, 200), rng.normal(-0.01, 0.01, 40)])
    v = assess(dropped, expected)
    assert v.verdict == ROLLBACK and any("CUSUM alarm" in r for r in v.reasons)
    few = rng.normal(0.001, 0.01, 12)
    v = assess(few, expected)
    assert v.verdict == INCONCLUSIVE and "18 more needed" in v.reasons[-1]
    assert math.isnan(v.sharpe)  # never a number that pretends
    # the stop-out: a current drawdown past (z·σ)²/(4μ) rolls back however good the past
    crash = np.concatenate([matches, np.full(10, -0.01)])
    v = assess(crash, expected)
    assert v.verdict == ROLLBACK and v.drawdown > v.drawdown_bound
    assert any("drawdown" in r for r in v.reasons)
