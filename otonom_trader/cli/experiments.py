"""``otonom experiments``: grid/random search and the experiment store."""

from __future__ import annotations

import math
import shlex
import sys

import click

SPLIT_FLAGS = ("train_start", "train_end", "test_start", "test_end")


@click.group()
def experiments():
    """Run parameter searches and browse the experiment store."""


@experiments.command("grid-search")
@click.option("--name", help="Experiment name (unique in the store).")
@click.option("--strategy-path", type=click.Path(dir_okay=False), help="Base strategy YAML.")
@click.option("--grid-path", type=click.Path(dir_okay=False), help="Grid YAML.")
@click.option("--symbol", help="Symbol (default: the strategy's data.symbol).")
@click.option("--train-start", help="First date of the train window.")
@click.option("--train-end", help="Last date of the train window.")
@click.option("--test-start", help="First date of the test window.")
@click.option("--test-end", help="Last date of the test window.")
@click.option("--search", type=click.Choice(["grid", "random"]), help="Override the grid file.")
@click.option("--n-iter", type=click.IntRange(min=1), help="Runs of a random search.")
@click.option("--seed", type=int, help="Seed of a random search.")
@click.option("--workers", type=click.IntRange(min=1), help="Threads (default: all cores).")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store (default: OTONOM_DB or "
              "sqlite:///.otonom/experiments.db).")
@click.option("--resume", "resume_id", type=int, help="Complete the missing runs of experiment ID.")
@click.option("--initial-capital", type=float, default=10_000.0, show_default=True)
@click.option("--data-dir", default="data", show_default=True)
@click.option("--outputs-dir", default="experiments", show_default=True,
              help="Where experiments/<name>/ outputs are written.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=8192, hidden=True)
def grid_search(name, strategy_path, grid_path, symbol, train_start, train_end, test_start,
                test_end, search, n_iter, seed, workers, db_url, resume_id, initial_capital,
                data_dir, outputs_dir, chunk_size):
    """Run every combination of a grid (or a random sample) on train and test windows."""
    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.grid_search import (
        GridSearchEvents,
        GridSearchInterrupted,
        GridSearchRequest,
        run_grid_search,
    )
    from otonom_trader.cli.render import echo_notes, progress_bar

    if workers:
        import numba

        numba.set_num_threads(min(workers, numba.config.NUMBA_NUM_THREADS))
    split = dict(zip(SPLIT_FLAGS, (train_start, train_end, test_start, test_end), strict=True))
    request = GridSearchRequest(
        name=name, strategy_path=strategy_path, grid_path=grid_path, symbol=symbol,
        split=split, search=search, n_iter=n_iter, seed=seed, resume_id=resume_id,
        initial_capital=initial_capital, data_dir=data_dir, outputs_dir=outputs_dir,
        command=shlex.join(["otonom", *sys.argv[1:]]), chunk_size=chunk_size,
    )
    store = ExperimentStore(db_url)
    bar = progress_bar()
    task = None

    def created(info, resumed):
        verb = "resumed" if resumed else "created"
        click.echo(f"✓ Experiment '{info.name}' {verb} (ID: {info.id})")

    def started(total, done, kind):
        nonlocal task
        label = "grid search" if kind == "grid" else "random search"
        click.echo(f"Running {label}: {total:,} total combinations"
                   + (f" ({done:,} already done)" if done else ""))
        bar.start()
        task = bar.add_task("runs", total=total, completed=done)

    events = GridSearchEvents(created=created, started=started,
                              advanced=lambda n: bar.advance(task, n), notes=echo_notes)
    try:
        outcome = run_grid_search(request, store, events)
    except GridSearchInterrupted as stop:
        bar.stop()
        click.echo(f"\n⚠ Interrupted: {stop.saved:,}/{stop.total:,} runs saved.", err=True)
        click.echo(f"Resume with: otonom experiments grid-search --resume {stop.experiment_id}"
                   + (f" --db {shlex.quote(db_url)}" if db_url else ""), err=True)
        sys.exit(130)
    finally:
        bar.stop()
    click.echo(f"Completed: {outcome.done + outcome.failed:,}/{outcome.total:,} runs"
               + (f" ({outcome.failed:,} failed)" if outcome.failed else ""))
    click.echo(f"Time: {outcome.elapsed_seconds:.2f}s")
    top = store.top_runs(outcome.experiment.id, "sharpe", 5, "test")
    if len(top):
        click.echo("Top 5 results (by test Sharpe):")
        for _, run in top.iterrows():
            click.echo(f"  Run #{int(run['run_number'])}: {_summary(run)}")
    else:
        click.echo("❌ No 'done' runs with a test Sharpe: see `otonom experiments list`")
    for label, path in outcome.outputs.items():
        click.echo(f"📁 {label}: {path}")


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _summary(run) -> str:
    return (f"Sharpe={_fmt(run['test_sharpe'], '.2f')}, "
            f"CAGR={_fmt(run['test_cagr_pct'], '.1f')}%, "
            f"MaxDD={_fmt(run['test_max_drawdown_pct'], '.1f')}%")


@experiments.command("list")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def list_(db_url, limit):
    """Experiments in the store, newest first."""
    from rich.console import Console
    from rich.table import Table

    from otonom_trader.adapters.store import ExperimentStore

    rows = ExperimentStore(db_url).list_experiments(limit)
    table = Table()
    for header in ("ID", "Name", "Strategy", "Status", "Runs", "Failed", "Best test Sharpe",
                   "Created"):
        table.add_column(header, justify="right" if header in ("ID", "Runs") else "left")
    for s in rows:
        best = "—" if s.best_test_sharpe is None else f"{s.best_test_sharpe:.3f}"
        table.add_row(str(s.id), s.name, s.strategy_name, s.status,
                      f"{s.done + s.failed:,}/{s.total_runs:,}", f"{s.failed:,}", best,
                      f"{s.created_at:%Y-%m-%d %H:%M}")
    Console().print(table if rows else "No experiments yet: run `otonom experiments grid-search`")
