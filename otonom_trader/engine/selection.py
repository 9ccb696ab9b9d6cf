"""THE best-run rule and THE overfitting summary of an experiment (one place for each):
which run the outputs, ``show``, ``promote``, the DVC pipeline and ``validate`` talk about.

The best ``done`` run by a test metric wins, unless its train−test Sharpe gap exceeds the
gate (``params.yaml`` ``gates.max_sharpe_gap``, 1.0 without the file): such runs are skipped
with a note and the next one is taken, unless overfit runs are allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.json_text import finite
from otonom_trader.domain.metrics import METRIC_KEYS, SELECTION_METRICS
from otonom_trader.engine.stats import bar_returns

__all__ = ["DEFAULT_MAX_GAP", "KNEE", "Overfitting", "SelectedRun", "Selection", "SelectionRule",
           "knee_column", "overfitting_stats", "select_metric", "select_run", "select_window",
           "selection_rule", "trial_stats"]

DEFAULT_MAX_GAP = 1.0
WINDOWS = ("test", "train")
KNEE = "pareto-knee"  # the knee of the Pareto front on the experiment's objectives
_ALIASES = {"cagr": "cagr_pct"}
_SHOWN_SKIPS = 3


def select_metric(name: str | None, source: str = "--select-by") -> str:
    """``sharpe|cagr|sortino|calmar`` (or ``cagr_pct``), ``pareto-knee``, or any other metric
    name (an objective of a multi-objective search; higher is better as stored, so the least
    negative max drawdown wins) → the metric key."""
    key = _ALIASES.get(name or "sharpe", name or "sharpe")
    if key not in (*SELECTION_METRICS, KNEE, *METRIC_KEYS):
        choices = ", ".join((*(k.removesuffix("_pct") for k in SELECTION_METRICS), KNEE))
        raise InputError(f"{source} {name!r}: choose one of {choices} (or a metric name)")
    return key


def select_window(name: str | None, source: str = "--select-on") -> str:
    """``test`` (the workflow's rule: the test window becomes a selection window) or
    ``train`` (the test window stays out-of-sample)."""
    window = name or "test"
    if window not in WINDOWS:
        raise InputError(f"{source} {name!r}: choose one of {', '.join(WINDOWS)}")
    return window


@dataclass(frozen=True)
class SelectionRule:
    """THE rule for "the best run": the best done run by ``window`` ``metric`` whose
    train−test Sharpe gap is at most ``max_gap`` (unless ``allow_overfit``)."""

    metric: str = "sharpe"
    window: str = "test"
    max_gap: float = DEFAULT_MAX_GAP
    allow_overfit: bool = False

    @property
    def label(self) -> str:
        """e.g. "test sharpe (selection window)" or "train sharpe"."""
        suffix = " (selection window)" if self.window == "test" else ""
        return f"{self.window} {self.metric}{suffix}"


def selection_rule(params_path: Path, select_by: str | None = None,
                   select_on: str | None = None, allow_overfit: bool = False) -> SelectionRule:
    """The rule from ``params.yaml`` (``experiment.select_by``/``select_on``,
    ``gates.max_sharpe_gap``; defaults without the file), flags winning."""
    from otonom_trader.domain.safe_yaml import read_yaml

    data: Any = read_yaml(params_path, "params") or {} if params_path.is_file() else {}
    if not isinstance(data, dict):
        raise InputError(f"{params_path}: expected a mapping at the top")
    gates = data.get("gates") or {}
    gap = gates.get("max_sharpe_gap", DEFAULT_MAX_GAP) if isinstance(gates, dict) else None
    if isinstance(gap, bool) or not isinstance(gap, int | float) or not math.isfinite(gap):
        raise InputError(f"{params_path}: `gates.max_sharpe_gap` must be a number, got {gap!r}")
    experiment = data.get("experiment") or {}
    if not isinstance(experiment, dict):
        experiment = {}
    metric = (select_metric(select_by) if select_by else
              select_metric(experiment.get("select_by"),
                            f"{params_path} `experiment.select_by`"))
    window = (select_window(select_on) if select_on else
              select_window(experiment.get("select_on"), f"{params_path} `experiment.select_on`"))
    return SelectionRule(metric, window, float(gap), allow_overfit)


def _metrics(row: pd.Series, window: str) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {}
    for key in METRIC_KEYS:
        v = finite(row[f"{window}_{key}"])
        out[key] = int(v) if key == "n_trades" and v is not None else v
    return out


@dataclass(frozen=True)
class SelectedRun:
    run_number: int
    params: dict[str, Any]  # dotted path -> plain value, as the store recorded it
    train: dict[str, float | int | None]  # display-scaled, METRIC_KEYS order; None = n/a
    test: dict[str, float | int | None]
    sharpe_gap: float | None  # train Sharpe − test Sharpe


@dataclass(frozen=True)
class Selection:
    run: SelectedRun
    rule: SelectionRule
    n_runs: int  # rows stored (done + failed)
    n_done: int
    n_failed: int
    skipped: tuple[tuple[int, float], ...]  # better runs over the gap: (run number, gap)
    notes: tuple[str, ...]

    @property
    def metric(self) -> str:
        return self.rule.metric

    @property
    def max_gap(self) -> float:
        return self.rule.max_gap


def knee_column(done: pd.DataFrame, window: str, objectives: tuple[str, ...]) -> np.ndarray:
    """Per done run: its knee score on the Pareto front of ``window``'s ``objectives``
    (``engine.pareto.knee_scores``), NaN off the front. Metrics are compared to 9 decimals
    (display units): runs that differ by float noise (1e-14) are equal, so neither makes the
    other leave the front nor stays on it only by that noise."""
    from otonom_trader.engine.pareto import knee_scores, pareto_front

    values = np.round(done[[f"{window}_{k}" for k in objectives]].to_numpy(np.float64), 9)
    on_front = pareto_front(values)
    scores = np.full(len(done), np.nan)
    if on_front.any():
        scores[on_front] = knee_scores(values[on_front])
    return scores


def select_run(runs: pd.DataFrame, exp_id: int, rule: SelectionRule,
               objectives: tuple[str, ...] = ()) -> Selection:
    """The best done run by the rule's window and metric (ties: lower run number) within
    the gap gate. ``pareto-knee`` ranks the runs on the Pareto front of the experiment's
    ``objectives`` (its ``search`` record) by their knee score: the knee first, then the
    next front run when the knee is over the gap gate."""
    metric, max_gap, allow_overfit = rule.metric, rule.max_gap, rule.allow_overfit
    done = np.flatnonzero((runs["status"] == "done").to_numpy())  # row positions, no copies
    if not len(done):
        raise InputError(f"❌ No 'done' runs for experiment {exp_id}")
    if metric == KNEE:
        if len(objectives) < 2:
            raise InputError(f"--select-by {KNEE}: experiment {exp_id} has no objectives; run "
                             "its search with --objectives (e.g. sharpe,max_drawdown_pct)")
        values = knee_column(runs[[f"{rule.window}_{k}" for k in objectives]].iloc[done],
                             rule.window, objectives)
    else:
        values = runs[f"{rule.window}_{metric}"].to_numpy(np.float64)[done]
    defined = np.isfinite(values)
    ranked, values = done[defined], values[defined]
    if not len(ranked):
        raise InputError(f"experiment {exp_id}: no done run has a finite {rule.window} "
                         f"{metric}; choose another --select-by")
    numbers = runs["run_number"].to_numpy()[ranked]
    order = np.lexsort((numbers, -values))  # the best value first; ties: lower run number
    ranked, numbers = ranked[order], numbers[order]
    gaps = (runs["train_sharpe"].to_numpy(np.float64)[ranked]
            - runs["test_sharpe"].to_numpy(np.float64)[ranked])
    notes: list[str] = []
    chosen = None
    over = np.zeros(len(gaps), bool) if allow_overfit else gaps > max_gap  # NaN: not over
    first = int(np.argmin(over)) if not over.all() else len(gaps)  # the first within the gate
    skipped = [(int(n), float(g)) for n, g in zip(numbers[:first], gaps[:first], strict=True)]
    if first < len(gaps):
        chosen, chosen_gap = runs.iloc[ranked[first]], gaps[first]
    if skipped:
        shown = ", ".join(f"#{n} (gap {g:.2f})" for n, g in skipped[:_SHOWN_SKIPS])
        more = f" and {len(skipped) - _SHOWN_SKIPS} more" if len(skipped) > _SHOWN_SKIPS else ""
        notes.append(f"skipped {len(skipped)} better run(s) whose train−test Sharpe gap exceeds "
                     f"{max_gap:g} (gates.max_sharpe_gap): {shown}{more}; --allow-overfit "
                     "takes them")
    if chosen is None:
        what = "runs on the Pareto front" if metric == KNEE else "done runs"
        raise InputError(f"experiment {exp_id}: all {len(ranked)} {what} have a train−test "
                         f"Sharpe gap above {max_gap:g} (gates.max_sharpe_gap): they look "
                         "overfit; pass --allow-overfit to promote the best anyway")
    if allow_overfit and chosen_gap > max_gap:
        notes.append(f"run #{int(chosen['run_number'])} has a train−test Sharpe gap of "
                     f"{chosen_gap:.2f} > {max_gap:g}, promoted because of --allow-overfit")
    param_columns = [c for c in runs.columns if "." in c]
    params = {c: finite(chosen[c]) for c in param_columns if finite(chosen[c]) is not None}
    run = SelectedRun(int(chosen["run_number"]), params, _metrics(chosen, "train"),
                      _metrics(chosen, "test"),
                      float(chosen_gap) if math.isfinite(chosen_gap) else None)
    n_failed = int((runs["status"] == "failed").sum())
    return Selection(run, rule, len(runs), len(done), n_failed, tuple(skipped), tuple(notes))


@dataclass(frozen=True)
class Overfitting:
    sharpe_gap: float | None
    dsr: float | None
    pbo: float | None
    n_trials: int
    sharpe_variance: float | None  # variance (ddof=1) of the done runs' per-period test Sharpe
    min_btl_years: float | None = None  # MinBTL for the trials at an annual Sharpe of 1
    dsr_result: Any = None  # the engine.overfitting.DSRResult behind ``dsr``, when computed

    def as_dict(self) -> dict[str, Any]:
        return {"sharpe_gap": self.sharpe_gap, "dsr": self.dsr, "pbo": self.pbo,
                "n_trials": self.n_trials, "sharpe_variance": self.sharpe_variance,
                "min_btl_years": self.min_btl_years}


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


_COMPUTE = object()  # overfitting_stats: compute the PBO from the block statistics


def trial_stats(runs: pd.DataFrame, periods_per_year: float,
                ancestors: pd.DataFrame | None = None) -> tuple[int, float | None]:
    """The DSR's number of trials (done runs) and the variance (ddof=1) of their per-period
    test Sharpe ratios (None with fewer than 2 finite ones): the experiment's record.
    ``ancestors``: the runs (``status``, ``test_sharpe``) of the experiments it was refined
    from (``parent_experiment``, the whole chain): their done runs are trials too, and their
    test Sharpes enter the variance (at this experiment's periods per year)."""
    from otonom_trader.engine import overfitting as of

    if ancestors is not None and len(ancestors):
        runs = pd.concat([runs[["status", "test_sharpe"]],
                          ancestors[["status", "test_sharpe"]]], ignore_index=True)
    done = runs[runs["status"] == "done"]
    test_sharpes = done["test_sharpe"].to_numpy(np.float64)
    variance = (of.trial_sharpe_variance(test_sharpes, periods_per_year)
                if np.isfinite(test_sharpes).sum() >= 2 else None)
    return len(done), variance


def overfitting_stats(runs: pd.DataFrame, selected: SelectedRun, test_equity: pd.Series,
                      periods_per_year: float, block_stats: np.ndarray | None, *,
                      pbo: float | object | None = _COMPUTE,
                      ancestors: pd.DataFrame | None = None) -> tuple[Overfitting, list[str]]:
    """THE overfitting summary of a selected run: train−test gap, Deflated Sharpe Ratio of its
    test returns with the done runs as trials, PBO by CSCV over the runs' block statistics,
    and the minimum backtest length for that many trials; a statistic that cannot be
    computed is None with a note. Outputs, ``show``'s DSR and ``promote`` agree through it.
    ``ancestors``: as for ``trial_stats`` (a refined experiment's parent chain)."""
    from otonom_trader.engine import overfitting as of

    notes: list[str] = []
    n_trials, variance = trial_stats(runs, periods_per_year, ancestors)
    train_sr, test_sr = (np.nan if v is None else v
                         for v in (selected.train["sharpe"], selected.test["sharpe"]))
    gap = _finite(np.atleast_1d(of.sharpe_gap(train_sr, test_sr))[0])

    dsr = dsr_result = None
    returns = bar_returns(test_equity)
    if variance is None:
        notes.append("DSR needs at least 2 done runs with a test Sharpe")
    else:
        try:
            dsr_result = of.deflated_sharpe_ratio(returns, variance, n_trials)
        except InputError as exc:
            notes.append(f"DSR not computed: {exc}")
        else:
            dsr = _finite(dsr_result.dsr)
            if dsr is None:
                notes.append("DSR is undefined (constant test returns or inconsistent moments)")

    if pbo is _COMPUTE:  # else computed by the caller (e.g. in a thread over the outputs)
        pbo = _pbo(block_stats, notes)
    min_btl = _finite(of.minimum_backtest_length(n_trials)) if n_trials > 1 else None
    return Overfitting(gap, dsr, pbo, n_trials, variance, min_btl, dsr_result), notes


def _pbo(block_stats: np.ndarray | None, notes: list[str]) -> float | None:
    """PBO by CSCV over the runs' block statistics, or None with a note."""
    from otonom_trader.engine import overfitting as of

    if block_stats is None or block_stats.ndim != 3 or block_stats.shape[0] < 2:
        notes.append("PBO needs the block statistics of at least 2 done runs")
        return None
    try:
        result = of.pbo_cscv(block_stats)
    except InputError as exc:
        notes.append(f"PBO not computed: {exc}")
        return None
    pbo = _finite(result.pbo)
    if pbo is None:
        notes.append(f"PBO is undefined: {result.reason or 'no reason given'}")
    return pbo


def param_value(path: str, value: Any) -> Any:
    """A stored parameter as the strategy expects it: Python scalars, NaN → None, and a float
    that must be an integer at ``path`` (pandas widens int columns holding a None) → int."""
    value = finite(value)
    if isinstance(value, float) and value.is_integer():
        from otonom_trader.domain.strategy_loader import check_value  # jsonschema: 0.1 s

        if check_value(path, value) and not check_value(path, int(value)):
            return int(value)
    return value


def checked_inputs(info: Any, data_dir: str | Path = "data"):
    """Experiment ``info``'s strategy and bars, checked unchanged since it ran (the strategy
    file's hash, the data's fingerprint): (Strategy, bars); ``InputError`` otherwise."""
    from otonom_trader.domain.strategy_loader import load_strategy, strategy_hash
    from otonom_trader.engine.data import data_fingerprint, load_bars

    strategy = load_strategy(info.strategy_path)
    if strategy_hash(strategy) != info.strategy_hash:
        raise InputError(f"{info.strategy_path} changed since experiment {info.id} ran")
    bars = load_bars(info.symbol, data_dir, strategy.data.on_bad_bars)
    if data_fingerprint(bars) != info.data_fingerprint:
        raise InputError(f"the {info.symbol} data in {data_dir} changed since experiment "
                         f"{info.id} ran")
    return strategy, bars


def checked_rerun(info: Any, params: dict[str, Any], start: Any, end: Any,
                  data_dir: str | Path = "data"):
    """THE checked re-run: one run of experiment ``info`` (an ``ExperimentInfo``) over
    [start, end] exactly as the grid ran it — same strategy file (its hash checked), same
    data (its fingerprint checked), same capital and periods per year. Returns
    (BacktestResult, bars); a changed file or data is an ``InputError``."""
    from otonom_trader.domain.strategy_loader import apply_overrides
    from otonom_trader.engine.backtest import backtest

    strategy, bars = checked_inputs(info, data_dir)
    strategy = apply_overrides(strategy, {p: param_value(p, v) for p, v in params.items()})
    result = backtest(strategy, bars, symbol=info.symbol, start=start, end=end,
                      initial_capital=info.initial_capital,
                      periods_per_year=info.periods_per_year, data_dir=data_dir)
    return result, bars
