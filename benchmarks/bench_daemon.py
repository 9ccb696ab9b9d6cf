"""Daemon throughput and memory: a shadow replay of daily SPX bars through `otonom daemon`'s
tick (git follow, engine decision, paper fills, journal) for three strategies.

    .venv/bin/python benchmarks/bench_daemon.py                      # 20 years (1999-2018)
    .venv/bin/python benchmarks/bench_daemon.py --from 2016-01-01    # a shorter replay

A temporary git repository holds baseline_v1, sma_cross and a third strategy (baseline_v1
with entry_threshold 0.3), all in shadow; the journal is a SQLite file. One tick decides one
new bar for each strategy: the engine's ``backtest()`` is run over the whole history up to
that bar (the daemon has no second copy of the rules), so a tick costs more as history
grows. Reported: ticks per second over the replay, and the process's resident memory
(VmRSS) sampled every 250 ticks (steady state = its range over the second half).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def repo(tmp: Path) -> Path:
    path = tmp / "repo"
    (path / "strategies").mkdir(parents=True)
    (path / "deployments").mkdir()
    for name in ("baseline_v1", "sma_cross"):
        shutil.copy(ROOT / "strategies" / f"{name}.yaml", path / "strategies" / f"{name}.yaml")
    text = (ROOT / "strategies" / "baseline_v1.yaml").read_text()
    (path / "strategies" / "baseline_v1_t3.yaml").write_text(
        text.replace("name: baseline_v1", "name: baseline_v1_t3")
        .replace("entry_threshold: 0.2", "entry_threshold: 0.3"))
    entries = [{"name": n, "path": f"strategies/{n}.yaml", "stage": "shadow", "capital_pct": 0}
               for n in ("baseline_v1", "sma_cross", "baseline_v1_t3")]
    (path / "deployments" / "production.yaml").write_text(
        yaml.safe_dump({"capital": 30_000, "strategies": entries}))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="start", default="1999-03-01")
    ap.add_argument("--to", dest="end", default="2018-12-31")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from otonom_trader.app.production.daemon import DaemonConfig
    from otonom_trader.app.production.run import run_daemon

    samples: list[tuple[int, float]] = []

    def on_tick(n, _report):
        if n % 250 == 0:
            samples.append((n, rss_mb()))

    with tempfile.TemporaryDirectory() as tmp:
        root = repo(Path(tmp))
        cfg = DaemonConfig(root=root, feed=f"replay:SPX:{args.start}:{args.end}",
                           journal_url=f"sqlite:///{tmp}/journal.db")
        began, cpu = time.perf_counter(), time.process_time()
        ticks = run_daemon(cfg, speed=0, on_tick=on_tick)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    half = [m for n, m in samples if n >= ticks / 2] or [rss_mb()]
    out = {"replay": f"SPX {args.start} → {args.end}", "strategies": 3, "ticks": ticks,
           "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
           "ticks_per_second": round(ticks / seconds, 2),
           "ticks_per_cpu_second": round(ticks / cpu, 2),
           "steady_rss_mb": [round(min(half), 1), round(max(half), 1)],
           "rss_samples_mb": [(n, round(m, 1)) for n, m in samples]}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['replay']}, 3 strategies: {ticks} ticks in {seconds:.1f} s = "
              f"{out['ticks_per_second']} ticks/s ({out['ticks_per_cpu_second']} per CPU "
              f"second); steady-state RSS "
              f"{out['steady_rss_mb'][0]}–{out['steady_rss_mb'][1]} MB")


if __name__ == "__main__":
    main()
