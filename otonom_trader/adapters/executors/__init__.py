"""Where a search's chunks are evaluated: in this process (``local``) or on a dask.distributed
cluster (``dask``). Both take an evaluator (``evaluate(run_numbers, values) -> result``) and
the chunks, and yield each chunk's result; the caller stores them (by run number, so the
order they arrive in does not matter)."""

from __future__ import annotations

import os

from otonom_trader.domain.errors import InputError

EXECUTORS = ("local", "dask")
SCHEDULER_ENV = "OTONOM_SCHEDULER"


def open_executor(kind: str = "local", scheduler: str | None = None):
    """The executor ``kind``; ``dask`` connects to ``scheduler`` (else ``$OTONOM_SCHEDULER``)."""
    if kind == "local":
        from otonom_trader.adapters.executors.local import LocalExecutor

        return LocalExecutor()
    if kind != "dask":
        raise InputError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {kind!r}")
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if not address:
        raise InputError(f"--executor dask needs --scheduler tcp://HOST:PORT (or {SCHEDULER_ENV})"
                         "; or run with --executor local")
    from otonom_trader.adapters.executors.dask_cluster import DaskExecutor

    return DaskExecutor.connect(address)
