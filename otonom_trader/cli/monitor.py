"""``otonom monitor``: live vs expected per deployed strategy (the work is in
``app.production.monitor``)."""

from __future__ import annotations

import click


def _num(value, spec: str = ".2f") -> str:
    import math

    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a" if value is None or math.isnan(value) else "∞"
    return format(value, spec)


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--journal", "journal_url", default=None, metavar="DB_URL",
              help="The daemon's journal (default: the experiment store, OTONOM_DB).")
@click.option("--production", default="deployments/production.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="`rollout:` thresholds; the split of "
              "strategies without promotion metadata.")
@click.option("--data-dir", default="data", show_default=True)
@click.option("--export", "export", type=click.Choice(["html"]),
              help="Also write an offline page: live cumulative return in a bootstrap cone of "
                   "the expected returns, drawdown against its bound, slippage per fill.")
@click.option("--output", type=click.Path(dir_okay=False), default="reports/monitor.html",
              show_default=True, help="Where --export html writes.")
def monitor(name, as_json, journal_url, production, params_path, data_dir, export, output):
    """Live Sharpe, PSR and MinTRL, drawdown and time under water against their bounds, a
    CUSUM alarm, win rate and slippage of each deployed strategy (or NAME) against what it was
    promoted with, and a verdict: advance, hold, rollback or inconclusive."""
    from rich.console import Console
    from rich.table import Table

    from otonom_trader.app.production.monitor import monitor as run_monitor
    from otonom_trader.app.production.monitor import portfolio
    from otonom_trader.domain.json_text import dumps

    if export:
        from otonom_trader.adapters.monitor_report import monitor_html
        from otonom_trader.adapters.output import check_output, write_atomic_text
        from otonom_trader.app.production.monitor_page import monitor_series

        check_output(output, "--output", ".html")
        write_atomic_text(output, "--output", ".html", monitor_html(monitor_series(
            journal_url, name, production=production, data_dir=data_dir,
            params_path=params_path)))
        click.echo(f"📄 {output}", err=as_json)
    reports = run_monitor(journal_url, name, production=production, data_dir=data_dir,
                          params_path=params_path)
    rows = [r.as_dict() for r in reports]
    combined = None if name else portfolio(reports, journal_url, production=production)
    if as_json:
        payload = {"strategies": rows}
        if combined is not None:
            payload["portfolio"] = combined.as_dict()
        click.echo(dumps(payload))
        return
    console = Console(highlight=False)
    for r in rows:
        table = Table(title=f"{r['deployment']} ({r['stage']}): {r['verdict']}",
                      caption=f"expected from the {r['expected_source']}",
                      title_justify="left")
        for column in ("", "live", "expected / bound"):
            table.add_column(column, justify="right" if column else "left")
        table.add_row("returns", str(r["returns"]), _num(r["min_track_record"], ".0f") +
                      " needed (MinTRL)")
        table.add_row("Sharpe (annualised)", _num(r["live_sharpe"]),
                      _num(r["expected_sharpe"]))
        table.add_row("PSR vs haircut", _num(r["psr"], ".3f"), "")
        table.add_row("drawdown", _num(r["drawdown"], ".2%"), _num(r["drawdown_bound"], ".2%"))
        table.add_row("under water (bars)", str(r["under_water"]),
                      _num(r["under_water_bound"], ".0f"))
        table.add_row("CUSUM alarm", "—" if r["cusum_alarm_at"] is None else
                      f"bar {r['cusum_alarm_at'] + 1}", "")
        low, high = r["win_rate_ci"]
        table.add_row("win rate", _num(r["win_rate"], ".0%") + f" of {r['trades']} "
                      f"[{_num(low, '.0%')}, {_num(high, '.0%')}]",
                      _num(r["expected_win_rate"], ".0%"))
        table.add_row("slippage (bps)", _num(r["slippage_bps"]),
                      _num(r["slippage_budget_bps"]))
        table.add_row("days in stage", "n/a (no `since`)" if r["days_in_stage"] is None
                      else str(r["days_in_stage"]), "")
        console.print(table)
        for reason in r["reasons"]:
            console.print(f"  {reason}")
    if combined is not None:
        _portfolio_table(console, combined.as_dict())


def _portfolio_table(console, p: dict) -> None:
    from rich.table import Table

    title = (f"portfolio: {', '.join(p['members'])} on {p['capital']:,.2f} "
             f"({p['cash']:,.2f} unallocated)")
    table = Table(title=title, title_justify="left",
                  caption="journal equity summed on the bars every member has; expected = the "
                          "allocation-weighted mean of the members' test windows")
    for column in ("", "live", "expected"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("bars", str(p["bars"]), "")
    table.add_row("equity", _num(p["equity"], ",.2f"), "")
    table.add_row("return", _num(p["return"], ".2%"), _num(p["expected_return"], ".2%"))
    table.add_row("mean return (annualised)", _num(p["live_mean_annualised"], ".2%"),
                  _num(p["expected_mean_annualised"], ".2%"))
    table.add_row("max drawdown", _num(p["max_drawdown"], ".2%"), "")
    console.print(table)
    if p["missing"]:
        console.print(f"  no journal equity yet for {', '.join(p['missing'])}")
