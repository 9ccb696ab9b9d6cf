"""Chunked grid evaluation: analyst scores shared per distinct analyst parameter set, every
combination's train and test backtests run in parallel in the numba kernel, plus per-block
return statistics for the overfitting analysis."""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from otonom_trader.domain.errors import InputError, OtonomError
from otonom_trader.domain.metrics import PUBLIC_METRICS
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import apply_overrides
from otonom_trader.engine.analysts import AnalystContext
from otonom_trader.engine.backtest import (
    DEFAULT_CAPITAL,
    PreparedData,
    Window,
    resolve_window,
    sim_params,
    strategy_score,
    warmup_problem,
)
from otonom_trader.kernels.enums import BLOCK_FIELDS, N_METRICS

N_BLOCKS = 16
SCORE_PREFIXES = ("analysts.", "ensemble.analyst_weights.")
NOT_SWEEPABLE = ("data.symbol", "data.periods_per_year")
METRIC_SCALES = np.array([scale for _, _, scale in PUBLIC_METRICS])
SCORE_CACHE_BYTES = 256 * 2**20
TRADING_CACHE_ROWS = 2**16  # continuous trading parameters: almost every run is a new row


@dataclass
class ChunkResult:
    """One chunk's runs: parameters, status, display-scaled metrics and block statistics."""

    run_numbers: np.ndarray
    params: list[dict]
    status: list[str]
    errors: list[str | None]
    train: np.ndarray  # (n, N_METRICS), in METRIC_KEYS order
    test: np.ndarray
    blocks: np.ndarray  # (n, N_BLOCKS, BLOCK_FIELDS)


@dataclass(frozen=True)
class Split:
    train: Window
    test: Window


def resolve_split(index: pd.DatetimeIndex, symbol: str, train_start, train_end, test_start,
                  test_end) -> Split:
    """Bar positions of the train and test windows; they must not overlap."""
    everywhere = np.zeros(len(index))  # warm-up is checked per analyst parameter set
    train = resolve_window(index, train_start, train_end, everywhere, symbol, "train window")
    test = resolve_window(index, test_start, test_end, everywhere, symbol, "test window")
    if train.end >= test.start:
        raise InputError(
            f"train window ends {index[train.end]:%Y-%m-%d}, on or after the test window's "
            f"start {index[test.start]:%Y-%m-%d}: the windows must not overlap"
        )
    return Split(train, test)


def block_map(n_bars: int, split: Split, n_blocks: int = N_BLOCKS) -> np.ndarray:
    """Block of each bar: ``n_blocks`` equal time blocks of train start..test end, else -1."""
    lo, hi = split.train.start, split.test.end
    block_of = np.full(n_bars, -1, dtype=np.int64)
    positions = np.arange(lo, hi + 1)
    block_of[lo:hi + 1] = (positions - lo) * n_blocks // (hi - lo + 1)
    return block_of


