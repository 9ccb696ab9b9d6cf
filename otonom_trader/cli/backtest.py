"""``otonom backtest``: one strategy, one symbol, one window."""

from __future__ import annotations

import click

from otonom_trader.cli import ranges


@click.command()
@click.option("--strategy-path", required=True, type=click.Path(dir_okay=False),
              help="Strategy YAML file.")
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
def backtest(strategy_path, symbol, start_date, end_date, initial_capital, periods_per_year,
             data_dir, as_json, trades_path, plot_path):
    """Backtest one strategy on one symbol and print its metrics."""
    from otonom_trader.adapters.output import check_output, write_output
    from otonom_trader.app.backtest import run_backtest
    from otonom_trader.cli.render import echo_notes, metrics_table
    from otonom_trader.domain.json_text import dumps

    for flag, path in (("--trades", trades_path), ("--plot", plot_path)):
        if path:
            check_output(path, flag)
    result = run_backtest(strategy_path, symbol, start_date, end_date, initial_capital,
                          periods_per_year, data_dir)
    echo_notes(result.notes)
    if trades_path:
        write_output(trades_path, "--trades", lambda tmp: result.trades.to_csv(tmp, index=False))
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
