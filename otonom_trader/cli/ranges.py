"""The documented range of every numeric flag, in one place (README "Limits").

Integers beyond these ranges (``2**70``, negative ids) are refused by click with one line
naming the flag (exit 2), before anything is allocated or stored. Floats must also be finite:
``nan`` and ``inf`` are refused (``click.FloatRange`` alone lets ``nan`` through).
"""

from __future__ import annotations

import math

import click

INT64 = 2**63 - 1


class FiniteRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf``."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


EXPERIMENT_ID = click.IntRange(1, INT64)  # ids in the experiment store (SQLite integers)
RUNS = click.IntRange(1, 10**12)  # --n-iter, --max-combinations
SEED = click.IntRange(0, INT64)
WORKERS = click.IntRange(1, 1024)
ROWS = click.IntRange(1, 1_000_000)  # --limit, --top
CHUNK = click.IntRange(1, 1_000_000)
BOOTSTRAP = click.IntRange(100, 100_000)  # resamples of the compare bootstrap
PR_NUMBER = click.IntRange(1, 2**31 - 1)  # GitHub's issue numbers are 32-bit
CAPITAL = FiniteRange(0, 1e15, min_open=True)  # --initial-capital, in currency
PERIODS_PER_YEAR = FiniteRange(0, 1e8, min_open=True)  # 1e8 > one bar a second
