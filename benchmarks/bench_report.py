"""`experiments show` and its HTML report on a 160,000-run experiment.

    .venv/bin/python benchmarks/bench_report.py                      # build in a temp dir
    .venv/bin/python benchmarks/bench_report.py --store DIR          # build once, then reuse
    .venv/bin/python benchmarks/bench_report.py --store DIR --json   # machine-readable

The experiment is the sma_cross grid on SPX: fast 2..80 step 2 (40) × slow 85..280 step 5
(40) × stop-loss 1..10 % (10) × take-profit 2..20 % step 2 (10) = 160,000 runs, train
1999-01-01..2013-12-31, test 2014-01-01..2018-12-31, made with the real CLI
(``otonom experiments grid-search``) into ``DIR/store.db`` unless that store already holds it.

Timed, each best of ``--repeat`` (3) after one warm-up run (numba caches compiled):

- ``otonom experiments show 1`` as a fresh process (wall clock, Python start-up included),
  and the same with ``--export html``;
- ``show_experiment()`` in process, split into its parts: reading the runs, the analysis
  (top runs, parameter importance), the best run's re-run + DSR, reading the block statistics
  and PBO (CSCV over C(16, 8) = 12,870 splits);
- ``pbo_cscv()`` alone on the 160,000 × 16 block statistics;
- the HTML export alone (re-running the best run over train start..test end and building the
  page), with the file size.

Targets: show ≤ 1 s, HTML export ≤ 10 s and ≤ 15 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otonom_trader.adapters.store import ExperimentStore  # noqa: E402
from otonom_trader.app.experiments.show import export_report, show_experiment  # noqa: E402
from otonom_trader.engine.overfitting import pbo_cscv  # noqa: E402

NAME = "bench_report_160k"
GRID = """\
analysts.tech.fast_window: {int: [2, 80, 2]}
analysts.tech.slow_window: {int: [85, 280, 5]}
risk.stop_loss_pct: {int: [1, 10]}
risk.take_profit_pct: {int: [2, 20, 2]}
"""
SPLIT = ["--train-start", "1999-01-01", "--train-end", "2013-12-31",
         "--test-start", "2014-01-01", "--test-end", "2018-12-31"]
RUNS = 160_000


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "otonom_trader.cli", *args]


def build(folder: Path, db: str) -> tuple[int, float | None]:
    """The experiment's ID, and the grid search's wall time when it had to be built."""
    with ExperimentStore(db) as store:
        found = store.find_by_name(NAME)
        if found is not None and found.status == "done":
            return found.id, None
    grid = folder / "grid.yaml"
    grid.write_text(GRID)
    t = time.perf_counter()
    subprocess.run(cli("experiments", "grid-search", "--name", NAME, "--strategy-path",
                       str(ROOT / "strategies" / "sma_cross.yaml"), "--grid-path", str(grid),
                       *SPLIT, "--db", db, "--outputs-dir", str(folder / "experiments")),
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t
    with ExperimentStore(db) as store:
        return store.find_by_name(NAME).id, elapsed


def best_of(repeat: int, fn):
    """(best seconds, last result) after one untimed warm-up call."""
    result = fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def run_process(*args: str) -> None:
    subprocess.run(cli(*args), cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="Folder of the store (built there if missing).")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.store or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = f"sqlite:///{folder.resolve()}/store.db"
        exp_id, built = build(folder, db)
        store = ExperimentStore(db)
        out: dict = {"experiment_id": exp_id, "runs": store.get(exp_id).total_runs,
                     "grid_search_s": built}

        out["cli_show_s"], _ = best_of(args.repeat, lambda: run_process(
            "experiments", "show", str(exp_id), "--db", db))
        html_path = folder / "experiment_report.html"
        out["cli_show_export_html_s"], _ = best_of(args.repeat, lambda: run_process(
            "experiments", "show", str(exp_id), "--db", db, "--export", "html", "--output",
            str(html_path)))

        parts: dict[str, list[float]] = {}

        def show_once():
            report = show_experiment(store, exp_id)
            for key, value in report.timings.items():
                parts.setdefault(key, []).append(value)
            return report

        out["show_experiment_s"], report = best_of(args.repeat, show_once)
        out["show_parts_s"] = {k: min(v[1:]) for k, v in parts.items()}  # warm-up excluded

        _, blocks = store.block_stats(exp_id)
        out["pbo_s"], pbo = best_of(args.repeat, lambda: pbo_cscv(blocks))
        out["pbo"] = pbo.pbo
        out["block_stats_shape"] = list(blocks.shape)

        html_parts: dict[str, list[float]] = {}

        def export_once():
            path = export_report(report, "html", html_path, ROOT / "data")
            for key in ("best_curve", "html"):
                html_parts.setdefault(key, []).append(report.timings[key])
            return path

        out["export_html_s"], path = best_of(args.repeat, export_once)
        out["export_html_parts_s"] = {k: min(v[1:]) for k, v in html_parts.items()}
        out["html_bytes"] = path.stat().st_size
        out["warnings"] = list(report.overfitting.warnings)
        store.close()

    out["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                      "date": dt.date.today().isoformat(),
                      "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    built_text = "reused" if built is None else f"built in {built:.1f} s"
    print(f"Experiment {exp_id}: {out['runs']:,} runs ({built_text})")
    print(f"otonom experiments show (process, wall)      {out['cli_show_s']:8.2f} s")
    print(f"otonom experiments show --export html         {out['cli_show_export_html_s']:8.2f} s")
    print(f"show_experiment() in process                  {out['show_experiment_s']:8.2f} s")
    for key, value in out["show_parts_s"].items():
        print(f"  {key:<44}{value:8.3f} s")
    print(f"pbo_cscv() alone ({blocks.shape[0]:,} × {blocks.shape[1]} blocks)"
          f"{'':>6}{out['pbo_s']:8.2f} s   PBO = {out['pbo']:.3f}")
    print(f"HTML export alone                             {out['export_html_s']:8.2f} s")
    for key, value in out["export_html_parts_s"].items():
        print(f"  {key:<44}{value:8.3f} s")
    print(f"HTML size                                     {out['html_bytes'] / 2**20:8.2f} MB")
    print(f"1-minute load average before/after: {out['machine']['load_average_1m']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
