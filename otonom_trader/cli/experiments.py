"""``otonom experiments``: grid/random search and the experiment store."""

from __future__ import annotations

import json
import math
import shlex
import sys

import click

from otonom_trader.cli import ranges

SPLIT_FLAGS = ("train_start", "train_end", "test_start", "test_end", "holdout_start",
               "holdout_end")


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
@click.option("--holdout-start", help="First date of an optional hold-out window after the "
              "test window: no ranking sees it; promote measures only the promoted run on it.")
@click.option("--holdout-end", help="Last date of the hold-out window.")
@click.option("--search", type=click.Choice(["grid", "random", "optuna"]),
              help="Override the grid file (optuna: TPE on the train window's selection "
                   "metric).")
@click.option("--n-iter", type=ranges.RUNS, help="Runs of a random search.")
@click.option("--n-trials", type=ranges.RUNS, help="Trials of an optuna search (more trials "
              "on the same --name continue its study).")
@click.option("--seed", type=ranges.SEED, help="Seed of a random or optuna search.")
@click.option("--objectives", help="Comma-separated train metrics, e.g. sharpe,max_drawdown_pct: "
              "optuna searches them with NSGA-II; `show` gives their Pareto front.")
@click.option("--max-combinations", type=ranges.RUNS, default=10_000_000, show_default=True,
              help="Refuse searches with more runs than this.")
@click.option("--workers", type=ranges.WORKERS, help="Threads (default: all cores).")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store (default: OTONOM_DB or "
              "sqlite:///.otonom/experiments.db).")
@click.option("--resume", "resume_id", type=ranges.EXPERIMENT_ID,
              help="Complete the missing runs of experiment ID.")
@click.option("--initial-capital", type=ranges.CAPITAL, default=10_000.0, show_default=True)
@click.option("--data-dir", default="data", show_default=True)
@click.option("--outputs-dir", default="experiments", show_default=True,
              help="Where experiments/<name>/ outputs are written.")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              help="experiment.select_by and gates.max_sharpe_gap for the best run in outputs.")
@click.option("--store-snapshot", is_flag=True,
              help="Also write <outputs-dir>/<name>/store.db: the experiment alone, without "
                   "session times (same runs, same bytes; for DVC).")
@click.option("--cv", "cv_method", type=click.Choice(["cpcv"]),
              help="Also cross-validate the selection (best train Sharpe) by combinatorial "
                   "purged CV over the runs' stored blocks, once the search finishes (or "
                   "`cv:` in the grid file).")
@click.option("--folds", type=click.IntRange(2, 64), help="With --cv cpcv: folds of train "
              "start → test end, a divisor of the 16 stored blocks [default: 8].")
@click.option("--test-folds", type=click.IntRange(1, 63),
              help="With --cv cpcv: test folds per split, fewer than --folds [default: 2].")
@click.option("--embargo-days", type=click.IntRange(0, 36_500),
              help="With --cv cpcv: calendar days dropped from training on each side of a test "
                   "fold, rounded UP to whole blocks (a block is 1/16 of train start → test "
                   "end) [default: 0].")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Where the runs are evaluated: this machine, or the "
              "workers of a dask.distributed cluster (grid and random searches).")
@click.option("--scheduler", help="The dask scheduler, tcp://HOST:PORT (default: "
              "OTONOM_SCHEDULER).")
