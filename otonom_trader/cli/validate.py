"""``otonom validate``: the CI gate; the work is in ``app.validate``.

Exit 0 when every gate passes, 1 when one fails (after printing/writing the report),
2 on bad input (one line).
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=True))
@click.option("--changed", is_flag=True,
              help="Strategy files added/modified between --base and HEAD (and those "
                   "deployments/production.yaml lists when it changed).")
@click.option("--base", default="origin/main", show_default=True,
              help="Base revision for --changed (and where production is read from).")
@click.option("--params", "params_path", default="params.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="Gates, split and symbol.")
@click.option("--report-md", "report_md", type=click.Path(dir_okay=False),
              help="Write the markdown report (the pull-request comment) here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.option("--data-dir", default="data", show_default=True, help="User and prepared data.")
@click.option("--production", "production_path", default="deployments/production.yaml",
              show_default=True, type=click.Path(dir_okay=False),
              help="Deployment file naming the production strategies to compare against.")
def validate(files, changed, base, params_path, report_md, as_json, data_dir, production_path):
    """Check strategy FILES (default: every strategies/*.yaml): schema, exact reproduction of
    the promotion metadata, and the params.yaml gates. Exit 1 if any gate fails."""
    from otonom_trader.app.validate import ValidateRequest, run_validate
    from otonom_trader.app.validate_report import summary_line, to_json, to_markdown
    from otonom_trader.domain.errors import GateFailed, InputError

    result = run_validate(ValidateRequest(
        files=tuple(files), changed=changed, base=base, params_path=params_path,
        data_dir=data_dir, production_path=production_path,
    ))
    markdown = to_markdown(result)
    if report_md:
        try:
            Path(report_md).write_text(markdown, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--report-md {report_md}: cannot write ({exc.strerror})") from None
    if as_json:
        click.echo(json.dumps(to_json(result), indent=2, ensure_ascii=False))
    else:
        click.echo(markdown, nl=False)
    if not result.ok:
        raise GateFailed(summary_line(result).removeprefix("❌ "))
