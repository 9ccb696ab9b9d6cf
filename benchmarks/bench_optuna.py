"""Trials Optuna's TPE needs to come within 1% of the 160,000-run grid's best TRAIN Sharpe.

    .venv/bin/python benchmarks/bench_optuna.py                 # table
    .venv/bin/python benchmarks/bench_optuna.py --json          # machine-readable
    .venv/bin/python benchmarks/bench_optuna.py --seeds 1 2 3 --cap 3000

The grid is bench_grid.py's ``big`` one: strategies/sma_cross.yaml on the bundled SPX bars,
fast 2..80 step 2 × slow 85..280 step 5 × stop-loss 1..10 % × take-profit 2..20 % step 2 =
160,000 combinations, train 1999-01-01..2013-12-31, test 2014-01-01..2018-12-31. Its best
train Sharpe is computed with the engine directly (``GridEvaluator`` over every combination:
the same numbers the grid search stores). TPE searches the same space (each axis an ``int``
distribution on the same step) with the package's own loop (``app.experiments.optuna_search``:
``optuna_batches``, batches of 16 evaluated together, a sampler per ask seeded from
(seed, trial number)) on an in-memory study, nothing stored. For each seed: the first trial
whose best-so-far train Sharpe is within 1% of the grid's best, or "not within the cap".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_engine import machine  # noqa: E402
from bench_grid import BIG_GRID, SMA, SPLIT, SYMBOL  # noqa: E402

TOLERANCE = 0.01


def setup():
    from otonom_trader.domain.grid import grid_from_mapping
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.data import load_bars
    from otonom_trader.engine.grid import GridEvaluator, resolve_split

    strategy = load_strategy(ROOT / SMA)
    bars = load_bars(SYMBOL, ROOT / "data", strategy.data.on_bad_bars)
    windows = resolve_split(bars.index, SYMBOL, *SPLIT)
    grid = grid_from_mapping(dict(BIG_GRID), strategy)
    evaluator = GridEvaluator(strategy, bars, symbol=SYMBOL, split=windows,
                              paths=list(grid.parameters), initial_capital=10_000.0,
                              data_dir=ROOT / "data")
    return strategy, grid, evaluator


def grid_best(strategy, grid, evaluator) -> tuple[float, int, float]:
    from otonom_trader.domain.combinations import Combinations
    from otonom_trader.domain.metrics import METRIC_KEYS

    column = METRIC_KEYS.index("sharpe")
    best, runs, start = -np.inf, 0, time.perf_counter()
    for chunk in Combinations(grid, strategy).chunks(8192):
        result = evaluator.evaluate(chunk.run_numbers, chunk.values)
        values = result.train[:, column]
        values = values[np.isfinite(values)]
        if len(values):
            best = max(best, float(values.max()))
        runs += len(chunk.run_numbers)
    return best, runs, time.perf_counter() - start


def tpe_trials(grid, evaluator, seed: int, cap: int, target: float) -> dict:
    import optuna

    from otonom_trader.app.experiments.optuna_search import optuna_batches, sampler
    from otonom_trader.domain.metrics import METRIC_KEYS

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = dataclasses.replace(grid, search="optuna", n_iter=cap, seed=seed)
    study = optuna.create_study(sampler=sampler(seed, 0, False), direction="maximize")
    column = METRIC_KEYS.index("sharpe")
    best, done, start = -np.inf, 0, time.perf_counter()
    for batch in optuna_batches(study, evaluator, spec, ("sharpe",), cap, lambda: None,
                                lambda b: None):
        for value in batch.train[:, column]:
            done += 1
            if np.isfinite(value) and value > best:
                best = float(value)
            if best >= target:
                return {"seed": seed, "trials": done, "best": best,
                        "seconds": time.perf_counter() - start}
    return {"seed": seed, "trials": None, "best": best, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cap", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    info = machine()
    strategy, grid, evaluator = setup()
    best, n_runs, grid_seconds = grid_best(strategy, grid, evaluator)
    target = best - TOLERANCE * abs(best)
    results = [tpe_trials(grid, evaluator, s, args.cap, target) for s in args.seeds]
    out = {"machine": info, "grid_runs": n_runs, "grid_best_train_sharpe": best,
           "grid_seconds": grid_seconds, "target": target, "cap": args.cap,
           "results": results}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"grid: {n_runs:,} runs, best train Sharpe {best:.4f} ({grid_seconds:.1f} s); "
          f"target {target:.4f} (within 1%)")
    print("| seed | trials to within 1% | best train Sharpe | TPE wall time |")
    print("|---:|---:|---:|---:|")
    for r in results:
        trials = f"{r['trials']:,}" if r["trials"] else f"not within {args.cap:,}"
        print(f"| {r['seed']} | {trials} | {r['best']:.4f} | {r['seconds']:.1f} s |")


if __name__ == "__main__":
    main()
