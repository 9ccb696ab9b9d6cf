"""The feed interface, and ``open_feed`` for a ``--feed`` spec.

A feed hands the daemon every bar it has up to now (history included: the engine warms its
indicators on it); ``poll`` returns that frame, and only grows it when a new bar closed.
Specs: ``replay:SYMBOL[:FROM[:TO]]`` (stored bars, one more per poll) and ``file:PATH``
(a CSV or Parquet file another process appends to).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pandas as pd

from otonom_trader.domain.errors import InputError

__all__ = ["Feed", "open_feed"]


class Feed(Protocol):
    symbol: str
    start: pd.Timestamp | None  # the first bar to trade on (None: the first new bar)

    def poll(self) -> pd.DataFrame:
        """All bars known now (the newest last); a stalled feed returns the same frame."""
        ...

    def resume(self, after: pd.Timestamp) -> None:
        """Continue after ``after`` (the last bar the journal has), e.g. after a restart."""
        ...


def open_feed(spec: str, default_symbol: str, data_dir: str | Path = "data",
              on_bad_bars: str = "refuse") -> Feed:
    """A feed for ``spec`` (``replay`` alone uses ``default_symbol``); bad specs and
    symbols without data are one ``InputError`` naming ``--feed``."""
    kind, _, rest = spec.partition(":")
    if kind == "replay":
        from otonom_trader.adapters.feeds.replay import ReplayFeed

        parts = rest.split(":") if rest else []
        if len(parts) > 3:
            raise InputError(f"--feed {spec}: expected replay:SYMBOL[:FROM[:TO]]")
        symbol = parts[0] if parts and parts[0] else default_symbol
        return ReplayFeed(symbol, *(p or None for p in parts[1:]), data_dir=data_dir,
                          on_bad_bars=on_bad_bars, spec=spec)
    if kind == "file" and rest:
        from otonom_trader.adapters.feeds.file import FileFeed

        return FileFeed(Path(rest), spec=spec)
    raise InputError(f"--feed {spec!r}: expected replay:SYMBOL[:FROM[:TO]] or file:PATH")
