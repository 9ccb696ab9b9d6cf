"""Promote refuses weak runs: the selected run against the ``gates:`` of ``params.yaml``
(test Sharpe, drawdown floor, train−test gap, DSR, PBO, trades).

A failed gate refuses the promotion (exit 1) with every reason, unless ``--allow-overfit``;
then the reasons are recorded as forced (pull request, log entry, metadata). A statistic
that cannot be computed is a note here; ``otonom validate`` is the gate that fails closed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otonom_trader.domain.errors import GateFailed
from otonom_trader.domain.gates import Gates, format_against, load_gate_params

__all__ = ["check_run_gates", "load_gates", "weak_run_reasons"]

PARAMS_FILE = "params.yaml"


def load_gates(root: Path) -> Gates | None:
    """The gates of ``root/params.yaml``; None when the file or its ``gates:`` is absent."""
    from otonom_trader.domain.errors import InputError
    from otonom_trader.domain.safe_yaml import read_yaml

    path = root / PARAMS_FILE
    if not path.is_file():
        return None
    try:
        data = read_yaml(path, "params")  # the bounded reader, as everywhere
    except InputError:
        data = None  # load_gate_params names the problem
    if isinstance(data, Mapping) and "gates" not in data:
        return None
    return load_gate_params(path).gates


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def weak_run_reasons(gates: Gates, test: Mapping[str, Any], overfitting: Mapping[str, Any]
                     ) -> tuple[list[str], list[str]]:
    """``(failed gates, statistics that could not be checked)``, one readable line each."""
    checks = (  # name, value, limit, True when the value must be at least the limit
        ("test Sharpe", test.get("sharpe"), gates.min_test_sharpe, True, "min_test_sharpe"),
        ("test max drawdown", test.get("max_drawdown_pct"), gates.max_drawdown_pct, True,
         "max_drawdown_pct"),
        ("train−test Sharpe gap", overfitting.get("sharpe_gap"), gates.max_sharpe_gap, False,
         "max_sharpe_gap"),
        ("DSR", overfitting.get("dsr"), gates.min_dsr, True, "min_dsr"),
        ("PBO", overfitting.get("pbo"), gates.max_pbo, False, "max_pbo"),
    )
    failed, unknown = [], []
    for label, raw, limit, at_least, key in checks:
        value = _number(raw)
        if value is None:
            unknown.append(f"{label} could not be computed (gates.{key} not checked)")
            continue
        if (value < limit) if at_least else (value > limit):
            shown, bound = format_against(value, limit)
            failed.append(f"{label} {shown} {'<' if at_least else '>'} {bound} (gates.{key})")
    trades = test.get("n_trades")
    if isinstance(trades, int) and trades < gates.min_trades:
        failed.append(f"test trades {trades} < {gates.min_trades} (gates.min_trades)")
    return failed, unknown


def check_run_gates(gates: Gates | None, test: Mapping[str, Any],
                    overfitting: Mapping[str, Any], run_number: int, allow_overfit: bool
                    ) -> tuple[tuple[str, ...], list[str]]:
    """``(forced reasons, notes)``; raises GateFailed (exit 1) for a weak run unless
    ``allow_overfit``."""
    if gates is None:
        return (), [f"{PARAMS_FILE} has no `gates:`: the run was not checked against gates"]
    failed, unknown = weak_run_reasons(gates, test, overfitting)
    if failed and not allow_overfit:
        raise GateFailed(f"run #{run_number} fails the {PARAMS_FILE} gates: "
                         + "; ".join(failed) + ". Promote a stronger run, relax the gates, or "
                         "pass --allow-overfit to promote it anyway (recorded as forced)")
    notes = list(unknown)
    if failed:
        notes.append(f"run #{run_number} fails the {PARAMS_FILE} gates ("
                     + "; ".join(failed) + "): promoted because of --allow-overfit")
    return tuple(failed), notes
