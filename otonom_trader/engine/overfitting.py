"""Overfitting statistics: train/test Sharpe gap, Probabilistic and Deflated Sharpe Ratio
(Bailey & López de Prado 2014), Probability of Backtest Overfitting by CSCV (Bailey, Borwein,
López de Prado & Zhu 2017) from per-block return statistics, minimum backtest length, and
walk-forward efficiency.

Sharpe ratios here are per period (not annualised) unless a name says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from otonom_trader.domain.errors import InputError, RunError

GAP_WARNING = 1.0  # train Sharpe - test Sharpe above this warns
EULER_GAMMA = 0.5772156649015329  # Euler–Mascheroni constant


@dataclass(frozen=True)
class DSRResult:
    dsr: float  # probability that the true Sharpe exceeds the expected maximum of N trials
    sharpe: float  # per-period Sharpe of the evaluated returns
    sharpe_0: float  # expected maximum per-period Sharpe of N unskilled trials
    n_obs: int
    n_trials: int
    skew: float
    kurtosis: float  # non-excess (normal = 3)


@dataclass(frozen=True)
class PBOResult:
    pbo: float  # share of splits whose in-sample best ranks in the out-of-sample bottom half
    logits: np.ndarray  # one lambda per split
    n_splits: int  # C(S, S/2)
    n_runs: int
    n_blocks: int
    reason: str = ""  # why ``pbo`` is NaN, else empty


def _norm_cdf(x: float) -> float:
    from scipy.special import ndtr

    return float(ndtr(x))


def _norm_ppf(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


def sharpe_gap(train_sharpe, test_sharpe) -> np.ndarray:
    """Train minus test Sharpe per run (annualised inputs give an annualised gap)."""
    return np.asarray(train_sharpe, dtype=np.float64) - np.asarray(test_sharpe, dtype=np.float64)


def walk_forward_efficiency(train_cagr, test_cagr) -> np.ndarray:
    """Annualised test return / annualised train return per run (Pardo's walk-forward
    efficiency; ≈ 1 when the test keeps the train pace, ≤ 0 when the test loses money).

    Both in the same unit (fractions or percent). NaN where the train return is not positive:
    the ratio means nothing when the in-sample period did not make money."""
    train = np.asarray(train_cagr, dtype=np.float64)
    test = np.asarray(test_cagr, dtype=np.float64)
    safe = np.where(train > 0, train, 1.0)
    return np.where(train > 0, test / safe, np.nan)


def probabilistic_sharpe_ratio(sharpe: float, sharpe_benchmark: float, n_obs: int,
                               skew: float, kurtosis: float) -> float:
    """PSR(SR*) = Φ((SR − SR*)·√(n−1) / √(1 − γ₃·SR + (γ₄−1)/4·SR²)); per-period SR,
    γ₄ non-excess kurtosis.

    NaN when the Sharpe is NaN or the variance term 1 − γ₃·SR + (γ₄−1)/4·SR² is not positive
    (moments inconsistent with the Sharpe ratio)."""
    if n_obs < 2:
        raise InputError(f"the probabilistic Sharpe ratio needs at least 2 returns, got {n_obs}")
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not var > 0:
        return math.nan
    return _norm_cdf((sharpe - sharpe_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var))


def _expected_max_z(n_trials: int) -> float:
    """E[max of N standard normals] ≈ (1−γ)Φ⁻¹(1−1/N) + γΦ⁻¹(1−1/(N·e)); 0 for N = 1."""
    if n_trials < 1:
        raise InputError(f"the number of trials must be at least 1, got {n_trials}")
    if n_trials == 1:
        return 0.0
    return ((1.0 - EULER_GAMMA) * _norm_ppf(1.0 - 1.0 / n_trials)
            + EULER_GAMMA * _norm_ppf(1.0 - 1.0 / (n_trials * math.e)))


def expected_max_sharpe(sharpe_variance: float, n_trials: int) -> float:
    """SR₀ = √V[SR]·((1−γ)Φ⁻¹(1−1/N) + γΦ⁻¹(1−1/(N·e))), γ the Euler–Mascheroni constant.

    One trial has no selection bias: SR₀ = 0 for N = 1."""
    if not sharpe_variance >= 0:
        raise InputError(f"the Sharpe variance across trials must be ≥ 0, got {sharpe_variance}")
    return math.sqrt(sharpe_variance) * _expected_max_z(int(n_trials))


def trial_sharpe_variance(sharpes, periods_per_year: float = 1.0) -> float:
    """V[SR] for the DSR: the sample variance (ddof=1) across trials of their per-period
    Sharpe ratios. Pass annualised Sharpes with their ``periods_per_year`` (they are divided
    by √P first); NaN Sharpes (runs without a defined Sharpe) are left out. 0 with fewer
    than 2 defined Sharpes."""
    sr = np.asarray(sharpes, dtype=np.float64).ravel() / math.sqrt(periods_per_year)
    sr = sr[np.isfinite(sr)]
    return float(np.var(sr, ddof=1)) if len(sr) > 1 else 0.0


def return_moments(returns) -> tuple[float, float, float, int]:
    """(per-period Sharpe = mean/std with ddof=1, skewness, non-excess kurtosis, n) of
    ``returns``. Skewness and kurtosis are the moment estimators m₃/m₂^1.5 and m₄/m₂² (as
    ``scipy.stats.skew``/``kurtosis(fisher=False)``). NaN moments for constant returns."""
    r = np.asarray(returns, dtype=np.float64).ravel()
    n = len(r)
    if n < 2:
        raise InputError(f"the deflated Sharpe ratio needs at least 2 returns, got {n}")
    if not np.isfinite(r).all():
        raise InputError("returns contain NaN or infinite values")
    dev = r - r.mean()
    m2 = float(np.mean(dev**2))
    if m2 == 0.0:
        return math.nan, math.nan, math.nan, n
    sharpe = float(r.mean() / r.std(ddof=1))
    skew = float(np.mean(dev**3) / m2**1.5)
    kurtosis = float(np.mean(dev**4) / m2**2)
    return sharpe, skew, kurtosis, n


def deflated_sharpe_from_moments(sharpe: float, n_obs: int, skew: float, kurtosis: float,
                                 sharpe_variance: float, n_trials: int) -> DSRResult:
    """DSR = PSR(SR₀) for a per-period ``sharpe`` estimated from ``n_obs`` returns with the
    given skewness and non-excess kurtosis (the paper's worked example is stated this way)."""
    sharpe_0 = expected_max_sharpe(sharpe_variance, n_trials)
    dsr = probabilistic_sharpe_ratio(sharpe, sharpe_0, n_obs, skew, kurtosis)
    return DSRResult(dsr=dsr, sharpe=float(sharpe), sharpe_0=sharpe_0, n_obs=int(n_obs),
                     n_trials=int(n_trials), skew=float(skew), kurtosis=float(kurtosis))


def deflated_sharpe_ratio(returns: np.ndarray, sharpe_variance: float,
                          n_trials: int) -> DSRResult:
    """DSR = PSR(SR₀) of ``returns`` (per-period), N = ``n_trials``, V[SR] = the variance of
    the per-period Sharpe ratios across the trials (``trial_sharpe_variance``).

    Moments as in ``return_moments``; constant returns give a NaN Sharpe and DSR."""
    sharpe, skew, kurtosis, n = return_moments(returns)
    return deflated_sharpe_from_moments(sharpe, n, skew, kurtosis, sharpe_variance, n_trials)


def cscv_splits(n_blocks: int) -> np.ndarray:
    """In-sample masks of every CSCV split of ``n_blocks`` blocks, ascending: bit b set =
    block b in-sample. ``PBOResult.logits[i]`` belongs to split ``cscv_splits(S)[i]``."""
    from otonom_trader.kernels.pbo import MAX_BLOCKS

    if n_blocks < 2 or n_blocks % 2 or n_blocks > MAX_BLOCKS:
        raise InputError(
            f"CSCV needs an even number of blocks between 2 and {MAX_BLOCKS}, got {n_blocks}"
        )
    masks = np.arange(1 << n_blocks, dtype=np.int64)
    popcount = np.zeros_like(masks)
    for b in range(n_blocks):
        popcount += (masks >> b) & 1
    return masks[popcount == n_blocks // 2]


_COUNTS_DIFFER = ("block statistics: bar counts per block differ between runs; CSCV compares "
                  "runs over the same bars (one experiment's runs)")


def _prepare_blocks(block_stats) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validated (counts (S,), sums (N, S), sums of squares (N, S), runs with no defined
    Sharpe anywhere). Runs with non-finite statistics are zeroed (zero variance)."""
    stats = np.asarray(block_stats, dtype=np.float64)
    counts = stats[:, :, 0]
    _check_counts(counts)
    if (counts != counts[0]).any():
        raise InputError(_COUNTS_DIFFER)
    sums = np.ascontiguousarray(stats[:, :, 1])
    sqs = np.ascontiguousarray(stats[:, :, 2])
    bad = ~(np.isfinite(sums).all(axis=1) & np.isfinite(sqs).all(axis=1))
    sums[bad] = 0.0
    sqs[bad] = 0.0
    c, s, q = counts[0].sum(), sums.sum(axis=1), sqs.sum(axis=1)
    from otonom_trader.kernels.enums import ZERO_VARIANCE

    flat = ~(q * c - s * s > ZERO_VARIANCE * q * c)
    return np.ascontiguousarray(counts[0]), sums, sqs, int(flat.sum())


def _check_counts(counts: np.ndarray) -> None:
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise InputError("block statistics: bar counts must be finite and ≥ 0")


def _undefined(n_runs: int, n_blocks: int, n_splits: int, reason: str) -> PBOResult:
    return PBOResult(pbo=math.nan, logits=np.empty(0), n_splits=n_splits, n_runs=n_runs,
                     n_blocks=n_blocks, reason=reason)


def pbo_with_notes(block_stats) -> tuple[PBOResult | None, list[str]]:
    """``pbo_cscv`` of the done runs' block statistics (an array, or a callable giving them
    in parts as ``pbo_cscv_parts`` takes them), or None, with what to tell the user (fewer
    than 2 runs, bad statistics, an undefined PBO); the parts' RunError (a damaged store,
    runs written between the passes) is raised."""
    few = "PBO needs block statistics of at least 2 done runs"
    if not callable(block_stats) and len(block_stats) < 2:
        return None, [few]
    parts = block_stats if callable(block_stats) else (lambda: (block_stats,))
    try:
        result = pbo_cscv_parts(parts)
    except (ValueError, InputError) as exc:
        return None, [f"PBO not computed: {exc}"]
    if result.n_runs < 2:
        return None, [few]
    return result, ([f"PBO undefined: {result.reason}"] if result.reason else [])


def pbo_cscv(block_stats: np.ndarray) -> PBOResult:
    """PBO by CSCV over all C(S, S/2) splits of S blocks, from ``block_stats`` of shape
    (n_runs, S, 3) = per-block (count, sum, sum of squares) of each run's per-bar returns.
    In-sample and out-of-sample performance is the Sharpe ratio of the union of blocks.

    For each split the run with the best in-sample Sharpe (ties: the lowest run index) is
    ranked out-of-sample among all N runs (mid-rank for ties; rank 1 = worst), ω̄ =
    rank/(N+1), λ = ln(ω̄/(1−ω̄)); PBO = share of splits with λ ≤ 0 (so a λ of exactly 0,
    e.g. when every run ties, counts as overfit). ``logits[i]`` belongs to the split
    ``cscv_splits(S)[i]``. A union of blocks with zero variance (relative to the run's whole
    sum of squares, see ``kernels/pbo.py``; e.g. a run that is flat in those blocks) has
    Sharpe −inf: never the in-sample best (unless all are), lowest out-of-sample. Runs with
    non-finite statistics count as zero variance everywhere. S must be even and ≤ 16; every
    run must have the same bar count per block (true for one experiment's runs). PBO is NaN,
    with ``reason`` set and no logits, with fewer than 2 runs or when no run has returns
    with non-zero variance. The numba kernel takes about 2.5 CPU-seconds for 160,000 runs ×
    16 blocks (``benchmarks/bench_overfitting.py``).
    """
    return pbo_cscv_parts(lambda: (block_stats,))


def pbo_cscv_parts(parts: Callable[[], Iterable[np.ndarray]]) -> PBOResult:
    """``pbo_cscv`` of the runs that ``parts()`` yields, (runs, blocks, 3) arrays in run
    order. ``parts`` is called twice (CSCV takes two passes over the runs), so the runs of a
    long search can be read from the store a part at a time: the same result as one array."""
    from otonom_trader.kernels.pbo import CSCV

    n_runs = n_flat = 0
    n_blocks: int | None = None
    counts0 = cscv = masks = None
    split_problem = data_problem = None  # raised only with ≥ 2 runs, the split's first
    for part in parts():
        stats = _checked_shape(part)
        if n_blocks is None or (len(stats) and not n_runs):  # an empty part has no blocks
            n_blocks = stats.shape[1]
        if len(stats) and stats.shape[1] != n_blocks:
            raise InputError(_COUNTS_DIFFER)
        n_runs += len(stats)
        if data_problem is not None and len(stats) and str(data_problem) == _COUNTS_DIFFER:
            try:  # as in one array: a bad count anywhere is named before differing counts
                _check_counts(stats[:, :, 0])
            except InputError as exc:
                data_problem = exc
        if not len(stats) or data_problem is not None:
            continue
        if counts0 is None:
            try:
                masks = cscv_splits(n_blocks)
            except InputError as exc:
                split_problem = exc
        try:
            counts, sums, sqs, flat = _prepare_blocks(stats)
            if counts0 is not None and not np.array_equal(counts, counts0):
                raise InputError(_COUNTS_DIFFER)
        except InputError as exc:
            data_problem = exc
            continue
        if counts0 is None:
            counts0 = counts
            cscv = None if masks is None else CSCV(counts, masks[(masks & 1) == 1])
        n_flat += flat
        if cscv is not None:
            cscv.best_of(sums, sqs)
    n_blocks = n_blocks or 0
    if n_runs < 2:
        n_splits = math.comb(n_blocks, n_blocks // 2) if n_blocks else 0
        return _undefined(n_runs, n_blocks, n_splits,
                          f"PBO needs at least 2 runs with block statistics, got {n_runs}")
    if split_problem is not None or data_problem is not None:
        raise split_problem or data_problem
    if n_flat == n_runs:
        return _undefined(n_runs, n_blocks, len(masks),
                          "no run has returns with non-zero variance")
    seen = 0  # pass 2 must see pass 1's runs: not those another process wrote since
    for part in parts():
        stats = _checked_shape(part)
        seen += len(stats)
        if seen > n_runs or (len(stats) and stats.shape[1] != n_blocks):
            break
        if len(stats):
            _, sums, sqs, _ = _prepare_blocks(stats)
            cscv.count(sums, sqs)
    if seen != n_runs:
        raise RunError(f"block statistics: the runs changed while the PBO was computed ({n_runs} "
                       "runs, then others): compute it again once no search writes them")
    pairs = cscv.pair_masks  # each split with block 0 in-sample; its complement
    pair_logits = cscv.logits()
    logits = np.empty(len(masks))
    full = (1 << n_blocks) - 1
    logits[np.searchsorted(masks, pairs)] = pair_logits[:, 0]
    logits[np.searchsorted(masks, full ^ pairs)] = pair_logits[:, 1]
    return PBOResult(pbo=float(np.mean(logits <= 0.0)), logits=logits, n_splits=len(masks),
                     n_runs=n_runs, n_blocks=n_blocks)


def _checked_shape(block_stats) -> np.ndarray:
    stats = np.asarray(block_stats, dtype=np.float64)
    if stats.ndim != 3 or stats.shape[2] != 3:
        raise InputError(f"block statistics must have shape (runs, blocks, 3), not {stats.shape}")
    return stats


def pbo_cscv_reference(block_stats: np.ndarray) -> PBOResult:
    """The readable twin of ``pbo_cscv`` (same conventions, exact Sharpe ratios, one split
    at a time); for tests and small inputs."""
    from otonom_trader.kernels.enums import ZERO_VARIANCE

    stats = np.asarray(block_stats, dtype=np.float64)
    n_runs, n_blocks = stats.shape[:2]
    if n_runs < 2:
        return _undefined(n_runs, n_blocks, math.comb(n_blocks, n_blocks // 2),
                          f"PBO needs at least 2 runs with block statistics, got {n_runs}")
    counts, sums, sqs, n_flat = _prepare_blocks(stats)
    masks = cscv_splits(n_blocks)
    if n_flat == n_runs:
        return _undefined(n_runs, n_blocks, len(masks),
                          "no run has returns with non-zero variance")

    total_sq = sqs.sum(axis=1)

    def union_sharpe(blocks: np.ndarray) -> np.ndarray:
        c = counts[blocks].sum()
        s = sums[:, blocks].sum(axis=1)
        q = sqs[:, blocks].sum(axis=1)
        d = q * c - s * s
        sharpe = np.full(n_runs, -np.inf)
        ok = d > ZERO_VARIANCE * total_sq * c  # zero variance (see kernels/pbo.py)
        # mean / std(ddof=1) = (s/c) / √((q − s²/c)/(c − 1))
        sharpe[ok] = s[ok] * math.sqrt(c - 1) / np.sqrt(c * d[ok])
        return sharpe

    logits = np.empty(len(masks))
    for i, mask in enumerate(masks):
        in_sample = np.array([(mask >> b) & 1 == 1 for b in range(n_blocks)])
        is_sharpe = union_sharpe(in_sample)
        oos_sharpe = union_sharpe(~in_sample)
        best = int(np.argmax(is_sharpe))  # first maximum: ties go to the lowest run index
        value = oos_sharpe[best]
        rank = np.sum(oos_sharpe < value) + (np.sum(oos_sharpe == value) + 1) / 2
        omega = rank / (n_runs + 1)
        logits[i] = math.log(omega / (1 - omega))
    return PBOResult(pbo=float(np.mean(logits <= 0.0)), logits=logits, n_splits=len(masks),
                     n_runs=n_runs, n_blocks=n_blocks)


def minimum_backtest_length(n_trials: int, target_sharpe: float = 1.0) -> float:
    """Years of data needed so that the expected maximum annualised Sharpe of ``n_trials``
    unskilled trials stays below ``target_sharpe`` (Bailey et al. 2014, MinBTL).

    MinBTL ≈ (((1−γ)Φ⁻¹(1−1/N) + γΦ⁻¹(1−1/(N·e))) / E[max SR])²: unskilled annualised Sharpe
    ratios estimated over y years have a standard deviation of about 1/√y. 0 for N = 1."""
    if not target_sharpe > 0:
        raise InputError(f"the target Sharpe ratio must be > 0, got {target_sharpe}")
    return (_expected_max_z(int(n_trials)) / target_sharpe) ** 2
