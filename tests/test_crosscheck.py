"""Our engine against backtesting.py's native run (benchmarks/crosscheck.py, quick mode)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_backtesting_py_agrees_or_differs_only_where_documented():
    out = subprocess.run(
        [sys.executable, "benchmarks/crosscheck.py", "--quick", "--peer", "backtesting",
         "--json"], capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    peer = json.loads(out.stdout)["peers"]["backtesting.py"]
    assert peer["unexplained"] == 0
    assert peer["agree"] >= 0.9 * peer["cases"]
    assert all(v <= 1e-6 for v in peer["max_rel_agreeing"].values())
