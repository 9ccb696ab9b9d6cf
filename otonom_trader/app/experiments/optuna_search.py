"""Optuna search: trials asked in batches, evaluated together by the kernels, stored as runs.

One objective (the selection rule's metric) is searched by TPE, two or more (``objectives``,
see domain/objectives.py) by NSGA-II, always on the TRAIN window: the test window stays out of
sample, as for grid and random search, so the selection on test that follows is not the thing
the sampler optimised. Optuna's study lives in the store's own database (its RDB storage on
the same SQLAlchemy URL, the experiment's name as the study name). Every trial is a run in
the store (run number = trial number + 1), so the DSR counts all of them.

Exact resume: each ask uses a fresh sampler seeded from (seed, trial number), so the next
trial is a pure function of the stored history; a study killed mid-batch first completes the
batch in flight (its missing asks, then the runs not stored yet, then the tells, with stored
runs told their stored values), so its history equals an uninterrupted one's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from otonom_trader.adapters.store import ExperimentStore, RunBatch, share_sqlite_settings
from otonom_trader.domain.combinations import _array, _dtype
from otonom_trader.domain.grid import Distribution, GridSpec
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.objectives import direction, search_value

BATCH = 16  # trials asked before any of them is told: one kernel call evaluates them together
# Batches end on multiples of BATCH (trial numbers), so the batch in flight at a kill is known.


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


def sampler(seed: int, number: int, multi: bool):
    """The sampler that asks trial ``number``: TPE, or NSGA-II for several objectives, seeded
    from (``seed``, ``number``) so no RNG state has to survive a kill."""
    import optuna

    state = int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
    if multi:
        return optuna.samplers.NSGAIISampler(seed=state)
    return optuna.samplers.TPESampler(seed=state)


def open_study(store: ExperimentStore, name: str, seed: int, objectives: tuple[str, ...]):
    """The experiment's study in the store's database, created or loaded (a resume)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = store.engine.url.render_as_string(hide_password=False)
    # The store's Alembic table already holds the store's revision, not Optuna's: Optuna's
    # own tables are created by it (create_all) and its schema check is skipped.
    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=True)
    share_sqlite_settings(storage.engine)
    return optuna.create_study(study_name=name, storage=storage,
                               sampler=sampler(seed, 0, len(objectives) > 1),
                               directions=[direction(k) for k in objectives],
                               load_if_exists=True)


def close_study(study) -> None:
    storage = study._storage
    storage = getattr(storage, "_backend", storage)  # a cached storage wraps the RDB one
    storage.remove_session()
    storage.engine.dispose()


def optuna_batches(study, evaluator, spec: GridSpec, objectives: tuple[str, ...], total: int,
                   stored_runs: Callable[[], Any],
                   write: Callable[[RunBatch], None]) -> Iterator[RunBatch]:
    """Ask, evaluate, store, tell, batch by batch, until the study has ``total`` trials.

    ``stored_runs()``: the experiment's runs frame, read only when a batch was in flight at a
    kill (its stored runs are told their stored values)."""
    from optuna.trial import TrialState

    seed, multi = spec.seed, len(objectives) > 1
    dists = distributions(spec)
    dtypes = {p: _dtype(p, v) for p, v in spec.parameters.items()}

    def ask(number: int):
        study.sampler = sampler(seed, number, multi)
        return study.ask(dists)

    def complete(trial):
        """A trial asked in flight: its parameters (a kill mid-ask may have left some out)."""
        if set(trial.params) == set(dists):
            return trial
        import optuna

        study.sampler = sampler(seed, trial.number, multi)
        live = optuna.trial.Trial(study, trial._trial_id)
        for path, dist in dists.items():
            live._suggest(path, dist)  # what study.ask(dists) does for each parameter
        return study._storage.get_trial(trial._trial_id)

    def run(trials: list) -> RunBatch:
        runs = np.array([t.number + 1 for t in trials], dtype=np.int64)
        values = {p: _array([t.params[p] for t in trials], dtypes[p]) for p in dists}
        result = evaluator.evaluate(runs, values)
        batch = RunBatch(result.run_numbers, result.params, result.status, result.errors,
                         result.train, result.test, result.blocks)
        write(batch)  # stored before told: a kill before the tells tells them on resume
        return batch

    def tell(trial, status: str, train: dict[str, float]) -> None:
        values = [search_value(k, float(train[k])) for k in objectives]
        if status == "done" and all(np.isfinite(values)):
            study.tell(trial.number, values if multi else values[0])
        else:
            study.tell(trial.number, state=TrialState.FAIL)

    def tell_batch(batch: RunBatch, trials: list) -> None:
        columns = [METRIC_KEYS.index(k) for k in objectives]
        for trial, status, row in zip(trials, batch.status, batch.train[:, columns],
                                      strict=True):
            tell(trial, status, dict(zip(objectives, row, strict=True)))

    trials = study.get_trials(deepcopy=False)
    running = [complete(t) for t in trials if t.state == TrialState.RUNNING]
    number = len(trials)
    if running:  # the batch in flight at a kill: finish it as an uninterrupted run would
        end = min((running[0].number // BATCH + 1) * BATCH, total)
        while number < end:
            running.append(ask(number))
            number += 1
        frame = stored_runs().set_index("run_number")
        missing = [t for t in running if t.number + 1 not in frame.index]
        batch = run(missing) if missing else None
        told = {t.number: t for t in missing}
        for trial in running:
            if trial.number in told:
                continue
            row = frame.loc[trial.number + 1]
            tell(trial, row["status"], {k: row[f"train_{k}"] for k in objectives})
        if batch is not None:
            tell_batch(batch, missing)
            yield batch
    while number < total:
        trials = [ask(n) for n in range(number, min((number // BATCH + 1) * BATCH, total))]
        batch = run(trials)
        tell_batch(batch, trials)
        number += len(trials)
        yield batch
