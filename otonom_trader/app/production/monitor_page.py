"""Use case: the data behind ``otonom monitor --export html``: per deployed strategy, the
live cumulative return inside a bootstrap cone of its expected (test-window) returns, as
pyfolio draws it; the live drawdown against its bound; the slippage of each fill."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CONE_RESAMPLES = 1_000
CONE_QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True, eq=False)
class MonitorSeries:
    deployment: str
    verdict: str
    reasons: tuple[str, ...]
    bar_times: list  # live bars after the first (one per live return)
    live_cumulative: np.ndarray  # Π(1 + r) − 1
    cone: np.ndarray  # (3, n): the 5%, 50%, 95% quantiles of the expected cumulative return
    drawdown: np.ndarray  # from the running peak of the cumulative return, as the bound
    drawdown_bound: float
    fill_times: list
    slippage_bps: np.ndarray  # per fill, |fill / engine price − 1|
    slippage_budget_bps: float
    block_length: int


def bootstrap_cone(expected_returns: np.ndarray, n: int, *, seed: int = 0,
                   resamples: int = CONE_RESAMPLES) -> tuple[np.ndarray, int]:
    """Quantiles (5%, 50%, 95%) of the cumulative return over 1..n bars of circular block
    bootstrap paths of ``expected_returns`` (block length by Politis–White), and that
    block length."""
    from arch.bootstrap import CircularBlockBootstrap

    from otonom_trader.engine.stats import optimal_block_length

    block = optimal_block_length(expected_returns)
    reps = -(-n // len(expected_returns))  # paths longer than the sample: chained resamples
    boot = CircularBlockBootstrap(block, expected_returns, seed=np.random.default_rng(seed))
    paths = np.empty((resamples, n))
    draws = boot.bootstrap(resamples * reps)
    for i in range(resamples):
        chunk = [next(draws)[0][0] for _ in range(reps)]
        paths[i] = np.cumprod(1.0 + np.concatenate(chunk)[:n]) - 1.0
    return np.quantile(paths, CONE_QUANTILES, axis=0), block


def monitor_series(journal_url: str | None = None, name: str | None = None, *,
                   production: str = "deployments/production.yaml", data_dir: str = "data",
                   params_path: str = "params.yaml") -> list[MonitorSeries]:
    """One ``MonitorSeries`` per deployed strategy (or the one named)."""
    from otonom_trader.adapters.journal import Journal
    from otonom_trader.app.production.monitor import monitor, test_backtest
    from otonom_trader.domain.deployment import load_deployment
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.stats import bar_returns

    reports = {r.deployment: r for r in monitor(journal_url, name, production=production,
                                                 data_dir=data_dir, params_path=params_path)}
    entries = [e for e in load_deployment(production).entries if e.name in reports]
    journal = Journal(journal_url)
    try:
        out = []
        for entry in entries:
            report = reports[entry.name]
            result, _, _ = test_backtest(load_strategy(entry.path), data_dir, Path(params_path))
            expected = bar_returns(result.equity)
            marks = journal.equity(entry.name)
            equity = np.array([m["equity"] for m in marks], float)
            r = equity[1:] / equity[:-1] - 1.0 if len(equity) > 1 else np.empty(0)
            wealth = np.cumsum(r)
            drawdown = np.maximum.accumulate(np.concatenate([[0.0], wealth]))[1:] - wealth
            cone, block = (bootstrap_cone(expected, len(r)) if len(r)
                           else (np.empty((3, 0)), 0))
            orders = {o["client_order_id"]: o for o in journal.orders(entry.name)}
            fills = [f for f in journal.fills(entry.name)
                     if orders.get(f["client_order_id"], {}).get("ref_price")]
            slips = np.array([abs(f["price"] / orders[f["client_order_id"]]["ref_price"] - 1)
                              * 1e4 for f in fills])
            out.append(MonitorSeries(
                entry.name, report.verdict.verdict, report.verdict.reasons,
                [m["bar_time"] for m in marks[1:]], np.cumprod(1.0 + r) - 1.0, cone,
                drawdown, report.verdict.drawdown_bound, [f["bar_time"] for f in fills], slips,
                report.slippage_budget_bps, block))
        return out
    finally:
        journal.close()
