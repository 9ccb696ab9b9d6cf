"""Numba kernels on plain arrays (the only package that imports numba).

Their compiled cache lives in a folder named after a hash of these sources: numba does not
notice when a cached kernel calls a changed kernel from another file (``grid_nb`` inlines
``simulate_nb``), so a shared cache could keep serving old code and old numbers.
"""

import hashlib
import os
from pathlib import Path

import numba


def _cache_dir() -> Path:
    sources = sorted(Path(__file__).parent.glob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    base = os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "otonom" / f"numba-{digest}"


numba.config.CACHE_DIR = str(_cache_dir())
