"""The validation gate's settings: ``params.yaml`` parsed once into frozen objects.

``gates:`` holds the thresholds ``otonom validate`` applies; ``split:`` and ``data.symbol``
give the windows and symbol for strategies that carry no promotion metadata.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.safe_yaml import read_yaml
from otonom_trader.domain.split import SPLIT_KEYS, Split

__all__ = ["WAIVABLE", "GateParams", "Gates", "format_against", "load_gate_params"]

# The checks whose missing evidence fails the gate unless waived in ``gates.waive``.
WAIVABLE = ("reproduction", "data_fingerprint", "experiment_record", "min_dsr", "max_pbo",
            "max_sharpe_gap", "rollout_evidence")

MAX_TRADES = 1_000_000  # range of `gates.min_trades`
MAX_GATE = 1e6  # range of the other gates, in their units


@dataclass(frozen=True)
class Gates:
    """Thresholds (test window unless a name says otherwise)."""

    min_test_sharpe: float
    max_drawdown_pct: float  # a floor: drawdowns are negative percent, -25.0 allows -24.9
    max_sharpe_gap: float  # train Sharpe - test Sharpe at most this
    min_dsr: float  # Deflated Sharpe Ratio (a probability) at least this
    min_trades: int  # closed trades in the test window at least this
    production_margin: float  # test Sharpe at most this much below production's
    # Hold-out gates (promotions from an experiment with a hold-out window only).
    min_holdout_sharpe: float = 0.0  # hold-out Sharpe at least this
    max_holdout_degradation: float = 1.0  # selection-window Sharpe − hold-out Sharpe at most
    max_pbo: float = 0.5  # Probability of Backtest Overfitting at most this (promote, validate)


@dataclass(frozen=True)
class GateParams:
    """What ``otonom validate`` reads from ``params.yaml``."""

    gates: Gates
    split: Split
    symbol: str | None
    source: Path
    waivers: tuple[str, ...] = ()  # `check` or `strategy:check`, from `gates.waive`

    def waived(self, strategy: str | None, check: str) -> str | None:
        """The waiver entry that excuses ``check`` for ``strategy``, if any."""
        for entry in (f"{strategy}:{check}", check):
            if entry in self.waivers:
                return entry
        return None


def _number(block: Mapping[str, Any], key: str, label: str, integer: bool) -> float | int:
    value = block[key]
    if integer:
        ok = isinstance(value, int) and 0 <= value <= MAX_TRADES
    else:
        ok = isinstance(value, int | float) and abs(value) <= MAX_GATE  # False for NaN
    if isinstance(value, bool) or not ok:
        kind = (f"an integer between 0 and {MAX_TRADES:,}" if integer else
                f"a finite number between -{MAX_GATE:g} and {MAX_GATE:g}")
        raise InputError(f"{label}`gates.{key}`: expected {kind}, got {_shown(value)}")
    return int(value) if integer else float(value)


def _waivers(block: Mapping[str, Any], label: str) -> tuple[str, ...]:
    """``gates.waive``: a list of `check` or `strategy:check` (check one of ``WAIVABLE``)."""
    raw = block.get("waive") or []
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise InputError(f"{label}`gates.waive`: expected a list of `check` or "
                         f"`strategy:check` strings, got {raw!r}")
    for entry in raw:
        check = entry.rsplit(":", 1)[-1]
        if check not in WAIVABLE:
            raise InputError(f"{label}`gates.waive`: {entry!r} names no waivable check; "
                             f"choose from {', '.join(WAIVABLE)} (optionally `strategy:check`)")
    return tuple(dict.fromkeys(raw))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _gates(block: Any, label: str) -> Gates:
    names = [f.name for f in fields(Gates)]
    if not isinstance(block, Mapping):
        raise InputError(f"{label}`gates`: expected a mapping with " +
                         ", ".join(f"`{n}`" for n in names))
    block = {k: v for k, v in block.items() if k != "waive"}
    for key in block:
        if key not in names:
            match = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean `gates.{match[0]}`?" if match else "allowed keys: " + \
                ", ".join(f"`{n}`" for n in names)
            raise InputError(f"{label}unknown key `gates.{key}` — {hint}")
    required = [f.name for f in fields(Gates) if f.default is MISSING]
    missing = [n for n in required if n not in block]
    if missing:
        raise InputError(f"{label}missing `gates.{missing[0]}`")
    return Gates(**{n: _number(block, n, label, n == "min_trades") for n in names
                    if n in block})


def format_against(value: float, limit: float, digits: int = 2) -> tuple[str, str]:
    """``value`` and ``limit`` with the same decimals: ``digits``, or more when needed to show
    that they differ (0.9496 against 0.95: ``0.9496`` and ``0.9500``, never ``0.95 < 0.95``)."""
    d = digits
    while d < 10 and value != limit and f"{value:.{d}f}" == f"{limit:.{d}f}":
        d += 1
    if value != limit and f"{value:.{d}f}" == f"{limit:.{d}f}":
        return repr(float(value)), repr(float(limit))
    return f"{value:.{d}f}", f"{limit:.{d}f}"


def load_gate_params(path: str | Path) -> GateParams:
    """Read ``gates:``, ``split:`` and ``data.symbol`` from ``path``; problems are one line."""
    path = Path(path)
    label = f"{path}: "
    if not path.exists():
        raise InputError(f"{path}: no such params file; pass --params")
    data = read_yaml(path, "params")
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: expected a mapping with a `gates:` block")
    if "gates" not in data:
        raise InputError(f"{path}: no `gates:` block (min_test_sharpe, max_drawdown_pct, ...)")
    split_block = data.get("split") or {}
    if not isinstance(split_block, Mapping):
        raise InputError(f"{path}: `split`: expected a mapping of {', '.join(SPLIT_KEYS)}")
    split = Split().merged(split_block)
    split.check(label)
    data_block = data.get("data") or {}
    symbol = data_block.get("symbol") if isinstance(data_block, Mapping) else None
    if symbol is not None and not isinstance(symbol, str):
        raise InputError(f"{path}: `data.symbol`: expected a string, got {symbol!r}")
    gates = _gates(data["gates"], label)
    return GateParams(gates=gates, split=split, symbol=symbol, source=path,
                      waivers=_waivers(data["gates"], label))
