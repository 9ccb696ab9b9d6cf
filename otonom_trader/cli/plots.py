"""``otonom plots``: the offline page template for ``dvc plots show`` / ``dvc plots diff``."""

from __future__ import annotations

import click

DEFAULT_TEMPLATE = "reports/dvc_plots_template.html"


@click.group()
def plots():
    """DVC plot pages (`dvc plots show`, `dvc plots diff`)."""


@plots.command("template")
@click.option("--output", default=DEFAULT_TEMPLATE, show_default=True,
              help="Where to write the template (.dvc/config `plots.html_template` names it).")
def template(output):
    """Write the page template with vega, vega-lite and vega-embed inlined, so DVC's plot
    pages render offline (the pipeline's `plots_template` stage runs this)."""
    from otonom_trader.adapters.output import write_atomic_text
    from otonom_trader.adapters.plots_template import offline_template

    path = write_atomic_text(output, "--output", ".html", offline_template())
    click.echo(f"Wrote {path} ({path.stat().st_size:,} bytes)")