class GridEvaluator:
    """Evaluates chunks of combinations of ``paths`` over one symbol's train/test split."""

    def __init__(self, strategy: Strategy, bars: pd.DataFrame, *, symbol: str, split: Split,
                 paths: list[str], initial_capital: float = DEFAULT_CAPITAL,
                 periods_per_year: float | None = None, data_dir: Path | str = "data"):
        for path in paths:
            if path in NOT_SWEEPABLE:
                raise InputError(
                    f"`{path}` cannot be swept in a grid: run one experiment per value"
                )
        self.strategy = strategy
        self.bars = bars
        self.data = PreparedData.from_bars(bars, periods_per_year or strategy.data.periods_per_year)
        self.ctx = AnalystContext(symbol=symbol, periods_per_year=self.data.periods_per_year,
                                  data_dir=Path(data_dir))
        self.initial_capital = float(initial_capital)
        self.split = split
        self.score_paths = [p for p in paths if p.startswith(SCORE_PREFIXES)]
        self.trade_paths = [p for p in paths if not p.startswith(SCORE_PREFIXES)]
        index = self.data.index
        self.windows = np.array([[split.train.start, split.train.end],
                                 [split.test.start, split.test.end]], dtype=np.int64)
        self.years = np.array([split.train.years(index), split.test.years(index)])
        self.block_of = block_map(len(index), split)
        self._scores: OrderedDict[tuple, np.ndarray | str] = OrderedDict()
        self._max_scores = max(64, SCORE_CACHE_BYTES // (8 * len(index)))
        self._trading: dict[tuple, np.ndarray | str] = {}

    @property
    def notes(self) -> list[str]:
        return list(dict.fromkeys(self.ctx.notes))

    def _score(self, key: tuple) -> np.ndarray | str:
        """The ensemble score for one analyst parameter set, or why it is invalid."""
        if key in self._scores:
            self._scores.move_to_end(key)
            return self._scores[key]
        try:
            strategy = apply_overrides(self.strategy, dict(zip(self.score_paths, key, strict=True)))
            score = strategy_score(strategy, self.bars, self.ctx)
            for label, window in (("train", self.split.train), ("test", self.split.test)):
                if problem := warmup_problem(score, window):
                    raise InputError(f"{label} window is {problem}")
            value: np.ndarray | str = np.ascontiguousarray(score, dtype=np.float64)
        except OtonomError as exc:
            value = _short(exc)
        self._scores[key] = value
        if len(self._scores) > self._max_scores:
            self._scores.popitem(last=False)
        return value

    def precompute_scores(self, axes: list[np.ndarray | None], most: int) -> int:
        """Compute the score of every analyst parameter set (the product of ``axes``, the
        values of each score path) into the cache, when they are enumerable, fit in it and
        number at most ``most`` (the runs): shipped with the evaluator, they are neither
        computed nor their files read where it runs. The number computed (else 0)."""
        if len(axes) != len(self.score_paths) or any(a is None for a in axes):
            return 0
        if math.prod(len(a) for a in axes) > min(most, self._max_scores):
            return 0
        keys = list(itertools.product(*(a.tolist() for a in axes)))
        for key in keys:
            self._score(key)
        return len(keys)

    def _trading_row(self, key: tuple) -> np.ndarray | str:
        """The kernel's parameter row for one trading parameter set, or why it is invalid."""
        if key not in self._trading:
            if len(self._trading) >= TRADING_CACHE_ROWS:  # bounded: memory must not grow
                self._trading.clear()  # with the runs (a random search draws new values)
            try:
                overrides = dict(zip(self.trade_paths, key, strict=True))
                strategy = apply_overrides(self.strategy, overrides)
                row = np.array(tuple(sim_params(strategy, self.initial_capital)), np.float64)
                self._trading[key] = row
            except OtonomError as exc:
                self._trading[key] = _short(exc)
        return self._trading[key]

    def evaluate(self, run_numbers: np.ndarray, values: dict[str, np.ndarray]) -> ChunkResult:
        """Run every combination of one chunk (``values[path][i]`` is run i's value)."""
        from otonom_trader.kernels.grid import grid_nb

        n = len(run_numbers)
        columns = {p: values[p].tolist() for p in [*self.score_paths, *self.trade_paths]}
        params = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(),
                                                                       strict=True)]
        score_keys = list(zip(*(columns[p] for p in self.score_paths), strict=True)) or [()] * n
        trade_keys = list(zip(*(columns[p] for p in self.trade_paths), strict=True)) or [()] * n

        status, errors = ["done"] * n, [None] * n
        chunk_scores: dict[tuple, int] = {}
        score_list, score_idx, param_rows, ok = [], [], [], []
        for i, (sk, tk) in enumerate(zip(score_keys, trade_keys, strict=True)):
            score = self._score(sk)
            row = self._trading_row(tk)
            problem = score if isinstance(score, str) else row if isinstance(row, str) else None
            if problem is not None:
                status[i], errors[i] = "failed", problem
                continue
            if sk not in chunk_scores:
                chunk_scores[sk] = len(score_list)
                score_list.append(score)
            score_idx.append(chunk_scores[sk])
            param_rows.append(row)
            ok.append(i)

        train = np.full((n, N_METRICS), np.nan)
        test = np.full((n, N_METRICS), np.nan)
        blocks = np.zeros((n, N_BLOCKS, BLOCK_FIELDS))
        if ok:
            m = len(ok)
            train_ok, test_ok = np.empty((m, N_METRICS)), np.empty((m, N_METRICS))
            blocks_ok = np.zeros((m, N_BLOCKS, BLOCK_FIELDS))
            d = self.data
            grid_nb(d.open, d.high, d.low, d.close, d.dsi, np.stack(score_list),
                    np.array(score_idx, np.int64), np.stack(param_rows), self.windows,
                    self.years, d.periods_per_year, self.block_of, train_ok, test_ok, blocks_ok)
            ok_idx = np.array(ok)
            train[ok_idx] = train_ok * METRIC_SCALES + 0.0
            test[ok_idx] = test_ok * METRIC_SCALES + 0.0
            blocks[ok_idx] = blocks_ok
        return ChunkResult(np.asarray(run_numbers, np.int64), params, status, errors, train,
                           test, blocks)


def warmup_bars(strategy, spec, bars: pd.DataFrame, symbol: str, data_dir: str) -> int:
    """Bars of history a signal needs at the grid's longest analyst settings (a window
    must hold more than this)."""
    from otonom_trader.domain.grid import Distribution
    from otonom_trader.engine.backtest import first_warm

    longest: dict[str, Any] = {}
    for path, values in spec.parameters.items():
        if not path.startswith("analysts."):
            continue
        if isinstance(values, Distribution):
            values = (values.high,) if values.high is not None else values.choices
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and path.startswith(SCORE_PREFIXES):
            longest[path] = max(numbers)
    data = PreparedData.from_bars(bars, strategy.data.periods_per_year)
    ctx = AnalystContext(symbol=symbol, periods_per_year=data.periods_per_year,
                         data_dir=Path(data_dir))
    try:
        score = strategy_score(apply_overrides(strategy, longest), bars, ctx)
    except OtonomError:  # the longest values together break a rule: the base strategy's
        score = strategy_score(strategy, bars, ctx)
    return first_warm(score) + 2


def _short(exc: Exception) -> str:
    """An error's message without the file prefix that repeats on every failed run."""
    text = str(exc)
    return text.split(" with overrides: ", 1)[-1]
