"""PBO by CSCV over a whole grid: 160,000 runs × 16 blocks (12,870 splits).

    .venv/bin/python benchmarks/bench_overfitting.py            # one line per repeat + best
    .venv/bin/python benchmarks/bench_overfitting.py --json     # machine-readable

The block statistics are synthetic but shaped like a grid's: 16 blocks of 315 bars (about the
5,031-bar SPX history), each run with its own per-bar mean and volatility, 5% of the runs
exact duplicates of others (grids have many: parameters that never bind), 2% never trading
(all-zero returns) and 10% idle (zero returns) in a random quarter of the blocks. Timed:
``engine.overfitting.pbo_cscv`` end to end (validation, the numba kernel, the mapping of
logits to splits), after one warm-up call that compiles or loads the kernel; best of
``--repeat`` (3). Wall and process CPU seconds are both printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otonom_trader.engine.overfitting import pbo_cscv  # noqa: E402

N_RUNS = 160_000
N_BLOCKS = 16
BARS_PER_BLOCK = 315


def synthetic_block_stats(n_runs: int = N_RUNS, seed: int = 0) -> np.ndarray:
    """(n_runs, 16, 3) count, sum, sum of squares of per-bar returns, as a grid emits them."""
    rng = np.random.default_rng(seed)
    c = float(BARS_PER_BLOCK)
    mu = rng.normal(0.0002, 0.0001, (n_runs, 1))
    sigma = rng.uniform(0.004, 0.015, (n_runs, 1))
    sums = rng.normal(c * mu, np.sqrt(c) * sigma, (n_runs, N_BLOCKS))
    # Σr² = Σ(r − r̄)² + (Σr)²/c with Σ(r − r̄)² ~ σ²·χ²(c − 1)
    sqs = sigma**2 * rng.chisquare(c - 1, (n_runs, N_BLOCKS)) + sums**2 / c
    idle = (rng.random((n_runs, 1)) < 0.10) & (rng.random((n_runs, N_BLOCKS)) < 0.25)
    sums[idle] = 0.0
    sqs[idle] = 0.0
    never = rng.random(n_runs) < 0.02
    sums[never] = 0.0
    sqs[never] = 0.0
    dup = np.flatnonzero(rng.random(n_runs) < 0.05)
    src = rng.integers(0, n_runs, len(dup))
    sums[dup] = sums[src]
    sqs[dup] = sqs[src]
    return np.stack([np.full((n_runs, N_BLOCKS), c), sums, sqs], axis=2)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=N_RUNS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    stats = synthetic_block_stats(args.runs)
    t0 = time.perf_counter()
    pbo_cscv(stats[:1000])  # warm-up: compile or load the cached kernel
    warmup = time.perf_counter() - t0
    walls, cpus = [], []
    result = None
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = pbo_cscv(stats)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        if not args.json:
            print(f"pbo_cscv: {walls[-1]:.3f} s wall, {cpus[-1]:.3f} s CPU")
    best = int(np.argmin(walls))
    summary = {
        "runs": args.runs,
        "blocks": N_BLOCKS,
        "splits": result.n_splits,
        "pbo": result.pbo,
        "best_wall_s": round(walls[best], 4),
        "cpu_s_of_best": round(cpus[best], 4),
        "warmup_s": round(warmup, 3),
        "threads": numba.get_num_threads(),
        "cpus": os.cpu_count(),
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "date": dt.date.today().isoformat(),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"PBO over {args.runs:,} runs × {N_BLOCKS} blocks ({result.n_splits:,} splits) = "
          f"{result.pbo:.4f}: best {walls[best]:.3f} s wall ({cpus[best]:.3f} s CPU) on "
          f"{summary['threads']} threads; warm-up {warmup:.2f} s")


if __name__ == "__main__":
    main()
