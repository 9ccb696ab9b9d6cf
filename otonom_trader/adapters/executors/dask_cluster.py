"""The dask executor: chunks of a search evaluated on a dask.distributed cluster.

The evaluator (bars, prepared arrays, strategy, split, precomputed analyst scores) goes to
every worker once, in a worker plugin: the scheduler hands it to each worker, a replacement
for a lost one included, and the worker keeps it under a token. Each task is one chunk (the
token, run numbers and values), at most a few per worker thread in flight, so memory does
not grow with the number of runs; results come back with ``as_completed`` in whatever order
they finish. Tasks are pure functions of their chunk: dask re-runs the chunks of a lost
worker, and each chunk's result arrives exactly once.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from distributed import WorkerPlugin

from otonom_trader.domain.errors import InputError, RunError

CONNECT_SECONDS = 10.0  # to reach the scheduler, and for a first worker to be there
IN_FLIGHT_PER_THREAD = 2  # chunks queued per worker thread: enough to keep every worker busy
_one_chunk_at_a_time = threading.Lock()  # per worker process: the evaluator's caches, numba
_evaluators: dict[str, object] = {}  # on a worker: token -> the evaluator its plugin brought


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
    """Brings one search's evaluator to each worker (and to any that joins later)."""

    def __init__(self, token: str, evaluator):
        self.token, self.evaluator = token, evaluator

    def setup(self, worker) -> None:
        _evaluators[self.token] = self.evaluator

    def teardown(self, worker) -> None:
        _evaluators.pop(self.token, None)


def _evaluate(token: str, run_numbers, values):
    """On a worker: one chunk's result, and the evaluator's notes so far."""
    evaluator = _evaluators[token]
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

    def map(self, evaluator, chunks: Iterable) -> Iterator:
        """``evaluator.evaluate`` of each chunk on the cluster, in the order they finish."""
        from distributed import as_completed

        token = f"otonom-evaluator-{uuid.uuid4().hex}"
        self.client.register_plugin(EvaluatorPlugin(token, evaluator), name=token)
        threads = sum(self.client.nthreads().values())
        limit = max(2, IN_FLIGHT_PER_THREAD * threads)
        chunks = iter(chunks)

        def submit(chunk):
            first = int(chunk.run_numbers[0]) if len(chunk.run_numbers) else 0
            return self.client.submit(_evaluate, token, chunk.run_numbers, chunk.values,
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
