"""The 160,000-run grid search end to end, two source trees side by side (A/B).

    git archive <old commit> | tar -x -C /tmp/old; git archive HEAD | tar -x -C /tmp/new
    .venv/bin/python benchmarks/ab_grid.py /tmp/old /tmp/new --rounds 3
    .venv/bin/python benchmarks/ab_grid.py /tmp/old /tmp/new --random 40000   # random search

On a shared machine the load changes from minute to minute, so a figure is only comparable
with one taken in the same minutes: the two trees run the same command (bench_grid.py's
``big`` grid, train 1999–2013, test 2014–2018, every run stored, outputs written) in turns,
one untimed warm-up each (numba cache), then ``--rounds`` rounds. ``--random N``: instead,
bench_dask.py's random search of N runs (stop-loss and take-profit drawn from continuous
ranges, so almost every run has trading parameters of its own). Each run is a new process
in a new temporary folder; wall time from spawn to exit, CPU time and peak RSS of that child
from ``os.wait4``; the 1-minute load average before each run is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dask import random_grid
from bench_grid import BIG_GRID, SMA, SPLIT


def run(tree: Path, tmp: Path, cache: str, workload: dict) -> dict:
    grid = tmp / "grid.yaml"
    grid.write_text(yaml.safe_dump(workload, sort_keys=False))
    argv = [sys.executable, "-m", "otonom_trader.cli", "experiments", "grid-search", "--name",
            "big", "--strategy-path", SMA, "--grid-path", str(grid), "--train-start", SPLIT[0],
            "--train-end", SPLIT[1], "--test-start", SPLIT[2], "--test-end", SPLIT[3],
            "--db", f"sqlite:///{tmp}/store.db", "--outputs-dir", str(tmp / "experiments")]
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": cache}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=tree, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{tree}: exit status {status}\n{out}")
    search = next((line for line in out.splitlines() if line.startswith("Time:")), "")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_bytes": usage.ru_maxrss * 1024, "search": search, "load_avg_1m": load}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs=2, type=Path, help="A and B: source trees (repository roots)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--random", type=int, metavar="N",
                    help="a random search of N runs instead of the 160,000-run grid")
    opts = ap.parse_args(argv)
    results: dict[str, list[dict]] = {str(t): [] for t in opts.trees}
    workload = random_grid(opts.random) if opts.random else BIG_GRID
    with tempfile.TemporaryDirectory(prefix="ab_grid_numba_") as cache:
        for timed in [False] + [True] * opts.rounds:
            for tree in opts.trees:
                with tempfile.TemporaryDirectory(prefix="ab_grid_") as tmp:
                    result = run(tree.resolve(), Path(tmp), cache, workload)
                if timed:
                    results[str(tree)].append(result)
                print(("" if timed else "warm-up ") + f"{tree}: {result['wall_s']:.2f} s wall, "
                      f"{result['cpu_s']:.1f} s CPU, {result['peak_rss_bytes'] / 1e9:.3f} GB, "
                      f"load {result['load_avg_1m']:.1f}", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
