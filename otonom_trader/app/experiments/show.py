"""Use case: the analysis of one experiment — summary, top runs, parameter importance and
overfitting statistics — and its exports (HTML report, CSV of the runs, JSON). No printing.

Parameter importance is eta² (the share of the test-Sharpe variance explained by grouping the
runs on one parameter's values); a numeric parameter with more than ``MAX_LEVELS`` distinct
values is grouped into at most ``MAX_LEVELS`` quantile bins. The best run is the one
``promote`` would take (``engine.selection``: params.yaml's rule, whatever ``sort_by`` orders
the table by); its Deflated Sharpe Ratio (N = done runs, V[SR] = variance of their per-period
test Sharpe ratios) is the one the search recorded in the store's snapshot when that run is
the snapshot's, else it comes from re-running its test window with ``backtest()``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from otonom_trader.adapters.output import check_output, write_atomic_text
from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore
from otonom_trader.domain.errors import InputError, OtonomError
from otonom_trader.domain.json_text import dumps, finite
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.objectives import objectives_of
from otonom_trader.engine.selection import (
    checked_inputs,
    checked_rerun,
    param_value,
)
from otonom_trader.engine.stats import bar_returns

MAX_LEVELS = 10  # groups per parameter (quantile bins beyond that)
DSR_WARNING = 0.95  # a best run's DSR below this warns
PBO_WARNING = 0.5  # PBO above this warns
CPCV_WARNING = 0.5  # a share of CPCV paths with a Sharpe below 0 above this warns
MIN_TRADES = 10  # a best run with fewer closed test trades warns
EXPORT_FORMATS = ("html", "csv", "json")
DEFAULT_OUTPUTS = {"html": "reports/experiment_{id}_report.html",
                   "csv": "reports/experiment_{id}_runs.csv",
                   "json": "reports/experiment_{id}_report.json"}


class NoDoneRuns(InputError):
    """The experiment has nothing to analyse yet (shown as ``❌ No 'done' runs ...``)."""


@dataclass(frozen=True)
class Summary:
    id: int
    name: str
    status: str
    strategy_path: str
    strategy_name: str
    symbol: str
    search: dict
    split: dict
    data_fingerprint: str
    git_commit: str | None
    git_dirty: bool | None  # the strategy repository had uncommitted changes (None: unknown)
    total_runs: int
    done: int
    failed: int
    pending: int
    success_rate: float  # done / (done + failed)
    elapsed_seconds: float | None  # None for a store snapshot (no session times)
    created_at: str  # "—" for a store snapshot
    periods_per_year: float

    @property
    def commit_text(self) -> str:
        """The commit as shown: "—" when unknown, marked when the tree had changes."""
        if not self.git_commit:
            return "—"
        return self.git_commit + (" (uncommitted changes)" if self.git_dirty else "")


@dataclass(frozen=True, eq=False)
class ParameterEffect:
    """One parameter's effect on test Sharpe. ``codes`` gives each run's level (aligned with
    ``ExperimentReport.runs``; -1 for runs left out: not done or no finite test Sharpe)."""

    path: str
    importance: float  # eta² in [0, 1]
    binned: bool
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    mean_test_sharpe: tuple[float, ...]
    codes: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Overfitting:
    gap_threshold: float
    n_compared: int  # done runs with a finite train and test Sharpe
    n_overfit: int  # ... whose train − test Sharpe gap exceeds the threshold
    overfit_share: float
    best_gap: float
    dsr: Any | None  # engine.overfitting.DSRResult of the best run
    sharpe_variance: float  # V[SR] of the per-period test Sharpe ratios
    n_trials: int
    pbo: Any | None  # engine.overfitting.PBOResult
    min_backtest_years: float | None
    train_years: float
    test_years: float
    warnings: tuple[str, ...]
    cpcv: dict | None = None  # app.cpcv_search.cpcv_record of a search run with --cv cpcv


@dataclass(frozen=True, eq=False)
class ExperimentReport:
    info: ExperimentInfo
    summary: Summary
    sort_by: str
    parameters: tuple[str, ...]  # dotted paths, grid order
    top: pd.DataFrame  # top runs by test ``sort_by`` (runs_frame layout + ``sharpe_gap``)
    best: pd.Series  # the selected run (engine.selection's rule), same layout
    rule: Any  # engine.selection.SelectionRule that picked ``best``
    effects: tuple[ParameterEffect, ...]  # most important first
    overfitting: Overfitting
    runs: pd.DataFrame  # every stored run (runs_frame layout + ``sharpe_gap``)
    notes: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)
    objectives: tuple[str, ...] = ()  # a multi-objective search's metrics
    pareto: pd.DataFrame | None = None  # app.pareto_front.front_table on the train window

    def to_dict(self) -> dict:
        """The report as plain JSON-ready data (NaN/inf → None)."""
        o = self.overfitting
        dsr = None if o.dsr is None else {
            "dsr": o.dsr.dsr, "sharpe": o.dsr.sharpe, "sharpe_0": o.dsr.sharpe_0,
            "n_obs": o.dsr.n_obs, "n_trials": o.dsr.n_trials, "skew": o.dsr.skew,
            "kurtosis": o.dsr.kurtosis}
        pbo = None if o.pbo is None else {
            "pbo": o.pbo.pbo, "n_splits": o.pbo.n_splits, "n_runs": o.pbo.n_runs,
            "n_blocks": o.pbo.n_blocks}
        data = {
            "experiment": _asdict(self.summary),
            "sort_by": self.sort_by,
            "best_run": int(self.best["run_number"]),
            "selected_by": self.rule.label,
            "top": [run_dict(row, self.parameters) for _, row in self.top.iterrows()],
            "parameters": [
                {"path": e.path, "importance": e.importance, "binned": e.binned,
                 "levels": [{"value": lab, "count": c, "mean_test_sharpe": m}
                            for lab, c, m in zip(e.labels, e.counts, e.mean_test_sharpe,
                                                 strict=True)]}
                for e in self.effects],
            "overfitting": {
                "gap_threshold": o.gap_threshold, "runs_compared": o.n_compared,
                "overfit_runs": o.n_overfit, "overfit_share": o.overfit_share,
                "best_gap": o.best_gap, "dsr": dsr, "sharpe_variance": o.sharpe_variance,
                "n_trials": o.n_trials, "pbo": pbo,
                "min_backtest_length_years": o.min_backtest_years,
                "train_years": o.train_years, "test_years": o.test_years,
                "warnings": list(o.warnings), "cpcv": o.cpcv},
            "notes": list(self.notes),
        }
        if self.pareto is not None:
            data["pareto_front"] = {
                "objectives": list(self.objectives), "window": "train",
                "knee_run": self.pareto.attrs.get("knee_run"),
                "runs": [{**run_dict(row, self.parameters), "knee_score": row["knee_score"]}
                         for _, row in self.pareto.iterrows()]}
        return plain(data)


def plain(value: Any) -> Any:
    """JSON-ready copy (``domain.json_text.finite``): numpy scalars → Python, NaN/inf →
    None, tuples → lists."""
    return finite(value)


def _asdict(summary: Summary) -> dict:
    return {k: getattr(summary, k) for k in summary.__dataclass_fields__}


def run_dict(row: pd.Series, parameters: tuple[str, ...]) -> dict:
    """One run as {run_number, params, train, test, sharpe_gap}."""
    return plain({
        "run_number": int(row["run_number"]),
        "params": {p: param_value(p, row[p]) for p in parameters},
        "train": {k: row[f"train_{k}"] for k in METRIC_KEYS},
        "test": {k: row[f"test_{k}"] for k in METRIC_KEYS},
        "sharpe_gap": row["sharpe_gap"],
    })


# -- the use case ------------------------------------------------------------------------


def resume_command(store: ExperimentStore, exp_id: int) -> str:
    """The command that completes experiment ``exp_id`` in this store (``--db`` included
    unless it is the default store; a password in the URL stays masked)."""
    import shlex

    from otonom_trader.adapters.store import DEFAULT_URL

    db = "" if store.url == DEFAULT_URL else f" --db {shlex.quote(store.url)}"
    return f"otonom experiments grid-search --resume {exp_id}{db}"


def show_experiment(store: ExperimentStore, exp_id: int, sort_by: str = "sharpe", top: int = 10,
                    data_dir: str | Path = "data", rule=None) -> ExperimentReport:
    """Analyse experiment ``exp_id``: ``InputError`` for an unknown ID or metric, ``NoDoneRuns``
    for a running experiment or one without done runs. ``rule`` (an
    ``engine.selection.SelectionRule``) picks the best run; None: params.yaml's."""
    from dataclasses import replace

    from otonom_trader.engine.overfitting import GAP_WARNING, sharpe_gap
    from otonom_trader.engine.selection import select_run, selection_rule

    if sort_by not in METRIC_KEYS:
        raise InputError(f"unknown metric '{sort_by}' for --sort-by: choose one of "
                         f"{', '.join(METRIC_KEYS)}")
    if top < 1:
        raise InputError(f"--top: expected an integer ≥ 1, got {top}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    info = store.get(exp_id)
    snapshot = store.load_snapshot(exp_id) if info.status == "done" else None
    runs = store.runs_frame(exp_id) if snapshot is None else snapshot.runs
    timings["load_runs"] = time.perf_counter() - t0
    done_mask = (runs["status"] == "done").to_numpy()
    n_done, n_rows = int(done_mask.sum()), len(runs)
    if info.status == "running" and n_done == 0:
        raise NoDoneRuns(
            f"No 'done' runs for experiment {exp_id} yet: it is still running "
            f"({n_done:,}/{info.total_runs:,} runs done); wait for it to finish, or if it was "
            f"killed, complete it with `{resume_command(store, exp_id)}`")
    if n_done == 0:
        first = str(runs["error"].iloc[0]).splitlines()[0] if n_rows else ""
        why = (f"all {n_rows:,} stored runs failed, e.g. {first}" if n_rows
               else f"it has no stored runs (status: {info.status})")
        raise NoDoneRuns(f"No 'done' runs for experiment {exp_id}: {why}")

    t1 = time.perf_counter()
    parameters = tuple(c for c in runs.columns if "." in c)
    runs["sharpe_gap"] = np.asarray(sharpe_gap(runs["train_sharpe"].to_numpy(),
                                               runs["test_sharpe"].to_numpy()), dtype=float)
    top_runs = runs.iloc[_top_rows(runs, f"test_{sort_by}", done_mask, top)].reset_index(
        drop=True)
    notes: list[str] = []
    rule = rule or selection_rule(Path("params.yaml"))
    best = None
    for attempt in (rule, replace(rule, allow_overfit=True)):
        try:
            selection = select_run(runs, exp_id, attempt, objectives_of(info.search))
        except InputError as exc:  # every run over the gap gate, or no finite metric
            notes.append(str(exc))
            continue
        rule = attempt
        notes += selection.notes
        best = runs[runs["run_number"] == selection.run.run_number].iloc[0]
        break
    if best is None:
        notes.append(f"no run qualifies under {rule.label}: the best run shown is the first "
                     f"by test {sort_by}")
        best = top_runs.iloc[0]
    if info.status != "done":
        notes.append(f"experiment status is '{info.status}' (still running, or killed): "
                     f"{n_rows:,} of {info.total_runs:,} runs stored; complete it with "
                     f"`{resume_command(store, exp_id)}`")
    summary = _summary(info, n_done, n_rows - n_done)
    effects = parameter_effects(runs, parameters, done_mask)
    objectives = objectives_of(info.search)
    pareto = None
    if objectives:
        from otonom_trader.app.experiments.pareto_front import front_table

        pareto = front_table(runs, objectives)
    timings["analysis"] = time.perf_counter() - t1

    overfitting = _overfitting(store, info, runs, done_mask, best, data_dir, GAP_WARNING,
                               notes, timings, snapshot)
    return ExperimentReport(info=info, summary=summary, sort_by=sort_by, parameters=parameters,
                            top=top_runs, best=best, rule=rule, effects=effects,
                            overfitting=overfitting,
                            runs=runs, notes=tuple(notes), timings=timings,
                            objectives=objectives, pareto=pareto)


def _top_rows(runs: pd.DataFrame, column: str, done_mask: np.ndarray, top: int) -> np.ndarray:
    """Positions of the ``top`` done runs by ``column``, highest first, NaN last, ties by run
    number: the head of the whole sort, without reordering every column of every run."""
    rows = np.flatnonzero(done_mask)
    value = runs[column].to_numpy(dtype=float)[rows]
    number = runs["run_number"].to_numpy()[rows]
    return rows[np.lexsort((number, -value, np.isnan(value)))[:top]]


def _summary(info: ExperimentInfo, done: int, failed: int) -> Summary:
    finished = done + failed
    return Summary(
        id=info.id, name=info.name, status=info.status, strategy_path=info.strategy_path,
        strategy_name=info.strategy_name, symbol=info.symbol, search=dict(info.search or {}),
        split=dict(info.split or {}), data_fingerprint=info.data_fingerprint,
        git_commit=info.git_commit, git_dirty=info.git_dirty, total_runs=info.total_runs,
        done=done, failed=failed,
        pending=max(info.total_runs - finished, 0),
        success_rate=done / finished if finished else math.nan,
        elapsed_seconds=None if info.created_at is None else float(info.elapsed_seconds),
        created_at="—" if info.created_at is None else f"{info.created_at:%Y-%m-%d %H:%M:%S}",
        periods_per_year=info.periods_per_year,
    )


# -- parameter analysis ------------------------------------------------------------------


def _levels(values: pd.Series) -> tuple[np.ndarray, list[str], bool]:
    """Level code per value and the level labels (sorted); numeric parameters with more than
    ``MAX_LEVELS`` distinct values fall into quantile bins."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        v = values.to_numpy(dtype=float)
        nan = np.isnan(v)
        known = v[~nan]
        distinct = np.sort(pd.unique(known))  # hashing, then sorting the few: 4× np.unique
        if len(distinct) > MAX_LEVELS:  # a bin is a run of the sorted distinct values
            inner = np.unique(np.quantile(known, np.linspace(0, 1, MAX_LEVELS + 1)))[1:-1]
            used, first = np.unique(np.searchsorted(inner, distinct, side="right"),
                                    return_index=True)
            last = np.append(first[1:], len(distinct)) - 1
            out = np.full(len(v), len(used), dtype=np.int64)
            out[~nan] = np.searchsorted(used, np.searchsorted(inner, known, side="right"))
            labels = [f"{_num(distinct[a])}–{_num(distinct[b])}"
                      for a, b in zip(first, last, strict=True)]
            binned = True
        else:
            out = np.full(len(v), len(distinct), dtype=np.int64)
            out[~nan] = np.searchsorted(distinct, known)
            labels = [_num(x) for x in distinct]
            binned = False
        if nan.any():
            labels.append("None")
        return out, labels, binned
    text = values.map(lambda x: "None" if x is None or (isinstance(x, float) and math.isnan(x))
                      else str(x))
    codes, uniques = pd.factorize(text, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques], False


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def parameter_effects(runs: pd.DataFrame, parameters: tuple[str, ...],
                      done_mask: np.ndarray) -> tuple[ParameterEffect, ...]:
    """Each parameter's eta² on test Sharpe and per-level means, most important first."""
    y_all = runs["test_sharpe"].to_numpy(dtype=float)
    use = done_mask & np.isfinite(y_all)
    from otonom_trader.engine.stats import eta_squared

    y = y_all[use]
    effects = []
    for path in parameters:
        codes_all, labels, binned = _levels(runs[path])
        codes = codes_all[use]
        k = len(labels)
        eta2, counts, means = eta_squared(y, codes, k)
        keep = np.flatnonzero(counts > 0)  # drop levels with no analysed run
        remap = np.full(k, -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        row_codes = np.full(len(runs), -1, dtype=np.int64)
        row_codes[use] = remap[codes]
        effects.append(ParameterEffect(
            path=path, importance=eta2, binned=binned, labels=tuple(labels[i] for i in keep),
            counts=tuple(int(counts[i]) for i in keep),
            mean_test_sharpe=tuple(float(means[i]) for i in keep), codes=row_codes))
    order = sorted(range(len(effects)), key=lambda i: (-effects[i].importance, i))
    return tuple(effects[i] for i in order)


# -- overfitting -------------------------------------------------------------------------


def _years(start: str, end: str) -> float:
    return (pd.Timestamp(end) - pd.Timestamp(start)).days / 365.25


def best_params(report: ExperimentReport) -> dict:
    return {p: param_value(p, report.best[p]) for p in report.parameters}


def _overfitting(store, info, runs, done_mask, best, data_dir, gap_threshold, notes,
                 timings, snapshot=None) -> Overfitting:
    """``snapshot``: the store's (``adapters.store.Snapshot``), whose PBO is used and whose
    recorded DSR of the best run (or, from an older store, its kept test returns) spares
    its re-run; without one, both are computed."""
    from otonom_trader.app.experiments.cpcv_search import cpcv_record
    from otonom_trader.engine.overfitting import (
        deflated_sharpe_ratio,
        minimum_backtest_length,
        pbo_with_notes,
    )

    gap = runs["sharpe_gap"].to_numpy()[done_mask]
    compared = np.isfinite(gap)
    n_compared = int(compared.sum())
    n_overfit = int((gap[compared] > gap_threshold).sum())
    share = n_overfit / n_compared if n_compared else math.nan
    split = info.split
    train_years = _years(split["train_start"], split["train_end"])
    test_years = _years(split["test_start"], split["test_end"])
    from otonom_trader.app.experiments.refine import chain_runs
    from otonom_trader.engine.selection import trial_stats

    # a refined grid's DSR counts its parent chain's trials too (app/experiments/refine.py)
    n_trials, chain_variance = trial_stats(runs, info.periods_per_year, chain_runs(store, info))
    variance = math.nan if chain_variance is None else chain_variance
    run_no = int(best["run_number"])

    t = time.perf_counter()
    kept = snapshot is not None and snapshot.best_run == run_no
    recorded = dsr_from_record(snapshot.dsr, n_trials, variance) if kept else None
    dsr = None
    if n_trials < 2 or not math.isfinite(variance):
        notes.append("DSR needs at least 2 done runs with a finite test Sharpe")
    elif not math.isfinite(best["test_sharpe"]):
        notes.append(f"DSR not computed: best run #{run_no} has no finite test Sharpe")
    else:
        try:
            if recorded:
                dsr = recorded[0]  # the search's own record: its inputs need not be read again
            elif kept:  # its returns were kept: the DSR of a store written before 0008
                checked_inputs(info, data_dir)
                dsr = deflated_sharpe_ratio(snapshot.best_returns, variance, n_trials)
            else:
                result, _ = checked_rerun(info, {p: best[p] for p in runs.columns if "." in p},
                                          split["test_start"], split["test_end"], data_dir)
                returns = bar_returns(result.equity)
                stored, again = float(best["test_sharpe"]), float(result.metrics["sharpe"])
                if stored != again:  # the engine is deterministic: any difference is news
                    notes.append(f"re-running best run #{run_no} gives test Sharpe {again!r}, "
                                 f"stored {stored!r}")
                dsr = deflated_sharpe_ratio(returns, variance, n_trials)
        except OtonomError as exc:
            notes.append(f"DSR not computed: {exc}")
    timings["dsr"] = time.perf_counter() - t

    t = time.perf_counter()
    cv = (info.search or {}).get("cv")
    if snapshot is None:
        _, blocks = store.block_stats(info.id)
        timings["load_blocks"] = time.perf_counter() - t
        t = time.perf_counter()
        pbo, pbo_notes = pbo_with_notes(blocks)
        cpcv = cpcv_record(blocks, cv, info.periods_per_year)
    else:  # what the search stored when it finished: nothing heavy recomputed
        pbo, pbo_notes = pbo_from_record(snapshot.pbo, snapshot.pbo_logits)
        cpcv = snapshot.cpcv
        if cv and cpcv is None:
            notes.append("CPCV not stored with this experiment: rewrite its outputs (run its "
                         "grid-search command again) or run `otonom experiments cpcv "
                         f"{info.id}`")
    notes += pbo_notes
    timings["pbo"] = time.perf_counter() - t
    min_btl = (recorded[1] if recorded else
               minimum_backtest_length(n_trials) if n_trials > 1 else None)

    warnings = []
    if n_overfit:
        warnings.append(f"{n_overfit:,} of {n_compared:,} runs ({share:.1%}) have a train−test "
                        f"Sharpe gap > {gap_threshold:g}")
    best_gap = float(best["sharpe_gap"])
    if math.isfinite(best_gap) and best_gap > gap_threshold:
        warnings.append(f"best run #{run_no}: train−test Sharpe gap {best_gap:.2f} > "
                        f"{gap_threshold:g}")
    if dsr is not None and not dsr.dsr >= DSR_WARNING:
        warnings.append(f"best run #{run_no}: Deflated Sharpe Ratio {dsr.dsr:.2f} < "
                        f"{DSR_WARNING} over {n_trials:,} trials: its test Sharpe may be luck")
    if pbo is not None and math.isfinite(pbo.pbo) and pbo.pbo > PBO_WARNING:
        warnings.append(f"PBO {pbo.pbo:.0%} > {PBO_WARNING:.0%}: the in-sample best run "
                        "often ranks in the out-of-sample bottom half")
    below = (cpcv or {}).get("share_below_zero")
    if below is not None and below > CPCV_WARNING:
        warnings.append(f"CPCV: {below:.0%} of {cpcv['n_paths']:,} out-of-sample paths have a "
                        "Sharpe below 0: selecting by train Sharpe may not carry out of sample")
    trades = best["test_n_trades"]
    if math.isfinite(trades) and trades < MIN_TRADES:
        warnings.append(f"best run #{run_no}: only {int(trades)} closed trades in the test "
                        f"window (< {MIN_TRADES}): its metrics rest on few trades")
    if min_btl is not None and math.isfinite(min_btl) and test_years < min_btl:
        warnings.append(f"test window {test_years:.1f} years < MinBTL {min_btl:.1f} years for "
                        f"{n_trials:,} trials: a Sharpe of 1 can appear by chance")
    return Overfitting(gap_threshold=gap_threshold, n_compared=n_compared, n_overfit=n_overfit,
                       overfit_share=share, best_gap=best_gap, dsr=dsr,
                       sharpe_variance=variance, n_trials=n_trials, pbo=pbo,
                       min_backtest_years=min_btl, train_years=train_years,
                       test_years=test_years, warnings=tuple(warnings), cpcv=cpcv)


# -- exports -----------------------------------------------------------------------------


def pbo_record(pbo, notes: list[str]) -> tuple[dict, np.ndarray | None]:
    """What the store's snapshot keeps of ``engine.overfitting.pbo_with_notes``'s answer."""
    if pbo is None:
        return {"notes": notes}, None
    value = pbo.pbo if math.isfinite(pbo.pbo) else None
    return {"pbo": value, "n_splits": pbo.n_splits, "n_runs": pbo.n_runs,
            "n_blocks": pbo.n_blocks, "reason": pbo.reason, "notes": notes}, pbo.logits


def pbo_from_record(record: dict | None, logits: np.ndarray | None):
    """``pbo_record``'s inverse: (PBOResult or None, notes)."""
    from otonom_trader.engine.overfitting import PBOResult

    record = record or {"notes": []}
    if "pbo" not in record:
        return None, list(record["notes"])
    pbo = PBOResult(pbo=float("nan") if record["pbo"] is None else float(record["pbo"]),
                    logits=np.empty(0) if logits is None else logits,
                    n_splits=record["n_splits"], n_runs=record["n_runs"],
                    n_blocks=record["n_blocks"], reason=record["reason"])
    return pbo, list(record["notes"])


def dsr_record(stats) -> dict | None:
    """What the store's snapshot keeps of ``stats`` (``engine.selection.Overfitting``, the
    search's) for its selected run: the ``DSRResult`` fields (NaN as None), the trials' Sharpe
    variance it was computed with and their MinBTL (both need the normal quantile, whose scipy
    import is a fifth of ``show``'s time); None when no DSR was computed."""
    from dataclasses import asdict

    if stats.dsr_result is None:
        return None
    return {**{k: finite(v) for k, v in asdict(stats.dsr_result).items()},
            "sharpe_variance": stats.sharpe_variance, "min_btl_years": stats.min_btl_years}


def dsr_from_record(record: dict | None, n_trials: int, sharpe_variance: float):
    """``dsr_record``'s inverse, (DSRResult, MinBTL in years), when it was computed over these
    trials (their number and Sharpe variance, exactly); else None."""
    from otonom_trader.engine.overfitting import DSRResult

    if not isinstance(record, dict) or record.get("n_trials") != n_trials \
            or record.get("sharpe_variance") != sharpe_variance:
        return None
    try:
        value = {k: math.nan if v is None else float(v) for k, v in record.items()}
        dsr = DSRResult(dsr=value["dsr"], sharpe=value["sharpe"], sharpe_0=value["sharpe_0"],
                        n_obs=int(value["n_obs"]), n_trials=n_trials, skew=value["skew"],
                        kurtosis=value["kurtosis"])
        return dsr, value["min_btl_years"]
    except (KeyError, TypeError, ValueError):  # not what dsr_record wrote: compute it again
        return None


def best_run_curve(report: ExperimentReport, data_dir: str | Path = "data"):
    """The best run over train start..test end: (equity, close) series, or None with a note
    appended to the returned list when it cannot be re-run."""
    split = report.info.split
    try:
        result, bars = checked_rerun(report.info, best_params(report), split["train_start"],
                             split["test_end"], data_dir)
    except OtonomError as exc:
        return None, f"best run not re-run: {exc}"
    close = bars["Close"].loc[result.equity.index[0]:result.equity.index[-1]]
    return (result.equity, close), None


def default_output(fmt: str, exp_id: int) -> Path:
    return Path(DEFAULT_OUTPUTS[fmt].format(id=exp_id))


def export_report(report: ExperimentReport, fmt: str, output: str | Path | None = None,
                  data_dir: str | Path = "data") -> Path:
    """Write the report as ``html``, the runs as ``csv`` or the report object as ``json``;
    an unwritable destination is an ``InputError``."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format '{fmt}': choose one of "
                         f"{', '.join(EXPORT_FORMATS)}")
    path = Path(output) if output else default_output(fmt, report.info.id)
    check_output(path, "--output", f".{fmt}")
    if fmt == "html":
        from otonom_trader.adapters.report import report_html

        t = time.perf_counter()
        curve, note = best_run_curve(report, data_dir)
        report.timings["best_curve"] = time.perf_counter() - t
        t = time.perf_counter()
        text = report_html(report, curve, extra_notes=[note] if note else [])
        report.timings["html"] = time.perf_counter() - t
    elif fmt == "csv":
        text = report.runs.drop(columns=["sharpe_gap"]).to_csv(index=False)
    else:
        text = dumps(report.to_dict(), ensure_ascii=False) + "\n"
    return write_atomic_text(path, "--output", f".{fmt}", text)
