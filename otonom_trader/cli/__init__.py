"""The ``otonom`` command line. Subcommands load lazily so ``otonom --help`` stays fast."""

from __future__ import annotations

import importlib
import sys

import click

from otonom_trader.domain.errors import OtonomError
from otonom_trader.domain.redact import redact

# command name -> ("module:attribute", one-line help); modules load only when the command runs.
COMMANDS = {
    "backtest": ("otonom_trader.cli.backtest:backtest", "Backtest one strategy on one symbol."),
    "data": ("otonom_trader.cli.data:data", "List and prepare market data."),
    "experiments": ("otonom_trader.cli.experiments:experiments",
                    "Grid/random searches, the experiment store and reports."),
    "compare": ("otonom_trader.cli.compare:compare", "Compare two strategies on the same data."),
    "promote": ("otonom_trader.cli.promote:promote",
                "Promote an experiment's best run to a strategy file and pull request."),
    "plots": ("otonom_trader.cli.plots:plots",
              "The offline page template for `dvc plots show` / `dvc plots diff`."),
    "pr": ("otonom_trader.cli.pr:pr", "Finish a promotion's push and pull request."),
    "validate": ("otonom_trader.cli.validate:validate",
                 "The CI gate: reproduce and check strategies against params.yaml gates."),
    "strategy": ("otonom_trader.cli.strategy:strategy",
                 "Validate strategy files; record a strategy's actual impact."),
    "monitor": ("otonom_trader.cli.monitor:monitor",
                "Live vs expected per deployed strategy, with a rollout verdict."),
    "rollout": ("otonom_trader.cli.rollout:rollout",
                "Staged rollout by pull request: advance, rollback, halt, resume."),
    "daemon": ("otonom_trader.cli.daemon:daemon",
               "Production follows git: run the daemon, show its journal."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            module_name, attr = self.lazy_commands[cmd_name][0].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table, so listing commands imports none of them.
        with formatter.section("Commands"):
            rows = [(name, self.lazy_commands[name][1]) for name in self.list_commands(ctx)]
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="otonom-trader")
def cli() -> None:
    """otonom: strategies as files, experiments recorded, promotion by pull request."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping otonom errors to one line on stderr and an exit code."""
    run_command(cli, argv, "otonom")


def run_command(command: click.Command, argv: list[str] | None, prog_name: str) -> None:
    """Run a click command (the CLI or a tool script) and exit with its code: otonom errors
    become one line on stderr, usage errors exit 2, Ctrl-C exits 130."""
    try:
        rv = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.BadParameter as exc:  # one line naming the flag and its range, no usage
        click.echo(f"Error: {redact(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.message = redact(exc.message)
        exc.show()
        sys.exit(exc.exit_code)
    except OtonomError as exc:
        click.echo(f"Error: {redact(exc)}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
