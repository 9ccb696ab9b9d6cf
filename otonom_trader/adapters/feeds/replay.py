"""Replay stored bars (bundled symbols or data/ files) one bar per poll."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from otonom_trader.domain.errors import DataError, InputError
from otonom_trader.engine.data import load_bars

DEFAULT_SPAN = 252  # without FROM: the last year of daily bars


class ReplayFeed:
    def __init__(self, symbol: str, start: str | None = None, end: str | None = None, *,
                 data_dir: str | Path = "data", on_bad_bars: str = "refuse",
                 spec: str = "replay") -> None:
        try:
            bars = load_bars(symbol, data_dir, on_bad_bars)
        except DataError as exc:
            raise InputError(f"--feed {spec}: {exc}") from None
        self.symbol = symbol.upper()
        try:
            lo = pd.Timestamp(start) if start else None
            hi = pd.Timestamp(end) if end else None
        except ValueError:
            raise InputError(f"--feed {spec}: FROM and TO are dates, YYYY-MM-DD") from None
        span = f"{bars.index[0]:%Y-%m-%d} → {bars.index[-1]:%Y-%m-%d}"
        if hi is not None:
            bars = bars[bars.index < hi.normalize() + pd.Timedelta(days=1)]
        first = (int(bars.index.searchsorted(lo)) if lo is not None
                 else max(len(bars) - DEFAULT_SPAN, 0))
        if first >= len(bars):
            raise InputError(f"--feed {spec}: no {self.symbol} bars in that window (the data "
                             f"covers {span})")
        self.bars, self.start = bars, bars.index[first]
        self._next = first  # the position of the next bar to release

    @property
    def exhausted(self) -> bool:
        return self._next >= len(self.bars)

    def poll(self) -> pd.DataFrame:
        if not self.exhausted:
            self._next += 1
        return self.bars.iloc[:self._next]

    def resume(self, after: pd.Timestamp) -> None:
        self._next = max(self._next, int(self.bars.index.searchsorted(after, side="right")))
