"""The dask executor: throughput against the local one, and a 1,000,000-run random search
streamed through a 2-worker LocalCluster with its memory sampled as it goes.

    .venv/bin/python benchmarks/bench_dask.py            # table (a few minutes)
    .venv/bin/python benchmarks/bench_dask.py --json     # machine-readable
    .venv/bin/python benchmarks/bench_dask.py --runs 200000 --grid-rounds 1   # shorter
    .venv/bin/python benchmarks/bench_dask.py --skip-throughput --window short --runs 2000000 \
        --samples 10    # memory only: cheap runs (2012-2014), RSS every 10 %

Both parts run ``python -m otonom_trader.cli experiments grid-search`` as a child process on
the bundled SPX daily bars (strategies/sma_cross.yaml, train 1999–2013, test 2014–2018),
each into a fresh SQLite store, from the repository root.

1. ``throughput``: a 40,000-run grid (fast 2..80 step 2 × slow 85..280 step 5 × stop-loss
   1..5 % × take-profit 2..10 % step 2) with ``--executor local`` (numba's threads on every
   core) and with ``--executor dask`` on a LocalCluster of 2 worker processes × 1 thread,
   each worker's numba on 1 thread (``NUMBA_NUM_THREADS=1``): the same cores either way.
   ``--grid-rounds`` rounds take turns; the best wall time of each counts (process start to
   exit: imports, connect, evaluation, store, outputs). Goal: dask ≥ 0.8× local. A first,
   untimed dask search (``cold``, also reported) lets each new worker process load the
   compiled kernels: a cluster's workers outlive the searches they serve.
2. ``stream``: a random search of ``--runs`` runs (fast 5..50 step 5 × slow 60..240 step 20,
   stop-loss and take-profit uniform) with ``--executor dask`` on a fresh 2-worker cluster.
   While it runs, the stored row count is polled and at 25, 50 and 75 % (``--samples``: that
   many even marks; the last at the end of the evaluation) the RSS and peak RSS
   (``/proc/<pid>/status`` VmRSS, VmHWM) of the client, of each worker and of the scheduler
   (the LocalCluster's, in this process) are recorded. ``--window short`` (train 2012–2013,
   test 2014) makes each run cheap, so millions of runs show whether memory grows. Memory
   that does not grow between the samples is the point: the number of chunks in flight is
   bounded, the client keeps no run in memory above ``KEEP_RUNS``, each worker holds the
   evaluator once plus its caches (capped), and a task names its runs (ranges of run
   numbers) rather than carrying their values into dask's logs of recent messages.

Every process (client and workers) shares one temporary ``NUMBA_CACHE_DIR``; an untimed
warm-up search first compiles the kernels into it, so each worker loads the compiled
kernels from that cache on its first chunk (``cache=True`` in a folder keyed by a hash of the
kernels' sources, kernels/jit.py) instead of compiling them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ["--train-start", "1999-01-01", "--train-end", "2013-12-31",
         "--test-start", "2014-01-01", "--test-end", "2018-12-31"]
SHORT_SPLIT = ["--train-start", "2012-01-01", "--train-end", "2013-12-31",
               "--test-start", "2014-01-01", "--test-end", "2014-12-31"]
GRID = {
    "analysts.tech.fast_window": {"int": [2, 80, 2]},
    "analysts.tech.slow_window": {"int": [85, 280, 5]},
    "risk.stop_loss_pct": [1.0, 2.0, 3.0, 4.0, 5.0],
    "risk.take_profit_pct": [2.0, 4.0, 6.0, 8.0, 10.0],
}
GRID_RUNS = 40_000
DASK_CHUNK = "2000"  # 20 chunks for 2 workers (the default 8,192 would make 5)


def random_grid(runs: int) -> dict:
    return {"search": "random", "n_iter": runs, "seed": 1,
            "analysts.tech.fast_window": {"int": [5, 50, 5]},
            "analysts.tech.slow_window": {"int": [60, 240, 20]},
            "risk.stop_loss_pct": {"uniform": [1.0, 10.0]},
            "risk.take_profit_pct": {"uniform": [2.0, 20.0]}}


def start_cluster():
    from distributed import LocalCluster

    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                        scheduler_port=0, dashboard_address=None,
                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                        env={"NUMBA_NUM_THREADS": "1"})


def worker_pids(address: str) -> dict[str, int]:
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        return client.run(os.getpid)


def memory(pid: int) -> tuple[int, int]:
    """(RSS, peak RSS) of ``pid`` in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def command(tmp: Path, name: str, grid: dict, *extra: str, split=SPLIT) -> list[str]:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(grid))
    return [sys.executable, "-m", "otonom_trader.cli", "experiments", "grid-search",
            "--name", name, "--strategy-path", "strategies/sma_cross.yaml",
            "--grid-path", str(path), "--db", f"sqlite:///{tmp / name}.db",
            "--outputs-dir", str(tmp / "experiments"), *split, *extra]


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return conn.execute("SELECT count(*) FROM experiment_runs").fetchone()[0]
    except sqlite3.Error:
        return 0


