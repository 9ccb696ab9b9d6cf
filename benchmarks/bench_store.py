"""Store write throughput: the rows of the 160,000-run grid search written through
``ExperimentStore.write_runs`` into SQLite and into PostgreSQL, then read back.

    .venv/bin/python benchmarks/bench_store.py                       # 160,000 runs
    .venv/bin/python benchmarks/bench_store.py --runs 20000 --pg-url postgresql+psycopg://...

The runs are shaped like the sma_cross grid's (four parameters, 22 metrics, 16 blocks of
block statistics, 1 % failed), in batches of the grid search's chunk size (8,192), as the
grid search writes them. SQLite is a file in a temporary
folder; PostgreSQL is the URL given, else a throwaway local server (tests/pg.py, as `make
test` starts it: fsync off). Reported per backend: write seconds and runs/s (best of
``--rounds``), then ``runs_frame`` and ``top_runs`` read times, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otonom_trader.adapters.store import ExperimentStore, RunBatch  # noqa: E402
from otonom_trader.app.experiments.grid_search import CHUNK_SIZE  # noqa: E402
from otonom_trader.domain.metrics import METRIC_KEYS  # noqa: E402


def batches(n_runs: int, chunk: int) -> list[RunBatch]:
    rng = np.random.default_rng(7)
    k, out = len(METRIC_KEYS), []
    for start in range(0, n_runs, chunk):
        numbers = np.arange(start, min(start + chunk, n_runs), dtype=np.int64)
        n = len(numbers)
        status = ["failed" if r % 100 == 99 else "done" for r in numbers.tolist()]
        params = [{"analysts.sma.fast": 2 + r % 40 * 2, "analysts.sma.slow": 85 + r // 40 % 40
                   * 5, "risk.stop_loss_pct": 1 + r // 1600 % 10,
                   "risk.take_profit_pct": 2 + r // 16000 * 2} for r in numbers.tolist()]
        out.append(RunBatch(run_numbers=numbers, params=params, status=status,
                            errors=[None if s == "done" else "boom" for s in status],
                            train=rng.normal(size=(n, k)), test=rng.normal(size=(n, k)),
                            blocks=rng.normal(size=(n, 16, 3))))
    return out


def one_round(url: str, work: list[RunBatch], name: str) -> tuple[float, float, float]:
    with ExperimentStore(url) as store:
        exp = store.create_experiment(
            name=name, strategy_path="strategies/sma_cross.yaml", strategy_hash="h",
            strategy_name="sma_cross", grid={}, split={}, search={"kind": "grid"},
            symbol="SPX", data_fingerprint="fp", periods_per_year=252,
            total_runs=sum(len(b.run_numbers) for b in work), initial_capital=10_000.0)
        t0 = time.perf_counter()
        for b in work:
            store.write_runs(exp, b)
        write = time.perf_counter() - t0
        t0 = time.perf_counter()
        frame = store.runs_frame(exp)
        read = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.top_runs(exp, "sharpe", 5)
        top = time.perf_counter() - t0
        assert len(frame) == sum(len(b.run_numbers) for b in work)
    return write, read, top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=160_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pg-url", help="an existing PostgreSQL database (default: a local "
                                     "throwaway server)")
    args = ap.parse_args()
    work = batches(args.runs, CHUNK_SIZE)
    server = None
    if args.pg_url is None:
        from tests.pg import PgServer

        server = PgServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for label in ("SQLite", "PostgreSQL"):
                results = []
                for i in range(args.rounds):  # a fresh store each round: the first load
                    if label == "SQLite":
                        url = f"sqlite:///{tmp}/s{i}.db"
                    else:
                        url = args.pg_url if args.pg_url else server.create_database()
                    results.append(one_round(url, work, f"bench_{i}_{time.time_ns()}"))
                write, read, top = min(results)
                writes = ", ".join(f"{r[0]:.2f}" for r in results)
                print(f"{label:10s} write {args.runs:,} runs: best {write:.2f} s ({writes}) = "
                      f"{args.runs / write:,.0f} runs/s; runs_frame {read:.2f} s; "
                      f"top_runs {top * 1000:.1f} ms")
    finally:
        if server is not None:
            server.stop()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
