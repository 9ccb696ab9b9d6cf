"""``otonom daemon run|status``: production follows git (the work is in app/production)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from otonom_trader.cli.ranges import FiniteRange


@click.group()
def daemon() -> None:
    """Run production from deployments/production.yaml on a branch; show its state."""


@daemon.command()
@click.option("--once", is_flag=True, help="Run one tick and exit.")
@click.option("--interval", type=FiniteRange(min=0.0), default=3600.0, show_default=True,
              help="Seconds between ticks (live feeds).")
@click.option("--feed", default=None, metavar="replay:SYMBOL[:FROM[:TO]] | file:PATH",
              help="Where bars come from (default: a replay of each strategy's symbol).")
@click.option("--speed", type=FiniteRange(min=0.0), default=None,
              help="Replay pace in bars per second (0 = as fast as possible); stops at "
                   "the replay's end.")
@click.option("--branch", default="main", show_default=True, help="The branch to follow.")
@click.option("--journal", "journal_url", default=None, metavar="DB_URL",
              help="The journal database (default: the experiment store, OTONOM_DB).")
@click.option("--repo", "root", type=click.Path(path_type=Path), default=Path("."),
              help="The strategy repository's work tree.")
@click.option("--failsafe-prs/--no-failsafe-prs", default=None,
              help="Whether the fail-safe opens the rollback pull request (default: yes, "
                   "except on a replay feed, which is a simulation).")
@click.option("--max-ticks", type=click.IntRange(min=1), default=None, hidden=True)
def run(once, interval, feed, speed, branch, journal_url, root, failsafe_prs,
        max_ticks) -> None:
    """Reconcile production to the branch every tick: git → validate → bars → engine →
    orders, journaled before they are sent."""
    from otonom_trader.app.production.daemon import DaemonConfig
    from otonom_trader.app.production.run import run_daemon

    def started(found: list[str]) -> None:
        for line in found:
            click.echo(f"⚠ {line}", err=True)

    def ticked(n: int, report) -> None:
        for note in report.notes:
            click.echo(f"⚠ {note}", err=True)
        if once or report.orders or n % 250 == 0:
            click.echo(f"tick {n}: {report.bars} bar(s) decided, {report.orders} order(s)")

    config = DaemonConfig(root=root, branch=branch, feed=feed, journal_url=journal_url,
                          failsafe_prs=failsafe_prs)
    n = run_daemon(config, once=once, interval=interval, speed=speed, max_ticks=max_ticks,
                   on_tick=ticked, on_start=started)
    click.echo(f"✅ {n} tick(s) done; `otonom daemon status` shows the journal")


@daemon.command()
@click.option("--feed", default=None, metavar="replay:SYMBOL[:FROM[:TO]]",
              help="The replay the journal was made from (its symbol).")
@click.option("--branch", default="main", show_default=True)
@click.option("--journal", "journal_url", default=None, metavar="DB_URL")
@click.option("--repo", "root", type=click.Path(path_type=Path), default=Path("."))
def parity(feed, branch, journal_url, root) -> None:
    """Compare the journal's fills and final equity with `otonom backtest` over the same
    bars; exit 1 when they differ. The result shows in `otonom daemon status`."""
    from otonom_trader.app.production.daemon import DaemonConfig
    from otonom_trader.app.production.parity import check_all
    from otonom_trader.domain.errors import GateFailed

    results = check_all(DaemonConfig(root=root, branch=branch, feed=feed,
                                     journal_url=journal_url))
    for name, ok, message in results:
        click.echo(f"{'✅' if ok else '❌'} {name}: {message}")
    if not all(ok for _, ok, _ in results):
        raise GateFailed("backtest–live parity failed")


@daemon.command()
@click.option("--journal", "journal_url", default=None, metavar="DB_URL",
              help="The journal database (default: the experiment store, OTONOM_DB).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(journal_url, as_json) -> None:
    """Per strategy: stage, commit, last tick and bar, position, equity, open orders,
    latest events and the last parity check."""
    from otonom_trader.app.production.status import daemon_status

    data = daemon_status(journal_url)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=120)  # a file or a pipe: no terminal to fit
    table = Table(title=f"otonom daemon — journal {data['journal']}")
    for col in ("Strategy", "Stage", "Commit", "Last bar", "Position", "Equity", "Orders",
                "Open", "Latest event"):
        table.add_column(col, no_wrap=col in ("Commit", "Last bar", "Equity"))
    for s in data["strategies"]:
        p = s["position"]
        ev = s["events"][0] if s["events"] else None
        table.add_row(
            s["strategy"], s["stage"] or "-",
            (s["commit"] or "-")[:12], (s["last_bar"] or "-")[:10],
            f"{p['qty']:g} {p['symbol'] or ''}",
            f"{s['equity']:,.2f}" if s["equity"] is not None else "-", str(s["orders"]),
            str(len(s["open_orders"])), ev["kind"] if ev else "-")
    console.print(table)
    for s in data["strategies"]:
        console.print(f"{s['strategy']} parity: {s['parity'] or 'not checked yet'}")
    if not data["strategies"]:
        click.echo("no daemon tick journaled yet: run `otonom daemon run --once`")
