"""``otonom backtest``: one strategy, one symbol, one window; or with ``--portfolio`` the
allocated strategies of a production file on shared capital (``app.portfolio``)."""

from __future__ import annotations

import click

from otonom_trader.cli import ranges


@click.command()
@click.option("--strategy-path", type=click.Path(dir_okay=False), help="Strategy YAML file.")
@click.option("--portfolio", "portfolio_path", type=click.Path(dir_okay=False),
              help="A production file (deployments/production.yaml): its paper and live "
                   "strategies on its capital, each with its capital_pct.")
@click.option("--symbol", help="Symbol (default: the strategy's data.symbol).")
@click.option("--start-date", help="First date of the window (YYYY-MM-DD).")
@click.option("--end-date", help="Last date of the window (YYYY-MM-DD).")
@click.option("--initial-capital", type=ranges.CAPITAL, default=10_000.0, show_default=True)
@click.option("--periods-per-year", type=ranges.PERIODS_PER_YEAR,
              help="Override the inferred periods per year.")
@click.option("--data-dir", default="data", show_default=True, help="User and prepared data.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.option("--trades", "trades_path", type=click.Path(dir_okay=False), help="Write trades CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write an HTML equity/drawdown plot.")
def backtest(strategy_path, portfolio_path, symbol, start_date, end_date, initial_capital,
             periods_per_year, data_dir, as_json, trades_path, plot_path):
    """Backtest one strategy on one symbol and print its metrics (or, with --portfolio, the
    allocated strategies of a production file on shared capital)."""
    if portfolio_path is not None:
        _portfolio(portfolio_path, strategy_path, symbol, start_date, end_date,
                   periods_per_year, data_dir, as_json, trades_path, plot_path)
        return
    if strategy_path is None:
        from otonom_trader.domain.errors import InputError

        raise InputError("pass --strategy-path FILE (or --portfolio deployments/production.yaml)")
    from otonom_trader.adapters.output import check_output, write_output
    from otonom_trader.app.backtest import run_backtest
    from otonom_trader.cli.views.console import echo_notes, metrics_table
    from otonom_trader.domain.json_text import dumps

    for flag, path, suffix in (("--trades", trades_path, ".csv"), ("--plot", plot_path, ".html")):
        if path:
            check_output(path, flag, suffix)
    result = run_backtest(strategy_path, symbol, start_date, end_date, initial_capital,
                          periods_per_year, data_dir)
    echo_notes(result.notes)
    if trades_path:
        write_output(trades_path, "--trades", ".csv",
                     lambda tmp: result.trades.to_csv(tmp, index=False))
    if plot_path:
        from otonom_trader.adapters.equity_plot import equity_figure, write_html
        from otonom_trader.engine.data import load_bars

        bars = load_bars(result.symbol, data_dir, result.strategy.data.on_bad_bars)
        close = bars["Close"].loc[result.start:result.end]
        title = f"{result.strategy.name} on {result.symbol}"
        write_html(equity_figure(result.equity, close, title), plot_path, "--plot")
    if as_json:
        payload = {
            "strategy": result.strategy.name,
            "symbol": result.symbol,
            "start": f"{result.start:%Y-%m-%d}",
            "end": f"{result.end:%Y-%m-%d}",
            "bars": len(result.equity),
            "periods_per_year": result.periods_per_year,
            "initial_capital": result.initial_capital,
            **result.metrics,
        }
        click.echo(dumps(payload))
        return
    title = (f"{result.strategy.name} on {result.symbol}, {result.start:%Y-%m-%d} → "
             f"{result.end:%Y-%m-%d} ({len(result.equity)} bars)")
    metrics_table(result.metrics, title)
    for label, path in (("trades", trades_path), ("plot", plot_path)):
        if path:
            click.echo(f"✓ wrote {label}: {path}")


def _portfolio(path, strategy_path, symbol, start_date, end_date, periods_per_year, data_dir,
               as_json, trades_path, plot_path):
    from otonom_trader.app.portfolio import run_portfolio
    from otonom_trader.cli.views.console import echo_notes, format_metric, metrics_table
    from otonom_trader.domain.errors import InputError
    from otonom_trader.domain.json_text import dumps, finite

    ctx = click.get_current_context()
    given = [flag for flag, value in (("--strategy-path", strategy_path), ("--symbol", symbol),
                                      ("--periods-per-year", periods_per_year),
                                      ("--trades", trades_path), ("--plot", plot_path))
             if value is not None]
    if ctx.get_parameter_source("initial_capital") != click.core.ParameterSource.DEFAULT:
        given.append("--initial-capital")
    if given:
        raise InputError(f"{given[0]} does not apply to --portfolio (the production file sets "
                         "the strategies, their symbols and the capital)")
    result = run_portfolio(path, start_date, end_date, data_dir)
    echo_notes(result.notes)
    contributions = {c["name"]: c for c in result.contributions()}
    if as_json:
        click.echo(dumps(finite({
            "portfolio": result.production,
            "start": f"{result.start:%Y-%m-%d}",
            "end": f"{result.end:%Y-%m-%d}",
            "bars": len(result.equity),
            "periods_per_year": result.periods_per_year,
            "capital": result.capital,
            "cash": result.cash,
            "members": [{"name": m.name, "stage": m.stage, "capital_pct": m.capital_pct,
                         "symbol": m.result.symbol, "initial_capital": m.result.initial_capital,
                         "final_equity": float(m.equity.iloc[-1]),
                         **{k: v for k, v in contributions[m.name].items() if k != "name"},
                         "metrics": m.result.metrics} for m in result.members],
            "excluded": [{"name": n, "reason": why} for n, why in result.excluded],
            "correlation": {a: {b: float(v) for b, v in row.items()}
                            for a, row in result.correlation.iterrows()},
            **result.metrics,
        })))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"{result.production}: {len(result.members)} strategies on "
                        f"{result.capital:,.2f} ({result.cash:,.2f} unallocated)",
                  title_justify="left")
    for column in ("strategy", "stage", "alloc", "symbol", "P&L", "P&L share", "Sharpe"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for m in result.members:
        c = contributions[m.name]
        share = "n/a" if c["pnl_share"] is None else f"{c['pnl_share']:.1%}"
        table.add_row(m.name, m.stage, f"{m.capital_pct:g}%", m.result.symbol,
                      f"{c['pnl']:+,.2f}", share, format_metric("sharpe",
                                                                 m.result.metrics["sharpe"]))
    console.print(table)
    for name, why in result.excluded:
        console.print(f"  excluded {name}: {why}")
    metrics_table(result.metrics, f"combined, {result.start:%Y-%m-%d} → {result.end:%Y-%m-%d} "
                                  f"({len(result.equity)} bars)")
    if len(result.members) > 1:
        corr = Table(title="correlation of per-bar returns", title_justify="left")
        corr.add_column("")
        for name in result.correlation.columns:
            corr.add_column(name, justify="right")
        for name, row in result.correlation.iterrows():
            corr.add_row(name, *("n/a" if v != v else f"{v:+.2f}" for v in row))
        console.print(corr)
