"""Grid search end to end: ``otonom experiments grid-search`` timed as a whole command.

    .venv/bin/python benchmarks/bench_grid.py                   # table
    .venv/bin/python benchmarks/bench_grid.py --json            # machine-readable
    .venv/bin/python benchmarks/bench_grid.py --skip-vectorbt   # no vectorbt comparison
    .venv/bin/python benchmarks/bench_grid.py --repeat 5        # best of 5 (default 3)

Three workloads, all on the bundled SPX daily bars (5,031 bars, 1999-01-04 → 2018-12-31):

1. ``big``: strategies/sma_cross.yaml × fast 2..80 step 2 (40) × slow 85..280 step 5 (40) ×
   stop-loss 1..10 % (10) × take-profit 2..20 % step 2 (10) = 160,000 combinations, train
   1999-01-01..2013-12-31, test 2014-01-01..2018-12-31. Targets: ≤ 6 s wall, ≤ 1 GB
   (10^9 bytes) peak RSS.
2. ``engine``: the engine benchmark's 6,400 combinations (the values are imported from
   bench_engine.py) with the same split, through the command; the same grid through the
   package's ``GridEvaluator`` in a process of its own (engine alone: scores + kernel, no
   store, no outputs); and vectorbt's ``Portfolio.from_signals`` + ``sharpe_ratio()`` for
   the same 6,400 combinations in one broadcast run over the whole history.
3. ``baseline``: the seed's 48-run grid, grids/baseline_grid.yaml over
   strategies/baseline_v1.yaml, train 2008–2015, test 2016–2018 (the ``make demo`` command).

Every command runs as ``python -m otonom_trader.cli experiments grid-search ... --db
sqlite:///<tmp>/store.db --outputs-dir <tmp>/experiments`` from the repository root, with a
fresh temporary directory per run and the default thread count (all cores). The
wall time runs from process start to exit: imports, data loading, every run persisted,
outputs written. Peak RSS and CPU time come from ``os.wait4`` on that one child, so no other
child's peak can leak in. After each command (outside the timing) the store is opened with
sqlite3 and must hold exactly the expected number of ``done`` runs.

Every child gets ``NUMBA_CACHE_DIR`` set to one temporary directory for the whole benchmark,
so nothing is written into the repository and the kernels are compiled from the current
source: numba re-uses a cached ``grid_nb`` as long as ``kernels/grid.py`` is unchanged, even
when ``simulate_nb`` (in ``kernels/simulate.py``) changed since. A warm-up round, one untimed
run of each command (some kernels are only reached above a grid size), fills that cache and
the page cache first. The commands then take turns, ``--repeat`` rounds, and each reports its
best wall time and the spread. The in-process parts run in a child process of their own
(``--child``), warm-up first, best of ``--repeat``. The machine may be shared:
``--wait-idle S`` waits (up to S seconds) for idle CPUs before each measurement, and the
idle share and load average before each command are recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_engine import FAST, SL_PCT, SLOW, TP_PCT, machine  # noqa: E402

PY = sys.executable
SYMBOL = "SPX"
SMA = "strategies/sma_cross.yaml"
SPLIT = ("1999-01-01", "2013-12-31", "2014-01-01", "2018-12-31")
BIG_GRID = {
    "analysts.tech.fast_window": {"int": [2, 80, 2]},
    "analysts.tech.slow_window": {"int": [85, 280, 5]},
    "risk.stop_loss_pct": {"int": [1, 10]},
    "risk.take_profit_pct": {"int": [2, 20, 2]},
}
ENGINE_GRID = {  # bench_engine.py's 6,400 combinations
    "analysts.tech.fast_window": list(FAST),
    "analysts.tech.slow_window": list(SLOW),
    "risk.stop_loss_pct": list(SL_PCT),
    "risk.take_profit_pct": list(TP_PCT),
}
BASELINE = {
    "strategy": "strategies/baseline_v1.yaml",
    "grid": "grids/baseline_grid.yaml",
    "split": ("2008-01-01", "2015-12-31", "2016-01-01", "2018-12-31"),
    "runs": 48,
}
TARGET_S = 6.0
TARGET_RSS = 1e9  # bytes
CHUNK_SIZE = 8192  # the command's default


# ------------------------------------------------------------------ the command, timed


def command(name: str, strategy: str, grid: str, split: tuple, tmp: Path) -> list[str]:
    train_start, train_end, test_start, test_end = split
    return [PY, "-m", "otonom_trader.cli", "experiments", "grid-search", "--name", name,
            "--strategy-path", strategy, "--grid-path", grid,
            "--train-start", train_start, "--train-end", train_end,
            "--test-start", test_start, "--test-end", test_end,
            "--db", f"sqlite:///{tmp}/store.db", "--outputs-dir", str(tmp / "experiments")]


WAIT_IDLE_S = 0.0  # --wait-idle


def idle_fraction(seconds: float = 1.0) -> float:
    """Share of all CPUs' time spent idle over ``seconds`` (from /proc/stat; 1.0 = idle)."""
    def sample() -> tuple[int, int]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except (OSError, ValueError):
            return 0, 0
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total
    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return (idle1 - idle0) / (total1 - total0) if total1 > total0 else float("nan")


