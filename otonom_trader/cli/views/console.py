"""Console rendering shared by commands (rich tables, notes)."""

from __future__ import annotations

import math

import click

LABELS = {
    "total_return_pct": ("Total return", "{:+.2f}%"),
    "cagr_pct": ("CAGR", "{:+.2f}%"),
    "sharpe": ("Sharpe", "{:.3f}"),
    "sortino": ("Sortino", "{:.3f}"),
    "max_drawdown_pct": ("Max drawdown", "{:.2f}%"),
    "calmar": ("Calmar", "{:.3f}"),
    "win_rate_pct": ("Win rate", "{:.1f}%"),
    "profit_factor": ("Profit factor", "{:.3f}"),
    "exposure_pct": ("Exposure", "{:.1f}%"),
    "n_trades": ("Trades", "{:d}"),
    "final_equity": ("Final equity", "{:,.2f}"),
}


def format_metric(name: str, value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "∞" if value == math.inf else "n/a"
    return LABELS[name][1].format(value)


def metrics_table(metrics: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{title}[/bold]")
    table = Table()
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for name, (label, _) in LABELS.items():
        table.add_row(label, format_metric(name, metrics[name]))
    console.print(table)


def echo_notes(notes) -> None:
    for note in notes:
        click.echo(f"note: {note}", err=True)


def progress_bar():
    """A rich progress bar with count, rate and ETA (stays quiet when not on a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:,.0f} runs/s" if task.speed else "", style="cyan")

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
    )
