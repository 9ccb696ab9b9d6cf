"""Start-to-exit times of the commands a user waits for, each in a new process.

    .venv/bin/python benchmarks/bench_commands.py --db sqlite:///DIR/store.db --exp 1
    .venv/bin/python benchmarks/bench_commands.py --db ... --exp 1 --json --repeat 5

``--db``/``--exp`` name a store holding a finished 160,000-run experiment (bench_grid.py's
``big`` grid; build one with ``otonom experiments grid-search``). Commands and targets
(issue 11): ``otonom --help``; ``experiments list`` ≤ 0.3 s; ``strategy validate`` ≤ 0.5 s;
a single ``backtest`` (sma_cross on SPX) ≤ 0.8 s; ``experiments show`` ≤ 1 s. Every command
runs once untimed (page cache, numba cache), then the commands take turns for ``--repeat``
rounds and the best wall time of each is kept; the 1-minute load average is recorded
before each round, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import machine  # noqa: E402

TARGETS = {"help": None, "list": 0.3, "strategy validate": 0.5, "backtest": 0.8, "show": 1.0}


def commands(db: str, exp: int) -> dict[str, list[str]]:
    return {
        "help": ["--help"],
        "list": ["experiments", "list", "--db", db],
        "strategy validate": ["strategy", "validate", "strategies/sma_cross.yaml"],
        "backtest": ["backtest", "--strategy-path", "strategies/sma_cross.yaml", "--symbol",
                     "SPX"],
        "show": ["experiments", "show", str(exp), "--db", db],
    }


def once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "otonom_trader.cli", *argv], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"exit {proc.returncode}: otonom {' '.join(argv)}\n{proc.stderr}")
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="store URL holding the 160,000-run experiment")
    ap.add_argument("--exp", type=int, default=1, help="its experiment ID")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds")
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    opts = ap.parse_args(argv)
    cmds = commands(opts.db, opts.exp)
    for args in cmds.values():
        once(args)  # warm-up
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    loads = []
    for _ in range(opts.repeat):
        loads.append(os.getloadavg()[0])
        for name, args in cmds.items():
            walls[name].append(once(args))
    results = {name: {"best_s": min(w), "median_s": sorted(w)[len(w) // 2], "runs_s": w,
                      "target_s": TARGETS[name],
                      "verdict": (None if TARGETS[name] is None else
                                  "PASS" if min(w) <= TARGETS[name] else "MISS")}
               for name, w in walls.items()}
    out = {"benchmark": "otonom commands, start to exit",
           "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine(), "load_avg_1m_per_round": loads, "repeat": opts.repeat,
           "commands": {name: "otonom " + " ".join(args) for name, args in cmds.items()},
           "results": results}
    if opts.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"commands, start to exit — {out['date']}; load average per round: "
          + ", ".join(f"{x:.1f}" for x in loads))
    for name, r in results.items():
        target = "" if r["target_s"] is None else f"  target ≤ {r['target_s']} s: {r['verdict']}"
        print(f"{name:<18} best {r['best_s']:.3f} s  median {r['median_s']:.3f} s{target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
