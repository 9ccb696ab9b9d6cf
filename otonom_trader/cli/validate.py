"""``otonom validate``: the CI gate; the work is in ``app.validation.validate``.

Exit 0 when every gate passes, 1 when one fails (after printing/writing the report),
2 on bad input (one line).
"""

from __future__ import annotations

import click


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=True))
@click.option("--changed", is_flag=True,
              help="Strategy files added/modified between --base and HEAD (and those "
                   "deployments/production.yaml lists when it changed).")
@click.option("--deployed", is_flag=True,
              help="The paper/live strategies of the deployment file (--production).")
@click.option("--base", default="origin/main", show_default=True,
              help="Base revision for --changed (and where production is read from).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="Gates, split and symbol.")
@click.option("--report-md", "report_md", type=click.Path(dir_okay=False),
              help="Write the markdown report (the pull-request comment) here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.option("--output-json", "output_json", type=click.Path(dir_okay=False),
              help="Also write the JSON object here (e.g. a DVC metrics file).")
@click.option("--no-fail", is_flag=True,
              help="Exit 0 even when a gate fails (the verdict stays in the report's `ok`).")
@click.option("--data-dir", default="data", show_default=True, help="User and prepared data.")
@click.option("--production", "production_path", default="deployments/production.yaml",
              show_default=True, type=click.Path(dir_okay=False),
              help="Deployment file naming the production strategies to compare against.")
@click.option("--db", "db_url", default=None,
              help="Experiment store holding the promoted runs' experiments (default: "
                   "OTONOM_DB, else .otonom/experiments.db when it exists, else the committed "
                   "experiments/<name>/metrics.json).")
def validate(files, changed, deployed, base, params_path, report_md, as_json, output_json,
             no_fail, data_dir, production_path, db_url):
    """Check strategy FILES (default: every strategies/*.yaml): schema, exact reproduction of
    the promotion metadata, and the params.yaml gates. Exit 1 if any gate fails."""
    from otonom_trader.adapters.output import write_atomic_text
    from otonom_trader.app.validation.validate import ValidateRequest, run_validate
    from otonom_trader.cli.views.validate import summary_line, to_json, to_markdown
    from otonom_trader.domain.errors import GateFailed
    from otonom_trader.domain.json_text import dumps

    result = run_validate(ValidateRequest(
        files=tuple(files), changed=changed, deployed=deployed, base=base,
        params_path=params_path,
        data_dir=data_dir, production_path=production_path, db_url=db_url,
    ))
    markdown = to_markdown(result)
    as_text = dumps(to_json(result), ensure_ascii=False)
    for flag, path, suffix, text in (("--report-md", report_md, ".md", markdown),
                                     ("--output-json", output_json, ".json", as_text + "\n")):
        if path:
            write_atomic_text(path, flag, suffix, text)
    if as_json:
        click.echo(as_text)
    else:
        print_console(result)
    if not result.ok and not no_fail:
        raise GateFailed(summary_line(result).removeprefix("❌ "))


def print_console(result) -> None:
    """One rich table per strategy (gate, value, threshold, result) and the summary line."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from otonom_trader.cli.views.validate import ICONS, shown_pair, summary_line

    console = Console(highlight=False)
    for r in result.reports:
        title = f"{ICONS['pass'] if r.ok else ICONS['fail']} {r.name or r.path} ({r.path})"
        caption = None
        if r.symbol and r.test_window:
            caption = f"{r.symbol}, test {r.test_window[0]} → {r.test_window[1]}"
            if r.train_window:
                caption += f", train {r.train_window[0]} → {r.train_window[1]}"
        table = Table(title=title, caption=caption, title_justify="left")
        table.add_column("Gate", overflow="fold")
        table.add_column("Value", justify="right")
        table.add_column("Threshold", justify="right")
        table.add_column("Result")
        for c in r.checks:
            label = Text(c.label)
            if c.detail:
                label.append(f"\n{c.detail}", style="dim")
            shown, limit = shown_pair(c)
            style = {"pass": "green", "fail": "bold red"}.get(c.status, "dim")
            table.add_row(label, shown, limit, Text(f"{ICONS[c.status]} {c.status}", style))
        console.print(table)
        for note in r.notes:
            console.print(f"note: {note}", style="dim")
    for waiver in result.waivers:
        console.print(f"⚠️  waived: {waiver}")
    console.print(summary_line(result))
