"""Use case: ``otonom backtest --portfolio deployments/production.yaml``: the allocated
strategies of a production file on shared capital.

Members are the entries that trade a share of the capital: stage ``paper`` or ``live`` with
``capital_pct`` > 0. ``shadow`` entries (and any entry at 0%) move no money and are listed as
excluded. Each member runs through the one ``engine.backtest.backtest()`` with
``capital × capital_pct / 100`` over the same window, so the combined equity is exactly

    P(t) = Σ_i E_i(t) + cash,   cash = capital × (1 − Σ_i capital_pct_i / 100)

(the engine sizes on equity, so ``E_i(t) = capital × pct_i/100 × E_i'(t)/E_i'(t0)`` for the
same strategy backtested on any capital ``E_i'``). The combined metrics apply the engine's
metric definitions (``engine.reference.reference_metrics``, the kernel's checked twin) to
``P`` and to the members' trades together; exposure is the share of bars on which any member
holds a position. Members must trade data of the same frequency (periods per year); their
bars are aligned on the timestamps they share, refused when that drops more than 5% of a
member's bars (calendars that cannot be aligned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from otonom_trader.domain.errors import InputError
from otonom_trader.engine.backtest import BacktestResult

MAX_DROPPED = 0.05  # share of a member's bars the calendar alignment may drop


@dataclass(frozen=True)
class Member:
    name: str
    stage: str
    capital_pct: float
    result: BacktestResult  # over the portfolio's window, on capital × capital_pct / 100
    equity: pd.Series  # the result's equity on the portfolio's bars

    @property
    def pnl(self) -> float:
        return float(self.equity.iloc[-1] - self.equity.iloc[0])


@dataclass(frozen=True)
class PortfolioResult:
    production: str
    capital: float
    cash: float  # unallocated capital, held flat
    periods_per_year: float
    members: tuple[Member, ...]
    excluded: tuple[tuple[str, str], ...]  # (name, why)
    equity: pd.Series  # combined
    metrics: dict  # public metric names, display-scaled, like `otonom backtest`
    correlation: pd.DataFrame  # of the members' per-bar returns
    notes: tuple[str, ...] = ()

    @property
    def start(self) -> pd.Timestamp:
        return self.equity.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.equity.index[-1]

    def contributions(self) -> list[dict]:
        """Each member's P&L, its share of the portfolio's P&L (None when that is 0) and its
        contribution to the total return in percent of the capital."""
        total = float(self.equity.iloc[-1] - self.equity.iloc[0])
        return [{"name": m.name, "pnl": m.pnl,
                 "pnl_share": m.pnl / total if total != 0 else None,
                 "contribution_pct": m.pnl / self.capital * 100.0} for m in self.members]


def _members(deployment, label: str):
    members, excluded = [], []
    for e in deployment.entries:
        if e.stage == "shadow":
            excluded.append((e.name, "shadow: trades no capital"))
        elif e.capital_pct <= 0:
            excluded.append((e.name, f"{e.stage} at 0% of the capital"))
        else:
            members.append(e)
    if not members:
        raise InputError(f"{label}no paper or live strategy with capital_pct > 0: nothing "
                         "trades the capital (shadow entries are excluded)")
    total = sum(e.capital_pct for e in members)
    if total > 100 + 1e-9:
        shown = " + ".join(f"{e.name} {e.capital_pct:g}%" for e in members)
        raise InputError(f"{label}allocations add up to {total:g}% ({shown}), more than 100%: "
                         "lower capital_pct")
    return members, tuple(excluded)


def _run(entry, strategy, capital: float, start, end, data_dir) -> BacktestResult:
    from otonom_trader.engine.backtest import backtest
    from otonom_trader.engine.data import load_bars

    symbol = strategy.data.symbol
    if not symbol:
        raise InputError(f"{entry.path}: no `data.symbol` in the file; a portfolio member "
                         "needs its symbol")
    bars = load_bars(symbol, data_dir, strategy.data.on_bad_bars)
    return backtest(strategy, bars, symbol=symbol.upper(), start=start, end=end,
                    initial_capital=capital * entry.capital_pct / 100.0, data_dir=data_dir)


def _check_frequency(runs, label: str) -> float:
    first = runs[0]
    for entry, r in runs[1:]:
        if not math.isclose(r.periods_per_year, first[1].periods_per_year, rel_tol=1e-9):
            raise InputError(
                f"{label}strategies trade data of different frequencies: {first[0].name} "
                f"({first[1].symbol}, {first[1].periods_per_year:g} periods/year) and "
                f"{entry.name} ({r.symbol}, {r.periods_per_year:g} periods/year); a portfolio "
                "needs one frequency")
    return first[1].periods_per_year


def _align(runs, label: str) -> pd.DatetimeIndex:
    index = runs[0][1].equity.index
    for _, r in runs[1:]:
        index = index.intersection(r.equity.index)
    for entry, r in runs:
        dropped = 1 - len(index) / len(r.equity)
        if len(index) < 2 or dropped > MAX_DROPPED:
            raise InputError(
                f"{label}the calendars cannot be aligned: {entry.name} ({r.symbol}) shares "
                f"{len(index)} of its {len(r.equity)} bars "
                f"{r.start:%Y-%m-%d} → {r.end:%Y-%m-%d} with the others")
    return index


def _exposure(members: list[Member], index: pd.DatetimeIndex) -> float:
    """Share of the bars from some member's trade entry through its exit (open: the end)."""
    held = np.zeros(len(index), bool)
    for m in members:
        for t in m.result.trades.itertuples():
            exit_time = index[-1] if pd.isna(t.exit_time) else t.exit_time
            held |= (index >= t.entry_time) & (index <= exit_time)
    return float(held.mean())


