"""Many backtests at once: every combination runs its train and test windows in parallel."""

import numpy as np
from numba import prange

from otonom_trader.kernels.enums import SimParams, trade_dt
from otonom_trader.kernels.jit import njit
from otonom_trader.kernels.simulate import simulate_nb


@njit(parallel=True, cache=True, nogil=True)
def grid_nb(open_, high, low, close, dsi, scores, score_idx, params, windows, years,
            periods_per_year, block_of, train_out, test_out, blocks_out):
    """Run combination i on score ``scores[score_idx[i]]`` with trading ``params[i]``.

    ``params`` rows hold ``SimParams`` fields in order, as floats. ``windows`` is
    ``[[train_start, train_end], [test_start, test_end]]`` (bar positions), ``years`` their
    lengths. Writes ``train_out[i]``, ``test_out[i]`` (metrics vectors) and adds both
    windows' per-block return statistics into ``blocks_out[i]``.
    """
    no_equity = np.empty(0)
    no_trades = np.empty(0, trade_dt)
    for i in prange(score_idx.shape[0]):
        q = params[i]
        p = SimParams(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7] != 0.0, q[8] != 0.0,
                      q[9], q[10])
        score = scores[score_idx[i]]
        for w in range(2):
            out = train_out[i] if w == 0 else test_out[i]
            simulate_nb(open_, high, low, close, score, dsi, windows[w, 0], windows[w, 1],
                        years[w], periods_per_year, p, out, no_equity, no_trades,
                        block_of, blocks_out[i])
