"""Backtest–live parity: the journal's fills against ``otonom backtest`` over the same bars."""

from __future__ import annotations

import pandas as pd

from otonom_trader.adapters.journal import Journal
from otonom_trader.app.production.decide import engine_orders
from otonom_trader.domain.strategy import Strategy
from otonom_trader.engine.backtest import backtest


def parity_check(journal: Journal, name: str, strategy: Strategy, bars: pd.DataFrame,
                 symbol: str, start, book: float, data_dir: str = "data") -> tuple[bool, str]:
    """Compare (bar, side, units, price) of every fill and the final equity; the outcome is
    journaled as a ``parity`` event (``otonom daemon status`` shows the last one)."""
    rows = journal.equity(name)
    end = pd.Timestamp(rows[-1]["bar_time"]) if rows else None
    window = bars.loc[:end] if end is not None else bars
    expected = [(pd.Timestamp(o.bar_time), o.side, o.qty, o.price)
                for o in engine_orders(strategy, window, symbol, pd.Timestamp(start), book,
                                       data_dir)]
    got = [(pd.Timestamp(f["bar_time"]), f["side"], f["qty"], f["price"])
           for f in journal.fills(name)]
    result = backtest(strategy, window, symbol=symbol, start=start, initial_capital=book,
                      data_dir=data_dir)
    final = float(result.equity.iloc[-1])
    journal_final = rows[-1]["equity"] if rows else float("nan")
    ok = got == expected and journal_final == final
    message = (f"{'same' if ok else 'DIFFERENT'}: {len(got)} fills vs {len(expected)} "
               f"backtest fills, final equity {journal_final:,.2f} vs {final:,.2f} "
               f"over {pd.Timestamp(start):%Y-%m-%d} → {window.index[-1]:%Y-%m-%d}")
    journal.event("parity", message, level="info" if ok else "error", deployment=name)
    return ok, message


def check_all(config) -> list[tuple[str, bool, str]]:
    """Parity of every strategy the desired state lists against the journal (its current
    version, from the first bar that version decided)."""
    from otonom_trader.app.production.daemon import Daemon
    from otonom_trader.engine.data import load_bars

    daemon = Daemon(config)
    try:
        state = daemon._load(daemon._sync())
        out = []
        for run in state.strategies:
            name = run.entry.name
            start = daemon.journal.first_bar(name, state.segment(run))
            if start is None:
                out.append((name, False, "no bar decided by this version yet"))
                continue
            feed = config.feed or "replay"
            symbol = (feed.split(":")[1] if feed.startswith("replay:") and ":" in feed
                      else run.strategy.data.symbol or "SPX").upper()
            bars = load_bars(symbol, config.data_dir, run.strategy.data.on_bad_bars)
            ok, message = parity_check(daemon.journal, name, run.strategy, bars, symbol,
                                       pd.Timestamp(start), state.book_of(run),
                                       config.data_dir)
            out.append((name, ok, message))
        return out
    finally:
        daemon.close()
