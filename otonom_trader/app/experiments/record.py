"""The experiment record a promoted strategy's overfitting evidence is checked against.

``otonom validate`` takes the DSR's number of trials and Sharpe variance, and the PBO, from
the experiment itself, never from the strategy file under review: from the experiment store
when it holds the experiment, else from ``experiments/<name>/metrics.json`` committed with
the promotion.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otonom_trader.domain.errors import InputError, OtonomError
from otonom_trader.domain.names import check_name, inside

OUTPUTS_DIR = "experiments"


class MissingRecord(Exception):
    """No experiment record could be found or read (the message says where it looked)."""


@dataclass(frozen=True)
class Record:
    n_trials: int
    sharpe_variance: float
    source: str  # where it came from, for the report
    pbo: float | None = None  # the experiment's PBO; None when it has none (undefined)

    def matches(self, n_trials: Any, sharpe_variance: Any) -> bool:
        """Whether a file's claimed figures equal the record's (the variance to 1e-12)."""
        if isinstance(n_trials, bool) or n_trials != self.n_trials:
            return False
        if isinstance(sharpe_variance, bool) or not isinstance(sharpe_variance, int | float):
            return False
        return math.isclose(sharpe_variance, self.sharpe_variance, rel_tol=1e-12, abs_tol=0.0)


def _identity(meta: Mapping[str, Any]) -> tuple[int, str]:
    exp = meta.get("experiment")
    if not isinstance(exp, Mapping):
        raise MissingRecord("`metadata.experiment` is missing")
    exp_id, name = exp.get("id"), exp.get("name")
    if isinstance(exp_id, bool) or not isinstance(exp_id, int):
        raise MissingRecord(f"`metadata.experiment.id`: expected an integer, got {exp_id!r}")
    try:
        check_name(name, "`metadata.experiment.name`")
    except InputError as exc:
        raise MissingRecord(str(exc)) from None
    return exp_id, name


def _from_store(exp_id: int, name: str, fingerprint: Any, db_url: str | None) -> Record | None:
    """The store's record, when a store was named (``--db``/``OTONOM_DB``) or the default
    store file exists and holds this experiment under this name and data."""
    from otonom_trader.adapters.store import DEFAULT_URL, ExperimentStore
    from otonom_trader.app.experiments.refine import chain_runs
    from otonom_trader.engine.selection import trial_stats

    url = db_url or os.environ.get("OTONOM_DB")
    if url is None and not Path(DEFAULT_URL.removeprefix("sqlite:///")).is_file():
        return None
    try:
        with ExperimentStore(url) as store:
            info = store.get(exp_id)
            if info.name != name or info.data_fingerprint != fingerprint:
                return None
            n_trials, variance = trial_stats(store.runs_frame(exp_id), info.periods_per_year,
                                             chain_runs(store, info))
            pbo = _store_pbo(store, exp_id)
    except OtonomError:
        return None
    if variance is None:
        raise MissingRecord(f"experiment #{exp_id} in the store has fewer than 2 done runs "
                            "with a test Sharpe")
    return Record(n_trials, variance, f"experiment store, experiment #{exp_id}", pbo)


def _store_pbo(store, exp_id: int) -> float | None:
    """The PBO the store's snapshot keeps, else computed from the block statistics."""
    from otonom_trader.engine.overfitting import pbo_with_notes

    snapshot = store.load_snapshot(exp_id)
    if snapshot is not None:
        value = (snapshot.pbo or {}).get("pbo")
    else:
        result, _ = pbo_with_notes(store.block_stats(exp_id)[1])
        value = None if result is None else float(result.pbo)
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def dvc_record_path(name: str, dvc_name: str) -> str:
    """Where ``promote --dvc-exp`` commits the DVC experiment's metrics.json (the pipeline's
    own ``experiments/<name>/metrics.json`` is main's experiment, not this one)."""
    return f"{OUTPUTS_DIR}/{name}/dvc_exps/{dvc_name}/metrics.json"


def _from_outputs(exp_id: int, name: str, fingerprint: Any, root: Path,
                  rel: str | None = None) -> Record:
    rel = rel or f"{OUTPUTS_DIR}/{name}/metrics.json"
    try:
        path = inside(root, rel, "experiment record")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (InputError, OSError, UnicodeDecodeError, ValueError):
        raise MissingRecord(f"no experiment record: the store does not hold experiment "
                            f"#{exp_id} ({name}) and {rel} is missing or unreadable; commit "
                            "it with the promotion") from None
    exp = data.get("experiment") if isinstance(data, dict) else None
    over = data.get("overfitting") if isinstance(data, dict) else None
    if not isinstance(exp, dict) or exp.get("id") != exp_id or exp.get("name") != name:
        raise MissingRecord(f"{rel} is not the record of experiment #{exp_id} ({name})")
    if exp.get("data_fingerprint") != fingerprint:
        raise MissingRecord(f"{rel} records other data than `metadata.data_fingerprint`")
    n_trials = over.get("n_trials") if isinstance(over, dict) else None
    variance = over.get("sharpe_variance") if isinstance(over, dict) else None
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1 \
            or isinstance(variance, bool) or not isinstance(variance, int | float) \
            or not math.isfinite(variance) or variance < 0:
        raise MissingRecord(f"{rel} has no `overfitting.n_trials` / `overfitting."
                            "sharpe_variance`; regenerate it with `otonom experiments export`")
    pbo = over.get("pbo")
    pbo = float(pbo) if isinstance(pbo, int | float) and not isinstance(pbo, bool) \
        and math.isfinite(pbo) else None
    return Record(n_trials, float(variance), rel, pbo)


def find_record(meta: Mapping[str, Any], db_url: str | None = None,
                root: str | Path = ".") -> Record:
    """The record of the experiment ``meta`` (a promoted file's metadata) was promoted from;
    :class:`MissingRecord` says why there is none."""
    exp_id, name = _identity(meta)
    fingerprint = meta.get("data_fingerprint")
    dvc = meta.get("dvc_experiment")
    if isinstance(dvc, Mapping):  # promoted from a DVC experiment: its own committed record
        try:
            rel = dvc_record_path(name, check_name(dvc.get("name"),
                                                   "`metadata.dvc_experiment.name`"))
        except InputError as exc:
            raise MissingRecord(str(exc)) from None
        record = _from_store(exp_id, name, fingerprint, db_url) if db_url else None
        return record or _from_outputs(exp_id, name, fingerprint, Path(root), rel)
    record = _from_store(exp_id, name, fingerprint, db_url)
    return record or _from_outputs(exp_id, name, fingerprint, Path(root))
