"""Use case: combinatorial purged cross-validation of an experiment's selection procedure
from its stored block statistics (``engine.cpcv``)."""

from __future__ import annotations

from otonom_trader.adapters.store import ExperimentInfo, ExperimentStore
from otonom_trader.domain.errors import InputError
from otonom_trader.engine.cpcv import CPCVResult, cpcv


def cpcv_experiment(store: ExperimentStore, exp_id: int, folds: int = 8, test_folds: int = 2,
                    embargo_blocks: int = 0) -> tuple[ExperimentInfo, CPCVResult]:
    """CPCV of experiment ``exp_id``'s done runs, Sharpe ratios annualised with the
    experiment's periods per year; ``InputError`` for an unknown ID, an experiment without
    done runs or bad folds."""
    info = store.get(exp_id)
    _, blocks = store.block_stats(exp_id)
    if not len(blocks):
        raise InputError(f"experiment {exp_id} has no done runs with block statistics "
                         f"(status: {info.status}); run or resume its grid search first")
    return info, cpcv(blocks, folds, test_folds, embargo_blocks, info.periods_per_year)
