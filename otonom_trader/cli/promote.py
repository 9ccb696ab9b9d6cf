"""``otonom promote``: an experiment's best run → strategy file, log entry, branch, pull request."""

from __future__ import annotations

import shlex

import click

from otonom_trader.cli import ranges

SELECT_CHOICES = ("sharpe", "cagr", "sortino", "calmar", "pareto-knee", "total_return_pct",
                  "cagr_pct", "max_drawdown_pct", "win_rate_pct", "profit_factor",
                  "exposure_pct", "n_trades", "final_equity")


def typed_command(ctx: click.Context, prefix: list[str]) -> str:
    """The command as typed (options given on the command line, in declaration order)."""
    from click.core import ParameterSource

    argv = list(prefix)
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value, flag = ctx.params[param.name], param.opts[0]
        if param.is_flag:
            if value:
                argv.append(flag)
        elif value is not None:
            argv += [flag, str(value)]
    return shlex.join(argv)


def promote_options(fn):
    """The options of ``otonom promote`` (shared with tools/promote_experiment_to_strategy.py)."""
    options = [
        click.option("--experiment-id", type=ranges.EXPERIMENT_ID,
                     help="Experiment ID (default with --dvc-exp: the DVC experiment's)."),
        click.option("--output-name",
                     help="New strategy name: strategies/<name>.yaml, branch promote/<name>."),
        click.option("--base-strategy", type=click.Path(dir_okay=False),
                     help="The strategy the experiment ran on (the parent)."),
        click.option("--select-by", type=click.Choice(SELECT_CHOICES),
                     help="Test metric that picks the run (default: params.yaml "
                          "experiment.select_by, else sharpe); pareto-knee: the knee of the "
                          "Pareto front on the experiment's --objectives."),
        click.option("--select-on", type=click.Choice(["test", "train"]),
                     help="Window whose metric picks the run (default: params.yaml "
                          "experiment.select_on, else test; train keeps the test window "
                          "out-of-sample)."),
        click.option("--expected-impact", help="Written to the log and the pull request."),
        click.option("--allow-overfit", is_flag=True,
                     help="Take runs whose train−test Sharpe gap exceeds gates.max_sharpe_gap, "
                          "and promote a run that fails the params.yaml gates (DSR, PBO, "
                          "trades...); the pull request and the log say it was forced."),
        click.option("--force", is_flag=True,
                     help="Promote even if the experiment was made from another strategy or "
                          "its test metrics do not reproduce (with a warning)."),
        click.option("--deploy", is_flag=True,
                     help="Also add the strategy to deployments/production.yaml as "
                          "stage: shadow, capital_pct: 0."),
        click.option("--db", "db_url", help="SQLAlchemy URL of the experiment store."),
        click.option("--forge-url", help="GitHub (Enterprise) API root, e.g. "
                                         "https://ghe.example.com/api/v3."),
        click.option("--remote", default="origin", show_default=True, help="Git remote."),
        click.option("--repo", help="owner/name on the forge (default: GITHUB_REPOSITORY, "
                                    "then the remote URL)."),
        click.option("--data-dir", default="data", show_default=True),
        click.option("--dvc-exp", help="Promote the best run of this DVC experiment (`dvc exp "
                     "show`); its store and strategy file are the defaults."),
        click.option("--walk-forward", "walk_forward_id", type=ranges.EXPERIMENT_ID,
                     help="Promote the last fold's selection of walk-forward ID (`otonom "
                          "experiments walk-forward`); its figures go into the metadata and "
                          "the pull request."),
        click.option("--resume", metavar="NAME",
                     help="Finish the interrupted promotion NAME (push, pull request), or roll "
                          "it back when it had no commit yet."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _metrics_line(metrics: dict) -> str:
    from otonom_trader.app.promotion.texts import metric_text

    return (f"Sharpe={metric_text('sharpe', metrics['sharpe'])}, "
            f"CAGR={metric_text('cagr_pct', metrics['cagr_pct'])}, "
            f"MaxDD={metric_text('max_drawdown_pct', metrics['max_drawdown_pct'])}, "
            f"Trades={metric_text('n_trades', metrics['n_trades'])}")


def _num(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def echo_promotion(s) -> None:
    """The workflow's lines (best run metrics, parameter changes), then the run's details;
    ``s`` is an ``app.promotion.promote.PromotionSummary``."""
    from otonom_trader.app.repository.strategy_log import headline_metrics

    click.echo("")
    click.echo("Best run metrics:")
    for label, text in headline_metrics(s.test):
        click.echo(f"  - Test {label}: {text}")
    click.echo("")
    echo_changes({path: (old, new) for path, old, new in s.changes})
    of = s.overfitting
    click.echo("")
    click.echo(f"Run #{s.run_number}: the best {s.selection} of {s.n_done} done runs")
    click.echo(f"  Train: {_metrics_line(s.train)}")
    click.echo(f"  Test:  {_metrics_line(s.test)}")
    if s.holdout is not None:
        click.echo(f"  Hold-out (never ranked): {_metrics_line(s.holdout)}")
    click.echo(f"Overfitting: Sharpe gap {_num(of['sharpe_gap'], '.2f')}, DSR "
               f"{_num(of['dsr'], '.2f')}, PBO {_num(of['pbo'], '.2f')} ({of['n_trials']} "
               "trials)")
    if s.forced:
        click.echo("⚠️  Forced with --allow-overfit; failed gates: " + "; ".join(s.forced))


def echo_changes(changes: dict) -> None:
    """``Parameter changes:`` with one ``  - path: old → new`` line each."""
    from otonom_trader.app.repository.strategy_log import format_value

    click.echo("Parameter changes:")
    for path, (old, new) in changes.items():
        click.echo(f"  - {path}: {format_value(old)} → {format_value(new)}")
    if not changes:
        click.echo("  - (none: the run's parameters equal the parent's)")


def echo_outcome(outcome, forge_url: str | None) -> None:
    """A finished (or resumed) promotion: the workflow's summary, the branch, the push and
    the pull request; a failed push or API call is one error line (exit 1)."""
    from otonom_trader.cli.views.console import echo_notes
    from otonom_trader.domain.errors import RunError

    s, pub = outcome.summary, outcome.publish
    echo_notes([*s.notes, *pub.notes])
    if outcome.resumed:
        click.echo(f"↩️  {outcome.resumed[0].upper()}{outcome.resumed[1:]}")
    click.echo(f"✅ Successfully promoted experiment {s.experiment_id}")
    click.echo(f"📄 New strategy: {s.path}")
    click.echo(f"📝 Updated log: {outcome.log_path}")
    echo_promotion(s)
    click.echo("")
    if outcome.deployment_path:
        click.echo(f"🚀 Deployment: {outcome.deployment_path} ({s.name}: stage shadow, "
                   "capital 0%)")
    click.echo(f"🌿 Branch: {outcome.branch} (commit {outcome.commit[:10]}); back on "
               f"{outcome.base_branch}")
    from otonom_trader.app.publishing.pull_request import finish_command

    finish = finish_command(outcome.branch, forge_url)
    if pub.push_error:
        raise RunError(f"{pub.push_error}: the branch {outcome.branch} and its commit stay; "
                       f"run `{finish}` to finish")
    if pub.pushed:
        click.echo(f"⬆️  Pushed {outcome.branch}")
    if pub.pull is not None:
        state = "opened" if pub.pull.created else "already open"
        click.echo(f"🔗 Pull request #{pub.pull.number} {state}: {pub.pull.url}")
    elif pub.pull_error:
        raise RunError(f"{pub.pull_error}: the branch {outcome.branch} and its commit stay; "
                       f"run `{finish}` to finish")
    else:
        click.echo(f"📬 Pull request body saved: {outcome.body_path}")
        click.echo(f"   Open it with: {pub.manual[0]}")
        for line in pub.manual[1:]:
            click.echo(f"   or: {line}")


def run_promote(ctx: click.Context, prefix: list[str], **kw) -> None:
    from click.core import ParameterSource

    from otonom_trader.app.promotion.promote import PromoteRequest, promote, resume_promotion

    if kw["resume"]:
        given = ctx.get_parameter_source("remote") is ParameterSource.COMMANDLINE
        resumed = resume_promotion(kw["resume"], remote=kw["remote"] if given else None,
                                   forge_url=kw["forge_url"], repo=kw["repo"])
        if resumed.outcome is None:
            click.echo(f"↩️  Rolled back the interrupted promotion {resumed.name}: it had no "
                       "commit, nothing of it is left; run the promote command again")
            return
        echo_outcome(resumed.outcome, kw["forge_url"])
        return
    if kw["output_name"] is None:
        raise click.UsageError("Missing option '--output-name' (or --resume NAME).")
    request = PromoteRequest(
        experiment_id=kw["experiment_id"], output_name=kw["output_name"],
        base_strategy=kw["base_strategy"], select_by=kw["select_by"],
        select_on=kw["select_on"], expected_impact=kw["expected_impact"],
        allow_overfit=kw["allow_overfit"],
        force=kw["force"], deploy=kw["deploy"], db_url=kw["db_url"], forge_url=kw["forge_url"],
        remote=kw["remote"], repo=kw["repo"], data_dir=kw["data_dir"], dvc_exp=kw["dvc_exp"],
        command=typed_command(ctx, prefix), walk_forward_id=kw["walk_forward_id"],
    )
    echo_outcome(promote(request), kw["forge_url"])


@click.command()
@promote_options
@click.pass_context
def promote(ctx, **kw):
    """Promote an experiment's best run to strategies/<name>.yaml on branch promote/<name>,
    with a STRATEGY_LOG.md entry, and open the pull request.

    Interrupted (killed, power cut)? Run the same command again, or `--resume NAME`: a
    promotion that has its commit is pushed and its pull request opened; one that has not is
    rolled back (and, re-running the command, done again)."""
    run_promote(ctx, ["otonom", "promote"], **kw)
