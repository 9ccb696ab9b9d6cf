"""Use case: a grid search run with ``--cv cpcv``. Its settings are checked against the data
before any run and stored in the experiment's ``search`` JSON (``search["cv"]``); once the
search finishes, the CPCV of its selection procedure (``engine.cpcv``, over the runs' stored
block statistics) goes into metrics.json and the store's snapshot, where ``experiments show``
and the HTML report read it without recomputing.

The embargo is given in calendar days and kept in whole blocks of the ``N_BLOCKS`` stored
ones: a block spans 1/N_BLOCKS of train start → test end, and the embargo is rounded up to
the blocks it touches (``engine.cpcv`` then drops every fold within that many blocks of a test
fold from training)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from otonom_trader.domain.cv import FLAGS, KEYS, cv_settings
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.json_text import finite

FLAT = (("cpcv_sharpe_mean", "mean"), ("cpcv_sharpe_std", "std"),
        ("cpcv_share_below_zero", "share_below_zero"))


def resumed_cv(flags: Mapping[str, Any], existing) -> dict | None:
    """A resumed experiment's stored CPCV settings; flags that differ from them are refused."""
    stored = (existing.search or {}).get("cv")
    for key in KEYS:
        value = flags.get(key)
        if value is not None and (stored is None or stored.get(key) != value):
            was = "no --cv" if stored is None else f"{FLAGS[key]} {stored.get(key)}"
            raise InputError(f"{FLAGS[key]} {value}: experiment '{existing.name}' (ID: "
                             f"{existing.id}) was started with {was}; resume it without the "
                             "flag, choose another --name, or cross-validate it with "
                             f"`otonom experiments cpcv {existing.id}`")
    return stored


def new_cv(flags: Mapping[str, Any], spec):
    """The ``domain.cv.CVSettings`` of a new search (flags over the grid file's ``cv:``), or
    None; ``check_cv`` checks them against the data."""
    return cv_settings(flags, spec.raw.get("cv"), str(spec.source or "grid"))


def check_cv(settings, strategy, spec, bars, windows, symbol: str, data_dir: str) -> dict:
    """Refuse folds the stored blocks cannot form, folds too short for the indicators and an
    embargo that leaves no training fold; the settings to store, embargo in blocks."""
    from otonom_trader.engine.cpcv import cpcv
    from otonom_trader.engine.grid import N_BLOCKS, block_map, warmup_bars

    names, folds = settings.names, settings.folds
    if folds > N_BLOCKS or N_BLOCKS % folds:
        divisors = [d for d in range(2, N_BLOCKS + 1) if N_BLOCKS % d == 0]
        raise InputError(f"{names['folds']} {folds}: folds are made of the {N_BLOCKS} blocks "
                         "each run stores, so expected one of "
                         f"{', '.join(map(str, divisors))}")
    block_of = block_map(len(bars.index), windows)
    per_block = np.bincount(block_of[block_of >= 0], minlength=N_BLOCKS)
    fold_bars = int(per_block.reshape(folds, -1).sum(axis=1).min())
    needed = warmup_bars(strategy, spec, bars, symbol, data_dir)
    if fold_bars <= needed:
        raise InputError(f"{names['folds']} {folds}: a fold of train start → test end has "
                         f"{fold_bars} bars, too few for the indicators at the grid's longest "
                         f"settings (a fold needs more than {needed} bars): use fewer folds or "
                         "a longer split")
    index = bars.index
    span_days = (index[windows.test.end] - index[windows.train.start]).days + 1
    days = settings.embargo_days
    embargo_blocks = -(-days * N_BLOCKS // span_days)  # whole blocks, rounded up
    try:
        cpcv(np.zeros((1, N_BLOCKS, 3)), folds, settings.test_folds, embargo_blocks)
    except InputError:
        raise InputError(f"{names['embargo_days']} {days}: {embargo_blocks} block(s) of "
                         f"{span_days / N_BLOCKS:.0f} days (rounded up) on each side of a "
                         f"test fold leave no training fold for some split of {folds} folds "
                         f"with {settings.test_folds} test fold(s): lower it or the test "
                         "folds") from None
    return {**settings.as_dict(), "embargo_blocks": int(embargo_blocks),
            "blocks": N_BLOCKS, "block_days": round(span_days / N_BLOCKS, 1),
            "fold_bars": fold_bars}


def cpcv_record(blocks, cv: dict | None, periods_per_year: float) -> dict | None:
    """The CPCV of the done runs' ``blocks`` under the stored settings ``cv`` (None without
    them): settings, split and path counts, the path-Sharpe summary and every path's Sharpe;
    a ``note`` instead of figures when there is nothing to cross-validate."""
    from otonom_trader.engine.cpcv import cpcv

    if not cv:
        return None
    settings = {k: cv[k] for k in (*KEYS, "embargo_blocks")}
    blocks = np.asarray(blocks)
    if blocks.ndim != 3 or len(blocks) == 0:
        return {**settings, "note": "no done run with block statistics"}
    result = cpcv(blocks, cv["folds"], cv["test_folds"], cv["embargo_blocks"], periods_per_year)
    return finite({**settings, "embargo_folds": result.embargo_groups, "n_runs": result.n_runs,
                   "n_splits": result.n_splits, **result.summary(),
                   "path_sharpe": result.path_sharpe.tolist()})


def flat_cpcv(record: dict | None) -> dict:
    """metrics.json's top-level CPCV scalars (one ``dvc exp show`` column each)."""
    if not record:
        return {}
    return {key: record.get(field) for key, field in FLAT}
