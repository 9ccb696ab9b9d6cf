"""``otonom rollout advance|rollback|halt|resume NAME``: a pull request that moves a strategy
along shadow → live 10 → 50 → 100 in deployments/production.yaml (the work is in
``app.production.rollout``)."""

from __future__ import annotations

import click


def _options(f):
    for option in reversed((
        click.option("--journal", "journal_url", default=None, metavar="DB_URL",
                     help="The daemon's journal (default: the experiment store, OTONOM_DB)."),
        click.option("--production", default="deployments/production.yaml", show_default=True,
                     type=click.Path(dir_okay=False)),
        click.option("--params", "params_path", default="params.yaml", show_default=True,
                     type=click.Path(dir_okay=False), help="`rollout:` thresholds and days."),
        click.option("--data-dir", default="data", show_default=True),
        click.option("--remote", default="origin", show_default=True),
        click.option("--forge-url", default=None, metavar="API_ROOT",
                     help="GitHub (Enterprise) API root; GITHUB_TOKEN opens the pull request."),
        click.option("--repo", default=None, metavar="OWNER/NAME"),
    )):
        f = option(f)
    return f


def _run(action: str, name: str, to_shadow: bool = False, **kw) -> None:
    kw_forge = kw.get("forge_url")
    from otonom_trader.app.production.rollout import RolloutRequest, rollout
    from otonom_trader.domain.errors import GateFailed, RunError

    out = rollout(RolloutRequest(action, name, to_shadow=to_shadow, trigger=f"`otonom rollout "
                                 f"{action} {name}`", **kw))
    verdict = out.evidence["monitor"]["verdict"]
    click.echo(f"{name}: {out.from_step} → {out.to_step}; monitor verdict {verdict}, "
               f"{out.evidence['days_in_stage']} day(s) in {out.evidence['from']['stage']}")
    if out.refused:
        for reason in out.refused:
            click.echo(f"  ✗ {reason}")
        raise GateFailed(f"advance of {name} refused: {len(out.refused)} reason(s) above")
    change, pub = out.change, out.change.result
    click.echo(f"📎 Evidence: {out.evidence_path}")
    click.echo(f"🌿 Branch: {change.branch} (commit {change.sha[:10]}); back on {change.base}")
    for note in pub.notes:
        click.echo(f"note: {note}")
    if pub.push_error or pub.pull_error:
        from otonom_trader.app.publishing.pull_request import finish_command

        raise RunError(f"{pub.push_error or pub.pull_error}: the branch {change.branch} and "
                       f"its commit stay; run `{finish_command(change.branch, kw_forge)}` "
                       "to finish")
    if pub.pushed:
        click.echo(f"⬆️  Pushed {change.branch}")
    if pub.pull is not None:
        state = "opened" if pub.pull.created else "already open"
        click.echo(f"🔗 Pull request #{pub.pull.number} {state}: {pub.pull.url}")
    else:
        click.echo(f"📬 Pull request body saved: {change.body_path}")
        if pub.manual:
            click.echo(f"   Open it with: {pub.manual[0]}")


@click.group()
def rollout():
    """Staged rollout by pull request: shadow → live 10% → 50% → 100%, on evidence."""


@rollout.command()
@click.argument("name")
@_options
def advance(name, **kw):
    """Open the pull request moving NAME one step up, when the monitor's verdict is
    `advance` and the stage's minimum days are met (else exit 1 with the reasons)."""
    _run("advance", name, **kw)


@rollout.command()
@click.argument("name")
@click.option("--to-shadow", is_flag=True, help="Straight back to shadow (capital 0%).")
@_options
def rollback(name, to_shadow, **kw):
    """Open the pull request moving NAME one step down (or to shadow)."""
    _run("rollback", name, to_shadow, **kw)


@rollout.command()
@click.argument("name")
@_options
def halt(name, **kw):
    """Open the pull request setting `halt: true` for NAME (reduce-only: exits still run)."""
    _run("halt", name, **kw)


@rollout.command()
@click.argument("name")
@_options
def resume(name, **kw):
    """Open the pull request lifting NAME's halt."""
    _run("resume", name, **kw)