@click.option("--chunk-size", type=ranges.CHUNK, default=8192, hidden=True)
def grid_search(name, strategy_path, grid_path, symbol, train_start, train_end, test_start,
                test_end, holdout_start, holdout_end, search, n_iter, n_trials, seed,
                objectives, max_combinations,
                workers, db_url, resume_id, initial_capital, data_dir, outputs_dir, params_path,
                store_snapshot, cv_method, folds, test_folds, embargo_days, executor, scheduler,
                chunk_size):
    """Run every combination of a grid (or a random sample) on train and test windows."""
    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.experiments.grid_search import (
        GridSearchEvents,
        GridSearchInterrupted,
        GridSearchRequest,
        run_grid_search,
    )
    from otonom_trader.cli.views.console import echo_notes, progress_bar
    from otonom_trader.domain.redact import redact

    if workers:
        from otonom_trader.kernels.jit import set_threads

        set_threads(workers)
    if n_trials is not None and n_iter is not None:
        from otonom_trader.domain.errors import InputError

        raise InputError("--n-trials and --n-iter: give --n-trials N for an optuna search or "
                         "--n-iter N for a random one, not both")
    split = dict(zip(SPLIT_FLAGS, (train_start, train_end, test_start, test_end, holdout_start,
                                   holdout_end), strict=True))
    request = GridSearchRequest(
        name=name, strategy_path=strategy_path, grid_path=grid_path, symbol=symbol,
        split=split, cv={"method": cv_method, "folds": folds, "test_folds": test_folds,
                         "embargo_days": embargo_days},
        search=search, n_iter=n_trials if n_trials is not None else n_iter,
        trials_flag=n_trials is not None,
        seed=seed, objectives=objectives, resume_id=resume_id,
        initial_capital=initial_capital, data_dir=data_dir, outputs_dir=outputs_dir,
        params_path=params_path, snapshot=store_snapshot,
        command=redact(shlex.join(["otonom", *sys.argv[1:]])), chunk_size=chunk_size,
        max_combinations=max_combinations, executor=executor, scheduler=scheduler,
    )
    store = ExperimentStore(db_url)
    click.get_current_context().call_on_close(store.close)
    bar = progress_bar()
    task = None

    def created(info, resumed):
        verb = "resumed" if resumed else "created"
        click.echo(f"✓ Experiment '{info.name}' {verb} (ID: {info.id})")

    def started(total, done, kind):
        nonlocal task
        label = {"grid": "grid search", "random": "random search",
                 "optuna": "optuna search (TPE)", "nsga2": "optuna search (NSGA-II)"}[kind]
        unit = "trials" if kind in ("optuna", "nsga2") else "combinations"
        click.echo(f"Running {label}: {total:,} total {unit}"
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
                   + (f" --db {shlex.quote(redact(db_url))}" if db_url else ""), err=True)
        sys.exit(130)
    finally:
        bar.stop()
    info = outcome.experiment
    if outcome.already_complete:
        state = ("rewrote the missing or stale outputs: " + ", ".join(outcome.rewritten)
                 if outcome.rewritten else "its outputs are up to date")
        click.echo(f"✓ Experiment '{info.name}' (ID: {info.id}) is already complete; {state}")
        _echo_cpcv(outcome)
        for label, path in outcome.outputs.items():
            click.echo(f"📁 {label}: {path}")
        return
    click.echo(f"Completed: {outcome.done + outcome.failed:,}/{outcome.total:,} runs"
               + (f" ({outcome.failed:,} failed)" if outcome.failed else ""))
    click.echo(f"Time: {outcome.elapsed_seconds:.2f}s")
    top = store.top_runs(outcome.experiment.id, "sharpe", 5, "test", runs=outcome.runs)
    if len(top):
        click.echo("Top 5 results (by test Sharpe):")
        for _, run in top.iterrows():
            click.echo(f"  Run #{int(run['run_number'])}: {_summary(run)}")
    else:
        click.echo("❌ No 'done' runs with a test Sharpe: see `otonom experiments list`")
    _echo_cpcv(outcome)
    for label, path in outcome.outputs.items():
        click.echo(f"📁 {label}: {path}")


def _echo_cpcv(outcome) -> None:
    """The CPCV line of a search run with --cv cpcv, as metrics.json holds it."""
    from otonom_trader.domain.cv import cpcv_lines

    path = outcome.outputs.get("metrics")
    if (outcome.experiment.search or {}).get("cv") and path is not None and path.is_file():
        record = json.loads(path.read_text()).get("cpcv")
        if record:
            head, figures = cpcv_lines(record)
            click.echo(f"CPCV of the selection (best train Sharpe): {head}\n  {figures}")


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def _summary(run) -> str:
    return (f"Sharpe={_fmt(run['test_sharpe'], '.2f')}, "
            f"CAGR={_fmt(run['test_cagr_pct'], '.1f')}%, "
            f"MaxDD={_fmt(run['test_max_drawdown_pct'], '.1f')}%")


