"""The validation gate's settings: ``params.yaml`` parsed once into frozen objects.

``gates:`` holds the thresholds ``otonom validate`` applies; ``split:`` and ``data.symbol``
give the windows and symbol for strategies that carry no promotion metadata.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.split import SPLIT_KEYS, Split

__all__ = ["GateParams", "Gates", "format_against", "load_gate_params"]


@dataclass(frozen=True)
class Gates:
    """Thresholds (test window unless a name says otherwise)."""

    min_test_sharpe: float
    max_drawdown_pct: float  # a floor: drawdowns are negative percent, -25.0 allows -24.9
    max_sharpe_gap: float  # train Sharpe - test Sharpe at most this
    min_dsr: float  # Deflated Sharpe Ratio (a probability) at least this
    min_trades: int  # closed trades in the test window at least this
    production_margin: float  # test Sharpe at most this much below production's
    max_pbo: float = 0.5  # Probability of Backtest Overfitting at most this (promote)


@dataclass(frozen=True)
class GateParams:
    """What ``otonom validate`` reads from ``params.yaml``."""

    gates: Gates
    split: Split
    symbol: str | None
    source: Path


def _number(block: Mapping[str, Any], key: str, label: str, integer: bool) -> float | int:
    value = block[key]
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or (not integer and not math.isfinite(value)):
        kind = "an integer" if integer else "a finite number"
        raise InputError(f"{label}`gates.{key}`: expected {kind}, got {value!r}")
    return int(value) if integer else float(value)


def _gates(block: Any, label: str) -> Gates:
    names = [f.name for f in fields(Gates)]
    if not isinstance(block, Mapping):
        raise InputError(f"{label}`gates`: expected a mapping with " +
                         ", ".join(f"`{n}`" for n in names))
    for key in block:
        if key not in names:
            match = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean `gates.{match[0]}`?" if match else "allowed keys: " + \
                ", ".join(f"`{n}`" for n in names)
            raise InputError(f"{label}unknown key `gates.{key}` — {hint}")
    optional = {f.name for f in fields(Gates) if f.default is not MISSING}
    missing = [n for n in names if n not in block and n not in optional]
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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such params file; pass --params") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the params file ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}: invalid YAML{where}") from None
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
    return GateParams(gates=_gates(data["gates"], label), split=split, symbol=symbol,
                      source=path)
