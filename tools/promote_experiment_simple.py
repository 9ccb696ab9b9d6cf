#!/usr/bin/env python3
"""Write an experiment's best run as a strategy file, and nothing else (no log, no git)::

    python tools/promote_experiment_simple.py --experiment-id 3 \\
        --output-path strategies/baseline_v2.yaml

The file is the base strategy (default: the one the experiment ran on) with the run's
parameters, ``name`` = the file's stem and a ``metadata`` block, exactly as ``otonom promote``
writes it. ``tools/promote_experiment_to_strategy.py`` does the whole promotion.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a fresh clone, not installed

import click

from otonom_trader.cli import ranges, run_command


@click.command()
@click.option("--experiment-id", type=ranges.EXPERIMENT_ID, required=True, help="Experiment ID.")
@click.option("--output-path", required=True, type=click.Path(dir_okay=False),
              help="Strategy file to write, e.g. strategies/baseline_v2.yaml.")
@click.option("--base-strategy", type=click.Path(dir_okay=False),
              help="Parent strategy (default: the file the experiment ran on).")
@click.option("--name", help="Strategy name (default: the output file's stem).")
@click.option("--select-by", type=click.Choice(["sharpe", "cagr", "sortino", "calmar"]))
@click.option("--expected-impact", help="Recorded in the metadata.")
@click.option("--allow-overfit", is_flag=True, help="Ignore gates.max_sharpe_gap.")
@click.option("--force", is_flag=True, help="Accept another base strategy than the "
                                            "experiment's, or metrics that do not reproduce.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--db", "db_url", help="SQLAlchemy URL of the experiment store.")
@click.option("--data-dir", default="data", show_default=True)
def cli(experiment_id, output_path, base_strategy, name, select_by, expected_impact,
        allow_overfit, force, overwrite, db_url, data_dir):
    """Write the best run of an experiment as a strategy file."""
    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.promotion.promote import PromoteRequest, build_promotion
    from otonom_trader.app.promotion.texts import metric_text
    from otonom_trader.cli.promote import echo_changes
    from otonom_trader.cli.views.console import echo_notes
    from otonom_trader.domain.errors import InputError
    from otonom_trader.domain.names import check_name

    out = Path(output_path)
    name = check_name(name, "--name") if name else check_name(
        out.stem, "--output-path (its file name, the strategy name)")
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists: choose another --output-path or pass "
                         "--overwrite")
    if base_strategy is None:
        with ExperimentStore(db_url) as store:
            base_strategy = store.get(experiment_id).strategy_path
    request = PromoteRequest(
        experiment_id=experiment_id, output_name=name, base_strategy=base_strategy,
        select_by=select_by, expected_impact=expected_impact, allow_overfit=allow_overfit,
        force=force, db_url=db_url, data_dir=data_dir)
    p = build_promotion(request, Path.cwd(), output_path=out.as_posix())
    echo_notes(p.notes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(p.text, encoding="utf-8")
    run, metric = p.selection.run, p.selection.metric
    click.echo(f"✓ Wrote {out}: {p.name} = {p.parent.name} + run #{run.run_number} of "
               f"experiment {p.experiment.id} ({p.experiment.name}), best test "
               f"{metric} {metric_text(metric, run.test[metric])}")
    echo_changes(p.changes)


def main(argv=None) -> None:
    run_command(cli, argv, "promote_experiment_simple.py")


if __name__ == "__main__":
    main()
