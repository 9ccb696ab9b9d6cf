#!/usr/bin/env python3
"""Record a deployment: tag HEAD ``deploy/<name>/<UTC date>`` for every live/paper strategy
in ``deployments/production.yaml``, and optionally push the tags.

Run from the repository root (``deploy.yml`` runs it on main after validation)::

    python3 tools/record_deployment.py [--deployment FILE] [--date YYYY-MM-DD] [--push]

The work is ``otonom_trader.app.production.deployment_record``. Exit 0 on success, 1 when git or the
push fails, 2 on bad input.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a fresh clone, not installed

import click

from otonom_trader.cli import run_command
from otonom_trader.domain.deployment import PRODUCTION_FILE


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--deployment", default=PRODUCTION_FILE, show_default=True,
              help="The deployment file.")
@click.option("--date", help="UTC date of the tags (default: today, UTC).")
@click.option("--push", is_flag=True, help="Push the tags to --remote.")
@click.option("--remote", default="origin", show_default=True)
def cli(deployment, date, push, remote):
    from otonom_trader.app.production.deployment_record import record_deployment

    recorded = record_deployment(deployment, date, push_to=remote if push else None)
    if not recorded:
        click.echo(f"no live or paper strategy in {deployment}: nothing to record")
    for r in recorded:
        verb = "tagged" if r.created else "already tagged"
        pushed = f", pushed to {remote}" if push else ""
        click.echo(f"{verb} {r.tag} ({r.entry.stage}, {r.entry.capital_pct:g}%){pushed}")


def main(argv=None) -> None:
    run_command(cli, argv, "record_deployment.py")


if __name__ == "__main__":
    main()
