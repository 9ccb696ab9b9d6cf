"""Use case: a grid or random search recorded in the experiment store, resumable."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore, RunBatch
from otonom_trader.domain.combinations import SAMPLE, Combinations
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.grid import (
    GridSpec,
    grid_from_mapping,
    grid_warnings,
    load_grid,
)
from otonom_trader.domain.names import check_name
from otonom_trader.domain.split import SPLIT_KEYS, Split, flag_name
from otonom_trader.domain.strategy_loader import load_strategy, strategy_hash

if TYPE_CHECKING:
    import pandas as pd

CHUNK_SIZE = 8192
MAX_COMBINATIONS = 10_000_000  # runs a search may have unless --max-combinations raises it
COUNT_SECONDS = 5.0  # time to count a constrained grid before estimating instead
KEEP_RUNS = 250_000  # up to this many runs stay in memory for the outputs (~1 kB each);
# a larger search streams: its memory does not grow with its runs, the outputs read them back


@dataclass(frozen=True)
class GridSearchRequest:
    name: str | None = None
    strategy_path: str | None = None
    grid_path: str | None = None
    symbol: str | None = None
    split: dict = field(default_factory=dict)  # flags: train_start ... test_end (None = unset)
    cv: dict = field(default_factory=dict)  # flags: method, folds, test_folds, embargo_days
    search: str | None = None
    n_iter: int | None = None
    trials_flag: bool = False  # n_iter came from --n-trials (an optuna search's trials)
    seed: int | None = None
    objectives: str | None = None  # --objectives a,b: NSGA-II with optuna, a Pareto front
    resume_id: int | None = None
    initial_capital: float = 10_000.0
    data_dir: str = "data"
    outputs_dir: str = "experiments"
    params_path: str = "params.yaml"  # experiment.select_by and gates.max_sharpe_gap
    snapshot: bool = False  # also write outputs_dir/<name>/store.db (the experiment alone)
    command: str = ""
    chunk_size: int = CHUNK_SIZE
    max_combinations: int = MAX_COMBINATIONS
    executor: str = "local"  # or "dask": the chunks on a dask.distributed cluster
    scheduler: str | None = None  # the dask scheduler (else OTONOM_SCHEDULER)

    def __post_init__(self) -> None:
        if self.name is not None:  # it names experiments/<name>/ (and the DVC stage's outs)
            check_name(self.name, "--name")


@dataclass
class GridSearchEvents:
    """Callbacks the CLI uses to show progress (the use case itself prints nothing)."""

    created: Callable[[ExperimentInfo, bool], None] = lambda info, resumed: None
    started: Callable[[int, int, str], None] = lambda total, done, kind: None
    advanced: Callable[[int], None] = lambda n: None
    notes: Callable[[list[str]], None] = lambda notes: None


@dataclass(frozen=True)
class GridSearchOutcome:
    experiment: ExperimentInfo
    total: int
    done: int
    failed: int
    elapsed_seconds: float  # every session's, killed ones up to their last stored batch
    outputs: dict[str, Path]
    already_complete: bool = False  # a re-run of a finished experiment: only outputs checked
    rewritten: tuple[str, ...] = ()  # outputs found missing or stale and written again
    runs: pd.DataFrame | None = None  # the runs frame, when this session held every run


class GridSearchInterrupted(Exception):
    """Ctrl-C: the finished runs are saved; ``resume_id`` completes the rest."""

    def __init__(self, experiment_id: int, saved: int, total: int):
        super().__init__(f"interrupted after {saved}/{total} runs")
        self.experiment_id, self.saved, self.total = experiment_id, saved, total


def _resolve(req: GridSearchRequest, store: ExperimentStore):
    """The experiment to run (existing when resuming), its strategy, grid and split."""
    existing = None
    if req.resume_id is not None:
        existing = store.get(req.resume_id)
    elif req.name and (found := store.find_by_name(req.name)) is not None:
        existing = found  # the same command again resumes an unfinished experiment
    if existing is not None:
        store.refuse_if_running(existing)  # before any other check: it may be mid-run
        strategy = load_strategy(existing.strategy_path)
        if strategy_hash(strategy) != existing.strategy_hash:
            raise InputError(
                f"{existing.strategy_path} changed since experiment {existing.id} started: "
                f"restore it or start a new experiment with another --name"
            )
        spec = grid_from_mapping(existing.grid, strategy, source=Path("<stored grid>"))
        if req.resume_id is not None:
            _refuse_other_settings(req, existing, spec, strategy)
        elif not _same_request(req, existing, spec, strategy):
            raise InputError(
                f"experiment '{existing.name}' already exists (ID: {existing.id}) with other "
                f"settings: resume it with --resume {existing.id} or choose another --name"
            )
        return existing, strategy, spec, existing.split, existing.symbol
    if not (req.name and req.strategy_path and req.grid_path):
        raise InputError("grid-search needs --name, --strategy-path and --grid-path "
                         "(or --resume ID)")
    strategy = load_strategy(req.strategy_path)
    spec = load_grid(req.grid_path, strategy, req.search, req.n_iter, req.seed,
                         req.objectives)
    if req.trials_flag and spec.search != "optuna":
        raise InputError(f"--n-trials is for an optuna search and {req.grid_path} is a "
                         f"{spec.search} search: pass --search optuna, or --n-iter N for a "
                         "random search")
    check_size(spec, Combinations(spec, strategy), req.max_combinations)
    flags = [k for k, v in req.split.items() if v is not None]
    Split().merged(req.split).check(flags=flags)  # the flags alone first: name the flag
    split = spec.split.merged(req.split)
    split.check(f"{req.grid_path}: ", flags)
    missing = [k for k in SPLIT_KEYS if getattr(split, k) is None]
    if missing:
        flags = ", ".join(flag_name(k) for k in missing)
        raise InputError(f"the train/test split needs {flags} (or a `split:` block in "
                         f"{req.grid_path})")
    symbol = (req.symbol or strategy.data.symbol or "").upper()
    if not symbol:
        raise InputError(f"{req.strategy_path}: no `data.symbol`; pass --symbol")
    parent = spec.raw.get("parent_experiment")
    if parent is not None:
        try:
            store.get(parent)
        except InputError:
            raise InputError(f"{req.grid_path}: `parent_experiment: {parent}` is not in "
                             f"{store.url}: run the search on the store that holds it "
                             "(its trials count in this experiment's DSR)") from None
    return None, strategy, spec, split.as_dict(), symbol


def check_size(spec: GridSpec, combos: Combinations, maximum: int,
               seconds: float = COUNT_SECONDS) -> None:
    """Refuse a search of more than ``maximum`` runs, or a constrained grid too large to count
    in ``seconds`` (its size is then estimated from a sample, and the message says so)."""
    label = f"{spec.source}: " if spec.source else "grid: "
    runs, exact = combos.count(seconds)
    if spec.search != "grid":  # random or optuna
        flag = "--n-trials" if spec.search == "optuna" else "--n-iter"
        what = f"the {spec.search} search has {runs:,} runs ({flag} or `n_iter`)"
    elif spec.constraints:
        what = (f"the grid has {runs:,} combinations after its constraints" if exact else
                f"the grid has about {runs:,} combinations after its constraints (an estimate "
                f"from {SAMPLE:,} sampled of {spec.size:,}: counting them all takes more than "
                f"{seconds:g} s)")
    else:
        what = f"the grid has {runs:,} combinations"
    if runs > maximum:
        advice = ("narrow the lists, use `search: random` with `n_iter`" if spec.search == "grid"
                  else f"lower {flag}")
        raise InputError(f"{label}{what}, more than the maximum of {maximum:,} runs: {advice}, "
                         "or raise the maximum with --max-combinations")
    if not exact:
        raise InputError(f"{label}{what}; the search would have to walk all of them: narrow "
                         "the ranges of the constrained parameters")


def _same_request(req: GridSearchRequest, info: ExperimentInfo, spec: GridSpec, strategy) -> bool:
    if req.strategy_path and Path(req.strategy_path).resolve() != Path(
            info.strategy_path).resolve():
        return False
    if req.grid_path:
        again = load_grid(req.grid_path, strategy, req.search, req.n_iter, req.seed,
                          req.objectives)
        if _without_trials(again) != _without_trials(spec):  # more optuna trials: extends
            return False
    if req.symbol and req.symbol.upper() != info.symbol:
        return False
    if float(req.initial_capital) != info.initial_capital:
        return False
    return all(v is None or str(v) == str(info.split.get(k)) for k, v in req.split.items())


def _refuse_other_settings(req: GridSearchRequest, info: ExperimentInfo, spec: GridSpec,
                           strategy) -> None:
    """``--resume ID`` with a flag that contradicts the stored experiment: refused, naming it
    (the resumed search would silently run with the stored settings instead)."""
    from otonom_trader.domain.objectives import parse_objectives

    def show(values) -> str:
        return ",".join(values) or "no --objectives"

    given = [("--name", req.name, info.name, str),
             ("--search", req.search, spec.search, str),
             ("--seed", req.seed, spec.seed, str),
             ("--objectives", None if req.objectives is None
              else parse_objectives(req.objectives), spec.objectives, show),
             ("--symbol", None if req.symbol is None else req.symbol.upper(), info.symbol, str),
             *((flag_name(k), v, info.split.get(k), str) for k, v in req.split.items())]
    if spec.search != "optuna":  # an optuna study given more trials continues
        given.append(("--n-trials" if req.trials_flag else "--n-iter", req.n_iter, spec.n_iter,
                      str))
    if req.strategy_path:
        given.append(("--strategy-path", Path(req.strategy_path).resolve(),
                      Path(info.strategy_path).resolve(), str))
    if req.grid_path and _without_trials(load_grid(
            req.grid_path, strategy, req.search, req.n_iter, req.seed, req.objectives)) \
            != _without_trials(spec):
        given.append(("--grid-path", req.grid_path, "another grid", str))
    for flag, value, stored, text in given:
        if value is not None and str(value) != str(stored):
            raise InputError(f"{flag} {text(value)}: experiment '{info.name}' (ID: {info.id}) "
                             f"was started with {text(stored)}; resume it without the flag or "
                             "start a new experiment with another --name")


def _without_trials(spec: GridSpec) -> dict:
    return {k: v for k, v in spec.raw.items() if k != "n_iter"} if spec.search == "optuna" \
        else spec.raw


def _complete(req: GridSearchRequest, store: ExperimentStore,
              info: ExperimentInfo) -> GridSearchOutcome:
    """A finished experiment run again: write its outputs again if any is missing or stale."""
    from otonom_trader.app.experiments.outputs import OUTPUT_FILES, export_outputs, stale_outputs

    root = Path(req.outputs_dir)
    stale = stale_outputs(info, root)
    if req.snapshot and OUTPUT_FILES["store"] not in (info.outputs or {}):
        stale.append(OUTPUT_FILES["store"])
    if stale:
        outputs = export_outputs(store, info.id, root, data_dir=req.data_dir,
                                 params_path=req.params_path, snapshot=req.snapshot)
    else:
        outputs = {label: root / info.name / name for label, name in OUTPUT_FILES.items()
                   if name in info.outputs}
    done, failed = store.run_counts(info.id)
    return GridSearchOutcome(info, info.total_runs, done, failed, info.elapsed_seconds, outputs,
                             True, tuple(stale))


def run_grid_search(req: GridSearchRequest, store: ExperimentStore,
                    events: GridSearchEvents | None = None) -> GridSearchOutcome:
    """Create (or resume) the experiment, evaluate every missing run, write the outputs."""
    import numpy as np

    from otonom_trader.adapters.executors import open_executor
    from otonom_trader.app.experiments.cpcv_search import check_cv, new_cv, resumed_cv
    from otonom_trader.engine.backtest import resolve_window
    from otonom_trader.engine.data import data_fingerprint, load_bars
    from otonom_trader.engine.grid import GridEvaluator, resolve_split

    events = events or GridSearchEvents()
    existing, strategy, spec, split, symbol = _resolve(req, store)
    cv = resumed_cv(req.cv, existing) if existing is not None else new_cv(req.cv, spec)
    optuna = spec.search == "optuna"
    extend = (optuna and existing is not None and req.n_iter is not None
              and req.n_iter > existing.total_runs)  # the same study, given more trials
    if optuna and existing is not None and req.n_iter is not None \
            and req.n_iter < existing.total_runs:  # it would go on to its stored total
        raise InputError(f"--n-trials {req.n_iter}: experiment '{existing.name}' (ID: "
                         f"{existing.id}) is a study of {existing.total_runs:,} trials and "
                         "a study does not shrink: run it again without --n-trials, or with "
                         f"more than {existing.total_runs:,} to extend it")
    if existing is not None and existing.status == "done" and not extend:
        return _complete(req, store, existing)
    events.notes(grid_warnings(spec))
    bars = load_bars(symbol, req.data_dir, strategy.data.on_bad_bars)
    fingerprint = data_fingerprint(bars)
    if existing is not None and existing.data_fingerprint != fingerprint:
        raise InputError(f"the {symbol} data changed since experiment {existing.id} started "
                         f"(fingerprint {existing.data_fingerprint[:12]} → {fingerprint[:12]})")
    windows = resolve_split(bars.index, symbol, *(split[k] for k in SPLIT_KEYS))
    if split.get("holdout_start") is not None:  # in the data, yet never seen by a ranking
        resolve_window(bars.index, split["holdout_start"], split["holdout_end"],
                       np.zeros(len(bars.index)), symbol, "hold-out window")
    if existing is None and cv is not None:  # settings → what to store, checked on the data
        cv = check_cv(cv, strategy, spec, bars, windows, symbol, req.data_dir)
    combos = Combinations(spec, strategy)
    capital = req.initial_capital if existing is None else existing.initial_capital
    if optuna:
        from otonom_trader.engine.selection import KNEE, selection_rule

        metric = (existing.search["metric"] if existing is not None
                  else spec.objectives[0] if spec.objectives
                  else selection_rule(Path(req.params_path)).metric)
        if metric == KNEE:
            raise InputError(f"{req.params_path}: `experiment.select_by: {KNEE}` needs "
                             "--objectives for the optuna search (e.g. sharpe,max_drawdown_pct)")
    evaluator = GridEvaluator(strategy, bars, symbol=symbol, split=windows,
                              paths=list(spec.parameters), initial_capital=capital,
                              data_dir=req.data_dir)
    if optuna and req.executor != "local":
        raise InputError("--executor dask runs grid and random searches; an optuna search "
                         "asks for its trials one batch at a time here: use --executor local")
    executor = open_executor(req.executor, req.scheduler)  # before the store records anything
    if executor.name != "local":  # shipped once with the evaluator: workers read no analyst file
        evaluator.precompute_scores([combos.values_of(p) for p in evaluator.score_paths],
                                    combos.total)
    plan = _Plan(existing, strategy, spec, split, symbol, fingerprint, combos, capital,
                 evaluator, metric if optuna else None, extend, cv)
    try:
        return _run(req, store, events, plan, executor)
    finally:
        executor.close()


@dataclass(frozen=True)
class _Plan:
    """What a search resolved and checked before recording anything."""

    existing: ExperimentInfo | None  # the experiment resumed, or None for a new one
    strategy: Any
    spec: GridSpec
    split: dict
    symbol: str
    fingerprint: str  # of the bars
    combos: Combinations
    capital: float
    evaluator: Any  # engine.grid.GridEvaluator
    metric: str | None  # what an optuna search optimises (None otherwise)
    extend: bool  # an optuna study given more trials
    cv: dict | None  # the --cv settings to store


def _record(req: GridSearchRequest, store: ExperimentStore, plan: _Plan, owner: str) -> int:
    """The experiment's ID: created, or claimed (and extended) when resumed."""
    spec, existing = plan.spec, plan.existing
    if existing is not None:
        store.claim(existing.id, owner)
        if plan.extend:
            store.extend(existing.id, req.n_iter, {**existing.grid, "n_iter": req.n_iter},
                         {**existing.search, "n_iter": req.n_iter})
        return existing.id
    from otonom_trader.adapters.git_repo import provenance

    commit, dirty = provenance(req.strategy_path)
    optuna = {"sampler": "nsga2" if spec.objectives else "tpe", "metric": plan.metric,
              "window": "train"} if spec.search == "optuna" else {}
    return store.create_experiment(
        name=req.name, strategy_path=req.strategy_path,
        strategy_hash=strategy_hash(plan.strategy), strategy_name=plan.strategy.name,
        grid=spec.raw, split=plan.split,
        search={"kind": spec.search, "n_iter": spec.n_iter, "seed": spec.seed, **optuna,
                **({"objectives": list(spec.objectives)} if spec.objectives else {}),
                **({"cv": plan.cv} if plan.cv else {})},
        symbol=plan.symbol, data_fingerprint=plan.fingerprint,
        periods_per_year=plan.evaluator.data.periods_per_year, total_runs=plan.combos.total,
        initial_capital=plan.capital, command=req.command, git_commit=commit,
        git_dirty=dirty, owner=owner,
    )