YEARS = ranges.FiniteRange(0, 1000, min_open=True)


@experiments.command("walk-forward")
@click.option("--name", required=True, help="Walk-forward name; fold k is experiment "
              "<name>_foldNN.")
@click.option("--strategy-path", required=True, type=click.Path(dir_okay=False),
              help="Base strategy YAML.")
@click.option("--grid-path", required=True, type=click.Path(dir_okay=False), help="Grid YAML.")
@click.option("--train-years", required=True, type=YEARS, help="Train window of each fold.")
@click.option("--test-years", required=True, type=YEARS, help="Test window of each fold.")
@click.option("--step-years", type=YEARS, help="Shift between folds (default: --test-years).")
@click.option("--anchored", is_flag=True, help="Every train window starts at the first bar.")
@click.option("--gap-days", type=click.IntRange(0, 36_500), default=0, show_default=True,
              help="Purge gap in calendar days between a train window and its test window.")
@click.option("--symbol", help="Symbol (default: the strategy's data.symbol).")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store.")
@click.option("--initial-capital", type=ranges.CAPITAL, default=10_000.0, show_default=True)
@click.option("--data-dir", default="data", show_default=True)
@click.option("--outputs-dir", default="experiments", show_default=True)
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              help="experiment.select_by: the train metric each fold's selection ranks by.")
def walk_forward(name, strategy_path, grid_path, train_years, test_years, step_years, anchored,
                 gap_days, symbol, db_url, initial_capital, data_dir, outputs_dir, params_path):
    """Walk-forward: per fold, the grid search on the train window, the best run by the train
    metric, that run on the next test window; the test windows' equity stitched."""
    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.experiments.grid_search import GridSearchEvents
    from otonom_trader.app.experiments.walk_forward import (
        WalkForwardEvents,
        WalkForwardRequest,
        run_walk_forward,
    )
    from otonom_trader.domain.redact import redact

    request = WalkForwardRequest(
        name=name, strategy_path=strategy_path, grid_path=grid_path, train_years=train_years,
        test_years=test_years, step_years=step_years, anchored=anchored, gap_days=gap_days,
        symbol=symbol, initial_capital=initial_capital, data_dir=data_dir,
        outputs_dir=outputs_dir, params_path=params_path,
        command=redact(shlex.join(["otonom", *sys.argv[1:]])))

    def started(fold, n_folds):
        click.echo(f"Fold {fold.number}/{n_folds}: train {fold.train_start:%Y-%m-%d} → "
                   f"{fold.train_end:%Y-%m-%d}, test {fold.test_start:%Y-%m-%d} → "
                   f"{fold.test_end:%Y-%m-%d}")

    def done(row):
        click.echo(f"  experiment {row['experiment_id']}, run #{row['run_number']}: train "
                   f"Sharpe {_fmt(row['train_sharpe'], '.2f')}, test Sharpe "
                   f"{_fmt(row['test_sharpe'], '.2f')}")

    events = WalkForwardEvents(started, done, GridSearchEvents())
    with ExperimentStore(db_url) as store:
        outcome = run_walk_forward(request, store, events)
    _print_walk_forward(outcome.id, outcome.name, outcome.settings, outcome.result)
    click.echo(f"Show it again with: otonom experiments show {outcome.id} --walk-forward"
               + (f" --db {shlex.quote(redact(db_url))}" if db_url else ""))


