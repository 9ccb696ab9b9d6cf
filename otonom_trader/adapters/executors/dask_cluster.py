"""The dask executor: chunks of a search evaluated on a dask.distributed cluster.

The evaluator (bars, prepared arrays, strategy, split, precomputed analyst scores) goes to
every worker once, in a worker plugin: the scheduler hands it to each worker, a replacement
for a lost one included, and the worker keeps it under a token. Each task is one chunk (the
token and its runs), at most a few per worker thread in flight, so memory does not grow with
the number of runs; results come back with ``as_completed`` in whatever order they finish.
Tasks are pure functions of their chunk: dask re-runs the chunks of a lost worker, and each
chunk's result arrives exactly once.

A task names its runs as ranges of run numbers and the worker draws their values itself
(``Combinations.chunk_of``, shipped in the plugin too) whenever their numbers fix them (a
random search, an unconstrained grid): dask keeps the last messages of each connection (the
client's to the scheduler, the scheduler's to each worker: ``distributed.admin.
low-level-log-length``, 1,000 by default), so a task that carried its chunk's values (~40
bytes per run) would keep ~300 kB per 8,192-run chunk alive in the client and the scheduler
until a thousand chunks had passed.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from distributed import WorkerPlugin

from otonom_trader.domain.errors import InputError, RunError

CONNECT_SECONDS = 10.0  # to reach the scheduler, and for a first worker to be there
IN_FLIGHT_PER_THREAD = 2  # chunks queued per worker thread: enough to keep every worker busy
_one_chunk_at_a_time = threading.Lock()  # per worker process: the evaluator's caches, numba
_evaluators: dict[str, tuple] = {}  # on a worker: token -> (evaluator, combinations) its
# plugin brought


def code_identity() -> tuple[str, str]:
    """(``otonom_trader.__version__``, a hash of the package's sources): what a worker must
    share with the client for its runs to equal local ones."""
    import otonom_trader

    root = Path(otonom_trader.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return otonom_trader.__version__, digest.hexdigest()[:16]


class EvaluatorPlugin(WorkerPlugin):
    """Brings one search's evaluator (and its combinations, when the runs' numbers fix their
    values) to each worker (and to any that joins later)."""

    def __init__(self, token: str, evaluator, combinations=None):
        self.token, self.evaluator, self.combinations = token, evaluator, combinations

    def setup(self, worker) -> None:
        _evaluators[self.token] = (self.evaluator, self.combinations)

    def teardown(self, worker) -> None:
        _evaluators.pop(self.token, None)


def run_ranges(runs: np.ndarray) -> list[tuple[int, int]]:
    """Ascending run numbers as ``(first, last)`` ranges: a fresh chunk is one range."""
    if not len(runs):
        return []
    cut = np.flatnonzero(np.diff(runs) != 1) + 1
    firsts, lasts = runs[np.r_[0, cut]], runs[np.r_[cut - 1, len(runs) - 1]]
    return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]


def _evaluate(token: str, run_numbers, values):
    """On a worker: one chunk's result, and the evaluator's notes so far. ``values`` None:
    ``run_numbers`` are ranges, the values are drawn here."""
    evaluator, combinations = _evaluators[token]
    if values is None:
        runs = np.concatenate([np.arange(a, b + 1, dtype=np.int64) for a, b in run_numbers]
                              or [np.empty(0, np.int64)])
        chunk = combinations.chunk_of(runs)
        run_numbers, values = chunk.run_numbers, chunk.values
    with _one_chunk_at_a_time:
        return evaluator.evaluate(run_numbers, values), evaluator.notes


class DaskExecutor:
    name = "dask"

    def __init__(self, client, address: str):
        self.client, self.address = client, address
        self.notes: list[str] = []  # the workers' notes (e.g. a missing news file)

    @classmethod
    def connect(cls, address: str, timeout: float | None = None) -> DaskExecutor:
        """A client of the scheduler at ``address`` whose workers run this very otonom."""
        from distributed import Client

        timeout = timeout or CONNECT_SECONDS
        fallback = "or run with --executor local"
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"--scheduler {address}: no dask scheduler answered within "
                             f"{timeout:g} s ({reason[:160]}): start one (`dask scheduler`) "
                             f"or fix the address, {fallback}") from None
        try:
            cls._check_workers(client, address, timeout, fallback)
        except BaseException:
            client.close()
            raise
        return cls(client, address)

    @staticmethod
    def _check_workers(client, address: str, timeout: float, fallback: str) -> None:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise InputError(f"--scheduler {address}: no dask worker joined within "
                             f"{timeout:g} s: start some (`dask worker {address}`), "
                             f"{fallback}") from None
        version, digest = code_identity()
        found = client.run(code_identity, on_error="return")
        for worker, identity in sorted(found.items()):
            if isinstance(identity, BaseException):  # the scheduler wraps the worker's error
                text = str(identity).splitlines()[0] if str(identity) else ""
                missing = re.search(r"No module named '[^']+'", text)
                reason = missing.group(0) if missing else f"{type(identity).__name__}: {text}"
                raise InputError(f"dask worker {worker} cannot import otonom_trader "
                                 f"({reason[:160]}): install otonom-trader=={version} on every "
                                 f"worker, {fallback}")
            if tuple(identity) != (version, digest):
                theirs = (f"otonom-trader {identity[0]}" if identity[0] != version else
                          f"other otonom-trader {version} sources ({identity[1]})")
                raise InputError(f"dask worker {worker} runs {theirs}, this client "
                                 f"otonom-trader {version} ({digest}): install the same version "
                                 f"on every worker, {fallback}")

    @staticmethod
    def needs_values(combinations) -> bool:
        """Whether ``map`` needs the chunks' values: not when the workers draw them."""
        return not combinations.numbered

    def map(self, evaluator, chunks: Iterable, combinations=None) -> Iterator:
        """``evaluator.evaluate`` of each chunk on the cluster, in the order they finish.
        ``combinations`` (the chunks' ``Combinations``): the tasks send run ranges only when
        their numbers fix the values."""
        from distributed import as_completed

        token = f"otonom-evaluator-{uuid.uuid4().hex}"
        if combinations is not None and self.needs_values(combinations):
            combinations = None
        self.client.register_plugin(EvaluatorPlugin(token, evaluator, combinations), name=token)
        threads = sum(self.client.nthreads().values())
        limit = max(2, IN_FLIGHT_PER_THREAD * threads)
        chunks = iter(chunks)

        def submit(chunk):
            first = int(chunk.run_numbers[0]) if len(chunk.run_numbers) else 0
            runs, values = ((run_ranges(chunk.run_numbers), None) if combinations is not None
                            else (chunk.run_numbers, chunk.values))
            return self.client.submit(_evaluate, token, runs, values,
                                      key=f"otonom-chunk-{first}-{token[17:]}", pure=False)

        running = as_completed([submit(c) for c in itertools.islice(chunks, limit)],
                               loop=self.client.loop)
        try:
            for future in running:
                result, notes = self._result(future)
                self.notes.extend(n for n in notes if n not in self.notes)
                following = next(chunks, None)
                if following is not None:
                    running.add(submit(following))
                yield result
        finally:
            left = list(running.futures)  # stopped early (Ctrl-C, an error): drop the rest
            running.clear()
            if left:
                self.client.cancel(left)
            self.client.unregister_worker_plugin(token)

    @staticmethod
    def _result(future):
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            raise RunError(f"the dask workers died while evaluating a chunk ({exc}); the "
                           "stored runs are kept: resume with the same command") from None
        finally:
            future.release()

    def close(self) -> None:
        self.client.close()
