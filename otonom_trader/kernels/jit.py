"""``njit`` for the kernels: numba's, with the compiled cache in a folder named after a hash
of the kernels' sources.

numba does not notice when a cached kernel calls a changed kernel from another file
(``grid_nb`` inlines ``simulate_nb``), so a shared cache could keep serving old code and old
numbers. The folder is chosen when the first kernel is defined, not when the package is
imported, so commands that compute nothing never load numba.
"""

import hashlib
import os
from pathlib import Path

import numba

_configured: list[str] = []  # the cache folder, once set


def cache_dir() -> Path:
    """``$NUMBA_CACHE_DIR`` (else ``$XDG_CACHE_HOME``, else ``~/.cache``)
    ``/otonom/numba-<hash of kernels/*.py>``."""
    sources = sorted(Path(__file__).parent.glob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    base = os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "otonom" / f"numba-{digest}"


def njit(*args, **kwargs):
    """``numba.njit``, after pointing numba's cache at ``cache_dir()`` (once)."""
    if not _configured:
        _configured.append(str(cache_dir()))
        numba.config.CACHE_DIR = _configured[0]
    return numba.njit(*args, **kwargs)


def set_threads(workers: int) -> None:
    """Run parallel kernels on ``workers`` threads (at most numba's thread count)."""
    numba.set_num_threads(min(workers, numba.config.NUMBA_NUM_THREADS))