def combined_metrics(equity: pd.Series, members: list[Member], periods_per_year: float
                     ) -> dict:
    """The engine's metric definitions on the combined equity and all members' trades."""
    from otonom_trader.domain.metrics import PUBLIC_METRICS
    from otonom_trader.engine.backtest import Window
    from otonom_trader.engine.reference import reference_metrics

    trades = [SimpleNamespace(reason=t.exit_reason, pnl=t.pnl)
              for m in members for t in m.result.trades.itertuples()]
    years = Window(0, len(equity) - 1).years(equity.index)
    raw = reference_metrics(equity.to_numpy(), trades, years, periods_per_year)
    raw["exposure"] = _exposure(members, equity.index)
    return {name: int(raw[slot]) if name == "n_trades" else float(raw[slot]) * scale + 0.0
            for name, slot, scale in PUBLIC_METRICS}


def run_portfolio(production: str | Path, start=None, end=None, data_dir: str | Path = "data",
                  root: str | Path = ".") -> PortfolioResult:
    """Backtest the members of ``production`` on its capital over [start, end]; strategy
    paths are relative to ``root`` (the repository) and must stay inside it."""
    from otonom_trader.domain.deployment import load_deployment
    from otonom_trader.domain.names import inside
    from otonom_trader.domain.strategy_loader import load_strategy

    label = f"{production}: "
    deployment = load_deployment(production)
    entries, excluded = _members(deployment, label)
    strategies = [load_strategy(inside(root, e.path, f"{production}: {e.key}.path"))
                  for e in entries]
    runs = [(e, _run(e, s, deployment.capital, start, end, data_dir))
            for e, s in zip(entries, strategies, strict=True)]
    ppy = _check_frequency(runs, label)
    # One window for all: the latest first bar and the earliest last bar (each member starts
    # flat on its share there).
    lo, hi = max(r.start for _, r in runs), min(r.end for _, r in runs)
    if lo >= hi:
        raise InputError(f"{label}the members' windows do not overlap (latest start "
                         f"{lo:%Y-%m-%d}, earliest end {hi:%Y-%m-%d}): pass --start-date and "
                         "--end-date inside every member's data")
    runs = [(e, r if (r.start, r.end) == (lo, hi) else
             _run(e, s, deployment.capital, lo, hi, data_dir))
            for (e, r), s in zip(runs, strategies, strict=True)]
    index = _align(runs, label)
    members = [Member(e.name, e.stage, e.capital_pct, r, r.equity.reindex(index))
               for e, r in runs]
    cash = deployment.capital * (100.0 - sum(e.capital_pct for e in entries)) / 100.0
    equity = sum((m.equity for m in members), start=pd.Series(cash, index=index))
    equity.name = "equity"
    returns = pd.DataFrame({m.name: m.equity.pct_change() for m in members}).iloc[1:]
    notes = tuple(dict.fromkeys(n for _, r in runs for n in r.notes))
    return PortfolioResult(str(production), deployment.capital, cash, ppy, tuple(members),
                           excluded, equity, combined_metrics(equity, members, ppy),
                           returns.corr(), notes)
