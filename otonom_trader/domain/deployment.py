"""``deployments/production.yaml``: the desired state of production, parsed into frozen objects.

Format::

    capital: 100000            # optional; the trading capital (default 10,000)
    strategies:
      - name: baseline_v1
        path: strategies/baseline_v1.yaml
        stage: live            # shadow | paper | live
        capital_pct: 100       # live: a rollout step, 10, 50 or 100; live ones add up to <= 100
        since: 2026-01-15      # optional: the date it entered this stage
        broker: paper          # optional: paper (default) | alpaca
        halt: false            # optional: reduce-only (no new entries, exits still run)

``shadow`` runs on the paper broker and records the orders a live broker would have got;
``paper`` (kept from earlier files) is the same in the daemon but counts as an active stage
for validation and deploy tags; ``live`` sends orders to ``broker``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.names import check_name
from otonom_trader.domain.safe_yaml import parse_yaml, read_yaml

__all__ = ["ACTIVE_STAGES", "BROKERS", "DEFAULT_CAPITAL", "PRODUCTION_FILE", "ROLLOUT_STEPS",
           "STAGES", "Deployment", "DeploymentEntry",
           "load_deployment", "load_deployment_text",
           "parse_deployment"]

STAGES = ("shadow", "paper", "live")
ACTIVE_STAGES = ("paper", "live")  # stages production is measured against and tagged
PRODUCTION_FILE = "deployments/production.yaml"
ROLLOUT_STEPS = (10.0, 50.0, 100.0)  # the capital_pct a live strategy may run at
BROKERS = ("paper", "alpaca")
DEFAULT_CAPITAL = 10_000.0
_REQUIRED = ("name", "path", "stage", "capital_pct")
_KEYS = (*_REQUIRED, "since", "broker", "halt")


@dataclass(frozen=True)
class DeploymentEntry:
    name: str
    path: str  # repository-relative strategy file
    stage: str  # shadow | paper | live
    capital_pct: float
    key: str = field(default="", compare=False)  # where it is written: `file: strategies[i]`
    since: date | None = None
    broker: str = "paper"
    halt: bool = False


@dataclass(frozen=True)
class Deployment:
    entries: tuple[DeploymentEntry, ...]
    capital: float = DEFAULT_CAPITAL

    def active(self) -> tuple[DeploymentEntry, ...]:
        """Entries in the ``paper`` or ``live`` stage."""
        return tuple(e for e in self.entries if e.stage in ACTIVE_STAGES)


def _entry(item: Any, i: int, label: str) -> DeploymentEntry:
    where = f"{label}`strategies[{i}]`"
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: expected a mapping with name, path, stage, capital_pct")
    for key in _REQUIRED:
        if key not in item:
            raise InputError(f"{where}: missing `{key}`")
    extra = sorted(set(item) - set(_KEYS))
    if extra:
        raise InputError(f"{where}: unknown key `{extra[0]}` (allowed: {', '.join(_KEYS)})")
    for key in ("name", "path"):
        if not isinstance(item[key], str) or not item[key]:
            raise InputError(f"{where}.{key}: expected a non-empty string, got {item[key]!r}")
    check_name(item["name"], f"{where}.name")  # it names tags deploy/<name>/<date>
    path = PurePosixPath(item["path"])
    if path.is_absolute() or ".." in path.parts or "\\" in item["path"]:
        raise InputError(f"{where}.path {item['path']!r}: expected a path inside the "
                         "repository, relative to its root (e.g. strategies/baseline_v1.yaml)")
    if item["stage"] not in STAGES:
        raise InputError(f"{where}.stage: expected one of {', '.join(STAGES)}, "
                         f"got {item['stage']!r}")
    pct = item["capital_pct"]
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not math.isfinite(pct) \
            or not 0 <= pct <= 100:
        raise InputError(f"{where}.capital_pct: expected a number between 0 and 100, got {pct!r}")
    if item["stage"] == "live" and float(pct) not in ROLLOUT_STEPS:
        raise InputError(f"{where}.capital_pct: a live strategy runs at a rollout step, "
                         f"10, 50 or 100; got {pct!r}")
    broker = item.get("broker", "paper")
    if broker not in BROKERS:
        raise InputError(f"{where}.broker: expected one of {', '.join(BROKERS)}, got {broker!r}")
    halt = item.get("halt", False)
    if not isinstance(halt, bool):
        raise InputError(f"{where}.halt: expected true or false, got {halt!r}")
    return DeploymentEntry(item["name"], item["path"], item["stage"], float(pct), where,
                           _since(item.get("since"), where), broker, halt)


def _since(value: Any, where: str) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InputError(f"{where}.since: expected a date YYYY-MM-DD, got {value!r}")


def _capital(data: Mapping, label: str) -> float:
    value = data.get("capital", DEFAULT_CAPITAL)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 < value < math.inf:
        raise InputError(f"{label}`capital`: expected a positive amount, got {value!r}")
    return float(value)


def parse_deployment(data: Any, label: str = "") -> Deployment:
    """Validate a parsed production file; ``label`` (``"file: "``) prefixes messages."""
    if not isinstance(data, Mapping) or not isinstance(data.get("strategies"), list):
        raise InputError(f"{label}expected `strategies:` with a list of "
                         "{name, path, stage, capital_pct}")
    extra = sorted(set(data) - {"capital", "strategies"})
    if extra:
        raise InputError(f"{label}unknown key `{extra[0]}` (allowed: capital, strategies)")
    entries = tuple(_entry(item, i, label) for i, item in enumerate(data["strategies"]))
    names = [e.name for e in entries]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError(f"{label}strategy `{dup}` is listed twice")
    total = sum(e.capital_pct for e in entries if e.stage == "live")
    if total > 100 + 1e-9:
        raise InputError(f"{label}live capital_pct adds up to {total:g}%, more than 100%")
    return Deployment(entries, _capital(data, label))


def load_deployment_text(text: str, label: str) -> Deployment:
    return parse_deployment(parse_yaml(text, label.removesuffix(": ")), label)


def load_deployment(path: str | Path = PRODUCTION_FILE) -> Deployment:
    """Read and validate a production file; any problem is one ``InputError`` line."""
    path = Path(path)
    return parse_deployment(read_yaml(path, "deployment"), f"{path}: ")