def _print_walk_forward(wf_id, name, settings, result) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=120)
    console.rule(f"[bold]Walk-forward {wf_id}: {escape(name)}")
    kind = "anchored" if settings["anchored"] else "rolling"
    console.print(f"{settings['symbol']}, {kind}: train {settings['train_years']:g} y, test "
                  f"{settings['test_years']:g} y, step {settings['step_years']:g} y, gap "
                  f"{settings['gap_days']} days; selection: best train {settings['select_by']}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for head in ("Fold", "Exp", "Train", "Test", "Params", "IS Sharpe", "OOS Sharpe",
                 "OOS CAGR", "WFE"):
        table.add_column(head, justify="left" if head in ("Train", "Test", "Params")
                         else "right", overflow="fold")
    for r in result["folds"]:
        params = " / ".join(_param_text(v) for v in r["params"].values())
        table.add_row(str(r["fold"]), str(r["experiment_id"]),
                      f"{r['train_start']} → {r['train_end']}",
                      f"{r['test_start']} → {r['test_end']}", escape(params),
                      _fmt(r["train_sharpe"], ".2f"), _fmt(r["test_sharpe"], ".2f"),
                      _fmt(r["test_cagr_pct"], "+.1f") + "%", _fmt(r["wfe"], ".2f"))
    console.print(table)
    o = result["oos"]
    console.print("[bold]Stitched out-of-sample")
    console.print(f"  Sharpe {_fmt(o['sharpe'], '.3f')} (t = {_fmt(o['t_stat'], '.2f')}, "
                  f"PSR(0) = {_fmt(o['psr'], '.3f')}, {o['n_returns']:,} returns over "
                  f"{o['years']:.1f} years)")
    console.print(f"  CAGR {_fmt(o['cagr_pct'], '+.2f')}%, total "
                  f"{_fmt(o['total_return_pct'], '+.1f')}% (buy & hold "
                  f"{_fmt(result['buy_hold_return_pct'], '+.1f')}%), max drawdown "
                  f"{_fmt(o['max_drawdown_pct'], '.1f')}%")
    console.print(f"  Walk-forward efficiency {_fmt(result['wfe'], '.2f')} (OOS CAGR / mean IS "
                  f"CAGR {_fmt(result['is_cagr_pct_mean'], '+.2f')}%)")
    console.print("[bold]Parameter stability")
    for path, s in result["stability"].items():
        spread = f", cv {_fmt(s['cv'], '.2f')}" if s.get("cv") is not None else ""
        console.print(f"  {escape(path)}: {' → '.join(_param_text(v) for v in s['values'])} "
                      f"({s['distinct']} distinct, mode {_param_text(s['mode'])} in "
                      f"{100 * s['mode_share']:.0f}% of folds{spread})")


@experiments.command("refine")
@click.argument("exp_id", type=ranges.EXPERIMENT_ID)
@click.option("--top", required=True, type=ranges.ROWS,
              help="How many of the best done runs define the region to refine.")
@click.option("--shrink", type=ranges.FiniteRange(0, 1, min_open=True), default=0.5,
              show_default=True, help="Least width of a new range, as a share of the old.")
@click.option("--output", required=True, type=click.Path(dir_okay=False),
              help="The refined grid file, e.g. grids/refinement_grid.yaml.")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store.")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              help="experiment.select_by/select_on: the metric the top runs are ranked by.")
def refine(exp_id, top, shrink, output, db_url, params_path):
    """Write a smaller grid around the best region of experiment EXP_ID (coarse to fine);
    its `parent_experiment` makes the next experiment's DSR count the whole chain's trials."""
    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.experiments.refine import refine_experiment

    with ExperimentStore(db_url) as store:
        outcome = refine_experiment(store, exp_id, top, shrink, output, params_path)
    click.echo(f"✓ Refined grid of experiment {exp_id} around its top {outcome.n_top} runs: "
               + ", ".join(outcome.refined))
    for path, value in outcome.grid["params"].items():
        click.echo(f"  {path}: {value}")
    click.echo(f"📁 Grid: {outcome.path}")
    click.echo(f"Next: otonom experiments grid-search --name <name> --strategy-path "
               f"<strategy> --grid-path {shlex.quote(str(outcome.path))}")


@experiments.command("cpcv")
@click.argument("exp_id", type=ranges.EXPERIMENT_ID)
@click.option("--folds", type=click.IntRange(2, 64), default=8, show_default=True,
              help="Groups of consecutive blocks (must divide the 16 stored blocks).")
@click.option("--test-folds", type=click.IntRange(1, 63), default=2, show_default=True,
              help="Test groups per split (fewer than --folds).")
@click.option("--embargo-blocks", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Drop from training every group within this many blocks of a test group "
                   "(purge and embargo at block granularity).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store.")
