"""The numba cache is keyed by the kernels' sources: a changed step in simulate.py (inlined
into the cached ``grid_nb`` of grid.py) or a changed struct in enums.py gets a new cache
folder, so an old compiled grid kernel is never served with new code."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import otonom_trader

KERNELS = Path(otonom_trader.__file__).parent / "kernels"
PACKAGE = KERNELS.parent


def cache_dir_of(kernels: Path) -> Path:
    """``cache_dir()`` of the ``jit.py`` in ``kernels`` (hashing that folder's sources)."""
    spec = importlib.util.spec_from_file_location(f"jit_copy_{id(kernels)}", kernels / "jit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cache_dir()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(("name", "old", "new"), [
    ("simulate.py", "exit_px = level * (1.0 - p.slippage * pos.side)",
     "exit_px = level * (1.0 - 2.0 * p.slippage * pos.side)"),
    ("simulate.py", "if low_t <= pos.sl_px:", "if low_t < pos.sl_px:"),
    ("enums.py", "EXIT_TAKE_PROFIT = 2", "EXIT_TAKE_PROFIT = 5"),
    ("grid.py", "for w in range(2):", "for w in range(1):"),
])
def test_a_changed_kernel_file_gets_a_new_cache_folder(tmp_path, name, old, new):
    copy = tmp_path / "kernels"
    shutil.copytree(KERNELS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    same = cache_dir_of(copy)
    assert same == cache_dir_of(KERNELS)  # same sources: the compiled kernels are reused
    edit(copy / name, old, new)
    assert cache_dir_of(copy) != same


GRID_RUN = """
import numpy as np
from otonom_trader.kernels.enums import N_METRICS, BLOCK_FIELDS
from otonom_trader.kernels.grid import grid_nb
from tests.helpers import random_bars

bars = random_bars(300, 3)
o, h, lo, c = (bars[k].to_numpy() for k in ("Open", "High", "Low", "Close"))
score = np.sign(np.sin(np.arange(300) / 4.0))
params = np.array([[0.0, 0.0, 1.0, 0.03, 0.06, 0.001, 0.002, 1.0, 1.0, 1e4, 0.0]])
train, test = np.empty((1, N_METRICS)), np.empty((1, N_METRICS))
grid_nb(o, h, lo, c, np.ones(300), score[None, :], np.zeros(1, np.int64), params,
        np.array([[10, 150], [151, 299]]), np.array([0.5, 0.5]), 252.0,
        np.full(300, -1, np.int64), train, test, np.zeros((1, 1, BLOCK_FIELDS)))
print(repr(float(train[0, 0])), repr(float(test[0, 0])))
"""


@pytest.mark.slow
def test_the_cached_grid_kernel_follows_a_changed_step_in_simulate(tmp_path):
    """End to end: grid_nb compiled and cached, then a step of simulate.py changes; with the
    same cache root the next process must run the new step (compiles twice: slow)."""
    root = tmp_path / "tree"
    shutil.copytree(PACKAGE, root / "otonom_trader",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACKAGE.parent / "tests", root / "tests",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def run(tree: Path = root, **extra: str) -> str:
        return subprocess.run([sys.executable, "-c", GRID_RUN], cwd=tree,
                              env={**env, "PYTHONPATH": str(tree), **extra}, check=True,
                              capture_output=True, text=True, timeout=600).stdout

    before = run()
    assert run() == before  # served from the cache
    # Another checkout of the same sources (a clone, a DVC temporary workspace) loads the
    # kernels this one compiled instead of compiling them again.
    other = tmp_path / "other checkout"
    shutil.copytree(root, other, ignore=shutil.ignore_patterns("__pycache__"))
    debug = run(other, NUMBA_DEBUG_CACHE="1")
    assert "data loaded from" in debug and "data saved to" not in debug, debug
    assert debug.splitlines()[-1] == before.strip()
    edit(root / "otonom_trader" / "kernels" / "simulate.py",
         "fee = pos.units * exit_px * p.fee", "fee = 3.0 * pos.units * exit_px * p.fee")
    assert run() != before
