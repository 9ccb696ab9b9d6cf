"""The pull request (and commit message) of a promotion, as Markdown text."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from otonom_trader.app.repository.strategy_log import format_value
from otonom_trader.domain.redact import redact

if TYPE_CHECKING:
    from otonom_trader.app.promotion.model import Promotion

__all__ = ["commit_message", "metric_text", "pr_body", "pr_title"]

_ROWS = (("sharpe", "Sharpe", "{:.3f}"), ("cagr_pct", "CAGR", "{:+.2f}%"),
         ("sortino", "Sortino", "{:.3f}"), ("calmar", "Calmar", "{:.3f}"),
         ("max_drawdown_pct", "Max drawdown", "{:.2f}%"),
         ("total_return_pct", "Total return", "{:+.2f}%"), ("win_rate_pct", "Win rate", "{:.1f}%"),
         ("profit_factor", "Profit factor", "{:.3f}"), ("exposure_pct", "Exposure", "{:.1f}%"),
         ("n_trades", "Trades", "{:d}"), ("final_equity", "Final equity", "{:,.2f}"))
_FORMATS = {key: fmt for key, _, fmt in _ROWS}


def metric_text(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if key == "n_trades":
        value = int(value)
    return _FORMATS[key].format(value)


def _short(metrics: dict | None) -> str:
    if not metrics:
        return "n/a"
    return (f"Sharpe {metric_text('sharpe', metrics['sharpe'])}, "
            f"CAGR {metric_text('cagr_pct', metrics['cagr_pct'])}, "
            f"MaxDD {metric_text('max_drawdown_pct', metrics['max_drawdown_pct'])}")


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _search(search: Any) -> str:
    if not isinstance(search, dict):
        return str(search)
    kind = search.get("kind", "grid")
    if kind == "random":
        return f"random (n_iter {search.get('n_iter')}, seed {search.get('seed')})"
    if kind == "optuna" and search.get("objectives"):
        return (f"optuna NSGA-II on {search.get('window')} {', '.join(search['objectives'])} "
                f"(n_trials {search.get('n_iter')}, seed {search.get('seed')})")
    if kind == "optuna":
        return (f"optuna TPE on {search.get('window')} {search.get('metric')} "
                f"(n_trials {search.get('n_iter')}, seed {search.get('seed')})")
    return str(kind)


def pr_title(p: Promotion) -> str:
    return (f"Promote {p.name}: {p.experiment.name} run #{p.selection.run.run_number} "
            f"(test Sharpe {metric_text('sharpe', p.selection.run.test['sharpe'])})"
            + (" [forced: fails the gates]" if p.forced else ""))


def commit_message(p: Promotion) -> str:
    run, of = p.selection.run, p.overfitting
    return "\n".join([
        f"Promote {p.name} from experiment {p.experiment.name} "
        f"(ID {p.experiment.id}, run #{run.run_number})",
        "",
        f"Selected by {p.selection.rule.label} among {p.selection.n_done} done runs; "
        f"parent {p.parent.name}.",
        f"Train: {_short(run.train)}",
        f"Test:  {_short(run.test)}",
        f"Train-test Sharpe gap {_num(of.sharpe_gap, '.3f')}, DSR {_num(of.dsr, '.3f')}, "
        f"PBO {_num(of.pbo, '.3f')}",
        *(["Forced with --allow-overfit; failed gates: " + "; ".join(p.forced)]
          if p.forced else []),
        *(f"{path}: {format_value(old)} -> {format_value(new)}"
          for path, (old, new) in p.changes.items()),
    ]) + "\n"


def _metrics_table(p: Promotion) -> list[str]:
    parent = p.parent.name
    lines = [f"| Metric | Train {p.name} | Train {parent} | Test {p.name} | Test {parent} |",
             "|---|---:|---:|---:|---:|"]
    run = p.selection.run
    pt, ps = p.parent_metrics.get("train") or {}, p.parent_metrics.get("test") or {}
    for key, label, _ in _ROWS:
        lines.append(f"| {label} | {metric_text(key, run.train.get(key))} | "
                     f"{metric_text(key, pt.get(key))} | {metric_text(key, run.test.get(key))} | "
                     f"{metric_text(key, ps.get(key))} |")
    return lines


def _dvc_line(p: Promotion) -> list[str]:
    dvc = (p.strategy.metadata or {}).get("dvc_experiment")
    if not dvc:
        return []
    return ["", f"Produced by DVC experiment **{dvc['name']}** (commit `{dvc['rev'][:7]}`"
            + (f", baseline `{dvc['baseline'][:7]}`" if dvc.get("baseline") else "") + ")."]


def _window_note(p: Promotion) -> list[str]:
    """What the test window is (selection or out-of-sample) and the hold-out result."""
    if p.selection.rule.window == "test":
        lines = ["", "The test window was the **selection window** (runs were ranked on it): "
                 "its metrics are post-selection; the DSR's trial count corrects for that."]
    else:
        lines = ["", "Runs were ranked on the **train** window: the test window is "
                 "out-of-sample."]
    if p.holdout is None:
        return [*lines, "No hold-out window (`split.holdout_start`/`holdout_end`)."]
    split = p.experiment.split
    return [*lines, "", f"**Hold-out** {split['holdout_start']} → {split['holdout_end']} "
            "(never ranked; this run only): " + _short(p.holdout)]


def _walk_forward_lines(p: Promotion) -> list[str]:
    """The walk-forward this run is the last fold's selection of: its stitched figures."""
    wf = p.metadata.get("walk_forward")
    if not wf:
        return []
    o, last = wf["oos"], wf["last_fold"]

    def num(value, spec):
        return "n/a" if value is None else format(value, spec)

    paths = "; ".join(f"`{k}`: {' → '.join(map(str, v))}"
                      for k, v in wf["parameter_paths"].items())
    return ["", f"**Walk-forward** {wf['name']} (ID {wf['id']}): {wf['n_folds']} folds "
            f"({'anchored' if wf['anchored'] else 'rolling'}, train {wf['train_years']:g} y, "
            f"test {wf['test_years']:g} y, gap {wf['gap_days']} days); this is fold "
            f"{last['fold']}'s selection. Stitched out-of-sample: Sharpe "
            f"{num(o['sharpe'], '.2f')} (t = {num(o['t_stat'], '.2f')}, PSR "
            f"{num(o['psr'], '.3f')}), CAGR {num(o['cagr_pct'], '+.2f')}%, max drawdown "
            f"{num(o['max_drawdown_pct'], '.1f')}%; walk-forward efficiency "
            f"{num(wf['wfe'], '.2f')}. Parameters per fold: {paths}."]


