"""The package layers: commands that compute nothing load no numba (nor pandas or plotly),
and the domain's metric names are the kernels' metric slots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otonom_trader.domain import metrics
from otonom_trader.kernels import enums

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "pandas", "plotly")
PROBE = """
import sys
from otonom_trader.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("LOADED", code, *[m for m in {heavy!r} if m in sys.modules], file=sys.stderr)
"""


def loaded(*argv: str, heavy: tuple[str, ...] = HEAVY) -> tuple[int, list[str]]:
    """Run ``otonom argv`` in a fresh interpreter: (exit code, heavy modules it imported)."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=heavy), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED ")]
    assert line, proc.stderr
    _, code, *heavy = line[-1].split()
    return int(code), heavy


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["validate", "--help"],
    ["strategy", "validate", "strategies/sma_cross.yaml", "strategies/baseline_v1.yaml"],
    ["experiments", "list", "--db", "sqlite:///{tmp}/store.db"],
    ["experiments", "--help"],
])
def test_commands_that_compute_nothing_load_no_numba_pandas_or_plotly(argv, tmp_path):
    code, heavy = loaded(*(a.format(tmp=tmp_path) for a in argv))
    assert code == 0
    assert heavy == []


def test_experiments_list_reads_rows_without_numpy_or_the_orm(tmp_path):
    """`experiments list` is one query over the experiments' own counters."""
    code, heavy = loaded("experiments", "list", "--db", f"sqlite:///{tmp_path}/store.db",
                         heavy=("numpy", "sqlalchemy.orm"))
    assert code == 0 and heavy == []


def test_importing_the_kernel_enums_and_metric_names_loads_no_numba():
    code = ("import sys, otonom_trader.kernels, otonom_trader.kernels.enums, "
            "otonom_trader.domain.metrics; print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == "False"


def test_the_domain_metric_names_are_the_kernel_slots():
    assert metrics.METRIC_NAMES == enums.METRIC_NAMES
    slots = {name: getattr(enums, f"M_{name.upper()}") for name in metrics.METRIC_NAMES}
    assert list(slots.values()) == list(range(enums.N_METRICS))
    vector = [float(i) for i in range(enums.N_METRICS)]
    public = metrics.public_metrics(vector)
    for key, slot, scale in metrics.PUBLIC_METRICS:
        assert public[key] == slots[slot] * scale + 0.0
