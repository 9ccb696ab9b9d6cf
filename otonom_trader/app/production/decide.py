"""What the engine did on the newest bar, as orders: the daemon's only decision code is
``engine.backtest.backtest`` (the code ``otonom backtest`` runs), never a second copy.

The engine is run over the strategy version's trading window up to the newest bar; every
entry and exit it filled on that bar becomes an order at the engine's own fill price (the
bar's open with slippage, or a stop level) and the engine's own units.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from otonom_trader.domain.errors import DataError
from otonom_trader.domain.strategy import Strategy
from otonom_trader.engine.backtest import backtest


@dataclass(frozen=True)
class EngineOrder:
    bar_time: pd.Timestamp
    side: str  # buy | sell
    qty: float
    price: float
    reason: str  # entry | signal | stop_loss | take_profit
    entry_time: pd.Timestamp  # the trade's entry bar (an exit names the entry it closes)

    @property
    def opens(self) -> bool:
        return self.reason == "entry"


def client_order_id(deployment: str, version: str, bar_time: pd.Timestamp, side: str,
                    opens: bool) -> str:
    """Deterministic: deployment, strategy version, bar time and side (and open/close, as
    an exit and a new entry may share a bar and a side)."""
    key = f"{deployment}|{version}|{pd.Timestamp(bar_time).isoformat()}|{side}|{int(opens)}"
    return "otn-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def engine_orders(strategy: Strategy, bars: pd.DataFrame, symbol: str, start: pd.Timestamp,
                  book: float, data_dir: str | Path = "data") -> list[EngineOrder]:
    """Every fill of the engine over [start, last bar], in the order it made them. A window
    too short for a decision (its first bars) has none."""
    try:
        result = backtest(strategy, bars, symbol=symbol, start=start, initial_capital=book,
                          data_dir=data_dir)
    except DataError:
        return []
    out = []
    for t in result.trades.itertuples(index=False):
        long = t.side == "long"
        out.append(EngineOrder(t.entry_time, "buy" if long else "sell", float(t.units),
                               float(t.entry_price), "entry", t.entry_time))
        if not pd.isna(t.exit_time):
            out.append(EngineOrder(t.exit_time, "sell" if long else "buy", float(t.units),
                                   float(t.exit_price), str(t.exit_reason), t.entry_time))
    return out
