"""Use case: ``otonom strategy record-impact NAME``: fill the **Actual Impact** paragraph of
NAME's STRATEGY_LOG.md entry from the journal, on a branch ``impact/<name>-<date>`` with a pull
request (the promotion's git and forge code).

Live figures: Sharpe, CAGR and max drawdown by the engine's metric definitions
(``engine.reference.reference_metrics``) on the deployment's journal equity; win rate,
slippage and the verdict from ``monitor``. Expected figures: the test metrics the strategy was
promoted with (``metadata.test``), else its test window backtested now (as ``monitor`` does).
Live days are calendar days from the first to the last equity mark in the journal.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from otonom_trader.domain.errors import GitStateError, InputError

BRANCH_PREFIX = "impact/"


@dataclass(frozen=True)
class Impact:
    name: str
    first: datetime
    last: datetime
    days: int
    bars: int
    live: dict  # sharpe, cagr_pct, max_drawdown_pct, win_rate_pct, trades, slippage_bps
    expected: dict  # sharpe, cagr_pct, max_drawdown_pct, win_rate_pct, slippage_bps
    expected_source: str
    verdict: str
    psr: float | None
    reasons: tuple[str, ...]
    stage: str

    def paragraph(self, on: date) -> str:
        """The **Actual Impact** text (without its label)."""
        live, exp = self.live, self.expected

        def pct(value, spec=".1f"):
            return "n/a" if value is None or not math.isfinite(value) else f"{value:{spec}}%"

        def num(value, spec=".2f"):
            return "n/a" if value is None or not math.isfinite(value) else f"{value:{spec}}"

        win = (f"win rate {pct(live['win_rate_pct'], '.0f')} of {live['trades']} trades"
               if live["trades"] else "win rate n/a (no closed trade)") + \
            f" vs {pct(exp['win_rate_pct'], '.0f')}"
        psr = "" if self.psr is None else f", PSR {self.psr:.2f}"
        return (f"Live {self.first:%Y-%m-%d} → {self.last:%Y-%m-%d} ({self.days} days, "
                f"{self.bars} bars, {self.stage}): Sharpe={num(live['sharpe'])} vs "
                f"{num(exp['sharpe'])} expected, CAGR={pct(live['cagr_pct'])} vs "
                f"{pct(exp['cagr_pct'])}, MaxDD={pct(live['max_drawdown_pct'])} vs "
                f"{pct(exp['max_drawdown_pct'])}, {win}, slippage "
                f"{num(live['slippage_bps'], '.1f')} bps vs {num(exp['slippage_bps'], '.1f')} "
                f"bps budgeted; monitor verdict: {self.verdict}{psr}. Expected: "
                f"{self.expected_source}. Recorded by `otonom strategy record-impact` on "
                f"{on:%Y-%m-%d}.")

    def body(self, on: date) -> str:
        rows = [("Sharpe", "sharpe", "{:.2f}"), ("CAGR %", "cagr_pct", "{:.1f}"),
                ("Max drawdown %", "max_drawdown_pct", "{:.1f}"),
                ("Win rate %", "win_rate_pct", "{:.0f}"), ("Slippage bps", "slippage_bps",
                                                           "{:.1f}")]

        def cell(value, fmt):
            return "n/a" if value is None or not math.isfinite(value) else fmt.format(value)

        table = ["| | live | expected |", "|---|---:|---:|",
                 *(f"| {label} | {cell(self.live[k], f)} | {cell(self.expected[k], f)} |"
                   for label, k, f in rows)]
        return "\n".join([
            f"## Actual impact of `{self.name}`", "",
            f"{self.days} days of live data in the journal ({self.bars} bars, "
            f"{self.live['trades']} closed trades), stage `{self.stage}`.", "", *table, "",
            f"Monitor verdict: **{self.verdict}**", "",
            *(f"- {reason}" for reason in self.reasons), "",
            "STRATEGY_LOG.md now reads:", "", f"> **Actual Impact**: {self.paragraph(on)}", ""])


def _expected(strategy, data_dir: str, params_path: Path) -> tuple[dict, str]:
    from otonom_trader.app.production.monitor import test_backtest

    meta = strategy.metadata or {}
    test = meta.get("test")
    keys = ("sharpe", "cagr_pct", "max_drawdown_pct", "win_rate_pct")
    if isinstance(test, dict) and any(k in test for k in keys):
        source = "the test metrics it was promoted with (metadata.test)"
    else:
        result, split, where = test_backtest(strategy, data_dir, params_path)
        test = result.metrics
        source = (f"its test window {split['test_start']} → {split['test_end']} ({where}), "
                  "backtested now")
    out = {k: test.get(k) if isinstance(test.get(k), int | float) else None for k in keys}
    out["slippage_bps"] = float(strategy.execution.slippage_bps)
    return out, source


def measure(name: str, days: int, *, journal_url: str | None = None,
            production: str = "deployments/production.yaml", data_dir: str = "data",
            params_path: str = "params.yaml") -> Impact:
    """NAME's live record against its expected figures; refused (``InputError``) before
    ``days`` calendar days of journal equity."""
    from otonom_trader.adapters.journal import Journal
    from otonom_trader.app.production.monitor import monitor
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.backtest import Window
    from otonom_trader.engine.reference import reference_metrics

    (report,) = monitor(journal_url, name, production=production, data_dir=data_dir,
                        params_path=params_path)
    journal = Journal(journal_url)
    try:
        rows = journal.equity(name)
    finally:
        journal.close()
    have = (rows[-1]["bar_time"] - rows[0]["bar_time"]).days if rows else 0
    if have < days:
        span = (f"{have} days ({rows[0]['bar_time']:%Y-%m-%d} → {rows[-1]['bar_time']:%Y-%m-%d})"
                if rows else "no live data")
        raise InputError(f"NAME {name!r}: the journal has {span}, --days {days} needs "
                         f"{days - have} more days: run the daemon longer or lower --days")
    import pandas as pd

    equity = pd.Series([r["equity"] for r in rows],
                       index=pd.DatetimeIndex([r["bar_time"] for r in rows]))
    years = Window(0, len(equity) - 1).years(equity.index)
    m = reference_metrics(equity.to_numpy(), [], years, report.periods_per_year)
    expected, source = _expected(load_strategy(report.path), data_dir, Path(params_path))
    d = report.as_dict()
    live = {"sharpe": m["sharpe"], "cagr_pct": m["cagr"] * 100,
            "max_drawdown_pct": -m["max_drawdown"] * 100,
            "win_rate_pct": None if d["win_rate"] is None else d["win_rate"] * 100,
            "trades": report.trades, "slippage_bps": report.slippage_bps}
    return Impact(name, rows[0]["bar_time"], rows[-1]["bar_time"], have, len(rows), live,
                  expected, source, report.verdict.verdict, d["psr"], report.verdict.reasons,
                  report.stage)


@dataclass(frozen=True)
class ImpactOutcome:
    impact: Impact
    paragraph: str
    branch: str
    base: str
    commit: str
    body_path: str
    publish: object  # app.pull_request.PublishResult


def record_impact(name: str, days: int = 30, *, journal_url: str | None = None,
                  production: str = "deployments/production.yaml", data_dir: str = "data",
                  params_path: str = "params.yaml", remote: str = "origin",
                  forge_url: str | None = None, repo: str | None = None, cwd: str | Path = ".",
                  today: date | None = None) -> ImpactOutcome:
    """Measure, rewrite the log on ``impact/<name>-<date>``, commit, push, open the PR."""
    from otonom_trader.adapters.atomic import write_atomic
    from otonom_trader.adapters.git_repo import GitRepo
    from otonom_trader.app.publishing.pull_request import check_forge_settings, publish, save_body
    from otonom_trader.app.repository.strategy_log import LOG_FILE, set_actual_impact
    from otonom_trader.domain.deployment import load_deployment
    from otonom_trader.domain.names import check_name

    check_name(name, "NAME")
    check_forge_settings(forge_url, repo)
    on = today or datetime.now(UTC).date()
    branch = f"{BRANCH_PREFIX}{name}-{on:%Y-%m-%d}"
    with GitRepo(cwd) as git:
        base = git.current_branch()
        dirty = git.dirty_paths(untracked_under=(LOG_FILE,))
        if dirty:
            raise GitStateError(f"the work tree has uncommitted changes ({', '.join(dirty[:5])})"
                                ": commit or stash them first (git stash -u)")
        if git.branch_exists(branch, remote):
            raise GitStateError(f"branch {branch} exists already: delete it (git branch -D "
                                f"{branch}) to record the impact again")
        if all(e.name != name for e in load_deployment(production).entries):
            raise InputError(f"NAME {name!r}: not a strategy of {production}")
        log_path = git.root / LOG_FILE
        if not log_path.is_file():
            raise InputError(f"{LOG_FILE}: no such file in {git.root}; record-impact fills "
                             "the entry `otonom promote` wrote")
        log = log_path.read_text(encoding="utf-8")
        try:
            set_actual_impact(log, name, "")  # the entry is there before anything is measured
        except KeyError as exc:
            raise InputError(f"{LOG_FILE}: {exc.args[0]}; record-impact fills the entry "
                             "`otonom promote` wrote for NAME") from None
        impact = measure(name, days, journal_url=journal_url, production=production,
                         data_dir=data_dir, params_path=params_path)
        paragraph = impact.paragraph(on)
        text = set_actual_impact(log, name, paragraph)
        title = f"Actual impact of {name}: {impact.days} days live"
        pr_name = f"impact-{name}"[:53] + f"-{on:%Y%m%d}"
        body_path = save_body(git.root, pr_name, title=title, body=impact.body(on), head=branch,
                              base=base, remote=remote)
        git.create_branch(branch)
        try:
            write_atomic(log_path, text)
            sha = git.commit([LOG_FILE], f"{title}\n\n**Actual Impact**: {paragraph}\n")
        except BaseException:
            with contextlib.suppress(Exception):
                git.restore(LOG_FILE)
            with contextlib.suppress(Exception):
                git.checkout(base)
            with contextlib.suppress(Exception):
                git.delete_branch(branch)
            raise
        git.checkout(base)
        result = publish(git, branch=branch, base=base, remote=remote, forge_url=forge_url,
                         repo=repo, title=title, body_path=body_path)
    return ImpactOutcome(impact, paragraph, branch, base, sha, body_path, result)
