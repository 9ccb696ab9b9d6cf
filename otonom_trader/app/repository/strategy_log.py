"""STRATEGY_LOG.md: the human-readable history of strategy versions, one entry per promotion.

An entry follows the workflow's format line for line (``## name``, ``**Date**``,
``**Parent**``, ``**Experiment**: #N``, ``**Reason**``, ``### Parameter Changes``,
``**Expected Impact**``, ``**Actual Impact**``, ``---``), each item its own paragraph so it
renders as written; extra detail follows the reason. ``.gitattributes`` merges the file with
``merge=union`` so two open promotions do not conflict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["LOG_FILE", "LOG_TITLE", "LogEntry", "append_entry", "format_value",
           "headline_metrics", "reason_text", "set_actual_impact"]

LOG_FILE = "STRATEGY_LOG.md"
LOG_TITLE = ("# Strategy log\n\nEvery promoted strategy version, newest last. Written by "
             "`otonom promote`; update **Actual Impact** by hand after the live test.\n")
ACTUAL_IMPACT = "(Update after 30-day test)"

# The workflow's short form of the test metrics: Sharpe=2.15, CAGR=45.2%, MaxDD=-12.3%.
_HEADLINE = (("Sharpe", "sharpe", "{:.2f}"), ("CAGR", "cagr_pct", "{:.1f}%"),
             ("MaxDD", "max_drawdown_pct", "{:.1f}%"))


def format_value(value: Any) -> str:
    """A parameter value as written in the log and on the console (``1.0``, ``20``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def headline_metrics(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[("Sharpe", "2.15"), ("CAGR", "45.2%"), ("MaxDD", "-12.3%")]`` (``n/a`` if unknown)."""
    out = []
    for label, key, fmt in _HEADLINE:
        value = metrics.get(key)
        ok = isinstance(value, int | float) and math.isfinite(value)
        out.append((label, fmt.format(value + 0.0) if ok else "n/a"))
    return out


def reason_text(experiment_id: int, test: Mapping[str, Any]) -> str:
    """``Best run from experiment #3: Test Sharpe=2.15, CAGR=45.2%, MaxDD=-12.3%``."""
    parts = [f"{label}={text}" for label, text in headline_metrics(test)]
    return f"Best run from experiment #{experiment_id}: Test " + ", ".join(parts)


@dataclass(frozen=True)
class LogEntry:
    name: str
    date: datetime  # UTC
    parent: str
    experiment_id: int
    test: Mapping[str, Any]  # the selected run's test metrics (display-scaled)
    changes: Mapping[str, tuple[Any, Any]]  # dotted path -> (old, new)
    expected_impact: str | None
    details: Sequence[str] = ()  # extra paragraphs after the reason (experiment, run, DSR...)

    def markdown(self) -> str:
        changes = [f"- `{path}`: {format_value(new)}" for path, (_, new) in self.changes.items()]
        if not changes:
            changes = ["- (none: the run's parameters equal the parent's)"]
        impact = " ".join((self.expected_impact or "").split()) or "(not stated)"
        paragraphs = [
            f"## {self.name}",
            f"**Date**: {self.date:%Y-%m-%d %H:%M:%S} UTC",
            f"**Parent**: {self.parent}",
            f"**Experiment**: #{self.experiment_id}",
            f"**Reason**: {reason_text(self.experiment_id, self.test)}",
            *self.details,
            "### Parameter Changes",
            "\n".join(changes),
            f"**Expected Impact**: {impact}",
            f"**Actual Impact**: {ACTUAL_IMPACT}",
            "---",
        ]
        return "\n\n".join(paragraphs) + "\n"


def append_entry(existing: str | None, entry: LogEntry) -> str:
    """The log's new text: ``existing`` (None: a new file with a title) plus the entry."""
    text = LOG_TITLE if existing is None or not existing.strip() else existing
    if not text.endswith("\n"):
        text += "\n"
    if not text.endswith("\n\n"):
        text += "\n"
    return text + entry.markdown()


def set_actual_impact(text: str, name: str, impact: str) -> str:
    """The log with the **Actual Impact** paragraph of ``## name`` (its last entry, if the
    name was promoted more than once) replaced by ``impact``; ``KeyError`` naming what is
    missing when there is no such entry or paragraph."""
    lines = text.split("\n")
    heads = [i for i, line in enumerate(lines) if line.rstrip() == f"## {name}"]
    if not heads:
        raise KeyError(f"no entry `## {name}`")
    start = heads[-1] + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    at = next((i for i in range(start, end) if lines[i].startswith("**Actual Impact**:")), None)
    if at is None:
        raise KeyError(f"no **Actual Impact** paragraph in the entry `## {name}`")
    stop = next((i for i in range(at, end) if not lines[i].strip()), end)
    paragraph = "**Actual Impact**: " + " ".join(impact.split())
    return "\n".join([*lines[:at], paragraph, *lines[stop:]])
