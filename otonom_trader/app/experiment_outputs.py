"""The files an experiment leaves for the pipeline: runs.parquet, metrics.json (nested summary
plus flat top-level scalars for ``dvc exp show``), best_params.yaml, best_equity.csv, sweep.csv."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from otonom_trader.adapters.store import ExperimentInfo
from otonom_trader.app.pipeline_outputs import flat_metrics, pbo, write_plots
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.names import check_name, inside

DEFAULT_CAPITAL = 10_000.0


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _metrics(row: pd.Series, window: str) -> dict:
    return {k: _clean(row[f"{window}_{k}"]) for k in METRIC_KEYS}


def best_run(runs: pd.DataFrame, metric: str = "sharpe") -> pd.Series | None:
    """The done run with the highest finite test ``metric`` (ties: the lower run number)."""
    done = runs[runs["status"] == "done"]
    column = done[f"test_{metric}"]
    done = done[column.notna() & column.abs().ne(math.inf)]
    if done.empty:
        return None
    ordered = done.sort_values([f"test_{metric}", "run_number"], ascending=[False, True])
    return ordered.iloc[0]


def runs_table(results: list, values: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Evaluated chunks in the store's ``runs_frame`` layout (non-finite metrics → NaN),
    built once from the chunks' arrays."""
    columns: dict[str, np.ndarray] = {
        "run_number": np.concatenate([r.run_numbers for r in results]),
        "status": np.concatenate([np.asarray(r.status, dtype=object) for r in results]),
        "error": np.concatenate([np.asarray(r.errors, dtype=object) for r in results]),
    }
    for path in values[0]:
        columns[path] = np.concatenate([v[path] for v in values])
    for window in ("train", "test"):
        matrix = np.concatenate([getattr(r, window) for r in results])
        matrix = np.where(np.isfinite(matrix), matrix, np.nan)
        for j, key in enumerate(METRIC_KEYS):
            columns[f"{window}_{key}"] = matrix[:, j]
    return pd.DataFrame(columns)


def write_outputs(info: ExperimentInfo, runs: pd.DataFrame, root: Path, *,
                  blocks: np.ndarray | None = None, data_dir: Path | str = "data",
                  initial_capital: float = DEFAULT_CAPITAL) -> dict[str, Path]:
    """Write ``root/<name>/{runs.parquet, metrics.json, best_params.yaml, best_equity.csv,
    sweep.csv}`` from all runs; ``blocks`` (the done runs' block statistics) gives the PBO."""
    name = check_name(info.name, f"experiment {info.id}'s name")  # a store made elsewhere
    folder = inside(root, name, "--outputs-dir/<name>")
    folder.mkdir(parents=True, exist_ok=True)
    runs = runs.sort_values("run_number", ignore_index=True)
    param_columns = [c for c in runs.columns if "." in c]
    paths = {"runs": folder / "runs.parquet", "metrics": folder / "metrics.json",
             "best_params": folder / "best_params.yaml"}
    runs.to_parquet(paths["runs"], index=False)

    best = best_run(runs)
    done = int((runs["status"] == "done").sum())
    best_params = None if best is None else {c: _clean(best[c]) for c in param_columns}
    plots, equity_problem = write_plots(folder, info, runs, param_columns, best_params,
                                        data_dir, initial_capital)
    paths |= plots
    summary = {
        **flat_metrics(runs, best, info, pbo(blocks)),
        "experiment": {
            "id": info.id, "name": info.name, "strategy": info.strategy_path,
            "symbol": info.symbol, "search": info.search, "split": info.split,
            "total_runs": info.total_runs, "done": done,
            "failed": int((runs["status"] == "failed").sum()),
            "elapsed_seconds": round(info.elapsed_seconds, 3),
            "data_fingerprint": info.data_fingerprint,
        },
        "best": None if best is None else {
            "run_number": int(best["run_number"]),
            "selected_by": "test sharpe",
            "params": best_params,
            "train": _metrics(best, "train"),
            "test": _metrics(best, "test"),
        },
    }
    if equity_problem:
        summary["best_equity_note"] = f"best_equity.csv is empty: {equity_problem}"
    paths["metrics"].write_text(json.dumps(summary, indent=2) + "\n")
    best_params_doc = {} if best is None else {
        "experiment": info.name, "run_number": int(best["run_number"]),
        "selected_by": "test sharpe", "params": best_params,
    }
    paths["best_params"].write_text(yaml.safe_dump(best_params_doc, sort_keys=False))
    return paths
