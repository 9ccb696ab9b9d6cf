"""Overfitting statistics: worked examples a reader can check, and the CSCV kernel against its
readable twin."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats import norm

from otonom_trader.domain.errors import InputError
from otonom_trader.engine.overfitting import (
    GAP_WARNING,
    cscv_splits,
    deflated_sharpe_from_moments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    minimum_backtest_length,
    pbo_cscv,
    pbo_cscv_parts,
    pbo_cscv_reference,
    probabilistic_sharpe_ratio,
    sharpe_gap,
    trial_sharpe_variance,
    walk_forward_efficiency,
)
from otonom_trader.kernels.pbo import CHUNK

GAMMA = np.euler_gamma


def block_stats_of(returns: np.ndarray) -> np.ndarray:
    """(runs, blocks, bars per block) returns -> (runs, blocks, 3) count, sum, sum of squares."""
    counts = np.full(returns.shape[:2], float(returns.shape[2]))
    return np.stack([counts, returns.sum(axis=2), (returns**2).sum(axis=2)], axis=2)


# --- Deflated Sharpe Ratio ---------------------------------------------------------------


def test_dsr_paper_worked_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: the best
    # of N = 100 trials has an annualised Sharpe of 2.5 over T = 1250 daily returns (250 a
    # year), skewness -3, kurtosis 10, and the trials' annualised Sharpe ratios have a
    # variance of 0.5. The paper reports SR0 ≈ 0.1132 (per day) and DSR ≈ 0.9004.
    sr = 2.5 / math.sqrt(250)  # 0.1581 per day
    var = 0.5 / 250
    z = (1 - GAMMA) * norm.ppf(1 - 1 / 100) + GAMMA * norm.ppf(1 - 1 / (100 * math.e))
    sr0 = math.sqrt(var) * z
    dsr = norm.cdf((sr - sr0) * math.sqrt(1250 - 1) / math.sqrt(1 + 3 * sr + (10 - 1) / 4 * sr**2))
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert dsr == pytest.approx(0.9004, abs=5e-5)

    assert expected_max_sharpe(var, 100) == pytest.approx(sr0, rel=1e-12)
    result = deflated_sharpe_from_moments(sr, 1250, -3.0, 10.0, var, 100)
    assert result.sharpe_0 == pytest.approx(sr0, rel=1e-12)
    assert result.dsr == pytest.approx(dsr, rel=1e-12)
    assert (result.n_obs, result.n_trials, result.skew, result.kurtosis) == (1250, 100, -3, 10)
    # Against a zero benchmark the same track record is almost surely skilled.
    assert probabilistic_sharpe_ratio(sr, 0.0, 1250, -3.0, 10.0) > 0.9999


def test_psr_reduces_to_the_normal_case():
    # Normal returns (skew 0, kurtosis 3): Φ((SR − SR*)·√(n−1) / √(1 + SR²/2)).
    sr, bench, n = 0.1, 0.05, 500
    expected = norm.cdf((sr - bench) * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2))
    assert probabilistic_sharpe_ratio(sr, bench, n, 0.0, 3.0) == pytest.approx(expected)
    assert probabilistic_sharpe_ratio(sr, sr, n, -1.0, 6.0) == pytest.approx(0.5)
    # Moments inconsistent with the Sharpe ratio (variance term ≤ 0): undefined.
    assert math.isnan(probabilistic_sharpe_ratio(1.0, 0.0, n, 5.0, 3.0))
    with pytest.raises(InputError, match="at least 2"):
        probabilistic_sharpe_ratio(sr, bench, 1, 0.0, 3.0)


def test_dsr_of_returns_uses_their_sample_moments():
    rng = np.random.default_rng(7)
    returns = rng.standard_t(5, 2000) * 0.01 + 0.001
    result = deflated_sharpe_ratio(returns, sharpe_variance=0.002, n_trials=50)
    sr = returns.mean() / returns.std(ddof=1)
    skew = stats.skew(returns)
    kurt = stats.kurtosis(returns, fisher=False)
    expected = deflated_sharpe_from_moments(sr, 2000, skew, kurt, 0.002, 50)
    assert result.sharpe == pytest.approx(sr, rel=1e-12)
    assert result.skew == pytest.approx(skew, rel=1e-9)
    assert result.kurtosis == pytest.approx(kurt, rel=1e-9)
    assert result.dsr == pytest.approx(expected.dsr, rel=1e-12)
    # One trial has no selection bias: DSR = PSR against 0.
    one = deflated_sharpe_ratio(returns, 0.002, 1)
    assert one.sharpe_0 == 0.0
    assert one.dsr == pytest.approx(probabilistic_sharpe_ratio(sr, 0.0, 2000, skew, kurt))
    flat = deflated_sharpe_ratio(np.zeros(100), 0.002, 10)
    assert math.isnan(flat.sharpe) and math.isnan(flat.dsr)


def test_expected_max_sharpe_matches_a_monte_carlo_of_max_of_normals():
    rng = np.random.default_rng(42)
    sigma = 0.2  # V[SR] = 0.04
    for n_trials in (10, 100, 1000):
        draws = rng.normal(0.0, sigma, (4000, n_trials)).max(axis=1).mean()
        # The approximation is a little high for small N (≈ +2% at N = 10, +1% at 100).
        assert expected_max_sharpe(sigma**2, n_trials) == pytest.approx(draws, rel=0.03)
    assert expected_max_sharpe(0.04, 1) == 0.0
    with pytest.raises(InputError):
        expected_max_sharpe(0.04, 0)
    with pytest.raises(InputError):
        expected_max_sharpe(-1.0, 10)


def test_trial_sharpe_variance_is_per_period():
    # Annualised 1, 2, 3 with 4 periods a year are 0.5, 1, 1.5 per period: variance 0.25.
    assert trial_sharpe_variance([1.0, 2.0, 3.0, np.nan], periods_per_year=4) == pytest.approx(0.25)
    assert trial_sharpe_variance([1.0]) == 0.0


# --- Minimum backtest length, gap, walk-forward efficiency -------------------------------


def test_minimum_backtest_length_45_trials_is_5_years():
    # Bailey, Borwein, López de Prado & Zhu (2014): with 5 years of daily data no more than 45
    # independent configurations should be tried, or the best is expected to show an
    # annualised Sharpe of 1 by chance alone. By hand: (0.4228·Φ⁻¹(1−1/45) +
    # 0.5772·Φ⁻¹(1−1/(45e)))² = (0.4228·2.0100 + 0.5772·2.4001)² = 2.2356² ≈ 4.998 years.
    z = (1 - GAMMA) * norm.ppf(1 - 1 / 45) + GAMMA * norm.ppf(1 - 1 / (45 * math.e))
    assert minimum_backtest_length(45, 1.0) == pytest.approx(z**2, rel=1e-12)
    assert minimum_backtest_length(45, 1.0) == pytest.approx(5.0, abs=0.01)
    # An unskilled annualised Sharpe over y years has variance ≈ 1/y: at MinBTL the expected
    # maximum equals the target.
    years = minimum_backtest_length(200, 1.5)
    assert expected_max_sharpe(1 / years, 200) == pytest.approx(1.5, rel=1e-12)
    assert minimum_backtest_length(45, 2.0) == pytest.approx(z**2 / 4)
    assert minimum_backtest_length(1) == 0.0
    with pytest.raises(InputError):
        minimum_backtest_length(45, 0.0)


def test_sharpe_gap_and_walk_forward_efficiency():
    np.testing.assert_allclose(sharpe_gap([2.0, 1.0, 0.3], [0.5, 1.5, 0.3]), [1.5, -0.5, 0.0])
    assert sharpe_gap(2.5, 1.0) > GAP_WARNING
    wfe = walk_forward_efficiency([10.0, 20.0, -5.0, 0.0], [5.0, -2.0, 3.0, 1.0])
    np.testing.assert_allclose(wfe[:2], [0.5, -0.1])
    assert np.isnan(wfe[2:]).all()


# --- Probability of Backtest Overfitting -------------------------------------------------


def test_pure_noise_grid_gives_pbo_near_one_half():
    # No run has skill: the in-sample best is a random draw out-of-sample. A single grid's
    # PBO varies a lot (its 12,870 splits are strongly dependent), so average 40 grids.
    pbos = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        pbos.append(pbo_cscv(block_stats_of(rng.normal(0.0003, 0.01, (50, 16, 60)))).pbo)
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.08)


def test_one_skilled_strategy_gives_pbo_near_zero():
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0, 0.01, (100, 16, 315))
    returns[37] += 0.002  # a per-bar Sharpe of 0.2 in every block; the others have none
    result = pbo_cscv(block_stats_of(returns))
    assert result.pbo < 0.01
    assert (result.n_splits, result.n_runs, result.n_blocks) == (12_870, 100, 16)
    assert len(result.logits) == 12_870 and result.reason == ""
    assert np.median(result.logits) == pytest.approx(math.log(100 / 1))  # ω̄ = 100/101


def test_in_sample_best_always_out_of_sample_worst_gives_pbo_one():
    # Block sums +1 ×15 and -15 total zero, and no 8 blocks sum to zero, so every split's
    # in-sample and out-of-sample sums have opposite signs. Run 0 has these sums, run 1 the
    # mirror image, run 2 zero sums (Sharpe 0, always the middle). The in-sample winner
    # (positive) is always the out-of-sample loser: rank 1 of 3, ω̄ = 1/4, λ = ln(1/3).
    sums = np.array([1.0] * 15 + [-15.0])
    stats_ = np.zeros((3, 16, 3))
    stats_[:, :, 0] = 315
    stats_[:, :, 1] = [sums, -sums, np.zeros(16)]
    stats_[:, :, 2] = 1.0
    result = pbo_cscv(stats_)
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.logits, math.log(1 / 3))
    assert pbo_cscv_reference(stats_).pbo == 1.0


def test_logits_follow_the_ascending_split_masks():
    masks = cscv_splits(4)
    assert masks.tolist() == [0b0011, 0b0101, 0b0110, 0b1001, 0b1010, 0b1100]
    assert len(cscv_splits(16)) == math.comb(16, 8)
    # Run 0 is a block-0 specialist (+3 there, -0.5 elsewhere); runs 1-3 earn a steady +0.5,
    # +0.3, +0.1 per block. With block 0 in-sample run 0 wins in-sample and is the worst
    # out-of-sample (rank 1 of 4: λ = ln(1/4)); otherwise run 1 wins in-sample and is 3rd of 4
    # out-of-sample, behind the specialist (λ = ln(3/2)).
    s = np.zeros((4, 4, 3))
    s[:, :, 0] = 10
    s[:, :, 2] = 10.0
    s[0, :, 1] = [3.0, -0.5, -0.5, -0.5]
    s[1:, :, 1] = np.array([[0.5], [0.3], [0.1]])
    result = pbo_cscv(s)
    block0_in = (masks & 1) == 1
    np.testing.assert_allclose(result.logits[block0_in], math.log(1 / 4))
    np.testing.assert_allclose(result.logits[~block0_in], math.log(3 / 2))
    assert result.pbo == 0.5


def random_block_stats(rng: np.random.Generator, n_runs: int, n_blocks: int) -> np.ndarray:
    """Block statistics shaped like real ones, with duplicated runs (ties), a run that never
    trades, runs idle in some blocks (zero variance there) and one with NaN statistics."""
    c = 20
    returns = rng.normal(rng.normal(0, 0.002, (n_runs, 1, 1)), 0.01, (n_runs, n_blocks, c))
    out = block_stats_of(returns)
    if n_runs >= 6:
        out[1] = out[0]
        out[n_runs - 1] = out[2]
        out[3, :, 1:] = 0.0  # never trades
        idle = rng.random(n_blocks) < 0.5
        out[4, idle, 1:] = 0.0
        out[5, :, 1] = np.nan
    return out


@pytest.mark.parametrize(("n_runs", "n_blocks", "seed"), [
    (2, 2, 0), (3, 4, 1), (7, 6, 2), (12, 8, 3), (40, 10, 4), (25, 16, 5),
    (CHUNK + 37, 8, 6), (3 * CHUNK + 5, 6, 7),
])
def test_kernel_equals_reference(n_runs, n_blocks, seed):
    rng = np.random.default_rng(seed)
    block_stats = random_block_stats(rng, n_runs, n_blocks)
    fast = pbo_cscv(block_stats)
    slow = pbo_cscv_reference(block_stats)
    assert fast.pbo == slow.pbo
    np.testing.assert_allclose(fast.logits, slow.logits, rtol=0, atol=1e-12)


def _cscv(sums, sqs, counts, pairs, n_parts, cuts=(), kernels=None):
    """CSCV with ``n_parts`` parallel parts over the runs given in pieces cut at ``cuts``;
    ``kernels``: (pass 1, pass 2) functions instead of the compiled ones."""
    from otonom_trader.kernels import pbo as kernel

    cscv = kernel.CSCV(counts, pairs)
    cscv.parts = n_parts
    edges = [0, *cuts, len(sums)]
    pieces = [(np.ascontiguousarray(sums[a:b]), np.ascontiguousarray(sqs[a:b]))
              for a, b in itertools.pairwise(edges)]
    best, count = kernels or (kernel.cscv_best_nb, kernel.cscv_count_nb)
    offset = 0
    for s, q in pieces:
        best(s, q, cscv.c_split, pairs, n_parts, offset, cscv.best)
        offset += len(s)
    cscv.n_runs = offset
    target = np.ascontiguousarray(cscv.best[:, :, 2])
    for s, q in pieces:
        count(s, q, cscv.c_split, pairs, target, n_parts, cscv.below, cscv.equal)
    return cscv.best.copy(), cscv.logits()


def test_kernel_result_does_not_depend_on_parts_or_pieces():
    """The runs split over threads (parts) or given a piece at a time (as read from the
    store): the same IS-best runs, ties to the lowest run, and the same logits."""
    from otonom_trader.kernels.pbo import cscv_best_nb, cscv_count_nb

    rng = np.random.default_rng(11)
    block_stats = random_block_stats(rng, 5 * CHUNK + 3, 8)
    sums = np.ascontiguousarray(block_stats[:, :, 1])
    sums[5] = 0.0
    sqs = np.ascontiguousarray(block_stats[:, :, 2])
    sqs[5] = 0.0
    counts = np.ascontiguousarray(block_stats[0, :, 0])
    pairs = cscv_splits(8)
    pairs = pairs[(pairs & 1) == 1]
    winners = _cscv(sums, sqs, counts, pairs, 1)[0][:, :, 1].astype(int)
    winner = int(np.bincount(winners.ravel()).argmax())
    twin = 4 * CHUNK + 2  # a later copy of the most frequent IS-best run: ties it everywhere
    sums[twin], sqs[twin] = sums[winner], sqs[winner]
    first_best, first = _cscv(sums, sqs, counts, pairs, 1)
    assert np.array_equal(first_best[:, :, 1], winners)  # the earlier run keeps winning
    for n_parts in (1, 2, 3, 6, 50):
        for cuts in ((), (1,), (CHUNK + 1,), (7, CHUNK + 2, 3 * CHUNK, 4 * CHUNK + 1)):
            best, logits = _cscv(sums, sqs, counts, pairs, n_parts, cuts)
            np.testing.assert_array_equal(best, first_best)
            np.testing.assert_array_equal(logits, first)
    # The uncompiled kernels (numba's .py_func) agree too.
    small = slice(0, 9)
    py = _cscv(sums[small], sqs[small], counts, pairs, 2, (4,),
               (cscv_best_nb.py_func, cscv_count_nb.py_func))
    nb = _cscv(sums[small], sqs[small], counts, pairs, 2, (4,))
    for a, b in zip(py, nb, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cuts", [(), (0,), (1,), (300,), (1, 2, 3), (299, 299, 600)])
def test_pbo_from_parts_equals_pbo_of_the_whole(cuts):
    rng = np.random.default_rng(5)
    block_stats = random_block_stats(rng, 700, 10)
    edges = [0, *cuts, len(block_stats)]
    pieces = [block_stats[a:b] for a, b in itertools.pairwise(edges)]
    whole = pbo_cscv(block_stats)
    parts = pbo_cscv_parts(lambda: iter(pieces))
    assert parts.pbo == whole.pbo and parts.n_runs == whole.n_runs == 700
    np.testing.assert_array_equal(parts.logits, whole.logits)


def test_pbo_from_parts_refuses_or_defines_like_the_whole():
    stats = np.ones((4, 4, 3))
    stats[:, :, 1] = np.arange(16).reshape(4, 4) / 100
    other = stats.copy()
    other[:, 0, 0] = 2.0  # another bar count in block 0
    with pytest.raises(InputError, match="bar counts per block differ"):
        pbo_cscv_parts(lambda: (stats, other))
    with pytest.raises(InputError, match="bar counts per block differ"):
        pbo_cscv(np.concatenate([stats, other]))
    with pytest.raises(InputError, match="even number of blocks"):
        pbo_cscv_parts(lambda: (np.ones((2, 3, 3)), np.ones((2, 3, 3))))
    one = pbo_cscv_parts(lambda: (np.empty((0, 4, 3)), np.ones((1, 4, 3))))
    assert math.isnan(one.pbo) and one.n_runs == 1 and "at least 2 runs" in one.reason
    assert one.n_splits == pbo_cscv(np.ones((1, 4, 3))).n_splits == 6
    flat = pbo_cscv_parts(lambda: (np.ones((2, 4, 3)), np.ones((3, 4, 3))))
    assert math.isnan(flat.pbo) and "non-zero variance" in flat.reason and flat.n_runs == 5


def test_pbo_edge_cases():
    one = pbo_cscv(np.ones((1, 16, 3)))
    assert math.isnan(one.pbo) and "at least 2 runs" in one.reason and one.n_runs == 1
    none = pbo_cscv(np.empty((0, 0, 3)))
    assert math.isnan(none.pbo) and none.n_runs == 0
    flat = np.zeros((4, 8, 3))
    flat[:, :, 0] = 10
    assert "non-zero variance" in pbo_cscv(flat).reason
    ties = np.tile(np.array([10.0, 0.3, 1.0]), (5, 8, 1))  # identical runs: all tie
    # Every split: run 0 wins in-sample and shares the mid-rank 3 of 5 out-of-sample: λ = 0,
    # which counts as overfit (λ ≤ 0).
    tied = pbo_cscv(ties)
    np.testing.assert_array_equal(tied.logits, 0.0)
    assert tied.pbo == 1.0
    with pytest.raises(InputError, match="even number of blocks"):
        pbo_cscv(np.ones((3, 5, 3)))
    with pytest.raises(InputError, match="even number of blocks"):
        pbo_cscv(np.ones((3, 18, 3)))
    with pytest.raises(InputError, match="shape"):
        pbo_cscv(np.ones((3, 4)))
    uneven = np.ones((3, 4, 3))
    uneven[1, 2, 0] = 2
    with pytest.raises(InputError, match="counts per block differ"):
        pbo_cscv(uneven)