def timed(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def throughput(tmp: Path, env: dict, rounds: int) -> dict:
    cluster = start_cluster()
    try:
        scheduler = cluster.scheduler_address
        walls: dict[str, list[float]] = {"local": [], "dask": []}

        def dask(name):
            return timed(command(tmp, name, GRID, "--executor", "dask", "--scheduler",
                                 scheduler, "--chunk-size", DASK_CHUNK), env)

        cold = dask("cold")
        for i in range(rounds):
            walls["local"].append(timed(command(tmp, f"local{i}", GRID), env))
            walls["dask"].append(dask(f"dask{i}"))
    finally:
        cluster.close()
    best = {k: min(v) for k, v in walls.items()}
    return {"runs": GRID_RUNS, "walls": walls, "best": best, "dask_cold": cold,
            "runs_per_s": {k: GRID_RUNS / v for k, v in best.items()},
            "dask_vs_local": best["local"] / best["dask"]}


def stream(tmp: Path, env: dict, runs: int, split=SPLIT, n_samples: int = 4) -> dict:
    cluster = start_cluster()
    try:
        workers = worker_pids(cluster.scheduler_address)
        argv = command(tmp, "stream", random_grid(runs), "--executor", "dask", "--scheduler",
                       cluster.scheduler_address, split=split)
        started = time.perf_counter()
        errors = tmp / "stream.err"
        with errors.open("w") as sink:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=sink)
        samples, marks = [], [(i + 1) / n_samples for i in range(n_samples)]
        db = tmp / "stream.db"
        while proc.poll() is None and marks:
            count = stored(db)
            if count >= marks[0] * runs:
                mark = marks.pop(0)
                sample = {"progress": mark, "stored": count,
                          "seconds": round(time.perf_counter() - started, 1),
                          "client": memory(proc.pid)}
                sample |= {f"worker {i + 1}": memory(pid)
                           for i, pid in enumerate(workers.values())}
                sample["scheduler"] = memory(os.getpid())
                samples.append(sample)
            time.sleep(0.5)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            raise SystemExit(f"the streamed search failed:\n{errors.read_text()}")
        final = {f"worker {i + 1}": memory(pid) for i, pid in enumerate(workers.values())}
    finally:
        cluster.close()
    return {"runs": runs, "wall_s": wall, "runs_per_s": runs / wall, "samples": samples,
            "client_peak_at_exit": usage.ru_maxrss * 1024, "workers_at_exit": final,
            "stored": stored(db)}


def mb(value: int) -> str:
    return f"{value / 1e6:,.0f} MB"


def print_throughput(t: dict, rounds: int) -> None:
    print(f"throughput, {t['runs']:,}-run grid (best of {rounds}):")
    for kind in ("local", "dask"):
        print(f"  {kind:5} {t['best'][kind]:6.2f} s  {t['runs_per_s'][kind]:9,.0f} runs/s")
    print(f"  dask / local: {t['dask_vs_local']:.2f}x (first search on new workers: "
          f"{t['dask_cold']:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--grid-rounds", type=int, default=2)
    parser.add_argument("--skip-throughput", action="store_true", help="only the stream")
    parser.add_argument("--window", choices=["long", "short"], default="long",
                        help="the stream's split: 1999-2018, or 2012-2014 (cheap runs)")
    parser.add_argument("--samples", type=int, default=4, help="the stream's memory samples")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otonom-bench-dask-") as name:
        tmp = Path(name)
        os.environ["NUMBA_CACHE_DIR"] = str(tmp / "numba")  # the clusters' workers inherit it
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("OTONOM_DB", None)
        timed(command(tmp, "warmup", {**GRID, "risk.stop_loss_pct": [1.0]}), env)
        result = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}"
                             f", {os.cpu_count()} CPUs, Python {platform.python_version()}",
                  "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                  "throughput": (None if args.skip_throughput else
                                 throughput(tmp, env, args.grid_rounds)),
                  "stream": stream(tmp, env, args.runs,
                                   SHORT_SPLIT if args.window == "short" else SPLIT,
                                   args.samples)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t, s = result["throughput"], result["stream"]
    print(f"{result['machine']}; {result['date']}")
    if t is not None:
        print_throughput(t, args.grid_rounds)
    print(f"stream, {s['runs']:,}-run random search on 2 workers: {s['wall_s']:.1f} s, "
          f"{s['runs_per_s']:,.0f} runs/s, {s['stored']:,} stored")
    for sample in s["samples"]:
        parts = [f"{who} {mb(value[0])} (peak {mb(value[1])})" for who, value in sample.items()
                 if isinstance(value, tuple)]
        print(f"  {sample['progress']:4.0%} at {sample['seconds']:6.1f} s: " + "; ".join(parts))
    print(f"  client peak at exit (outputs read back): {mb(s['client_peak_at_exit'])}")


if __name__ == "__main__":
    main()
