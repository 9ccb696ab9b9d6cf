"""Objectives of a multi-objective search (``--objectives sharpe,max_drawdown_pct``).

Any metric name is an objective. Display-scaled metrics are all "higher is better" except
that max drawdown is shown negative (-12.3%): the search minimises its magnitude (Optuna's
direction ``minimize`` on the loss, 12.3), and rankings over the stored, display-scaled values
(the Pareto front, the knee) maximise it as stored (-5% beats -12.3%)."""

from __future__ import annotations

from typing import Any

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.metrics import METRIC_KEYS

_ALIASES = {"cagr": "cagr_pct", "max_drawdown": "max_drawdown_pct", "total_return":
            "total_return_pct", "win_rate": "win_rate_pct", "exposure": "exposure_pct"}
MINIMISED = frozenset({"max_drawdown_pct"})  # told to the search as a loss magnitude
MAX_OBJECTIVES = 4


def parse_objectives(value: Any, source: str = "--objectives") -> tuple[str, ...]:
    """``"sharpe,max_drawdown_pct"`` or a list of names → the metric keys (2 or more, no
    repeats); anything else is one ``InputError`` naming ``source`` and the valid names."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{source}: expected comma-separated metric names, e.g. "
                         f"sharpe,max_drawdown_pct, got {value!r}")
    keys = [_ALIASES.get(n.strip(), n.strip()) for n in names]
    bad = [n for n, k in zip(names, keys, strict=True) if k not in METRIC_KEYS]
    if bad:
        raise InputError(f"{source}: {bad[0].strip()!r} is not a metric; choose from "
                         f"{', '.join(METRIC_KEYS)}")
    if len(set(keys)) != len(keys) or not 2 <= len(keys) <= MAX_OBJECTIVES:
        raise InputError(f"{source}: expected 2 to {MAX_OBJECTIVES} different metrics, got "
                         f"{','.join(keys)}")
    return tuple(keys)


def direction(key: str) -> str:
    """Optuna's direction for the objective ``key`` (see ``search_value``)."""
    return "minimize" if key in MINIMISED else "maximize"


def search_value(key: str, display: float) -> float:
    """The value told to the search: the display-scaled metric, or for max drawdown its
    magnitude (exact: a sign flip of the stored value)."""
    return -display if key in MINIMISED else display


def objectives_of(search: dict | None) -> tuple[str, ...]:
    """The objectives an experiment's ``search`` record names (empty: single-objective)."""
    return tuple((search or {}).get("objectives") or ())
