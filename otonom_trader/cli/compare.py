"""``otonom compare``: two strategies on the same data and window, side by side."""

from __future__ import annotations

import math
import re

import click

from otonom_trader.cli import ranges


@click.command()
@click.option("--baseline", "baseline_path", required=True, type=click.Path(dir_okay=False),
              help="Strategy YAML of the baseline (e.g. production).")
@click.option("--candidate", "candidate_path", required=True, type=click.Path(dir_okay=False),
              help="Strategy YAML of the candidate.")
@click.option("--symbol", help="Symbol (default: the baseline's data.symbol).")
@click.option("--start-date", help="First date of the window (YYYY-MM-DD).")
@click.option("--end-date", help="Last date of the window (YYYY-MM-DD).")
@click.option("--initial-capital", type=ranges.CAPITAL, default=10_000.0, show_default=True)
@click.option("--periods-per-year", type=ranges.PERIODS_PER_YEAR,
              help="Override the inferred periods per year.")
@click.option("--data-dir", default="data", show_default=True, help="User and prepared data.")
@click.option("--bootstrap", "n_resamples", type=ranges.BOOTSTRAP, default=2_000, show_default=True,
              help="Resamples of the paired block bootstrap of the Sharpe difference.")
@click.option("--seed", type=ranges.SEED, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.option("--export", type=click.Choice(["html"]),
              help="Write a self-contained report (equity, drawdowns, metrics).")
@click.option("--output", "output_path", type=click.Path(dir_okay=False),
              help="Report path (default: reports/compare_<baseline>_vs_<candidate>.html).")
def compare(baseline_path, candidate_path, symbol, start_date, end_date, initial_capital,
            periods_per_year, data_dir, n_resamples, seed, as_json, export, output_path):
    """Compare two strategies on the same symbol and window, with a significance test of
    their Sharpe difference (paired circular block bootstrap, 95% interval)."""
    from otonom_trader.app.compare import run_compare
    from otonom_trader.cli.views.console import echo_notes

    if output_path and not export:
        raise click.UsageError("--output needs --export html")
    result = run_compare(baseline_path, candidate_path, symbol, start_date, end_date,
                         initial_capital, periods_per_year, data_dir, n_resamples, seed)
    echo_notes(result.notes)
    report = None
    if export:
        from otonom_trader.adapters.equity_plot import write_html

        report = output_path or default_report_path(result)
        write_html(compare_figure(result), report)
    if as_json:
        from otonom_trader.domain.json_text import dumps

        click.echo(dumps(payload(result, report)))
        return
    print_comparison(result)
    if report:
        click.echo(f"✓ wrote report: {report}")


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "strategy"


def default_report_path(result) -> str:
    return (f"reports/compare_{_slug(result.baseline.strategy.name)}_vs_"
            f"{_slug(result.candidate.strategy.name)}.html")


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def payload(result, report: str | None = None) -> dict:
    """The JSON object ``--json`` prints."""
    from otonom_trader.domain.metrics import json_safe

    test = result.sharpe_test

    def side(res, path):
        return {"strategy": res.strategy.name, "path": path, **json_safe(res.metrics)}

    return {
        "symbol": result.symbol,
        "start": f"{result.baseline.start:%Y-%m-%d}",
        "end": f"{result.baseline.end:%Y-%m-%d}",
        "bars": result.bars,
        "periods_per_year": result.baseline.periods_per_year,
        "initial_capital": result.baseline.initial_capital,
        "baseline": side(result.baseline, result.baseline_path),
        "candidate": side(result.candidate, result.candidate_path),
        "difference": json_safe(result.difference),
        "sharpe_test": {
            "difference": _finite(test.difference),
            "ci_low": _finite(test.ci_low),
            "ci_high": _finite(test.ci_high),
            "confidence": test.confidence,
            "method": "paired circular block bootstrap",
            "resamples": test.n_resamples,
            "block_length": test.block_length,
            "returns": test.n_returns,
            "seed": test.seed,
        },
        "verdict": test.verdict,
        "report": report,
        "notes": list(result.notes),
    }


def format_difference(name: str, value) -> str:
    """Candidate − baseline with a sign; percent metrics differ in percentage points."""
    from otonom_trader.cli.views.console import LABELS

    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    fmt = LABELS[name][1]
    if not fmt.startswith("{:+"):
        fmt = fmt.replace("{:", "{:+", 1)
    if fmt.endswith("%"):
        fmt = fmt[:-1] + " pp"
    return fmt.format(value)


def sharpe_line(result) -> str:
    test = result.sharpe_test
    pct = f"{test.confidence:.0%}"
    return (f"Sharpe difference {test.difference:+.3f} ({pct} CI {test.ci_low:+.3f} … "
            f"{test.ci_high:+.3f}; paired circular block bootstrap, {test.n_resamples:,} "
            f"resamples of {test.block_length}-bar blocks, seed {test.seed})")


def print_comparison(result) -> None:
    from rich.console import Console
    from rich.table import Table

    from otonom_trader.cli.views.console import LABELS, format_metric

    base, cand = result.baseline, result.candidate
    console = Console()
    console.print(f"[bold]{base.strategy.name} vs {cand.strategy.name} on {result.symbol}, "
                  f"{base.start:%Y-%m-%d} → {base.end:%Y-%m-%d} ({result.bars} bars)[/bold]")
    table = Table()
    table.add_column("Metric")
    table.add_column(f"Baseline\n{base.strategy.name}", justify="right")
    table.add_column(f"Candidate\n{cand.strategy.name}", justify="right")
    table.add_column("Difference", justify="right")
    for name, (label, _) in LABELS.items():
        table.add_row(label, format_metric(name, base.metrics[name]),
                      format_metric(name, cand.metrics[name]),
                      format_difference(name, result.difference[name]))
    console.print(table)
    console.print(sharpe_line(result))
    style = {"candidate better": "green", "candidate worse": "red"}.get(
        result.sharpe_test.verdict, "yellow")
    console.print(f"Verdict: [bold {style}]{result.sharpe_test.verdict}[/bold {style}]")


def compare_figure(result):
    """Both equity curves, both drawdowns and the metrics table on one plotly figure."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from otonom_trader.cli.views.console import LABELS, format_metric

    base, cand = result.baseline, result.candidate
    fig = make_subplots(
        rows=3, cols=1, row_heights=[0.45, 0.2, 0.35], vertical_spacing=0.06,
        specs=[[{"type": "xy"}], [{"type": "xy"}], [{"type": "table"}]],
        subplot_titles=("Equity", "Drawdown (%)", "Metrics"),
    )
    for res, role, color in ((base, "baseline", "#1f77b4"), (cand, "candidate", "#d62728")):
        label = f"{role}: {res.strategy.name}"
        fig.add_trace(go.Scatter(x=res.equity.index, y=res.equity.to_numpy(), name=label,
                                 line={"color": color}), 1, 1)
        drawdown = (res.equity / res.equity.cummax() - 1.0) * 100.0
        fig.add_trace(go.Scatter(x=drawdown.index, y=drawdown.to_numpy(),
                                 name=f"{label} drawdown", line={"color": color},
                                 showlegend=False), 2, 1)
    fig.update_xaxes(matches="x", row=2, col=1)
    names = list(LABELS)
    fig.add_trace(go.Table(
        header={"values": ["Metric", f"Baseline: {base.strategy.name}",
                           f"Candidate: {cand.strategy.name}", "Difference"]},
        cells={"values": [
            [LABELS[n][0] for n in names],
            [format_metric(n, base.metrics[n]) for n in names],
            [format_metric(n, cand.metrics[n]) for n in names],
            [format_difference(n, result.difference[n]) for n in names],
        ]},
    ), 3, 1)
    title = (f"{base.strategy.name} vs {cand.strategy.name} on {result.symbol}, "
             f"{base.start:%Y-%m-%d} → {base.end:%Y-%m-%d}<br><sup>{sharpe_line(result)}: "
             f"{result.sharpe_test.verdict}</sup>")
    fig.update_layout(title=title, height=1000, hovermode="x unified")
    return fig
