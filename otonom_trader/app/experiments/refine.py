"""Use case: coarse to fine. ``refine`` writes a smaller grid around the best region of an
experiment: its top K done runs by THE selection rule's metric and window. Per swept number,
the new range spans the top runs' values, widened to ``shrink`` × the original range when
they are closer together than that, moved and clipped into the original range (so the
schema's bounds hold too); as many points as before (a list's length, an ``int`` range's
count), integers stay integers, a random search keeps its distributions with the new bounds.
A categorical parameter keeps the values the top runs chose. Constraints, split, search
kind, ``n_iter`` and seed are kept; ``parent_experiment: N`` records the parent, so the DSR of
the next experiment counts the trials of the whole chain (``chain_runs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore
from otonom_trader.domain.errors import InputError

PARENT_KEY = "parent_experiment"
GRID_SUFFIXES = (".yaml", ".yml")  # what --output may be called


@dataclass(frozen=True)
class RefineOutcome:
    path: Path
    grid: dict  # what was written
    n_top: int
    refined: tuple[str, ...]  # parameters whose range narrowed or choices shrank


def chain_ids(store: ExperimentStore, info: ExperimentInfo) -> list[int]:
    """The IDs of every experiment ``info`` was refined from, parent first, following
    ``parent_experiment`` in each stored grid."""
    ids, seen = [], {info.id}
    parent = (info.grid or {}).get(PARENT_KEY) if isinstance(info.grid, dict) else None
    while parent is not None and parent not in seen:
        seen.add(parent)
        try:
            ancestor = store.get(parent)
        except InputError:
            raise InputError(f"experiment {info.id}'s grid names `{PARENT_KEY}: {parent}`, "
                             f"which is not in {store.url}: its DSR must count that "
                             "experiment's trials; use the store that holds it") from None
        ids.append(ancestor.id)
        grid = ancestor.grid if isinstance(ancestor.grid, dict) else {}
        parent = grid.get(PARENT_KEY)
    return ids


def chain_runs(store: ExperimentStore, info: ExperimentInfo) -> pd.DataFrame | None:
    """The runs (``status``, ``test_sharpe``) of every experiment ``info`` was refined from
    (``chain_ids``); None when it has no parent."""
    frames = [store.runs_frame(i)[["status", "test_sharpe"]] for i in chain_ids(store, info)]
    return pd.concat(frames, ignore_index=True) if frames else None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return float(f"{v:.10g}")
    return v


def _new_range(lo: float, hi: float, orig_lo: float, orig_hi: float,
               shrink: float) -> tuple[float, float]:
    """[lo, hi] widened to ``shrink`` × the original width around its centre, moved and
    clipped into [orig_lo, orig_hi]."""
    width = max(hi - lo, shrink * (orig_hi - orig_lo))
    centre = (lo + hi) / 2
    a, b = centre - width / 2, centre + width / 2
    if a < orig_lo:
        a, b = orig_lo, b + (orig_lo - a)
    if b > orig_hi:
        a, b = a - (b - orig_hi), orig_hi
    return max(a, orig_lo), min(b, orig_hi)


def _points(a: float, b: float, n: int, integer: bool) -> list:
    """``n`` points from ``a`` to ``b``: integers rounded; between the (exact) ends, numbers
    rounded to one decimal digit finer than their spacing (5.3, not 5.333333333)."""
    values = np.linspace(a, b, max(n, 1)) if b > a else np.array([a])
    if integer:
        return sorted({round(v) for v in values.tolist()})
    out = values.tolist()
    if len(out) > 2:
        digits = max(0, 1 - math.floor(math.log10((b - a) / (len(out) - 1))))
        out[1:-1] = [round(v, digits) for v in out[1:-1]]
    return [_plain(float(v)) for v in dict.fromkeys(out)]


def refine_parameter(path: str, spec_value: Any, top: list, shrink: float,
                     search: str) -> tuple[Any, bool]:
    """The refined grid entry of one parameter and whether it is refinable at all."""
    from otonom_trader.domain.grid import Distribution

    if isinstance(spec_value, Distribution):
        kind = spec_value.kind
        if kind == "choice":
            kept = [c for c in spec_value.choices if c in top]
            return {"choice": kept}, len(spec_value.choices) > 1
        lo, hi = spec_value.low, spec_value.high
        if lo == hi:
            return {kind: [lo, hi, spec_value.step] if kind == "int" else [lo, hi]}, False
        a, b = _new_range(min(top), max(top), lo, hi, shrink)
        if kind == "int":
            a, b = math.ceil(a), math.floor(b)
            step = max(1, min(spec_value.step, b - a) if b > a else 1)
            if search == "grid":  # enumerated: as many points as before
                return _points(a, b, spec_value.count, True), True
            return {"int": [int(a), int(b), int(step)]}, True
        return {kind: [_plain(a), _plain(b)]}, True
    values = list(spec_value)
    if len(values) == 1:
        return values, False
    if not all(_is_number(v) for v in values):  # categorical: the top runs' choices
        return [v for v in values if v in top], True
    integer = all(isinstance(v, int) for v in values)
    a, b = _new_range(min(top), max(top), min(values), max(values), shrink)
    if integer:
        a, b = math.ceil(a), math.floor(b)
    return _points(a, b, len(values), integer), True


def refine_experiment(store: ExperimentStore, exp_id: int, top: int, shrink: float,
                      output: str | Path, params_path: str | Path = "params.yaml"
                      ) -> RefineOutcome:
    """Write the refined grid of experiment ``exp_id`` to ``output``."""
    from otonom_trader.adapters.output import check_output, write_atomic_text
    from otonom_trader.domain.grid import grid_from_mapping, load_grid
    from otonom_trader.domain.safe_yaml import dump_yaml
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.selection import KNEE, param_value, selection_rule

    if not 0 < shrink <= 1:
        raise InputError(f"--shrink: expected a factor in (0, 1], got {shrink}")
    check_output(output, "--output", GRID_SUFFIXES)
    info = store.get(exp_id)
    if info.status != "done":  # its top runs would be those of the runs stored so far
        done_runs, failed = store.run_counts(exp_id)
        raise InputError(f"experiment {exp_id} ({info.name}) is {info.status} with "
                         f"{done_runs + failed:,}/{info.total_runs:,} runs stored: refine "
                         "takes a finished search; finish it first (`otonom experiments "
                         f"grid-search --resume {exp_id}`)")
    runs = store.runs_frame(exp_id)
    rule = selection_rule(Path(params_path))
    if rule.metric == KNEE:  # one run, not a ranking of the top K
        raise InputError(f"{params_path}: `experiment.select_by: {KNEE}` picks one run and "
                         "does not rank the top runs refine needs: pass --params with a file "
                         "whose select_by is a metric (e.g. sharpe)")
    key = f"{rule.window}_{rule.metric}"
    done = runs[(runs["status"] == "done") & np.isfinite(runs[key].to_numpy(np.float64))]
    if done.empty:
        raise InputError(f"experiment {exp_id} has no done run with a {rule.window} "
                         f"{rule.metric}: nothing to refine around")
    if top > len(done):
        raise InputError(f"--top {top}: experiment {exp_id} has only {len(done):,} done runs "
                         f"with a {rule.window} {rule.metric}; pass --top {len(done)} or less")
    best = done.sort_values([key, "run_number"], ascending=[False, True],
                            kind="mergesort").head(top)
    strategy = load_strategy(info.strategy_path)
    spec = grid_from_mapping(info.grid, strategy, source=f"experiment {exp_id}'s grid")
    params: dict[str, Any] = {}
    refined = []
    for path, value in spec.parameters.items():
        chosen = [param_value(path, v) for v in best[path].tolist()]
        params[path], refinable = refine_parameter(path, value, chosen, shrink, spec.search)
        if refinable:
            refined.append(path)
    if not refined:
        raise InputError(f"experiment {exp_id}'s grid has nothing to refine: every parameter "
                         "has one fixed value")
    grid: dict[str, Any] = {
        "description": f"refined from experiment {exp_id} ({info.name}): top {top} done runs "
                       f"by {rule.window} {rule.metric}, shrink {shrink:g}",
        PARENT_KEY: int(exp_id), "search": spec.search}
    if spec.search != "grid":  # random or optuna
        grid |= {"n_iter": spec.n_iter, "seed": spec.seed}
    if spec.objectives:  # a multi-objective search stays one (NSGA-II, its Pareto front)
        grid["objectives"] = list(spec.objectives)
    grid["params"] = params
    if info.grid.get("constraints"):
        grid["constraints"] = list(info.grid["constraints"])
    cv = (info.search or {}).get("cv")
    if cv:  # the settings as given (the embargo in days), not what was derived from them
        grid["cv"] = {k: cv[k] for k in ("method", "folds", "test_folds", "embargo_days")}
    grid["split"] = {k: v for k, v in info.split.items() if v is not None}
    text = dump_yaml(grid, allow_unicode=True)
    path = write_atomic_text(output, "--output", GRID_SUFFIXES, text)
    load_grid(path, strategy)  # what was written is a valid grid (else: a bug here)
    return RefineOutcome(path, grid, top, tuple(refined))