def cpcv(exp_id, folds, test_folds, embargo_blocks, as_json, db_url):
    """Combinatorial purged cross-validation of experiment EXP_ID's selection (best train
    Sharpe): the out-of-sample Sharpe of its C(folds−1, test-folds−1) backtest paths."""
    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.experiments.cpcv import cpcv_experiment
    from otonom_trader.domain.json_text import dumps

    with ExperimentStore(db_url) as store:
        info, result = cpcv_experiment(store, exp_id, folds, test_folds, embargo_blocks)
    summary = result.summary()
    if as_json:
        click.echo(dumps({
            "experiment_id": info.id, "name": info.name, "n_runs": result.n_runs,
            "folds": result.n_groups, "test_folds": result.n_test_groups,
            "blocks_per_fold": result.blocks_per_group, "embargo_blocks": embargo_blocks,
            "embargo_folds": result.embargo_groups, "n_splits": result.n_splits,
            **summary, "path_sharpe": result.path_sharpe.tolist(),
            "split_sharpe": result.split_sharpe.tolist(),
            "split_test_folds": result.test_groups.tolist(),
            "split_selected_run_index": result.selected.tolist()}, ensure_ascii=False))
        return
    click.echo(f"CPCV of experiment {info.id} ({info.name}): {result.n_runs:,} runs, "
               f"{result.n_groups} folds of {result.blocks_per_group} block(s), "
               f"{result.n_test_groups} test folds, embargo {embargo_blocks} block(s) "
               f"({result.embargo_groups} fold(s) each side)")
    click.echo(f"  {result.n_splits:,} splits, {result.n_paths:,} backtest paths; "
               "out-of-sample annualised Sharpe of the best-train-Sharpe selection:")
    q = summary["quantiles"]
    click.echo(f"  mean {_fmt(summary['mean'], '.3f')}, std {_fmt(summary['std'], '.3f')}, "
               f"5% {_fmt(q['0.05'], '.3f')}, median {_fmt(q['0.5'], '.3f')}, "
               f"95% {_fmt(q['0.95'], '.3f')}")
    click.echo(f"  paths below 0: {_fmt(100 * summary['share_below_zero'], '.1f')}%"
               + (f" ({result.n_paths - summary['n_defined']} path(s) without a Sharpe: zero "
                  "variance)" if summary["n_defined"] < result.n_paths else ""))


@experiments.command("export")
@click.argument("exp_id", type=int)
@click.option("--db", "db_url", help="SQLAlchemy URL of the store.")
@click.option("--outputs-dir", default="experiments", show_default=True,
              help="Writes <outputs-dir>/<name>/.")
