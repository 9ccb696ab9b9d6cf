"""Metric names and their user-facing form (percent where the name says so).

The domain owns the names: the kernels' metrics vector has one slot per ``PUBLIC_METRICS``
row, in this order (``kernels.enums.M_*``; a test checks that both agree)."""

from __future__ import annotations

from collections.abc import Sequence

# (public name, kernel slot name, scale) — max drawdown is shown negative, as -12.3%.
PUBLIC_METRICS = (
    ("total_return_pct", "total_return", 100.0),
    ("cagr_pct", "cagr", 100.0),
    ("sharpe", "sharpe", 1.0),
    ("sortino", "sortino", 1.0),
    ("max_drawdown_pct", "max_drawdown", -100.0),
    ("calmar", "calmar", 1.0),
    ("win_rate_pct", "win_rate", 100.0),
    ("profit_factor", "profit_factor", 1.0),
    ("exposure_pct", "exposure", 100.0),
    ("n_trades", "n_trades", 1.0),
    ("final_equity", "final_equity", 1.0),
)
METRIC_KEYS = tuple(name for name, _, _ in PUBLIC_METRICS)
METRIC_NAMES = tuple(slot for _, slot, _ in PUBLIC_METRICS)  # the metrics vector's slots
# What the best run can be selected by (`promote --select-by`, `experiments show --sort-by`).
SELECTION_METRICS = ("sharpe", "cagr_pct", "sortino", "calmar")


def public_metrics(vector: Sequence[float]) -> dict[str, float | int]:
    """Turn a kernel metrics vector into named, display-scaled metrics."""
    out: dict[str, float | int] = {}
    for (name, _, scale), raw in zip(PUBLIC_METRICS, vector, strict=True):
        value = float(raw)
        out[name] = int(value) if name == "n_trades" else value * scale + 0.0
    return out


def json_safe(metrics: dict) -> dict:
    """NaN and infinities become ``None`` so the result is valid JSON."""
    from otonom_trader.domain.json_text import finite

    return finite(metrics)
