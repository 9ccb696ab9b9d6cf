"""``otonom strategy ...``: check strategy files; the work is in ``domain.strategy_loader``."""

from __future__ import annotations

from pathlib import Path

import click

from otonom_trader.domain.errors import StrategyError
from otonom_trader.domain.strategy_loader import load_strategy


@click.group()
def strategy() -> None:
    """Validate strategy files; record a deployed strategy's actual impact."""


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


@strategy.command("record-impact")
@click.argument("name")
@click.option("--days", type=click.IntRange(1, 36_500), default=30, show_default=True,
              help="Calendar days of live data the journal must hold.")
@click.option("--journal", "journal_url", default=None, metavar="DB_URL",
              help="The daemon's journal (default: the experiment store, OTONOM_DB).")
@click.option("--production", default="deployments/production.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False))
@click.option("--data-dir", default="data", show_default=True)
@click.option("--remote", default="origin", show_default=True, help="Git remote.")
@click.option("--forge-url", help="GitHub (Enterprise) API root.")
@click.option("--repo", help="owner/name on the forge (default: GITHUB_REPOSITORY, then the "
                             "remote URL).")
def record_impact(name, days, journal_url, production, params_path, data_dir, remote,
                  forge_url, repo):
    """Fill NAME's **Actual Impact** in STRATEGY_LOG.md from the journal (live Sharpe, CAGR,
    max drawdown, win rate and slippage against the expected figures), committed on branch
    impact/<name>-<date> with a pull request."""
    from otonom_trader.app.production.impact import record_impact as run
    from otonom_trader.cli.views.console import echo_notes
    from otonom_trader.domain.errors import RunError

    out = run(name, days, journal_url=journal_url, production=production, data_dir=data_dir,
              params_path=params_path, remote=remote, forge_url=forge_url, repo=repo)
    pub = out.publish
    echo_notes(pub.notes)
    click.echo(f"📝 STRATEGY_LOG.md, {name}: **Actual Impact**: {out.paragraph}")
    click.echo(f"🌿 Branch: {out.branch} (commit {out.commit[:10]}); back on {out.base}")
    stays = (f"the branch {out.branch} and its commit stay: push it (git push {remote} "
             f"{out.branch}) and open the pull request with the body in {out.body_path}")
    if pub.push_error:
        raise RunError(f"{pub.push_error}: {stays}")
    if pub.pushed:
        click.echo(f"⬆️  Pushed {out.branch}")
    if pub.pull is not None:
        state = "opened" if pub.pull.created else "already open"
        click.echo(f"🔗 Pull request #{pub.pull.number} {state}: {pub.pull.url}")
    elif pub.pull_error:
        raise RunError(f"{pub.pull_error}: {stays}")
    else:
        click.echo(f"📬 Pull request body saved: {out.body_path}")
        for line in pub.manual:
            click.echo(f"   Open it with: {line}")