def _forced_lines(p: Promotion) -> list[str]:
    if not p.forced:
        return []
    return ["", "> [!WARNING]", "> **Forced with `--allow-overfit`**: this run fails the "
            "`params.yaml` gates; `otonom validate` will fail it too.", ">",
            *(f"> - {reason}" for reason in p.forced)]


def pr_body(p: Promotion, promote_command: str) -> str:
    run, sel, exp, of = p.selection.run, p.selection, p.experiment, p.overfitting
    split = exp.split
    windows = (f"train {split['train_start']} → {split['train_end']}, "
               f"test {split['test_start']} → {split['test_end']}")
    changes = [f"| `{path}` | {format_value(old)} | {format_value(new)} |"
               for path, (old, new) in p.changes.items()]
    if not changes:
        changes = ["| (none) | | |"]
    gap_state = ("" if of.sharpe_gap is None else
                 " ✅" if of.sharpe_gap <= sel.max_gap else " ⚠️ above the gate")
    skipped = (f" {len(sel.skipped)} better run(s) were skipped for a train−test Sharpe gap "
               f"above {sel.max_gap:g}." if sel.skipped else "")
    backtest = (f"otonom backtest --strategy-path {p.path} --start-date {split['test_start']} "
                f"--end-date {split['test_end']} --symbol {exp.symbol}")
    if p.initial_capital != 10_000.0:
        backtest += f" --initial-capital {p.initial_capital:g}"
    lines = [
        f"## Promote `{p.name}` (parent `{p.parent.name}`)",
        "",
        f"Best `done` run by **{sel.rule.label}** of experiment **{exp.name}** "
        f"(ID {exp.id}): run #{run.run_number} of {sel.n_done}.{skipped}",
        *_window_note(p),
        *_walk_forward_lines(p),
        *_dvc_line(p),
        *_forced_lines(p),
        "",
        "### Metrics",
        "",
        f"{exp.symbol}, {windows}. The parent columns are `{p.parent.name}`'s own backtest on "
        "the same windows.",
        "",
        *_metrics_table(p),
        "",
        "### Parameter changes",
        "",
        f"| Parameter | {p.parent.name} | {p.name} |",
        "|---|---:|---:|",
        *changes,
        "",
        "### Overfitting diagnostics",
        "",
        "| Statistic | Value |",
        "|---|---:|",
        f"| Train−test Sharpe gap (gate ≤ {sel.max_gap:g}) | "
        f"{_num(of.sharpe_gap, '.3f')}{gap_state} |",
        f"| Deflated Sharpe Ratio ({of.n_trials} trials) | {_num(of.dsr, '.3f')} |",
        f"| Probability of Backtest Overfitting (CSCV) | {_num(of.pbo, '.3f')} |",
        f"| Variance of per-period test Sharpe across trials | "
        f"{_num(of.sharpe_variance, '.3g')} |",
        "",
        "### Experiment",
        "",
        f"- runs: {exp.total_runs} (done {sel.n_done}, failed {sel.n_failed})",
        f"- search: {_search(exp.search)}",
        f"- split: {windows}",
        f"- symbol: {exp.symbol}, data fingerprint `{exp.data_fingerprint[:16]}`",
        f"- initial capital: {p.initial_capital:,.2f}",
        "",
        "### Expected impact",
        "",
        (p.expected_impact or "").strip() or "(not stated)",
        "",
        "### Reproduce",
        "",
        "```bash",
        redact(exp.command) if exp.command else "# (the experiment's command was not "
                                                      "recorded)",
        redact(promote_command),
        backtest,
        "```",
    ]
    if p.notes:
        lines += ["", "### Notes", "", *(f"- {note}" for note in p.notes)]
    return "\n".join(lines) + "\n"
