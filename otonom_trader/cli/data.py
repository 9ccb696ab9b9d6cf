"""``otonom data``: list and prepare market data. DataErrors propagate to ``main`` (exit 2)."""

from __future__ import annotations

from pathlib import Path

import click

DATA_DIR = click.option(
    "--data-dir",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder with <SYMBOL>.csv / <SYMBOL>.parquet files.",
)


@click.group()
def data() -> None:
    """List and prepare market data."""


@data.command("list")
@DATA_DIR
def list_command(data_dir: Path) -> None:
    """Show every symbol: bundled samples and files in the data folder."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from otonom_trader.engine.data import list_symbols

    table = Table(
        title=f"Market data ({data_dir})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        show_edge=False,
    )
    for name in ("symbol", "bars", "first", "last", "freq", "per year"):
        right = name in ("bars", "per year")
        table.add_column(name, justify="right" if right else "left", no_wrap=True)
    table.add_column("source", overflow="fold", min_width=11)
    for info in list_symbols(data_dir):
        table.add_row(
            info.symbol,
            str(info.bars),
            _date(info.first),
            _date(info.last),
            info.frequency,
            f"{info.periods_per_year:g}",
            info.source,
        )
    Console().print(table)


@data.command("prepare")
@click.argument("symbol")
@DATA_DIR
@click.option("--fingerprint", "fingerprint_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a JSON with the bars' count, span and data fingerprint.")
def prepare_command(symbol: str, data_dir: Path, fingerprint_path: Path | None) -> None:
    """Write SYMBOL (DATA_DIR/SYMBOL.csv, else bundled) to DATA_DIR/SYMBOL.parquet."""
    from otonom_trader.adapters.output import check_output, write_atomic_text
    from otonom_trader.domain.json_text import dumps
    from otonom_trader.engine.data import data_fingerprint, load_bars, prepare

    if fingerprint_path is not None:
        check_output(fingerprint_path, "--fingerprint", ".json")
    path = prepare(symbol, data_dir)
    bars = load_bars(symbol, data_dir)
    first, last = _date(bars.index[0]), _date(bars.index[-1])
    if fingerprint_path is not None:
        info = {"symbol": path.stem, "bars": len(bars), "first": first, "last": last,
                "fingerprint": data_fingerprint(bars)}
        write_atomic_text(fingerprint_path, "--fingerprint", ".json", dumps(info) + "\n")
    click.echo(f"✓ wrote {path} ({len(bars)} bars, {first} → {last})")


def _date(ts) -> str:
    return str(ts.date()) if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M")
