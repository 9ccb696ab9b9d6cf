"""Structures shared by the numba kernels and the pandas layer (plain NamedTuples, ints and
numpy record dtypes; no numba here)."""

from typing import NamedTuple

import numpy as np


class SimParams(NamedTuple):
    """One backtest's trading parameters, all as fractions (0.05 = 5%).

    ``sl``/``tp`` of ``inf`` switch that stop off. ``fraction`` is the share of current
    equity committed per entry (fees included). No entry is decided on a bar whose data
    quality score is below ``min_dsi``.
    """

    entry_threshold: float
    exit_threshold: float
    fraction: float
    sl: float
    tp: float
    fee: float
    slippage: float
    allow_short: bool
    entry_bar_stops: bool
    init_cash: float
    min_dsi: float = 0.0


# Columns of the per-block return statistics (count, sum, sum of squares).
BLOCK_FIELDS = 3

# THE zero-variance rule, shared by the backtest kernel, PBO and `compare`: a return series
# whose sum of squared deviations from its mean is at most ZERO_VARIANCE times its sum of
# squares (an all-zero series included: a strategy that never trades) has no Sharpe ratio.
# It is undefined: NaN in the metrics (n/a, JSON null), never the in-sample best and lowest
# out-of-sample in PBO, and no verdict in `compare`. 1e-12 sits far above the rounding error
# of the sums (~1e-16 relative) and far below any tradable dispersion.
ZERO_VARIANCE = 1e-12

# One trade record (vectorbt's ``trade_dt``): a closed trade, or the one still open at the
# window's end (``exit_idx`` -1, marked at the last close, reason EXIT_OPEN). ``fees`` are
# entry plus exit fees; ``return`` is pnl / (units × entry price).
trade_dt = np.dtype([
    ("entry_idx", np.int64),
    ("exit_idx", np.int64),
    ("side", np.int64),  # +1 long, -1 short
    ("units", np.float64),
    ("entry_price", np.float64),
    ("exit_price", np.float64),
    ("fees", np.float64),
    ("pnl", np.float64),
    ("return", np.float64),
    ("reason", np.int64),  # an EXIT_* code
], align=True)

# Exit reasons.
NO_EXIT = -1  # a step found no exit
EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_OPEN = 3  # still open at the window's end: marked, not closed
EXIT_REASONS = ("signal", "stop_loss", "take_profit", "open")

# Slots of the metrics vector (fractions, not percent).
M_TOTAL_RETURN = 0
M_CAGR = 1
M_SHARPE = 2
M_SORTINO = 3
M_MAX_DRAWDOWN = 4
M_CALMAR = 5
M_WIN_RATE = 6
M_PROFIT_FACTOR = 7
M_EXPOSURE = 8
M_N_TRADES = 9
M_FINAL_EQUITY = 10
N_METRICS = 11
METRIC_NAMES = (
    "total_return", "cagr", "sharpe", "sortino", "max_drawdown", "calmar",
    "win_rate", "profit_factor", "exposure", "n_trades", "final_equity",
)
