"""Use case: a grid or random search recorded in the experiment store, resumable."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore, RunBatch
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.grid import (
    Combinations,
    GridSpec,
    grid_from_mapping,
    grid_warnings,
    load_grid,
    with_search,
)
from otonom_trader.domain.names import check_name
from otonom_trader.domain.split import SPLIT_KEYS
from otonom_trader.domain.strategy_loader import load_strategy, strategy_hash

CHUNK_SIZE = 8192


@dataclass(frozen=True)
class GridSearchRequest:
    name: str | None = None
    strategy_path: str | None = None
    grid_path: str | None = None
    symbol: str | None = None
    split: dict = field(default_factory=dict)  # flags: train_start ... test_end (None = unset)
    search: str | None = None
    n_iter: int | None = None
    seed: int | None = None
    resume_id: int | None = None
    initial_capital: float = 10_000.0
    data_dir: str = "data"
    outputs_dir: str = "experiments"
    command: str = ""
    chunk_size: int = CHUNK_SIZE

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
    elapsed_seconds: float
    outputs: dict[str, Path]


class GridSearchInterrupted(Exception):
    """Ctrl-C: the finished runs are saved; ``resume_id`` completes the rest."""

    def __init__(self, experiment_id: int, saved: int, total: int):
        super().__init__(f"interrupted after {saved}/{total} runs")
        self.experiment_id, self.saved, self.total = experiment_id, saved, total


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except OSError:
        return None
    return out.stdout.strip() or None


def _resolve(req: GridSearchRequest, store: ExperimentStore):
    """The experiment to run (existing when resuming), its strategy, grid and split."""
    existing = None
    if req.resume_id is not None:
        existing = store.get(req.resume_id)
    elif req.name and (found := store.find_by_name(req.name)) is not None:
        existing = found  # the same command again resumes an unfinished experiment
    if existing is not None:
        strategy = load_strategy(existing.strategy_path)
        if strategy_hash(strategy) != existing.strategy_hash:
            raise InputError(
                f"{existing.strategy_path} changed since experiment {existing.id} started: "
                f"restore it or start a new experiment with another --name"
            )
        spec = grid_from_mapping(existing.grid, strategy, source=Path("<stored grid>"))
        if req.resume_id is None and not _same_request(req, existing, spec, strategy):
            raise InputError(
                f"experiment '{existing.name}' already exists (ID: {existing.id}) with other "
                f"settings: resume it with --resume {existing.id} or choose another --name"
            )
        if existing.status == "done":
            raise InputError(
                f"experiment '{existing.name}' (ID: {existing.id}) is already complete: "
                f"see `otonom experiments show {existing.id}` or choose another --name"
            )
        return existing, strategy, spec, existing.split, existing.symbol
    if not (req.name and req.strategy_path and req.grid_path):
        raise InputError("grid-search needs --name, --strategy-path and --grid-path "
                         "(or --resume ID)")
    strategy = load_strategy(req.strategy_path)
    spec = with_search(load_grid(req.grid_path, strategy), strategy, req.search, req.n_iter,
                       req.seed)
    split = spec.split.merged(req.split)
    split.check(f"{req.grid_path}: ")
    missing = [k for k in SPLIT_KEYS if getattr(split, k) is None]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise InputError(f"the train/test split needs {flags} (or a `split:` block in "
                         f"{req.grid_path})")
    symbol = (req.symbol or strategy.data.symbol or "").upper()
    if not symbol:
        raise InputError(f"{req.strategy_path}: no `data.symbol`; pass --symbol")
    split_dict = {k: getattr(split, k) for k in SPLIT_KEYS}
    return None, strategy, spec, split_dict, symbol


def _same_request(req: GridSearchRequest, info: ExperimentInfo, spec: GridSpec, strategy) -> bool:
    if req.strategy_path and Path(req.strategy_path).resolve() != Path(
            info.strategy_path).resolve():
        return False
    if req.grid_path:
        again = with_search(load_grid(req.grid_path, strategy), strategy, req.search,
                            req.n_iter, req.seed)
        if again.raw != spec.raw:
            return False
    if req.symbol and req.symbol.upper() != info.symbol:
        return False
    return all(v is None or str(v) == str(info.split.get(k)) for k, v in req.split.items())


def _write(store: ExperimentStore, exp_id: int, batch: RunBatch) -> int:
    store.write_runs(exp_id, batch)
    return len(batch.run_numbers)


def run_grid_search(req: GridSearchRequest, store: ExperimentStore,
                    events: GridSearchEvents | None = None) -> GridSearchOutcome:
    """Create (or resume) the experiment, evaluate every missing run, write the outputs."""
    import numpy as np

    from otonom_trader.app.experiment_outputs import runs_table, write_outputs
    from otonom_trader.engine.data import data_fingerprint, load_bars
    from otonom_trader.engine.grid import GridEvaluator, resolve_split

    events = events or GridSearchEvents()
    existing, strategy, spec, split, symbol = _resolve(req, store)
    events.notes(grid_warnings(spec))
    bars = load_bars(symbol, req.data_dir)
    fingerprint = data_fingerprint(bars)
    if existing is not None and existing.data_fingerprint != fingerprint:
        raise InputError(f"the {symbol} data changed since experiment {existing.id} started "
                         f"(fingerprint {existing.data_fingerprint[:12]} → {fingerprint[:12]})")
    windows = resolve_split(bars.index, symbol, *(split[k] for k in SPLIT_KEYS))
    combos = Combinations(spec, strategy)
    evaluator = GridEvaluator(strategy, bars, symbol=symbol, split=windows,
                              paths=list(spec.parameters), initial_capital=req.initial_capital,
                              data_dir=req.data_dir)
    if existing is None:
        exp_id = store.create_experiment(
            name=req.name, strategy_path=req.strategy_path, strategy_hash=strategy_hash(strategy),
            strategy_name=strategy.name, grid=spec.raw, split=split,
            search={"kind": spec.search, "n_iter": spec.n_iter, "seed": spec.seed},
            symbol=symbol, data_fingerprint=fingerprint,
            periods_per_year=evaluator.data.periods_per_year, total_runs=combos.total,
            command=req.command, git_commit=_git_commit(),
        )
    else:
        exp_id = existing.id
        store.set_status(exp_id, "running")
    info = store.get(exp_id)
    events.created(info, existing is not None)

    done_before = store.done_run_numbers(exp_id)
    events.started(combos.total, len(done_before), spec.search)
    t0 = time.perf_counter()
    results, values = [], []  # this session's runs: a fresh search needs no read-back
    # One writer thread stores chunk k while the (GIL-free) kernel evaluates chunk k+1;
    # each chunk is one transaction, so a kill loses at most the chunks in flight.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otonom-store")
    pending = None
    try:
        for chunk in combos.chunks(req.chunk_size, skip=done_before):
            result = evaluator.evaluate(chunk.run_numbers, chunk.values)
            batch = RunBatch(result.run_numbers, result.params, result.status, result.errors,
                             result.train, result.test, result.blocks)
            if pending is not None:
                events.advanced(pending.result())
            pending = writer.submit(_write, store, exp_id, batch)
            results.append(result)
            values.append({p: v.copy() for p, v in chunk.values.items()})
        if pending is not None:
            events.advanced(pending.result())
    except KeyboardInterrupt:
        writer.shutdown(wait=True)  # the chunk being written is saved whole, or not at all
        store.set_status(exp_id, "interrupted", time.perf_counter() - t0)
        saved = len(store.done_run_numbers(exp_id))
        raise GridSearchInterrupted(exp_id, saved, combos.total) from None
    except BaseException:
        writer.shutdown(wait=True, cancel_futures=True)
        store.set_status(exp_id, "failed", time.perf_counter() - t0)
        raise
    writer.shutdown(wait=True)
    events.notes(evaluator.notes)
    store.set_status(exp_id, "done", time.perf_counter() - t0)
    info = store.get(exp_id)
    if len(done_before):
        runs, all_blocks = store.runs_frame(exp_id), store.block_stats(exp_id)[1]
    else:
        runs = runs_table(results, values)
        all_blocks = np.concatenate([r.blocks for r in results])[runs["status"].eq("done")]
    outputs = write_outputs(info, runs, Path(req.outputs_dir), blocks=all_blocks,
                            data_dir=req.data_dir, initial_capital=req.initial_capital)
    done = int((runs["status"] == "done").sum())
    return GridSearchOutcome(info, combos.total, done, len(runs) - done, info.elapsed_seconds,
                             outputs)
