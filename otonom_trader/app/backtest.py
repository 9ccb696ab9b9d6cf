"""Use case: backtest one strategy file on one symbol."""

from __future__ import annotations

from pathlib import Path

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.strategy_loader import load_strategy
from otonom_trader.engine.backtest import DEFAULT_CAPITAL, BacktestResult, backtest
from otonom_trader.engine.data import load_bars


def run_backtest(
    strategy_path: str | Path,
    symbol: str | None = None,
    start=None,
    end=None,
    initial_capital: float = DEFAULT_CAPITAL,
    periods_per_year: float | None = None,
    data_dir: str | Path = "data",
) -> BacktestResult:
    """Load the strategy and the data, then run the backtest over [start, end]."""
    strategy = load_strategy(strategy_path)
    symbol = symbol or strategy.data.symbol
    if not symbol:
        raise InputError(f"{strategy_path}: no `data.symbol` in the file; pass --symbol")
    bars = load_bars(symbol, data_dir, strategy.data.on_bad_bars)
    return backtest(strategy, bars, symbol=symbol.upper(), start=start, end=end,
                    initial_capital=initial_capital, periods_per_year=periods_per_year,
                    data_dir=data_dir)
