"""``njit`` for the kernels: numba's, with the compiled cache in a folder named after a hash
of the kernels' sources.

numba does not notice when a cached kernel calls a changed kernel from another file
(``grid_nb`` inlines ``simulate_nb``), so a shared cache could keep serving old code and old
numbers. The folder is chosen when the first kernel is defined, not when the package is
imported, so commands that compute nothing never load numba. Every checkout of the same
sources shares it (``KernelCacheLocator``): a clone, a worktree or a DVC experiment's
temporary workspace loads the kernels another one compiled.
"""

import hashlib
import os
from pathlib import Path

import numba
from numba.core import caching

_configured: list[str] = []  # the cache folder, once set
_KERNELS = Path(__file__).resolve().parent


class KernelCacheLocator(caching.UserProvidedCacheLocator):
    """numba's locator for a kernel's cache files, in ``cache_dir()`` itself: numba's own
    puts them in a subfolder named after the absolute path of the checkout, so each clone,
    worktree or DVC temporary workspace compiled the kernels again (tens of seconds). The
    folder's name already pins the sources, and numba checks each file's content hash."""

    @classmethod
    def get_suitable_cache_subpath(cls, py_file):
        return "kernels"

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != _KERNELS:  # another library's function
            return None
        return super().from_function(py_func, py_file)


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
        defaults = getattr(getattr(caching, "CacheImpl", None), "_locator_classes", None)
        if defaults and getattr(numba.config, "CACHE_LOCATOR_CLASSES", "x") == "":  # numba
            numba.config.CACHE_LOCATOR_CLASSES = ",".join(  # ≥ 0.68, unless the user chose
                [f"{__name__}.KernelCacheLocator", *(c.__name__ for c in defaults)])
    return numba.njit(*args, **kwargs)


def set_threads(workers: int) -> None:
    """Run parallel kernels on ``workers`` threads (at most numba's thread count)."""
    numba.set_num_threads(min(workers, numba.config.NUMBA_NUM_THREADS))
