"""The files an experiment leaves for the pipeline, all derived from the store:
runs.parquet, metrics.json (nested summary plus flat top-level scalars for ``dvc exp show``),
best_params.yaml, best_equity.csv, sweep.csv, optionally store.db (a snapshot of the
experiment), and timings.json (session times; not for DVC to hash).

Each file is written atomically; the sha256 of each is recorded in the store, so a re-run
finds a missing, truncated or edited file and writes them again. The best run is the one
``promote`` takes (``engine.selection``: ``experiment.select_by``/``select_on`` and
``gates.max_sharpe_gap`` of params.yaml). Same store content, same bytes: no timings, key
and column order fixed."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pandas as pd

from otonom_trader.adapters.atomic import atomic_path, write_atomic
from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore
from otonom_trader.app.experiments.pipeline_outputs import flat_metrics, pbo, write_plots
from otonom_trader.domain.errors import InputError, OtonomError
from otonom_trader.domain.json_text import finite
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.names import check_name, inside
from otonom_trader.domain.safe_yaml import dump_yaml
from otonom_trader.engine.selection import (
    checked_rerun,
    overfitting_stats,
    select_run,
    selection_rule,
    trial_stats,
)
from otonom_trader.engine.stats import bar_returns

# label (as the grid search prints it) -> file name in experiments/<name>/
OUTPUT_FILES = {"runs": "runs.parquet", "metrics": "metrics.json",
                "best_params": "best_params.yaml", "best_equity": "best_equity.csv",
                "sweep": "sweep.csv", "store": "store.db"}
TIMINGS = "timings.json"  # session times: never hashed by DVC, never compared


def _metrics(row: pd.Series, window: str) -> dict:
    return {k: finite(row[f"{window}_{k}"]) for k in METRIC_KEYS}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stale_outputs(info: ExperimentInfo, root: Path) -> list[str]:
    """Output files of ``info`` under ``root/<name>/`` that are missing or differ from what
    was last written (all of them when nothing was recorded)."""
    recorded = info.outputs or {}
    if not recorded:
        return ["(none recorded)"]
    folder = root / info.name
    return [name for name, digest in recorded.items()
            if not (folder / name).is_file() or sha256(folder / name) != digest]


def _best(runs: pd.DataFrame, info: ExperimentInfo, params_path: Path):
    """(row of the run promote would take, its selection, why there is none)."""
    from otonom_trader.domain.objectives import objectives_of

    rule = selection_rule(params_path)
    try:
        selection = select_run(runs, info.id, rule, objectives_of(info.search))
    except InputError as exc:
        return None, None, str(exc).removeprefix("❌ ")
    row = runs.loc[runs["run_number"] == selection.run.run_number].iloc[0]
    return row, selection, None


def _overfitting(info: ExperimentInfo, runs: pd.DataFrame, selection, pbo_value,
                 data_dir: Path | str, ancestors=None) -> tuple[dict, list[str], Any]:
    """THE overfitting summary (``engine.selection.overfitting_stats``) of the selected run,
    its test window re-run by the checked re-run; without a selected run, the experiment's
    trials and PBO only. ``pbo_value``: the PBO, or a callable that waits for it (it may be
    computing in a thread meanwhile). ``ancestors``: the parent chain's runs (refine). Also
    returns the selected run's test returns and its DSR record (``show.dsr_record``), or
    None when it was not re-run."""
    if selection is None:
        n_trials, variance = trial_stats(runs, info.periods_per_year, ancestors)
        return {"sharpe_gap": None, "dsr": None, "pbo": _resolve(pbo_value),
                "n_trials": n_trials, "sharpe_variance": variance, "min_btl_years": None}, [], None
    notes: list[str] = []
    try:
        result, _ = checked_rerun(info, selection.run.params, info.split["test_start"],
                                  info.split["test_end"], data_dir)
        equity, returns = result.equity, bar_returns(result.equity)
        if float(result.metrics["sharpe"]) != selection.run.test["sharpe"]:
            returns = None  # not kept: `show` re-runs it and reports the difference
    except OtonomError as exc:
        equity, returns = pd.Series(dtype=float), None
        notes.append(f"best run not re-run: {exc}")
    stats, more = overfitting_stats(runs, selection.run, equity, info.periods_per_year, None,
                                    pbo=_resolve(pbo_value), ancestors=ancestors)
    from otonom_trader.app.experiments.show import dsr_record

    kept = None if returns is None else (returns, dsr_record(stats))
    return stats.as_dict(), notes + more, kept


def _resolve(pbo_value):
    return pbo_value() if callable(pbo_value) else pbo_value


def write_outputs(info: ExperimentInfo, runs: pd.DataFrame, root: Path, *,
                  blocks=None, data_dir: Path | str = "data",
                  params_path: Path | str = "params.yaml") -> dict[str, Path]:
    """Write ``root/<name>/{runs.parquet, metrics.json, best_params.yaml, best_equity.csv,
    sweep.csv}`` from all runs; ``blocks`` (the done runs' block statistics) gives the PBO."""
    return _write(info, runs, root, pbo(blocks), data_dir, params_path)[0]


def _write(info: ExperimentInfo, runs: pd.DataFrame, root: Path, pbo_value,
           data_dir: Path | str, params_path: Path | str, ancestors=None,
           cpcv: dict | None = None) -> tuple[dict[str, Path], tuple[int, Any] | None]:
    """``pbo_value``: the PBO (float or None), or a callable giving it, called only once the
    other files are written (the PBO may still be computing meanwhile). ``cpcv``:
    ``app.experiments.cpcv_search.cpcv_record`` of a search run with ``--cv cpcv``. Returns
    the paths, and (run number, test returns, DSR record) of the selected run when it was
    re-run."""
    from otonom_trader.app.experiments.cpcv_search import flat_cpcv

    name = check_name(info.name, f"experiment {info.id}'s name")  # a store made elsewhere
    inside(root, name, "--outputs-dir/<name>")  # no link or `..` leads out of root
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    if not runs["run_number"].is_monotonic_increasing:
        runs = runs.sort_values("run_number", ignore_index=True)
    param_columns = [c for c in runs.columns if "." in c]
    paths = {label: folder / OUTPUT_FILES[label] for label in ("runs", "metrics", "best_params")}
    with atomic_path(paths["runs"]) as tmp:
        runs.to_parquet(tmp, index=False)

    best, selection, no_best = _best(runs, info, Path(params_path))
    done = int((runs["status"] == "done").sum())
    best_params = None if best is None else {c: finite(best[c]) for c in param_columns}
    plots, equity_problem = write_plots(folder, info, runs, param_columns, best_params,
                                        data_dir, info.initial_capital)
    paths |= plots
    selected_by = None if selection is None else selection.rule.label
    overfitting, overfitting_notes, kept = _overfitting(info, runs, selection, pbo_value,
                                                           data_dir, ancestors)
    summary = {
        **flat_metrics(runs, best, info, overfitting["pbo"]), **flat_cpcv(cpcv),
        "experiment": {
            "id": info.id, "name": info.name, "strategy": info.strategy_path,
            "symbol": info.symbol, "search": info.search, "split": info.split,
            "initial_capital": info.initial_capital,
            "total_runs": info.total_runs, "done": done,
            "failed": int((runs["status"] == "failed").sum()),
            "data_fingerprint": info.data_fingerprint,
        },
        "best": None if best is None else {
            "run_number": int(best["run_number"]),
            "selected_by": selected_by,
            "max_sharpe_gap": selection.max_gap,
            "skipped_over_gap": [n for n, _ in selection.skipped],
            "params": best_params,
            "train": _metrics(best, "train"),
            "test": _metrics(best, "test"),
        },
    }
    summary["overfitting"] = overfitting
    if cpcv is not None:
        summary["cpcv"] = cpcv
    if overfitting_notes:
        summary["overfitting_notes"] = overfitting_notes
    if no_best:
        summary["best_note"] = no_best
    if equity_problem:
        summary["best_equity_note"] = f"best_equity.csv is empty: {equity_problem}"
    write_atomic(paths["metrics"], json.dumps(summary, indent=2) + "\n")
    best_params_doc = {} if best is None else {
        "experiment": info.name, "run_number": int(best["run_number"]),
        "selected_by": selected_by, "params": best_params,
    }
    write_atomic(paths["best_params"], dump_yaml(best_params_doc))
    return paths, None if kept is None else (selection.run.run_number, *kept)


def _timings(info: ExperimentInfo) -> str:
    def stamp(value):
        return None if value is None else f"{value:%Y-%m-%dT%H:%M:%S}Z"

    return json.dumps({"experiment_id": info.id, "elapsed_seconds": round(
        info.elapsed_seconds, 3), "created_at": stamp(info.created_at),
        "finished_at": stamp(info.finished_at)}, indent=2) + "\n"


def export_outputs(store: ExperimentStore, exp_id: int, root: Path | str, *,
                   data_dir: Path | str = "data", params_path: Path | str = "params.yaml",
                   snapshot: bool = False, runs: pd.DataFrame | None = None,
                   blocks=None, pbo: Future | None = None) -> dict[str, Path]:
    """Rebuild every output of experiment ``exp_id`` from the store (``snapshot`` adds
    store.db, the experiment alone for DVC) and record their digests. ``runs``/``blocks``:
    what ``store.runs_frame``/``block_stats`` would return, when the caller has them in
    memory; ``pbo``: ``engine.overfitting.pbo_with_notes`` of those blocks, computing in
    another thread. A finished experiment also gets its columnar snapshot and PBO in the
    store, for ``experiments show``."""
    from otonom_trader.app.experiments.cpcv_search import cpcv_record
    from otonom_trader.app.experiments.refine import chain_ids, chain_runs
    from otonom_trader.app.experiments.show import pbo_record
    from otonom_trader.engine.overfitting import pbo_with_notes

    root = Path(root)
    info = store.get(exp_id)
    answer: list = []  # (PBOResult or None, notes), once known
    cv = (info.search or {}).get("cv")
    if runs is None or blocks is None or pbo is None:  # read back
        if cv:  # CPCV takes them all: the PBO too, instead of reading them twice more
            blocks = store.block_stats(info.id)[1]
            answer.append(pbo_with_notes(blocks))
        else:  # the PBO's two passes a part at a time
            blocks = None
            answer.append(pbo_with_notes(
                lambda: (part for _, part in store.block_parts(info.id))))
        runs = store.runs_frame(info.id)
    cpcv = cpcv_record(blocks, cv, info.periods_per_year)
    del blocks

    def pbo_value() -> float | None:
        if not answer:
            answer.append(pbo.result())
        result = answer[0][0]
        return None if result is None else finite(float(result.pbo))

    paths, best = _write(info, runs, root, pbo_value, data_dir, params_path,
                         chain_runs(store, info), cpcv)
    n_runs = len(runs)
    del runs  # before the snapshot takes a copy of runs.parquet (peak memory)
    if info.status == "done":
        best_run, best_returns, dsr = best or (None, None, None)
        store.save_snapshot(info.id, paths["runs"].read_bytes(), n_runs,
                            *pbo_record(*answer[0]), best_run, best_returns, cpcv, dsr)
    if snapshot:
        paths["store"] = store.snapshot(info.id, root / info.name / OUTPUT_FILES["store"],
                                        chain_ids(store, info))
    store.set_outputs(info.id, {p.name: sha256(p) for p in paths.values()})
    paths["timings"] = write_atomic(root / info.name / TIMINGS, _timings(store.get(info.id)))
    return paths
