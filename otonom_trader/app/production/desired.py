"""The desired state the daemon runs: ``deployments/production.yaml`` and the strategy files
it lists, read at one commit and validated with ``otonom strategy validate``'s checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from otonom_trader.domain.deployment import PRODUCTION_FILE, DeploymentEntry, load_deployment_text
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import strategy_from_text


@dataclass(frozen=True)
class Running:
    entry: DeploymentEntry
    strategy: Strategy
    version: str  # sha256 of the strategy file's text (first 16 hex digits)


@dataclass(frozen=True)
class DesiredState:
    commit: str | None
    capital: float
    strategies: tuple[Running, ...]

    def book_of(self, run: Running) -> float:
        """The capital a strategy trades: capital × capital_pct/100 (a shadow or paper
        strategy at 0% trades a book of the whole capital, which it never spends)."""
        pct = run.entry.capital_pct or (100.0 if run.entry.stage != "live" else 0.0)
        return self.capital * pct / 100.0

    def segment(self, run: Running) -> str:
        """What the engine's trading window starts afresh on: the strategy version and the
        book it trades (a new capital share restarts it flat, like a new version)."""
        return f"{run.version}/{self.book_of(run):.2f}"


def load_desired(read, commit: str | None) -> DesiredState:
    """Build the state from ``read(path) -> text | None`` (a commit's files or the work
    tree); any problem is one ``InputError``/``StrategyError`` naming the file."""
    text = read(PRODUCTION_FILE)
    if text is None:
        raise InputError(f"{PRODUCTION_FILE}: no such file at {commit or 'the work tree'}: "
                         "the daemon runs what this file lists")
    where = f"{PRODUCTION_FILE}{'@' + commit[:12] if commit else ''}: "
    deployment = load_deployment_text(text, where)
    runs = []
    for entry in deployment.entries:
        source = read(entry.path)
        if source is None:
            raise InputError(f"{where}{entry.key}.path {entry.path!r}: no such strategy file")
        strategy = strategy_from_text(source, Path(entry.path))
        version = hashlib.sha256(source.encode()).hexdigest()[:16]
        runs.append(Running(entry, strategy, version))
    return DesiredState(commit, deployment.capital, tuple(runs))