def wait_idle() -> float:
    """With --wait-idle S: wait (at most S seconds) until the CPUs are at least 90 % idle
    over one second, since the machine is shared. Returns the last idle fraction."""
    deadline = time.monotonic() + WAIT_IDLE_S
    idle = idle_fraction()
    while idle < 0.9 and time.monotonic() < deadline:
        idle = idle_fraction()
    return idle


def run_child(argv: list[str], out_dir: Path, env: dict) -> dict:
    """Run ``argv`` from the repository root; wall time from spawn to exit, and the child's
    own peak RSS and CPU time from ``os.wait4`` (only this child, nothing else)."""
    idle = wait_idle()
    load = os.getloadavg()[0]
    with open(out_dir / "stdout.txt", "wb") as out, open(out_dir / "stderr.txt", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stdout = (out_dir / "stdout.txt").read_text(errors="replace")
    if proc.returncode != 0:
        stderr = (out_dir / "stderr.txt").read_text(errors="replace")
        raise SystemExit(f"exit {proc.returncode}: {' '.join(argv)}\n{stdout}\n{stderr}")
    inner = re.search(r"^Time: ([0-9.]+)s$", stdout, re.MULTILINE)
    return {
        "wall_s": wall,
        "peak_rss_bytes": usage.ru_maxrss * 1024,  # Linux: kilobytes
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "search_s": float(inner.group(1)) if inner else None,  # the command's own "Time:"
        "load_avg_1m_before": load,
        "idle_before": idle,  # CPU idle fraction over the second before the start
        "stdout": stdout,
    }


def stored_runs(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        runs = dict(conn.execute(
            "SELECT status, COUNT(*) FROM experiment_runs GROUP BY status").fetchall())
        experiments = conn.execute("SELECT status, total_runs FROM experiments").fetchall()
    conn.close()
    return {"runs": runs, "experiments": experiments}


def grid_command(label: str, strategy: str, grid: dict | str, split: tuple, expected: int,
                 env: dict) -> dict:
    """One command in a fresh temporary directory, checked against the store afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench_grid_") as tmp_name:
        tmp = Path(tmp_name)
        if isinstance(grid, dict):
            grid_path = tmp / "grid.yaml"
            grid_path.write_text(yaml.safe_dump(grid, sort_keys=False))
            grid = str(grid_path)
        result = run_child(command(label, strategy, grid, split, tmp), tmp, env)
        stored = stored_runs(tmp / "store.db")
        if stored["runs"] != {"done": expected} or stored["experiments"] != [("done", expected)]:
            raise SystemExit(f"{label}: the store holds {stored}, expected {expected:,} done runs")
        result["stored_done"] = stored["runs"]["done"]
        result["db_bytes"] = (tmp / "store.db").stat().st_size
        del result["stdout"]
    return result


# ------------------------------------------------------------------ in-process children


def child_engine(repeat: int) -> dict:
    """GridEvaluator alone, as the command drives it: chunks of 8,192 from Combinations."""
    from otonom_trader.domain.combinations import Combinations
    from otonom_trader.domain.grid import grid_from_mapping
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.data import load_bars
    from otonom_trader.engine.grid import GridEvaluator, resolve_split

    strategy = load_strategy(ROOT / SMA)
    bars = load_bars(SYMBOL, ROOT / "data")
    split = resolve_split(bars.index, SYMBOL, *SPLIT)

    def evaluate(evaluator, combos) -> int:
        done = 0
        for chunk in combos.chunks(CHUNK_SIZE):
            result = evaluator.evaluate(chunk.run_numbers, chunk.values)
            done += result.status.count("done")
        return done

    out = {}
    for label, mapping in (("engine", ENGINE_GRID), ("big", BIG_GRID)):
        spec = grid_from_mapping(mapping, strategy, source="<bench_grid>")
        combos = Combinations(spec, strategy)
        fresh, cached = [], []
        for i in range(repeat + 1):  # run 0 is the warm-up
            t0 = time.perf_counter()
            evaluator = GridEvaluator(strategy, bars, symbol=SYMBOL, split=split,
                                      paths=list(spec.parameters), data_dir=ROOT / "data")
            done = evaluate(evaluator, combos)
            t1 = time.perf_counter()
            evaluate(evaluator, combos)  # again: the analyst scores are now cached
            t2 = time.perf_counter()
            if done != combos.total:
                raise SystemExit(f"engine {label}: {done} of {combos.total} runs done")
            if i:
                fresh.append(t1 - t0)
                cached.append(t2 - t1)
        out[label] = {"combinations": combos.total, "fresh_s": fresh, "cached_s": cached}
    return out


def child_vectorbt(repeat: int) -> dict:
    """The 6,400 combinations in one vectorbt run: 100 (fast, slow) signal columns, each
    repeated for the 64 (SL, TP) pairs, stops broadcast as one row of 6,400 values."""
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    from otonom_trader.engine.data import load_bars

    bars = load_bars(SYMBOL, ROOT / "data")
    vbt.settings.returns["year_freq"] = "252 days"  # with freq 1 day: 252 bars a year
    pairs = list(product(FAST, SLOW))
    stops = list(product(SL_PCT, TP_PCT))
    columns = pd.MultiIndex.from_tuples(
        [(f, s, sl, tp) for f, s in pairs for sl, tp in stops],
        names=["fast", "slow", "sl_pct", "tp_pct"])
    sl = np.array([[sl / 100.0 for _ in pairs for sl, _ in stops]])
    tp = np.array([[tp / 100.0 for _ in pairs for _, tp in stops]])

    def run():
        t0 = time.perf_counter()
        close = bars["Close"]
        fast = {w: close.rolling(w).mean().to_numpy() for w in FAST}
        slow = {w: close.rolling(w).mean().to_numpy() for w in SLOW}
        n, k = len(close), len(stops)
        entries = np.zeros((n, len(pairs) * k), dtype=bool)
        exits = np.zeros_like(entries)
        for j, (f, s) in enumerate(pairs):
            a, b = fast[f], slow[s]
            up = (a[:-1] < b[:-1]) & (a[1:] > b[1:])  # crossing at the close of bar t + 1
            down = (a[:-1] > b[:-1]) & (a[1:] < b[1:])
            # executed at the next bar's open: a crossing at the close of t → row t + 1
            entries[2:, j * k:(j + 1) * k] = up[:-1, None]
            exits[2:, j * k:(j + 1) * k] = down[:-1, None]
        entries = pd.DataFrame(entries, index=close.index, columns=columns)
        exits = pd.DataFrame(exits, index=close.index, columns=columns)
        t1 = time.perf_counter()
        pf = vbt.Portfolio.from_signals(
            close=close, entries=entries, exits=exits, price=bars["Open"], open=bars["Open"],
            high=bars["High"], low=bars["Low"], size=1.0, size_type="percent",
            direction="longonly", sl_stop=sl, tp_stop=tp, stop_entry_price="fillprice",
            stop_exit_price="stopmarket", accumulate=False, freq="1D")
        t2 = time.perf_counter()
        sharpe = pf.sharpe_ratio()
        t3 = time.perf_counter()
        if sharpe.shape != (len(columns),):
            raise SystemExit(f"vectorbt: {sharpe.shape} Sharpe ratios, expected {len(columns)}")
        return (t3 - t0, t1 - t0, t2 - t1, t3 - t2), int(np.isfinite(sharpe).sum())

    runs = []
    for i in range(repeat + 1):  # run 0 is the warm-up (numba compile or cache load)
        times, finite = run()
        if i:
            runs.append(times)
    best = min(runs)
    return {"combinations": len(columns), "bars": len(bars), "total_s": [r[0] for r in runs],
            "best": dict(zip(("total_s", "signals_s", "from_signals_s", "sharpe_s"), best,
                             strict=True)),
            "finite_sharpe": finite, "vectorbt": vbt.__version__}


def in_child(kind: str, repeat: int, env: dict) -> dict:
    """Run ``--child kind`` in a process of its own: its results plus its peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench_grid_") as tmp_name:
        result = run_child([PY, str(Path(__file__).resolve()), "--child", kind,
                            "--repeat", str(repeat)], Path(tmp_name), env)
    out = json.loads(result["stdout"])
    out["process_peak_rss_bytes"] = result["peak_rss_bytes"]
    out["process_wall_s"] = result["wall_s"]
    return out


# ------------------------------------------------------------------ driver


def code_state() -> dict:
    """The commit, and the package files that differ from it (read-only git calls)."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "--no-optional-locks", *args], cwd=ROOT,
                                 capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    changed = git("status", "--porcelain", "--", "otonom_trader")
    return {"commit": commit,
            "package_changes": None if changed is None else changed.splitlines()}


def summary(runs: list[dict]) -> dict:
    walls = [r["wall_s"] for r in runs]
    best = min(runs, key=lambda r: r["wall_s"])
    return {"best_wall_s": best["wall_s"], "walls_s": walls,
            "spread_s": max(walls) - min(walls),
            "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
            "best_run": best, "runs": runs}


def measure(opts, env: dict, log) -> tuple:
    """Warm-up, the commands in turns, then the in-process children."""
    big_n = 40 * 40 * 10 * 10
    engine_n = len(FAST) * len(SLOW) * len(SL_PCT) * len(TP_PCT)
    base = BASELINE

    log("warm-up: one untimed run of each command")
    warmup = {
        "big": grid_command("big", SMA, BIG_GRID, SPLIT, big_n, env)["wall_s"],
        "engine": grid_command("engine", SMA, ENGINE_GRID, SPLIT, engine_n, env)["wall_s"],
        "baseline": grid_command("baseline", base["strategy"], base["grid"], base["split"],
                                 base["runs"], env)["wall_s"],
    }

    cmd_runs: dict[str, list[dict]] = {"big": [], "engine": [], "baseline": []}
    for r in range(opts.repeat):
        log(f"round {r + 1}/{opts.repeat}: 160,000, 6,400 and 48 combinations")
        cmd_runs["big"].append(grid_command("big", SMA, BIG_GRID, SPLIT, big_n, env))
        cmd_runs["engine"].append(grid_command("engine", SMA, ENGINE_GRID, SPLIT, engine_n, env))
        cmd_runs["baseline"].append(grid_command("baseline", base["strategy"], base["grid"],
                                                 base["split"], base["runs"], env))
    commands = {k: summary(v) for k, v in cmd_runs.items()}
    for k, n in (("big", big_n), ("engine", engine_n), ("baseline", base["runs"])):
        commands[k]["combinations"] = n
        commands[k]["combos_per_s"] = n / commands[k]["best_wall_s"]

    log("engine alone (GridEvaluator, own process)")
    engine = in_child("engine", opts.repeat, env)
    for v in engine.values():
        if isinstance(v, dict):
            v["best_fresh_s"], v["best_cached_s"] = min(v["fresh_s"]), min(v["cached_s"])
            v["combos_per_s"] = v["combinations"] / v["best_fresh_s"]
    vectorbt = None
    if not opts.skip_vectorbt:
        log("vectorbt (own process)")
        vectorbt = in_child("vectorbt", opts.repeat, env)
        vectorbt["combos_per_s"] = vectorbt["combinations"] / vectorbt["best"]["total_s"]

    return warmup, commands, engine, vectorbt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    ap.add_argument("--skip-vectorbt", action="store_true", help="no vectorbt comparison")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each measurement")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                    help="before each measurement wait up to S seconds for idle CPUs")
    ap.add_argument("--child", choices=["engine", "vectorbt"], help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.repeat < 1:
        ap.error("--repeat must be at least 1")
    if opts.child:
        fn = child_engine if opts.child == "engine" else child_vectorbt
        print(json.dumps(fn(opts.repeat)))
        return 0

    global WAIT_IDLE_S
    WAIT_IDLE_S = opts.wait_idle

    import numba

    host = machine()
    host["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    code = code_state()
    log = (lambda *_: None) if opts.json else (lambda msg: print(msg, file=sys.stderr,
                                                                 flush=True))
    # A numba cache of its own: compiled from the current source by the warm-up, never stale
    # (a cached kernel is not recompiled when only a function it calls, in another file,
    # changed), and nothing is written into the repository's __pycache__.
    with tempfile.TemporaryDirectory(prefix="bench_grid_numba_") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        warmup, commands, engine, vectorbt = measure(opts, env, log)

    big = commands["big"]
    out = {
        "benchmark": "otonom experiments grid-search end to end, SPX daily",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/bench_grid.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "machine": host,
        "code": code,
        "repeat": opts.repeat,
        "warmup_s": warmup,
        "commands": commands,
        "targets": {
            "wall_s": TARGET_S, "peak_rss_bytes": TARGET_RSS,
            "wall": "PASS" if big["best_wall_s"] <= TARGET_S else "MISS",
            "rss": "PASS" if big["peak_rss_bytes"] <= TARGET_RSS else "MISS",
        },
        "engine_alone": engine,
        "vectorbt": vectorbt,
    }
    if vectorbt:
        out["ratios"] = {
            "command_vs_vectorbt": commands["engine"]["combos_per_s"] / vectorbt["combos_per_s"],
            "engine_vs_vectorbt": engine["engine"]["combos_per_s"] / vectorbt["combos_per_s"],
        }
    if opts.json:
        print(json.dumps(out, indent=2))
        return 0
    report(out)
    return 0


def report(out: dict) -> None:
    m, c, t = out["machine"], out["commands"], out["targets"]
    gb = 1e9
    print(f"grid search end to end — {out['date']}")
    print(f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable, "
          f"numba {m['numba_threads']} threads); {m['platform']}")
    print(f"python {m['python']}, numpy {m['numpy']}, numba {m['numba']}; 1-min load average "
          f"before the run {m['load_avg_1m_before']:.2f}")
    code = out["code"]
    if code["commit"] is None:
        print(f"code: {ROOT} (not a git checkout)")
    else:
        changes = code["package_changes"]
        print(f"code: commit {code['commit'][:10]}"
              + (f" + {len(changes)} changed/untracked package files" if changes else
                 ", package clean"))
    w = out["warmup_s"]
    print(f"warm-up (empty numba cache, one untimed run of each command): 160k "
          f"{w['big']:.1f} s, 6,400 {w['engine']:.1f} s, 48 {w['baseline']:.1f} s")
    print(f"each command: best of {out['repeat']} (whole process, spawn to exit, every run "
          "stored); peak RSS = max over the runs\n")
    print(f"{'command':<34}{'combos':>9}{'best s':>8}{'spread s':>10}{'search s':>10}"
          f"{'CPU s':>7}{'combos/s':>10}{'peak RSS':>10}")
    names = {"big": "sma_cross 160k, train+test", "engine": "sma_cross 6,400, train+test",
             "baseline": "baseline_v1 48 (make demo)"}
    for key, label in names.items():
        s = c[key]
        b = s["best_run"]
        print(f"{label:<34}{s['combinations']:>9,}{s['best_wall_s']:>8.2f}{s['spread_s']:>10.2f}"
              f"{b['search_s']:>10.2f}{b['cpu_s']:>7.1f}{s['combos_per_s']:>10,.0f}"
              f"{s['peak_rss_bytes'] / gb:>7.2f} GB")
    print(f"('search s' is the command's own 'Time:' line: evaluation + store writes; walls "
          f"160k {', '.join(f'{w:.2f}' for w in c['big']['walls_s'])}; CPU idle before them "
          f"{', '.join(format(r['idle_before'], '.0%') for r in c['big']['runs'])})")
    print(f"\n160,000 combinations: wall {c['big']['best_wall_s']:.2f} s vs target "
          f"{t['wall_s']:.0f} s: {t['wall']}; peak RSS {c['big']['peak_rss_bytes'] / gb:.2f} GB"
          f" vs target {t['peak_rss_bytes'] / gb:.1f} GB: {t['rss']}; store verified "
          f"{c['big']['best_run']['stored_done']:,} done runs")

    e = out["engine_alone"]
    print(f"\nengine alone (GridEvaluator.evaluate in chunks of {CHUNK_SIZE:,}, no store; own "
          f"process, peak RSS {e['process_peak_rss_bytes'] / gb:.2f} GB)")
    print(f"{'grid':<34}{'combos':>9}{'fresh s':>9}{'cached s':>10}{'combos/s':>10}")
    for key in ("engine", "big"):
        v = e[key]
        print(f"{names[key]:<34}{v['combinations']:>9,}{v['best_fresh_s']:>9.3f}"
              f"{v['best_cached_s']:>10.3f}{v['combos_per_s']:>10,.0f}")
    print("('fresh' = new evaluator: analyst scores + kernel; 'cached' = the same evaluator "
          "again, scores cached)")

    v = out["vectorbt"]
    if v:
        b = v["best"]
        print(f"\nvectorbt {v['vectorbt']}: {v['combinations']:,} combinations in one "
              f"from_signals run over {v['bars']:,} bars, best of {out['repeat']}")
        print(f"  signals {b['signals_s']:.2f} s + from_signals {b['from_signals_s']:.2f} s + "
              f"sharpe_ratio {b['sharpe_s']:.2f} s = {b['total_s']:.2f} s "
              f"({v['combos_per_s']:,.0f} combos/s; runs "
              f"{', '.join(f'{x:.2f}' for x in v['total_s'])}); own process peak RSS "
              f"{v['process_peak_rss_bytes'] / gb:.2f} GB; {v['finite_sharpe']:,} finite")
        r = out["ratios"]
        print(f"  ours, whole command: {c['engine']['combos_per_s']:,.0f} combos/s = "
              f"{r['command_vs_vectorbt']:.1f}× vectorbt; engine alone: "
              f"{e['engine']['combos_per_s']:,.0f} combos/s = {r['engine_vs_vectorbt']:.1f}×")


if __name__ == "__main__":
    sys.exit(main())
