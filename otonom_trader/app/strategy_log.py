"""STRATEGY_LOG.md: the human-readable history of strategy versions, one entry per promotion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["LOG_FILE", "LOG_TITLE", "LogEntry", "append_entry", "format_value"]

LOG_FILE = "STRATEGY_LOG.md"
LOG_TITLE = ("# Strategy log\n\nEvery promoted strategy version, newest last. Written by "
             "`otonom promote`; update **Actual Impact** by hand after the live test.\n")


def format_value(value: Any) -> str:
    """A parameter value as written in the log and on the console (``1.0``, ``20``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


@dataclass(frozen=True)
class LogEntry:
    name: str
    date: datetime  # UTC
    parent: str
    experiment_name: str
    experiment_id: int
    run_number: int
    reason: str
    changes: Mapping[str, tuple[Any, Any]]  # dotted path -> (old, new)
    expected_impact: str | None

    def markdown(self) -> str:
        changes = [f"- `{path}`: {format_value(new)}" for path, (_, new) in self.changes.items()]
        if not changes:
            changes = ["- (none: the run's parameters equal the parent's)"]
        impact = (self.expected_impact or "").strip() or "(not stated)"
        return "\n".join([
            f"## {self.name}",
            f"**Date**: {self.date:%Y-%m-%d %H:%M:%S} UTC",
            f"**Parent**: {self.parent}",
            f"**Experiment**: {self.experiment_name} (ID: {self.experiment_id}, "
            f"run #{self.run_number})",
            f"**Reason**: {self.reason}",
            "",
            "### Parameter Changes",
            *changes,
            "",
            "### Expected Impact",
            impact,
            "",
            "**Actual Impact**: (Update after 30-day test)",
            "",
            "---",
            "",
        ])


def append_entry(existing: str | None, entry: LogEntry) -> str:
    """The log's new text: ``existing`` (None: a new file with a title) plus the entry."""
    text = LOG_TITLE if existing is None or not existing.strip() else existing
    if not text.endswith("\n"):
        text += "\n"
    if not text.endswith("\n\n"):
        text += "\n"
    return text + entry.markdown()
