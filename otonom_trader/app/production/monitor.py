"""Use case: ``otonom monitor``: each deployed strategy's live record in the journal against
the figures it was promoted with (``engine.live_stats``), and a verdict with its reasons.

The expected figures come from the strategy's own test window (``metadata.split`` of a
promoted file, else ``split`` of params.yaml), backtested now with the one ``backtest()``:
the mean and standard deviation of its per-bar returns, and its win rate. Thresholds come from
``rollout:`` in params.yaml (defaults in ``engine.live_stats.Thresholds``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from otonom_trader.domain.errors import InputError
from otonom_trader.engine.live_stats import (
    Expected,
    Thresholds,
    Verdict,
    assess,
    win_rate_interval,
)
from otonom_trader.engine.stats import bar_returns


@dataclass(frozen=True)
class StrategyMonitor:
    deployment: str
    path: str
    stage: str
    expected: Expected
    expected_source: str  # which window the expectation comes from
    verdict: Verdict
    trades: int
    wins: int
    win_rate_ci: tuple[float, float]
    slippage_bps: float | None  # mean |fill − engine price| in bps, None without fills
    slippage_budget_bps: float  # the strategy's execution.slippage_bps
    periods_per_year: float
    days_in_stage: int | None = None  # since the entry's `since` (UTC today), None without

    def as_dict(self) -> dict[str, Any]:
        from otonom_trader.domain.json_text import finite

        v = self.verdict
        ann = math.sqrt(self.periods_per_year)
        return finite({
            "deployment": self.deployment, "path": self.path, "stage": self.stage,
            "verdict": v.verdict, "reasons": list(v.reasons), "returns": v.n,
            "live_sharpe": v.sharpe * ann, "expected_sharpe": self.expected.sharpe * ann,
            "psr": v.psr, "min_track_record": v.min_trl,
            "drawdown": v.drawdown, "drawdown_bound": v.drawdown_bound,
            "under_water": v.under_water, "under_water_bound": v.under_water_bound,
            "max_drawdown": v.max_drawdown, "cusum_alarm_at": v.cusum_alarm_at,
            "trades": self.trades, "win_rate": self.wins / self.trades if self.trades else None,
            "expected_win_rate": self.expected.win_rate,
            "win_rate_ci": list(self.win_rate_ci), "slippage_bps": self.slippage_bps,
            "slippage_budget_bps": self.slippage_budget_bps,
            "expected_source": self.expected_source, "days_in_stage": self.days_in_stage,
        })


def thresholds_from(params_path: Path) -> Thresholds:
    """``rollout:`` of params.yaml over the defaults; an unknown key or a value out of range
    is one ``InputError`` line."""
    from otonom_trader.domain.safe_yaml import read_yaml

    if not params_path.is_file():
        return Thresholds()
    data = read_yaml(params_path, "params") or {}
    block = data.get("rollout") if isinstance(data, dict) else None
    if not block:
        return Thresholds()
    names = {f.name: f.type for f in fields(Thresholds)}
    values: dict[str, Any] = {}
    for key, value in block.items():
        if key in {f.name for f in fields(StageDays)}:
            continue  # the stage days: stage_days_from, for the rollout command
        if key not in names:
            allowed = ", ".join([*names, *(f.name for f in fields(StageDays))])
            raise InputError(f"{params_path}: unknown key `rollout.{key}` (allowed: {allowed})")
        ok = isinstance(value, int | float) and not isinstance(value, bool) and \
            math.isfinite(value)
        if key == "min_periods":
            ok = ok and isinstance(value, int) and value >= 2
        elif key == "haircut":
            ok = ok and 0 <= value <= 1
        else:
            ok = ok and 0 < value < 1
        if not ok:
            raise InputError(f"{params_path}: `rollout.{key}` {value!r} is out of range")
        values[key] = value
    return Thresholds(**values)


@dataclass(frozen=True)
class StageDays:
    """``rollout.min_days_shadow`` / ``min_days_live``: calendar days a strategy stays in its
    stage (since its ``since`` date) before ``otonom rollout advance`` may move it on."""

    min_days_shadow: int = 7  # the workflow's "Day 1-7: shadow mode"
    min_days_live: int = 7

    def needed(self, stage: str) -> int:
        return self.min_days_live if stage == "live" else self.min_days_shadow


MAX_STAGE_DAYS = 3650


def stage_days_from(params_path: Path) -> StageDays:
    """The stage days of ``rollout:`` in params.yaml over the defaults; a value that is not
    an integer from 0 to 3650 is one ``InputError`` line."""
    from otonom_trader.domain.safe_yaml import read_yaml

    if not params_path.is_file():
        return StageDays()
    data = read_yaml(params_path, "params") or {}
    block = data.get("rollout") if isinstance(data, dict) else None
    values: dict[str, int] = {}
    for key in (f.name for f in fields(StageDays)):
        if not isinstance(block, dict) or key not in block:
            continue
        value = block[key]
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value <= MAX_STAGE_DAYS:
            raise InputError(f"{params_path}: `rollout.{key}` {value!r} is out of range "
                             f"(expected whole days from 0 to {MAX_STAGE_DAYS})")
        values[key] = value
    return StageDays(**values)


def test_window(strategy, params_path: Path) -> tuple[dict, str]:
    """The window a strategy's expectation comes from: ``metadata.split`` of a promoted file,
    else ``split`` of params.yaml; and which of the two it is."""
    meta = strategy.metadata or {}
    split = meta.get("split") if isinstance(meta.get("split"), dict) else None
    if split is not None:
        return split, "metadata.split"
    from otonom_trader.domain.gates import load_gate_params

    params = load_gate_params(params_path)
    return ({"test_start": params.split.test_start, "test_end": params.split.test_end},
            f"{params_path} split")


def test_backtest(strategy, data_dir: str, params_path: Path):
    """The strategy backtested now over its test window: (result, split, source)."""
    from otonom_trader.engine.backtest import backtest
    from otonom_trader.engine.data import load_bars

    split, source = test_window(strategy, params_path)
    symbol = (strategy.metadata or {}).get("symbol") or strategy.data.symbol
    bars = load_bars(symbol, data_dir, strategy.data.on_bad_bars)
    result = backtest(strategy, bars, symbol=symbol, start=split["test_start"],
                      end=split["test_end"], data_dir=data_dir)
    return result, split, source


def _expected(strategy, data_dir: str, params_path: Path) -> tuple[Expected, str, float]:
    result, split, source = test_backtest(strategy, data_dir, params_path)
    r = bar_returns(result.equity)
    win = result.metrics.get("win_rate_pct")
    expected = Expected(float(r.mean()), float(r.std(ddof=1)),
                        None if win is None or not math.isfinite(win) else win / 100)
    window = f"{split['test_start']} → {split['test_end']}"
    return expected, f"test window {window} ({source})", result.periods_per_year


def _trades(fills: list[dict]) -> tuple[int, int]:
    """(closed trades, winners) from the fills in order: a trade closes when the position
    returns to zero; it wins when the cash it returned is positive (before fees)."""
    position, cash, trades, wins = 0.0, 0.0, 0, 0
    for f in fills:
        signed = f["qty"] if f["side"] == "buy" else -f["qty"]
        position += signed
        cash -= signed * f["price"]
        if abs(position) < 1e-12:
            trades += 1
            wins += cash > 0
            position, cash = 0.0, 0.0
    return trades, wins


def monitor(journal_url: str | None = None, name: str | None = None, *,
            production: str = "deployments/production.yaml", data_dir: str = "data",
            params_path: str = "params.yaml") -> list[StrategyMonitor]:
    """One ``StrategyMonitor`` per deployed strategy (or the one named)."""
    from otonom_trader.adapters.journal import Journal
    from otonom_trader.domain.deployment import load_deployment
    from otonom_trader.domain.strategy_loader import load_strategy

    entries = load_deployment(production).entries
    if name is not None:
        entries = tuple(e for e in entries if e.name == name)
        if not entries:
            raise InputError(f"NAME {name!r}: not a strategy of {production}")
    thresholds = thresholds_from(Path(params_path))
    journal = Journal(journal_url)
    try:
        out = []
        for entry in entries:
            strategy = load_strategy(entry.path)
            out.append(strategy_monitor(entry, strategy, journal, thresholds,
                                        _expected(strategy, data_dir, Path(params_path))))
        return out
    finally:
        journal.close()


def strategy_monitor(entry, strategy, journal, thresholds: Thresholds,
                     expected: tuple[Expected, str, float]) -> StrategyMonitor:
    """One deployed strategy's ``StrategyMonitor`` from an open journal and its expected
    figures (``expected_figures``; the daemon keeps them per strategy version)."""
    expected_, source, ppy = expected
    equity = np.array([row["equity"] for row in journal.equity(entry.name)], float)
    returns = equity[1:] / equity[:-1] - 1.0 if len(equity) > 1 else np.empty(0)
    fills = journal.fills(entry.name)
    orders = {o["client_order_id"]: o for o in journal.orders(entry.name)}
    slips = [abs(f["price"] / orders[f["client_order_id"]]["ref_price"] - 1) * 1e4
             for f in fills if orders.get(f["client_order_id"], {}).get("ref_price")]
    trades, wins = _trades(fills)
    return StrategyMonitor(
        entry.name, entry.path, entry.stage, expected_, source,
        assess(returns, expected_, thresholds), trades, wins,
        win_rate_interval(wins, trades, thresholds.confidence),
        float(np.mean(slips)) if slips else None, strategy.execution.slippage_bps, ppy,
        _days_since(entry.since))


def _days_since(since) -> int | None:
    from datetime import UTC, datetime

    return None if since is None else (datetime.now(UTC).date() - since).days


def expected_figures(strategy, data_dir: str, params_path: str | Path
                     ) -> tuple[Expected, str, float]:
    """(expected figures, where they come from, periods per year) of a strategy."""
    return _expected(strategy, data_dir, Path(params_path))


@dataclass(frozen=True)
class PortfolioMonitor:
    """The deployments that trade the capital (paper or live at capital_pct > 0, as in
    ``backtest --portfolio``) taken together: their journal equity summed on the bars they all
    have, plus the unallocated cash, against the allocation-weighted expected mean return (cash
    earns nothing). Only the mean is compared: the members' expected covariance is not known."""

    members: tuple[str, ...]
    excluded: tuple[str, ...]
    capital: float
    cash: float
    bars: int  # bars every member has equity for
    start_equity: float | None
    equity: float | None
    max_drawdown: float | None
    live_mean: float | None  # per bar
    expected_mean: float  # per bar: Σ capital_pct/100 × the member's expected mean
    periods_per_year: float
    missing: tuple[str, ...]  # members without journal equity

    def as_dict(self) -> dict[str, Any]:
        from otonom_trader.domain.json_text import finite

        ret = None if self.equity is None else self.equity / self.start_equity - 1
        expected_ret = None if self.bars < 2 else \
            (1 + self.expected_mean) ** (self.bars - 1) - 1
        live_ann = None if self.live_mean is None else self.live_mean * self.periods_per_year
        return finite({
            "members": list(self.members), "excluded": list(self.excluded),
            "capital": self.capital, "cash": self.cash, "bars": self.bars,
            "start_equity": self.start_equity, "equity": self.equity, "return": ret,
            "expected_return": expected_ret, "max_drawdown": self.max_drawdown,
            "live_mean_annualised": live_ann,
            "expected_mean_annualised": self.expected_mean * self.periods_per_year,
            "missing": list(self.missing),
        })


