"""What a promotion writes (``Promotion``), shared by the use case and the pull request text."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from otonom_trader.adapters.store_models import ExperimentInfo
from otonom_trader.domain.strategy import Strategy
from otonom_trader.engine.selection import Overfitting, Selection

__all__ = ["Promotion"]


@dataclass(frozen=True)
class Promotion:
    """Everything a promotion writes, computed before anything is written."""

    name: str
    path: str  # repository-relative (or as given), e.g. strategies/baseline_v2.yaml
    text: str  # the strategy file
    strategy: Strategy  # ``text`` loaded and validated
    parent: Strategy
    experiment: ExperimentInfo
    selection: Selection
    changes: dict[str, tuple[Any, Any]]  # dotted path -> (parent value, new value)
    overfitting: Overfitting
    parent_metrics: dict[str, dict | None]  # train/test of the parent on the same windows
    initial_capital: float
    expected_impact: str | None
    promoted_at: datetime
    notes: tuple[str, ...]
    metadata: dict = field(repr=False, default_factory=dict)
    holdout: dict | None = None  # the promoted run on the hold-out window (None: no hold-out)
    forced: tuple[str, ...] = ()  # failed gates promoted anyway (--allow-overfit)
    evidence: dict[str, str] = field(default_factory=dict)  # a DVC experiment's record
