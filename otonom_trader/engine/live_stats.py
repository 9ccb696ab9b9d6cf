"""Live returns against the figures a strategy was promoted with: the statistics behind
``otonom monitor`` and each rollout step (issue: production control loop).

- Probabilistic Sharpe Ratio that the true Sharpe is at least a haircut of the expected one,
  and the minimum track record length still needed (Bailey & López de Prado 2012, skew- and
  kurtosis-adjusted; ``engine.overfitting.probabilistic_sharpe_ratio``).
- The drawdown and time-under-water bounds implied by the expected mean and volatility at a
  confidence level, for IID normal returns (Bailey & López de Prado 2014, "Drawdown-based
  stop-outs and the triple penance rule"): the α-quantile of the cumulative return,
  μt − z_α·σ·√t, is lowest at t* = (z_α·σ/(2μ))², MaxDD_α = (z_α·σ)²/(4μ), and it is back
  at zero at MaxTuW_α = (z_α·σ/μ)² = 4t*: recovering takes three times as long as the fall.
- A one-sided CUSUM on the standardised mean return (Page 1954): an alarm when the live mean
  has dropped below the expected one.
- The win rate against the expected one with a Clopper–Pearson interval.

All figures are per period (bar) unless a name says annualised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from otonom_trader.domain.errors import InputError
from otonom_trader.engine.overfitting import probabilistic_sharpe_ratio, return_moments

ADVANCE, HOLD, ROLLBACK, INCONCLUSIVE = "advance", "hold", "rollback", "inconclusive"


def _z(confidence: float) -> float:
    from scipy.stats import norm

    if not 0.5 < confidence < 1.0:
        raise InputError(f"confidence must be in (0.5, 1), got {confidence}")
    return float(norm.ppf(confidence))


def min_track_record_length(sharpe: float, sharpe_benchmark: float, skew: float,
                            kurtosis: float, confidence: float = 0.95) -> float:
    """MinTRL = 1 + (1 − γ₃·SR + (γ₄−1)/4·SR²)·(z_α / (SR − SR*))² periods: the returns
    needed for PSR(SR*) to reach ``confidence``; inf when SR ≤ SR*."""
    if not sharpe > sharpe_benchmark:
        return math.inf
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not var > 0:
        return math.nan
    return 1.0 + var * (_z(confidence) / (sharpe - sharpe_benchmark)) ** 2


def drawdown_bound(mean: float, std: float, confidence: float = 0.95) -> float:
    """The drawdown (in cumulative return units) that IID normal returns with this mean and
    standard deviation exceed with probability at most 1 − confidence at any horizon:
    (z_α·σ)² / (4μ); inf for μ ≤ 0."""
    if not mean > 0:
        return math.inf
    return (_z(confidence) * std) ** 2 / (4.0 * mean)


def time_under_water_bound(mean: float, std: float, confidence: float = 0.95) -> float:
    """The longest time under water (periods) at that confidence: (z_α·σ/μ)², four times the
    (z_α·σ/(2μ))² periods the maximum drawdown takes to form (the triple penance rule)."""
    if not mean > 0:
        return math.inf
    return (_z(confidence) * std / mean) ** 2


@dataclass(frozen=True)
class Cusum:
    statistic: np.ndarray  # S_t per period
    alarm_at: int | None  # first period whose S_t exceeds the threshold, or None
    threshold: float
    slack: float


def cusum_mean_drop(returns, expected_mean: float, expected_std: float, *, slack: float = 0.5,
                    threshold: float = 8.0) -> Cusum:
    """Page's one-sided CUSUM for a drop of the mean: with z_t = (r_t − μ₀)/σ₀,
    S_t = max(0, S_{t−1} − z_t − k), alarm at the first S_t > h (k = ``slack``,
    h = ``threshold``, in standard deviations). By Siegmund's approximation k = 0.5, h = 8
    detect a one-σ drop in about 16 periods and raise a false alarm about once in 19,000
    (h = 5 would alarm about once in 940: too often for a monitor that runs for years)."""
    if not expected_std > 0:
        raise InputError(f"the expected standard deviation must be > 0, got {expected_std}")
    r = np.asarray(returns, dtype=np.float64).ravel()
    z = (r - expected_mean) / expected_std
    s = np.empty(len(z))
    level = 0.0
    alarm = None
    for t, zt in enumerate(z):
        level = max(0.0, level - zt - slack)
        s[t] = level
        if alarm is None and level > threshold:
            alarm = t
    return Cusum(s, alarm, threshold, slack)


def win_rate_interval(wins: int, trades: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson interval of the win rate (NaN, NaN without trades)."""
    from scipy.stats import binomtest

    if trades == 0:
        return math.nan, math.nan
    ci = binomtest(wins, trades).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class Expected:
    """What a strategy was promoted with, per period: mean and standard deviation of its
    test-window returns, its Sharpe (mean/std) and win rate (a fraction, or None)."""

    mean: float
    std: float
    win_rate: float | None = None

    @property
    def sharpe(self) -> float:
        return self.mean / self.std