@click.option("--data-dir", default="data", show_default=True,
              help="Market data, to re-run the best run (best_equity.csv).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              help="experiment.select_by and gates.max_sharpe_gap for the best run.")
@click.option("--store-snapshot", is_flag=True,
              help="Also write store.db, the experiment alone without session times.")
def export(exp_id, db_url, outputs_dir, data_dir, params_path, store_snapshot):
    """Rebuild experiment EXP_ID's output files (runs.parquet, metrics.json, best_params.yaml,
    best_equity.csv, sweep.csv) from the store."""
    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.experiments.outputs import export_outputs

    with ExperimentStore(db_url) as store:
        paths = export_outputs(store, exp_id, outputs_dir, data_dir=data_dir,
                               params_path=params_path, snapshot=store_snapshot)
    for label, path in paths.items():
        click.echo(f"📁 {label}: {path}")


@experiments.command("list")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store.")
@click.option("--limit", type=ranges.ROWS, default=50, show_default=True)
def list_(db_url, limit):
    """Experiments in the store, newest first."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from otonom_trader.adapters.store import ExperimentStore

    with ExperimentStore(db_url) as store:
        rows = store.list_experiments(limit)
    # Fits 80 columns: long names fold inside their cell instead of widening the table.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, caption="Runs: stored/total (failed); "
                  "Sharpe: best test-window Sharpe; created in UTC", caption_justify="left")
    table.add_column("ID", justify="right", no_wrap=True)
    table.add_column("Name", overflow="fold", ratio=2)
    table.add_column("Strategy", overflow="fold", ratio=1)
    table.add_column("Status", no_wrap=True)
    table.add_column("Runs", justify="right", no_wrap=True)
    table.add_column("Sharpe", justify="right", no_wrap=True)
    table.add_column("Created", no_wrap=True)
    for s in rows:
        best = "—" if s.best_test_sharpe is None else f"{s.best_test_sharpe:.3f}"
        runs = f"{s.done + s.failed:,}/{s.total_runs:,}" + (f" ({s.failed:,})" if s.failed
                                                            else "")
        table.add_row(str(s.id), s.name, s.strategy_name, s.status, runs, best,
                      "—" if s.created_at is None else f"{s.created_at:%Y-%m-%d %H:%M}")
    Console().print(table if rows else "No experiments yet: run `otonom experiments grid-search`")


@experiments.command("show")
@click.argument("exp_id", type=ranges.EXPERIMENT_ID)
@click.option("--sort-by", default="sharpe", show_default=True,
              help="Test metric to rank the runs by (any metric name, higher is better).")
@click.option("--top", type=ranges.ROWS, default=10, show_default=True,
              help="How many top runs to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--export", "export_fmt", type=click.Choice(["html", "csv", "json"]),
              help="Write the interactive HTML report, every run as CSV, or the report as JSON.")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Where --export writes (default: reports/experiment_N_report.html, "
                   "reports/experiment_N_runs.csv, reports/experiment_N_report.json).")
@click.option("--db", "db_url", help="SQLAlchemy URL of the store.")
@click.option("--data-dir", default="data", show_default=True,
              help="Market data, to re-run the best run (DSR, equity curve).")
@click.option("--walk-forward", "walk_forward", is_flag=True,
              help="EXP_ID is a walk-forward's ID: its folds and stitched out-of-sample "
                   "figures (--export html|json).")
def show(exp_id, sort_by, top, as_json, export_fmt, output, db_url, data_dir, walk_forward):
    """Summary, top runs, parameter analysis and overfitting checks of experiment EXP_ID."""
    from pathlib import Path

    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.experiments.show import (
        EXPORT_FORMATS,
        NoDoneRuns,
        export_report,
        show_experiment,
    )
    from otonom_trader.domain.errors import InputError
    from otonom_trader.domain.json_text import dumps

    if output and not export_fmt:
        export_fmt = Path(output).suffix.lstrip(".").lower()
        if export_fmt not in EXPORT_FORMATS:
            raise InputError(f"--output {output}: pass --export html|csv|json (or end the "
                             "path in .html, .csv or .json)")
    if output:  # refused before any work: a path that cannot take this export
        from otonom_trader.adapters.output import check_output

        check_output(output, "--output", f".{export_fmt}")
    if walk_forward:
        from otonom_trader.app.experiments.walk_forward import export_walk_forward

        with ExperimentStore(db_url) as store:
            record = store.walk_forward(exp_id)
        if as_json:
            click.echo(dumps(record, ensure_ascii=False))
        else:
            _print_walk_forward(record["id"], record["name"], record["settings"],
                                record["result"])
        if export_fmt:
            path = export_walk_forward(record, export_fmt, output, data_dir)
            click.echo(f"📁 Report: {path}", err=as_json)
        return
    try:
        with ExperimentStore(db_url) as store:
            report = show_experiment(store, exp_id, sort_by, top, data_dir)
    except NoDoneRuns as exc:
        click.echo(f"❌ {exc}", err=True)
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(dumps(report.to_dict(), ensure_ascii=False))
    else:
        _print_report(report)
    if export_fmt:
        path = export_report(report, export_fmt, output, data_dir)
        label = {"html": "Report", "csv": "Runs", "json": "Report (JSON)"}[export_fmt]
        click.echo(f"📁 {label}: {path}", err=as_json)


PARETO_ROWS = 20  # front runs `show` prints (the JSON and HTML report have all)


def _print_pareto(console, report) -> None:
    """The Pareto front of the experiment's objectives on the train window, knee marked."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from otonom_trader.cli.views.console import LABELS

    front, objectives = report.pareto, report.objectives
    knee = front.attrs.get("knee_run")
    names = ", ".join(objectives)
    console.print(f"\n[bold]Pareto front[/bold] ({len(front):,} done runs not dominated on "
                  f"train {escape(names)}; ★ knee)")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
    heads = ["Run #", "Params", *(f"Train {LABELS.get(k, (k,))[0]}" for k in objectives),
             "Test Sharpe", "Knee"]
    for h in heads:
        table.add_column(h, justify="left" if h == "Params" else "right",
                         no_wrap=h != "Params", overflow="fold")
    for _, r in front.head(PARETO_ROWS).iterrows():
        values = " / ".join(_param_text(r[p]) for p in report.parameters)
        number = int(r["run_number"])
        table.add_row(("★ " if number == knee else "") + str(number), escape(values),
                      *(_fmt(r[f"train_{k}"], ".3f") + ("%" if k.endswith("_pct") else "")
                        for k in objectives),
                      _fmt(r["test_sharpe"], ".3f"), _fmt(r["knee_score"], ".3f"))
    console.print(table)
    more = f"; {len(front) - PARETO_ROWS:,} more in --json" if len(front) > PARETO_ROWS else ""
    console.print("Knee: the front run farthest from the line between its two extremes "
                  "(objectives normalised over the front; with 3 or more objectives, nearest "
                  f"to the utopia point); promote --select-by pareto-knee --select-on train "
                  f"takes it{more}", style="dim")


def _print_report(report) -> None:
    import os

    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from otonom_trader.cli.views.console import LABELS

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=120)  # a file or a pipe: no terminal to fit
    s, o = report.summary, report.overfitting
    console.rule(f"[bold]Experiment {s.id}: {escape(s.name)}")
    console.print("[bold]Summary")
    search = s.search.get("kind", "grid") + (
        f" (n_iter={s.search.get('n_iter')}, seed={s.search.get('seed')})"
        if s.search.get("kind") in ("random", "optuna") else "") + (
        f", TPE on {s.search.get('window')} {s.search.get('metric')}"
        if s.search.get("kind") == "optuna" and not s.search.get("objectives") else "") + (
        f", NSGA-II on {s.search.get('window')} {', '.join(s.search['objectives'])}"
        if s.search.get("kind") == "optuna" and s.search.get("objectives") else "") + (
        f", objectives {', '.join(s.search['objectives'])}"
        if s.search.get("kind") != "optuna" and s.search.get("objectives") else "")
    split = s.split
    rows = [("Status", s.status), ("Strategy", f"{s.strategy_name} ({s.strategy_path})"),
            ("Symbol", s.symbol), ("Search", search),
            ("Split", f"train {split['train_start']} → {split['train_end']}, "
                      f"test {split['test_start']} → {split['test_end']}"),
            ("Runs", f"{s.total_runs:,} total: {s.done:,} done, {s.failed:,} failed"
                     + (f", {s.pending:,} pending" if s.pending else "")),
            ("Success rate", _fmt(100 * s.success_rate, ".1f") + "%"),
            ("Time taken", "—" if s.elapsed_seconds is None else f"{s.elapsed_seconds:.2f}s"),
            ("Data fingerprint", s.data_fingerprint[:16]), ("Git commit", s.commit_text)]
    grid = Table.grid(padding=(0, 2))
    for key, value in rows:
        grid.add_row(f"  {key}", escape(str(value)))
    console.print(grid)

    label = LABELS.get(report.sort_by, (report.sort_by,))[0]
    console.print(f"\n[bold]Top {len(report.top)} (by test {label})")
    names = _short_names(report.parameters)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
    heads = ["Run #", "Params", "Sharpe", "CAGR", "MaxDD", "Trades", "Train", "Gap"]
    extra = report.sort_by not in ("sharpe", "cagr_pct", "max_drawdown_pct", "n_trades")
    if extra:
        heads.insert(2, label)
    for h in heads:
        table.add_column(h, justify="left" if h == "Params" else "right",
                         no_wrap=h != "Params", overflow="fold",
                         min_width=12 if h == "Params" else None)
    for _, r in report.top.iterrows():
        gap = r["sharpe_gap"]
        warn = math.isfinite(gap) and gap > o.gap_threshold
        values = " / ".join(_param_text(r[p]) for p in report.parameters)
        cells = [str(int(r["run_number"])), escape(values),
                 _fmt(r["test_sharpe"], ".3f"), _fmt(r["test_cagr_pct"], "+.2f") + "%",
                 _fmt(r["test_max_drawdown_pct"], ".2f") + "%", _fmt(r["test_n_trades"], ".0f"),
                 _fmt(r["train_sharpe"], ".3f"),
                 ("[yellow]⚠ " if warn else "") + _fmt(gap, ".2f")]
        if extra:
            cells.insert(2, _fmt(r[f"test_{report.sort_by}"], ".3f"))
        table.add_row(*cells)
    console.print(table)
    console.print("Sharpe, CAGR, MaxDD, Trades: test window; Train: train Sharpe; Gap: train − "
                  "test Sharpe", style="dim")
    if names:
        console.print(f"Params: {escape(' / '.join(names))}", style="dim")

    if report.pareto is not None:
        _print_pareto(console, report)

    console.print("\n[bold]Parameter analysis[/bold] (share of test-Sharpe variance explained, "
                  "η²; mean test Sharpe by value)")
    table = Table()
    for h in ("#", "Parameter", "η²", "Mean test Sharpe by value"):
        table.add_column(h, justify="left" if h in ("Parameter", "Mean test Sharpe by value")
                         else "right")
    for i, e in enumerate(report.effects, start=1):
        means = " · ".join(f"{lab}: {_fmt(m, '.2f')}" for lab, m in
                           zip(e.labels, e.mean_test_sharpe, strict=True))
        table.add_row(str(i), escape(e.path) + (" (binned)" if e.binned else ""),
                      f"{e.importance:.3f}", escape(means))
    console.print(table if report.effects else "  (no parameters)")

    console.print("\n[bold]Overfitting")
    for w in o.warnings:
        console.print(f"  [yellow]⚠ {escape(w)}")
    if not o.warnings:
        console.print("  [green]✓ no warning")
    ppy = math.sqrt(report.info.periods_per_year)
    if o.dsr is not None:
        console.print(f"  DSR (best run #{int(report.best['run_number'])} by "
                      f"{report.rule.label}): {o.dsr.dsr:.3f} "
                      f"(annualised Sharpe {_fmt(o.dsr.sharpe * ppy, '.2f')} vs SR₀ "
                      f"{_fmt(o.dsr.sharpe_0 * ppy, '.2f')} expected from "
                      f"{o.n_trials:,} trials)")
    else:
        console.print("  DSR: n/a")
    if o.pbo is not None:
        console.print(f"  PBO: {_fmt(o.pbo.pbo, '.3f')} (CSCV, {o.pbo.n_splits:,} splits of "
                      f"{o.pbo.n_blocks} blocks, {o.pbo.n_runs:,} runs)")
    else:
        console.print("  PBO: n/a")
    if o.cpcv is not None:
        from otonom_trader.domain.cv import cpcv_lines

        head, figures = cpcv_lines(o.cpcv)
        console.print(f"  CPCV: {escape(head)}\n        {escape(figures)}")
    if o.min_backtest_years is not None:
        console.print(f"  MinBTL: {_fmt(o.min_backtest_years, '.1f')} years for "
                      f"{o.n_trials:,} trials (test window {o.test_years:.1f} years)")
    console.print(f"  Runs with train−test Sharpe gap > {o.gap_threshold:g}: {o.n_overfit:,} of "
                  f"{o.n_compared:,} ({_fmt(100 * o.overfit_share, '.1f')}%)")
    for note in report.notes:
        console.print(f"  note: {escape(note)}", style="dim")


def _short_names(paths) -> list[str]:
    tails = [p.rsplit(".", 1)[-1] for p in paths]
    return [t if tails.count(t) == 1 else p for p, t in zip(paths, tails, strict=True)]


def _param_text(value) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4g}"
    return str(value)