def portfolio(reports: list[StrategyMonitor], journal_url: str | None = None, *,
              production: str = "deployments/production.yaml") -> PortfolioMonitor | None:
    """The portfolio of the deployments in ``reports`` (None when none trades capital)."""
    import pandas as pd

    from otonom_trader.adapters.journal import Journal
    from otonom_trader.domain.deployment import load_deployment

    deployment = load_deployment(production)
    by_name = {r.deployment: r for r in reports}
    members = [e for e in deployment.entries
               if e.stage != "shadow" and e.capital_pct > 0 and e.name in by_name]
    if not members:
        return None
    excluded = tuple(e.name for e in deployment.entries if e not in members)
    cash = deployment.capital * (100.0 - sum(e.capital_pct for e in members)) / 100.0
    expected = sum(e.capital_pct / 100 * by_name[e.name].expected.mean for e in members)
    journal = Journal(journal_url)
    try:
        series = {e.name: pd.Series({row["bar_time"]: row["equity"]
                                     for row in journal.equity(e.name)}, dtype=float)
                  for e in members}
    finally:
        journal.close()
    missing = tuple(n for n, s in series.items() if s.empty)
    frame = pd.DataFrame(series).dropna() if not missing else pd.DataFrame()
    ppy = by_name[members[0].name].periods_per_year
    if frame.empty:
        return PortfolioMonitor(tuple(e.name for e in members), excluded, deployment.capital,
                                cash, 0, None, None, None, None, expected, ppy, missing)
    combined = (frame.sum(axis=1) + cash).to_numpy()
    r = combined[1:] / combined[:-1] - 1
    drawdown = float(np.max(1 - combined / np.maximum.accumulate(combined)))
    return PortfolioMonitor(tuple(e.name for e in members), excluded, deployment.capital, cash,
                            len(combined), float(combined[0]), float(combined[-1]), drawdown,
                            float(r.mean()) if len(r) else None, expected, ppy, missing)
