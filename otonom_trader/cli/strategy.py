"""``otonom strategy ...``: check strategy files; the work is in ``domain.strategy_loader``."""

from __future__ import annotations

from pathlib import Path

import click

from otonom_trader.domain.errors import StrategyError
from otonom_trader.domain.strategy_loader import load_strategy


@click.group()
def strategy() -> None:
    """Validate strategy files."""


@strategy.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check each FILE against the schema and cross-field rules; exit 2 if any is invalid."""
    invalid = 0
    for path in files:
        try:
            loaded = load_strategy(path)
        except StrategyError as exc:
            click.echo(f"✗ {exc}", err=True)
            invalid += 1
            continue
        n = len(loaded.analysts.configured())
        click.echo(f"✓ {path}: {loaded.name} ({n} analyst{'' if n == 1 else 's'})")
    if invalid:
        raise click.exceptions.Exit(2)
