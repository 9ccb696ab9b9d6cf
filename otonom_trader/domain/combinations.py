"""Stream a grid's combinations in chunks of numpy arrays, never the whole grid at once.

Grid search walks ``itertools.product`` order (last key fastest) by mixed-radix arithmetic on
index blocks (``np.unravel_index``), filters each block with the constraints, and numbers the
survivors 1, 2, ... so run ``k`` is the k-th combination that satisfies the constraints.
Random search draws run ``i`` from ``np.random.default_rng([seed, i])`` alone.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.grid import MAX_TRIES, Distribution, GridSpec, _is_int, _is_number, _types
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import get_value

__all__ = ["Chunk", "Combinations"]

_BLOCK = 1 << 16
SAMPLE = 100_000  # combinations drawn to estimate a constrained grid too large to count
_Values = dict[str, np.ndarray]


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Chunk:
    """Runs ``run_numbers[i]`` (int64, 1-based) with values ``values[path][i]``."""

    run_numbers: np.ndarray
    values: _Values

    def __len__(self) -> int:
        return len(self.run_numbers)

    def params(self, i: int) -> dict[str, Any]:
        """Row ``i`` as ``{path: Python scalar}``, ready for ``apply_overrides``."""
        return {path: _python(column[i]) for path, column in self.values.items()}


def _dtype(path: str, param: tuple | Distribution) -> np.dtype:
    """int64 for an integer key, float64 for a number key, object for anything else."""
    types = _types(path)
    if isinstance(param, Distribution) and param.kind != "choice":
        return np.dtype(np.int64 if param.kind == "int" and "integer" in types else np.float64)
    values = param.choices if isinstance(param, Distribution) else param
    if "integer" in types and all(map(_is_int, values)):
        return np.dtype(np.int64)
    if "number" in types and all(map(_is_number, values)):
        return np.dtype(np.float64)
    return np.dtype(object)


def _array(values: list | tuple, dtype: np.dtype) -> np.ndarray:
    if dtype.kind != "O":
        return np.array(values, dtype=dtype)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


class Combinations:
    """The runs of ``spec`` over ``strategy``: ``total`` and ``chunks(size, skip)``."""

    def __init__(self, spec: GridSpec, strategy: Strategy):
        self.spec = spec
        self.paths = tuple(spec.parameters)
        self.dtypes = {p: _dtype(p, v) for p, v in spec.parameters.items()}
        self.fixed = {
            path: get_value(strategy, path)
            for c in spec.constraints for path in c.paths if path not in spec.parameters
        }
        if spec.search == "grid":
            if spec.size >= 2**63:
                raise InputError(f"the grid has {spec.size:,} combinations, too many to number; "
                                 "use `search: random` with `n_iter`")
            self.shape = tuple(
                v.count if isinstance(v, Distribution) else len(v)
                for v in spec.parameters.values()
            )
        self._tables = {  # the listed values of each axis (int ranges are computed)
            p: _array(v.choices if isinstance(v, Distribution) else v, self.dtypes[p])
            for p, v in spec.parameters.items()
            if not (isinstance(v, Distribution) and v.kind in ("int", "uniform", "loguniform"))
        }

    @functools.cached_property
    def total(self) -> int:
        """Runs after constraints (grid: counted block by block; random: ``n_iter``)."""
        if self.spec.search != "grid":
            return self.spec.n_iter
        if not self.spec.constraints:
            return self.spec.size
        return sum(len(runs) for runs, _ in self._grid_blocks(_BLOCK))

    def count(self, seconds: float) -> tuple[int, bool]:
        """``(runs, exact)``: like ``total``, but a constrained grid is counted for at most
        ``seconds``; past that the count is estimated from ``SAMPLE`` combinations drawn
        uniformly (``exact`` False)."""
        if self.spec.search != "grid" or not self.spec.constraints or "total" in self.__dict__:
            return self.total, True
        deadline = time.monotonic() + seconds
        n = 0
        for runs, _ in self._grid_blocks(_BLOCK):
            n += len(runs)
            if time.monotonic() > deadline:
                return self._estimate(), False
        self.__dict__["total"] = n  # the cached ``total``
        return n, True

    def _estimate(self) -> int:
        flat = np.random.default_rng(0).integers(0, self.spec.size, SAMPLE, dtype=np.int64)
        index = np.unravel_index(flat, self.shape)
        values = {p: self._column(p, i) for p, i in zip(self.paths, index, strict=True)}
        share = np.count_nonzero(self._holds({**self.fixed, **values})) / SAMPLE
        return round(self.spec.size * share)

    def chunks(self, size: int, skip: Collection[int] | np.ndarray = (),
               values: bool = True) -> Iterator[Chunk]:
        """Chunks of ``size`` runs (the last may be shorter) in run order, leaving out the run
        numbers in ``skip`` without renumbering the others. ``values`` False: run numbers
        only (no values drawn), for whoever rebuilds them (``chunk_of``; when ``numbered``)."""
        if not _is_int(size) or size < 1:
            raise ValueError(f"chunk size must be a positive integer, got {size!r}")
        if not values and not self.numbered:
            raise ValueError("a constrained grid's chunks carry their values")
        skip = np.unique(np.asarray(skip if isinstance(skip, np.ndarray) else list(skip), np.int64))
        if self.spec.search == "grid":
            blocks = self._grid_blocks(max(size, _BLOCK), skip)
        else:
            blocks = self._random_blocks(size, skip, values)
        yield from _rebatch(blocks, size, self.paths if values else ())

    @staticmethod
    def params_of(chunk: Chunk, i: int) -> dict[str, Any]:
        """Row ``i`` of ``chunk`` as ``{path: Python scalar}``."""
        return chunk.params(i)

    def draw(self, run: int) -> dict[str, Any]:
        """Random search: run ``run``'s parameters, regenerated on their own."""
        rng = np.random.default_rng([self.spec.seed, run])
        for _ in range(MAX_TRIES):
            row = {
                p: v.draw(rng) if isinstance(v, Distribution) else v[int(rng.integers(len(v)))]
                for p, v in self.spec.parameters.items()
            }
            ok = self._holds({**self.fixed, **row})
            if ok is None or ok:
                return row
        raise InputError(
            f"random search run #{run}: no draw satisfied the constraints in {MAX_TRIES:,} "
            "tries; the constraints are too tight for the distributions — widen the ranges "
            "or loosen the constraints"
        )

    # ------------------------------------------------------------ internals

    def _holds(self, values: dict[str, Any]) -> Any:
        """Constraint mask for arrays, or True/False for scalars; None without constraints."""
        result = None
        for constraint in self.spec.constraints:
            ok = constraint.holds(values)
            result = ok if result is None else result & ok
        return result

    def values_of(self, path: str) -> np.ndarray | None:
        """Every value ``path`` takes, typed as in the chunks; None for a continuous one."""
        param = self.spec.parameters[path]
        count = param.count if isinstance(param, Distribution) else len(param)
        return None if count is None else self._column(path, np.arange(count))

    def _column(self, path: str, index: np.ndarray) -> np.ndarray:
        param, dtype = self.spec.parameters[path], self.dtypes[path]
        if isinstance(param, Distribution) and param.kind == "int":
            return (param.low + param.step * index).astype(dtype, copy=False)
        return self._tables[path][index]

    def _grid_blocks(
        self, block: int, skip: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, _Values]]:
        numbered = 0
        for start in range(0, self.spec.size, block):
            flat = np.arange(start, min(start + block, self.spec.size), dtype=np.int64)
            index = np.unravel_index(flat, self.shape)
            values = {p: self._column(p, i) for p, i in zip(self.paths, index, strict=True)}
            mask = self._holds({**self.fixed, **values})
            if mask is not None:
                values = {p: v[mask] for p, v in values.items()}
            count = len(flat) if mask is None else int(np.count_nonzero(mask))
            runs = np.arange(numbered + 1, numbered + count + 1, dtype=np.int64)
            numbered += count
            if skip is not None and len(skip):
                keep = ~_member(runs, skip)
                runs, values = runs[keep], {p: v[keep] for p, v in values.items()}
            yield runs, values

    def _random_blocks(self, size: int, skip: np.ndarray,
                       values: bool = True) -> Iterator[tuple[np.ndarray, _Values]]:
        n = self.spec.n_iter
        for start in range(1, n + 1, size):
            runs = np.arange(start, min(start + size, n + 1), dtype=np.int64)
            if len(skip):
                runs = runs[~_member(runs, skip)]
            yield runs, self._drawn(runs) if values else {}

    def _drawn(self, runs: np.ndarray) -> _Values:
        rows = [self.draw(int(r)) for r in runs]
        return {p: _array([r[p] for r in rows], self.dtypes[p]) for p in self.paths}

    @property
    def numbered(self) -> bool:
        """Whether a run's values follow from its number alone (``chunk_of``): a random
        search, or a grid without constraints (a constrained grid numbers the survivors)."""
        return self.spec.search != "grid" or not self.spec.constraints

    def chunk_of(self, runs: np.ndarray) -> Chunk:
        """The chunk of runs ``runs`` (as ``chunks`` yields it), rebuilt from their numbers
        alone; only when ``numbered``."""
        if not self.numbered:
            raise ValueError("a constrained grid's runs are numbered by the combinations "
                             "that pass: stream them with chunks()")
        runs = np.asarray(runs, np.int64)
        if self.spec.search != "grid":
            return Chunk(runs, self._drawn(runs))
        index = np.unravel_index(runs - 1, self.shape)
        return Chunk(runs, {p: self._column(p, i) for p, i in zip(self.paths, index, strict=True)})


def _member(runs: np.ndarray, sorted_skip: np.ndarray) -> np.ndarray:
    at = np.minimum(np.searchsorted(sorted_skip, runs), len(sorted_skip) - 1)
    return sorted_skip[at] == runs


def _rebatch(
    blocks: Iterator[tuple[np.ndarray, _Values]], size: int, paths: tuple[str, ...]
) -> Iterator[Chunk]:
    """Re-cut blocks of any length into chunks of exactly ``size`` rows (the last shorter)."""
    pending: list[tuple[np.ndarray, _Values]] = []
    count = 0
    for runs, values in blocks:
        if not len(runs):
            continue
        pending.append((runs, values))
        count += len(runs)
        if count < size:
            continue
        runs = np.concatenate([r for r, _ in pending])
        values = {p: np.concatenate([v[p] for _, v in pending]) for p in paths}
        start = 0
        while count - start >= size:
            end = start + size
            yield Chunk(runs[start:end], {p: v[start:end] for p, v in values.items()})
            start = end
        pending = [(runs[start:], {p: v[start:] for p, v in values.items()})]
        count -= start
    if count:
        runs = np.concatenate([r for r, _ in pending])
        yield Chunk(runs, {p: np.concatenate([v[p] for _, v in pending]) for p in paths})
