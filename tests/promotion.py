"""Build promoted strategy files for validation tests: run the real backtests and write the
``metadata`` block ``otonom promote`` writes (same keys), so reproduction is exact."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from otonom_trader.domain.strategy_loader import strategy_from_mapping
from otonom_trader.engine.backtest import backtest
from otonom_trader.engine.data import data_fingerprint, load_bars
from otonom_trader.engine.overfitting import deflated_sharpe_ratio

REPO = Path(__file__).resolve().parents[1]
SPLIT = {"train_start": "2008-01-01", "train_end": "2015-12-31",
         "test_start": "2016-01-01", "test_end": "2018-12-31"}


def _set(data: dict, dotted: str, value: Any) -> None:
    *head, last = dotted.split(".")
    for part in head:
        data = data.setdefault(part, {})
    data[last] = value


def promoted(base: str | Path, name: str, overrides: dict[str, Any] | None = None, *,
             symbol: str = "SPX", split: dict | None = None, capital: float = 10_000.0,
             n_trials: int = 24, sharpe_variance: float = 1e-3) -> dict:
    """The mapping of a promoted strategy: ``base`` with ``overrides`` and metadata."""
    data = yaml.safe_load(Path(base).read_text())
    data = copy.deepcopy(data)
    data["name"] = name
    for dotted, value in (overrides or {}).items():
        _set(data, dotted, value)
    strategy = strategy_from_mapping(data)
    split = split or SPLIT
    bars = load_bars(symbol)
    test = backtest(strategy, bars, symbol=symbol, start=split["test_start"],
                    end=split["test_end"], initial_capital=capital)
    train = backtest(strategy, bars, symbol=symbol, start=split["train_start"],
                     end=split["train_end"], initial_capital=capital)
    returns = test.equity.pct_change().to_numpy()[1:]
    dsr = deflated_sharpe_ratio(returns, sharpe_variance, n_trials).dsr
    data["metadata"] = {
        "parent": Path(base).stem,
        "experiment": {"id": 1, "name": f"{name}_grid", "search": "grid", "n_runs": n_trials},
        "run_number": 3,
        "selected_by": "sharpe",
        "symbol": symbol,
        "split": dict(split),
        "data_fingerprint": data_fingerprint(bars),
        "initial_capital": capital,
        "train": dict(train.metrics),
        "test": dict(test.metrics),
        "overfitting": {"sharpe_gap": train.metrics["sharpe"] - test.metrics["sharpe"],
                        "dsr": float(dsr), "pbo": 0.2, "n_trials": n_trials,
                        "sharpe_variance": sharpe_variance},
        "promoted_at": "2026-01-02T03:04:05Z",
        "expected_impact": "test",
        "dvc_experiment": None,
    }
    return data


def write_promoted(path: Path, data: dict, *, record: bool = True) -> Path:
    """Write the strategy file ``path`` (in ``<root>/strategies/``) and, with ``record``, its
    experiment's record ``<root>/experiments/<experiment>/metrics.json`` as promote commits
    it (the trial count and Sharpe variance validate checks the DSR against)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    if record:
        write_record(path.parent.parent, data["metadata"])
    return path


def write_record(root: Path, meta: dict, **overfitting: Any) -> Path:
    """``experiments/<name>/metrics.json`` of the experiment ``meta`` names."""
    exp = meta["experiment"]
    over = {"n_trials": meta["overfitting"]["n_trials"],
            "sharpe_variance": meta["overfitting"]["sharpe_variance"],
            "pbo": meta["overfitting"]["pbo"], **overfitting}
    path = root / "experiments" / exp["name"] / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"experiment": {"id": exp["id"], "name": exp["name"],
                                               "data_fingerprint": meta["data_fingerprint"]},
                                "overfitting": over}, indent=2))
    return path
