"""The README's dask example: a grid search on a LocalCluster of 2 worker processes.

    .venv/bin/python examples/dask_local_cluster.py [--db URL]

Starts the cluster on 127.0.0.1, runs the baseline grid (48 runs) with ``--executor dask``
against it, then stops the cluster. Against a real cluster, run the same ``otonom`` command
with ``--scheduler tcp://HOST:8786`` instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        print(f"LocalCluster: scheduler {cluster.scheduler_address}, 2 workers")
        return subprocess.run(
            [sys.executable, "-m", "otonom_trader.cli", "experiments", "grid-search",
             "--name", "baseline_v1_grid_dask", "--strategy-path", "strategies/baseline_v1.yaml",
             "--grid-path", "grids/baseline_grid.yaml",
             "--train-start", "2000-01-01", "--train-end", "2009-12-31",
             "--test-start", "2010-01-01", "--test-end", "2014-12-31",
             "--executor", "dask", "--scheduler", cluster.scheduler_address, *argv],
            cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
