"""Optuna TPE search: trials asked in batches, evaluated together by the kernels, stored as runs.

The objective is the selection rule's metric on the TRAIN window (maximised): the test window
stays out of sample, as for grid and random search, so the selection on test that follows is
not the thing the sampler optimised. Optuna's study lives in the store's own database (its
RDB storage on the same SQLAlchemy URL, the experiment's name as the study name), so a killed
search resumes its study. Every trial is a run in the store, so the DSR counts all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from otonom_trader.adapters.store import ExperimentStore, RunBatch
from otonom_trader.domain.combinations import _array, _dtype
from otonom_trader.domain.grid import Distribution, GridSpec
from otonom_trader.domain.metrics import METRIC_KEYS

BATCH = 16  # trials asked before any of them is told: one kernel call evaluates them together


def distributions(spec: GridSpec) -> dict[str, Any]:
    """Each grid parameter as an Optuna distribution (a list is a categorical choice)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for path, param in spec.parameters.items():
        if not isinstance(param, Distribution):
            out[path] = CategoricalDistribution(list(param))
        elif param.kind == "choice":
            out[path] = CategoricalDistribution(list(param.choices))
        elif param.kind == "int":
            high = param.low + (param.count - 1) * param.step  # on the step, as Optuna wants
            out[path] = IntDistribution(param.low, high, step=param.step)
        else:
            out[path] = FloatDistribution(param.low, param.high,
                                          log=param.kind == "loguniform")
    return out


def open_study(store: ExperimentStore, name: str, seed: int):
    """The experiment's study in the store's database, created or loaded (a resume)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = store.engine.url.render_as_string(hide_password=False)
    # The store's Alembic table already holds the store's revision, not Optuna's: Optuna's
    # own tables are created by it (create_all) and its schema check is skipped.
    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True)
    sampler = optuna.samplers.TPESampler(seed=seed)
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                               direction="maximize", load_if_exists=True)


def close_study(study) -> None:
    storage = study._storage
    storage = getattr(storage, "_backend", storage)  # a cached storage wraps the RDB one
    storage.remove_session()
    storage.engine.dispose()


def optuna_batches(study, evaluator, spec: GridSpec, metric: str, total: int,
                   done_before: np.ndarray,
                   write: Callable[[RunBatch], None]) -> Iterator[RunBatch]:
    """Ask, evaluate, store, tell, batch by batch, until ``total`` runs are stored.

    A trial asked but never told (the process was killed) is told failed on resume; its run,
    if it was stored, stays a run (and counts toward ``total``)."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
    dists = distributions(spec)
    dtypes = {p: _dtype(p, v) for p, v in spec.parameters.items()}
    column = METRIC_KEYS.index(metric)
    count = len(done_before)
    next_run = int(done_before.max()) + 1 if count else 1
    while count < total:
        n = min(BATCH, total - count)
        trials = [study.ask(dists) for _ in range(n)]
        runs = np.arange(next_run, next_run + n, dtype=np.int64)
        values = {p: _array([t.params[p] for t in trials], dtypes[p]) for p in dists}
        result = evaluator.evaluate(runs, values)
        batch = RunBatch(result.run_numbers, result.params, result.status, result.errors,
                         result.train, result.test, result.blocks)
        write(batch)  # stored before told: a kill before the tell fails them on resume
        for trial, status, value in zip(trials, result.status, result.train[:, column],
                                        strict=True):
            if status == "done" and np.isfinite(value):
                study.tell(trial, float(value))
            else:
                study.tell(trial, state=TrialState.FAIL)
        count, next_run = count + n, next_run + n
        yield batch