def _run(req: GridSearchRequest, store: ExperimentStore, events: GridSearchEvents,
         plan: _Plan, executor) -> GridSearchOutcome:
    """Record the experiment, evaluate its missing runs with ``executor``, write outputs."""
    from otonom_trader.adapters.store import lease_owner, runs_frame_of
    from otonom_trader.app.experiments.outputs import export_outputs
    from otonom_trader.engine.overfitting import pbo_with_notes

    spec, evaluator = plan.spec, plan.evaluator
    optuna = spec.search == "optuna"
    owner = lease_owner()
    exp_id = _record(req, store, plan, owner)
    info = store.get(exp_id)
    total = info.total_runs
    events.created(info, plan.existing is not None)

    done_before = store.done_run_numbers(exp_id)
    events.started(total, len(done_before),
                   "nsga2" if optuna and spec.objectives else spec.search)
    clock = [time.perf_counter()]  # time of the last heartbeat

    def since_last() -> float:
        now = time.perf_counter()
        delta, clock[0] = now - clock[0], now
        return delta

    def write(batch: RunBatch) -> int:
        store.write_runs(exp_id, batch)
        store.heartbeat(exp_id, owner, since_last())  # a kill loses only the batch in flight
        return len(batch.run_numbers)

    # One writer thread stores chunk k while the (GIL-free) kernel evaluates chunk k+1;
    # each chunk is one transaction, so a kill loses at most the chunks in flight.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otonom-store")
    pending = None
    kept: list[RunBatch] | None = (  # every run, in memory
        [] if len(done_before) == 0 and total <= KEEP_RUNS else None)
    study = None
    try:
        if optuna:  # stored in this thread before each tell, so the study never runs ahead
            from otonom_trader.app.experiments.optuna_search import open_study, optuna_batches

            objectives = spec.objectives or (plan.metric,)
            study = open_study(store, info.name, spec.seed, objectives)
            for batch in optuna_batches(study, evaluator, spec, objectives, total,
                                        lambda: store.runs_frame(exp_id),
                                        lambda b: events.advanced(write(b))):
                if kept is not None:
                    kept.append(batch)
        chunks = () if optuna else plan.combos.chunks(
            req.chunk_size, skip=done_before, values=executor.needs_values(plan.combos))
        for result in executor.map(evaluator, chunks, plan.combos):
            batch = RunBatch(result.run_numbers, result.params, result.status, result.errors,
                             result.train, result.test, result.blocks)
            if kept is not None:
                kept.append(batch)
            if pending is not None:
                events.advanced(pending.result())
            pending = writer.submit(write, batch)
        if pending is not None:
            events.advanced(pending.result())
    except KeyboardInterrupt:
        writer.shutdown(wait=True)  # the chunk being written is saved whole, or not at all
        store.set_status(exp_id, "interrupted", since_last())
        saved = len(store.done_run_numbers(exp_id))
        raise GridSearchInterrupted(exp_id, saved, total) from None
    except BaseException:
        writer.shutdown(wait=True, cancel_futures=True)
        store.set_status(exp_id, "failed", since_last())
        raise
    finally:
        if study is not None:
            from otonom_trader.app.experiments.optuna_search import close_study

            close_study(study)
    writer.shutdown(wait=True)
    runs, blocks, pbo = None, None, None
    if kept:  # no reading back; the PBO computes (GIL-free) while the outputs are written
        runs, blocks = runs_frame_of(kept)
        background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otonom-pbo")
        pbo = background.submit(pbo_with_notes, blocks)
        background.shutdown(wait=False)
    del kept
    events.notes(list(dict.fromkeys([*evaluator.notes, *executor.notes])))
    store.set_status(exp_id, "done", since_last())
    outputs = export_outputs(store, exp_id, req.outputs_dir, data_dir=req.data_dir,
                             params_path=req.params_path, snapshot=req.snapshot, runs=runs,
                             blocks=blocks, pbo=pbo)
    info = store.get(exp_id)
    done, failed = store.run_counts(exp_id)
    return GridSearchOutcome(info, total, done, failed, info.elapsed_seconds, outputs,
                             runs=runs)
