"""``otonom validate`` results as markdown (the PR comment) and as one JSON-ready object; the
console table is drawn by ``cli.validate`` from the same rows (``shown_pair``)."""

from __future__ import annotations

import math
from typing import Any

from otonom_trader.app.validation.checks import FAIL, NA, PASS, WAIVED, Check, StrategyReport
from otonom_trader.app.validation.validate import MARKER, ValidationResult
from otonom_trader.domain.gates import format_against
from otonom_trader.domain.json_text import finite

ICONS = {PASS: "✅", FAIL: "❌", NA: "➖", WAIVED: "⚠️"}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_line(result: ValidationResult) -> str:
    n, bad = len(result.reports), len(result.failed)
    if n == 0:
        return f"✅ nothing to validate ({result.selection})"
    if bad == 0:
        return f"✅ {n} of {n} strateg{'y' if n == 1 else 'ies'} passed every gate"
    names = ", ".join(r.name or r.path for r in result.failed)
    return f"❌ {bad} of {n} strateg{'y' if n == 1 else 'ies'} failed: {names}"


def _is_float(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def shown_pair(c: Check) -> tuple[str, str]:
    """A row's value and threshold as shown, with the same rounding: two decimals, more when
    needed to show that they differ (never "0.95 < 0.95")."""
    if not (_is_float(c.value) or _is_float(c.threshold)) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in (c.value, c.threshold)):
        return c.shown, c.limit
    parts = c.limit.split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("≥", "≤"):
        return c.shown, c.limit
    suffix = "%" if c.shown.endswith("%") else ""
    value, limit = format_against(float(c.value), float(c.threshold))
    rest = f" {parts[2]}" if len(parts) > 2 else ""
    return value + suffix, f"{parts[0]} {limit}{suffix}{rest}"


def _strategy_md(r: StrategyReport) -> list[str]:
    title = f"### {ICONS[PASS] if r.ok else ICONS[FAIL]} {r.name or r.path} (`{r.path}`)"
    lines = [title, ""]
    if r.symbol and r.test_window:
        where = f"{r.symbol}, test {r.test_window[0]} → {r.test_window[1]}"
        if r.train_window:
            where += f", train {r.train_window[0]} → {r.train_window[1]}"
        source = "the promotion metadata" if r.has_metadata else "params.yaml (no metadata)"
        lines += [f"{where}; windows from {source}", ""]
    lines += ["| gate | value | threshold | result |", "|---|---|---|---|"]
    for c in r.checks:
        result = f"{ICONS[c.status]} {c.status}"
        label = f"{c.label}<br><sub>{_cell(c.detail)}</sub>" if c.detail else c.label
        shown, limit = shown_pair(c)
        lines.append(f"| {_cell(label)} | {_cell(shown)} | {_cell(limit)} | {result} |")
    if r.mismatches:
        lines += ["", "Reproduction mismatches (recorded in metadata vs reproduced now):", "",
                  "| metric | recorded | reproduced |", "|---|---|---|"]
        lines += [f"| {m.metric} | `{m.recorded!r}` | `{m.reproduced!r}` |" for m in r.mismatches]
    if r.notes:
        lines += ["", *(f"> note: {n}  " for n in r.notes)]
    return [*lines, ""]


def to_markdown(result: ValidationResult) -> str:
    """The report: the hidden marker, a heading, one table per strategy, a summary line."""
    lines = [MARKER, "## otonom validate", "",
             f"Files: {result.selection}. Gates: `{result.params_path}`. "
             f"Production: {result.production_source or 'none'}.", ""]
    for r in result.reports:
        lines += _strategy_md(r)
    if result.waivers:
        lines += [f"**Waivers** (`gates.waive` in `{result.params_path}`): missing evidence "
                  "accepted for", "", *(f"- {_cell(w)}" for w in result.waivers), ""]
    lines.append(f"**Summary:** {summary_line(result)}")
    return "\n".join(lines) + "\n"


def to_json(result: ValidationResult) -> dict[str, Any]:
    """One object: ``ok``, ``summary``, and per strategy its checks, mismatches and metrics
    (NaN and infinities become null)."""
    return finite({
        "ok": result.ok,
        "summary": summary_line(result),
        "selection": result.selection,
        "params": result.params_path,
        "production": result.production_source,
        "waivers": list(result.waivers),
        "strategies": [
            {
                "path": r.path,
                "name": r.name,
                "ok": r.ok,
                "symbol": r.symbol,
                "test_window": list(r.test_window) if r.test_window else None,
                "train_window": list(r.train_window) if r.train_window else None,
                "has_metadata": r.has_metadata,
                "checks": [
                    {"gate": c.gate, "label": c.label, "status": c.status, "value": c.value,
                     "threshold": c.threshold, "detail": c.detail}
                    for c in r.checks
                ],
                "mismatches": [
                    {"metric": m.metric, "recorded": m.recorded, "reproduced": m.reproduced}
                    for m in r.mismatches
                ],
                "test": dict(r.test) if r.test is not None else None,
                "train": dict(r.train) if r.train is not None else None,
                "notes": list(r.notes),
            }
            for r in result.reports
        ],
    })