@dataclass(frozen=True)
class Thresholds:
    min_periods: int = 30  # fewer live returns: inconclusive
    haircut: float = 0.5  # SR* = haircut × the expected Sharpe
    min_psr: float = 0.95  # advance needs PSR(SR*) at least this
    rollback_psr: float = 0.05  # PSR(SR*) below this rolls back
    confidence: float = 0.95  # of the drawdown bound and the win-rate interval


@dataclass(frozen=True)
class Verdict:
    verdict: str  # ADVANCE, HOLD, ROLLBACK or INCONCLUSIVE
    reasons: tuple[str, ...]
    n: int
    sharpe: float  # live, per period
    psr: float
    min_trl: float  # periods needed in all (inf when the live Sharpe is at or below SR*)
    drawdown: float  # current, from the last peak (cumulative return units)
    drawdown_bound: float
    under_water: int  # periods since the last peak
    under_water_bound: float
    max_drawdown: float  # the deepest so far, for the record
    cusum_alarm_at: int | None


def _drawdowns(returns: np.ndarray) -> tuple[float, int, float]:
    """(current drawdown, periods under water, deepest drawdown) of the cumulative return
    (the sum of returns, as the bounds are stated)."""
    wealth = np.concatenate([[0.0], np.cumsum(returns)])
    peak = np.maximum.accumulate(wealth)
    under = peak - wealth
    last_peak = int(np.flatnonzero(wealth == peak)[-1])
    return float(under[-1]), len(wealth) - 1 - last_peak, float(under.max())


def assess(returns, expected: Expected, thresholds: Thresholds = Thresholds()) -> Verdict:
    """The verdict on live ``returns`` against ``expected``: rollback on a CUSUM alarm, a
    current drawdown or time under water past its bound (the stop-out rule) or a collapsed
    PSR; inconclusive with too few returns (saying how many more are needed); advance when
    PSR(haircut × expected SR) clears ``min_psr`` and the track record is long enough; hold
    otherwise."""
    r = np.asarray(returns, dtype=np.float64).ravel()
    n = len(r)
    c = thresholds.confidence
    bound = drawdown_bound(expected.mean, expected.std, c)
    tuw_bound = time_under_water_bound(expected.mean, expected.std, c)
    dd, tuw, deepest = _drawdowns(r)
    alarm = cusum_mean_drop(r, expected.mean, expected.std).alarm_at
    reasons: list[str] = []
    if alarm is not None:
        reasons.append(f"CUSUM alarm at period {alarm + 1}: the mean return dropped below "
                       "the expected one")
    if dd > bound:
        reasons.append(f"drawdown {dd:.2%} past its {c:.0%} bound {bound:.2%}")
    if tuw > tuw_bound:
        reasons.append(f"{tuw} periods under water, past the {c:.0%} bound of "
                       f"{tuw_bound:.0f}")
    marks = dict(drawdown=dd, drawdown_bound=bound, under_water=tuw,
                 under_water_bound=tuw_bound, max_drawdown=deepest, cusum_alarm_at=alarm)
    if n < max(thresholds.min_periods, 2):
        why = [*reasons, f"{n} returns; {thresholds.min_periods - n} more needed before "
                         "the Sharpe can be judged"]
        verdict = ROLLBACK if reasons else INCONCLUSIVE
        return Verdict(verdict, tuple(why), n, math.nan, math.nan, math.inf, **marks)
    sharpe, skew, kurt, _ = return_moments(r)
    target = thresholds.haircut * expected.sharpe
    psr = probabilistic_sharpe_ratio(sharpe, target, n, skew, kurt) if math.isfinite(
        sharpe) else math.nan
    min_trl = min_track_record_length(sharpe, target, skew, kurt, thresholds.min_psr) \
        if math.isfinite(sharpe) else math.inf
    if math.isfinite(psr) and psr < thresholds.rollback_psr:
        reasons.append(f"PSR {psr:.3f} < {thresholds.rollback_psr}: the live Sharpe is very "
                       f"likely below {thresholds.haircut:g} × the expected one")
    if reasons:
        return Verdict(ROLLBACK, tuple(reasons), n, sharpe, psr, min_trl, **marks)
    if math.isfinite(psr) and psr >= thresholds.min_psr and n >= min_trl:
        return Verdict(ADVANCE, (f"PSR {psr:.3f} ≥ {thresholds.min_psr} over {n} returns "
                                 f"(MinTRL {min_trl:.0f})",), n, sharpe, psr, min_trl, **marks)
    need = "" if not math.isfinite(min_trl) else f"; MinTRL {math.ceil(min_trl)} returns"
    return Verdict(HOLD, (f"PSR {psr:.3f} < {thresholds.min_psr} after {n} returns{need}",),
                   n, sharpe, psr, min_trl, **marks)
