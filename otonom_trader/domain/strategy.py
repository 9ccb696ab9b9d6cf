"""The strategy model: frozen, typed objects built from a validated strategy file.

Loading and validation live in ``strategy_loader``; this module only defines the shapes.
Percent fields are in percent (``stop_loss_pct: 5.0`` means 5%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

ANALYST_NAMES = ("tech", "momentum", "meanrev", "regime", "news")


@dataclass(frozen=True)
class TechParams:
    """Moving-average crossover: score = sign(fast MA - slow MA)."""

    fast_window: int = 20
    slow_window: int = 50
    ma_type: str = "sma"  # "sma" or "ema"


@dataclass(frozen=True)
class MomentumParams:
    """Rate of change over ``lookback`` bars; a change of ``scale_pct`` percent scores 1."""

    lookback: int = 20
    scale_pct: float = 5.0


@dataclass(frozen=True)
class MeanRevParams:
    """Z-score of the close against its ``window`` mean; ``z_scale`` sigmas below scores +1."""

    window: int = 20
    z_scale: float = 2.0


@dataclass(frozen=True)
class RegimeParams:
    """Volatility regime: +1 when calm, -1 when volatility is twice ``vol_threshold_pct``.

    ``source`` is ``realized`` (annualised close-to-close volatility over ``window`` bars)
    or ``vix`` (the bundled VIX series, in the same percent units).
    """

    source: str = "realized"
    window: int = 20
    vol_threshold_pct: float = 20.0


@dataclass(frozen=True)
class NewsParams:
    """External sentiment in [-1, 1] from ``path`` (default ``data/news/<SYMBOL>.csv``)."""

    path: str | None = None


@dataclass(frozen=True)
class Analysts:
    tech: TechParams | None = None
    momentum: MomentumParams | None = None
    meanrev: MeanRevParams | None = None
    regime: RegimeParams | None = None
    news: NewsParams | None = None

    def configured(self) -> dict[str, Any]:
        """Name -> params of every analyst present in the file."""
        return {n: getattr(self, n) for n in ANALYST_NAMES if getattr(self, n) is not None}


@dataclass(frozen=True)
class Ensemble:
    """Ensemble score = sum(w * s) / sum(w) over the weighted analysts."""

    analyst_weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    entry_threshold: float = 0.0
    exit_threshold: float = 0.0


@dataclass(frozen=True)
class Risk:
    """Sizing and stops. ``sizing`` is ``fixed`` (``position_pct`` of equity per entry) or
    ``risk`` (fraction = min(max_leverage, risk_pct / stop_loss_pct))."""

    sizing: str = "fixed"
    position_pct: float = 100.0
    risk_pct: float = 1.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    max_leverage: float = 1.0
    allow_short: bool = False

    @property
    def fraction(self) -> float:
        """Fraction of current equity committed per entry."""
        if self.sizing == "risk":
            return min(self.max_leverage, self.risk_pct / self.stop_loss_pct)
        return self.position_pct / 100.0


@dataclass(frozen=True)
class Execution:
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    entry_bar_stops: bool = True


@dataclass(frozen=True)
class DataSettings:
    symbol: str | None = None
    dsi_threshold: float = 0.0
    periods_per_year: float | None = None
    on_bad_bars: str = "refuse"  # "refuse" bad bars (price <= 0, High < Low) or "score" them


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    analysts: Analysts
    ensemble: Ensemble
    risk: Risk
    execution: Execution
    data: DataSettings
    metadata: Mapping[str, Any] | None = None
    source: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)
