"""Grid files for grid and random search (their combinations are streamed by combinations.py).

A grid file is a YAML mapping. Top-level dotted strategy paths are the parameters, in file
order; alternatively all of them sit under one ``params:`` (or ``parameters:``) mapping, as
in the workflow's example (not both styles in one file). A parameter is a non-empty list of
values or one distribution::

    risk.risk_pct: [0.5, 1.0]                        # list: grid axis, or a choice in random
    analysts.tech.fast_window: {int: [2, 80, 2]}     # low..high by step, high included if on it
    risk.stop_loss_pct: {uniform: [1.0, 5.0]}        # random search only
    ensemble.entry_threshold: {loguniform: [0.01, 0.5]}  # random only, low > 0
    analysts.tech.ma_type: {choice: [sma, ema]}      # like a list

Reserved keys: ``description``, ``search`` (``grid`` default, ``random``, or ``optuna``: TPE,
see app/experiments/optuna_search.py), ``n_iter`` (runs to draw or trials, required by random and
optuna), ``seed`` (default 0), ``constraints`` (list of ``<path> <op> <path or number>``, see
``constraints.py``; not with optuna), ``split`` (``train_start``,
``train_end``, ``test_start``, ``test_end``, any subset), ``parent_experiment`` (the ID of the
experiment a ``refine``d grid came from: the DSR then counts the whole chain's trials), ``cv``
(cross-validation of the search, ``{method: cpcv, folds, test_folds, embargo_days}``, see
``domain/cv.py``), ``objectives`` (2 to 4 metric names, e.g. ``[sharpe, max_drawdown_pct]``:
optuna then runs NSGA-II on them, and ``show`` gives their Pareto front; see objectives.py).

Run numbers are 1-based and stable. Grid: ``itertools.product`` order over the keys (last key
fastest), numbered after the constraints filter. Random: run ``i`` draws every parameter in key
order from ``np.random.default_rng([seed, i])``, redrawing until the constraints hold.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, NoReturn

import numpy as np

from otonom_trader.domain.constraints import ORDERING, Constraint, parse_constraint
from otonom_trader.domain.errors import InputError, StrategyError
from otonom_trader.domain.objectives import parse_objectives
from otonom_trader.domain.split import SPLIT_KEYS, Split, date_text
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import (
    _check_path,
    _schema,
    _show,
    _StrictLoader,
    check_value,
    get_value,
    read_yaml,
    valid_paths,
)

__all__ = [
    "Constraint",
    "Distribution",
    "GridSpec",
    "Split",
    "grid_from_mapping",
    "grid_warnings",
    "load_grid",
]

BLOCKS = ("params", "parameters")  # names of the one mapping that may hold every parameter
RESERVED = ("description", "search", "n_iter", "seed", "constraints", "split",
            "parent_experiment", "cv", "objectives", *BLOCKS)
KINDS = ("uniform", "loguniform", "int", "choice")
SEARCHES = ("grid", "random", "optuna")  # optuna: TPE over the same distributions
FORMS = (
    "`{uniform: [low, high]}`, `{loguniform: [low, high]}`, `{int: [low, high, step]}` or "
    "`{choice: [a, b]}`"
)
LARGE_GRID = 1_000_000
MAX_N_ITER = 10**12  # `n_iter` range (the search's own maximum is lower, see grid_search)
MAX_SEED = 2**63 - 1
MAX_TRIES = 1_000


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range
        return False


@functools.cache
def _types(path: str) -> frozenset[str]:
    """JSON types a strategy leaf accepts (an enum counts as its values' types)."""
    node = _schema()
    for part in path.split("."):
        node = node["properties"][part]
    if "enum" in node:
        return frozenset("string" if isinstance(v, str) else "number" for v in node["enum"])
    kind = node.get("type", [])
    return frozenset([kind] if isinstance(kind, str) else kind)


@dataclass(frozen=True)
class Distribution:
    """``uniform``/``loguniform`` (low, high), ``int`` (low, high, step) or ``choice``."""

    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: int | None = None
    choices: tuple = ()

    @property
    def count(self) -> int | None:
        """How many values grid search enumerates; None for a continuous distribution."""
        if self.kind == "int":
            return (self.high - self.low) // self.step + 1
        return len(self.choices) if self.kind == "choice" else None

    def draw(self, rng: np.random.Generator) -> Any:
        """One value as a Python scalar."""
        if self.kind == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.kind == "int":
            return self.low + self.step * int(rng.integers(self.count))
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(value, self.low), self.high)


@dataclass(frozen=True)
class GridSpec:
    """A validated grid file. ``raw`` is the file's plain dict (dates as ISO strings)."""

    parameters: Mapping[str, tuple | Distribution]
    constraints: tuple[Constraint, ...] = ()
    split: Split = field(default_factory=Split)
    search: str = "grid"
    n_iter: int | None = None
    seed: int = 0
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    description: str = ""
    objectives: tuple[str, ...] = ()  # metric keys of a multi-objective search

    @property
    def size(self) -> int | None:
        """Combinations before constraints (grid search); None for random search."""
        if self.search != "grid":
            return None
        counts = (len(v) if isinstance(v, tuple) else v.count for v in self.parameters.values())
        return math.prod(counts)


# ---------------------------------------------------------------- loading


class _DatesAsText(_StrictLoader.Resolver):
    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, rx) for tag, rx in resolvers if not tag.endswith(":timestamp")]
        for first, resolvers in _StrictLoader.Resolver.yaml_implicit_resolvers.items()
    }


class _GridLoader(_StrictLoader):
    """Reads unquoted dates as text, so ``Split.check`` reports ``2020-13-01`` clearly."""

    Resolver = _DatesAsText


def load_grid(path: str | Path, strategy: Strategy, search: str | None = None,
              n_iter: int | None = None, seed: int | None = None,
              objectives: str | None = None) -> GridSpec:
    """Read and validate a grid file for ``strategy``; any problem is one ``StrategyError``.

    ``search``, ``n_iter`` and ``seed`` (the command line's flags) win over the file's keys, so
    ``--search random`` turns a file with distributions into a random search.
    ``objectives`` (``--objectives a,b``) wins over the file's ``objectives``.
    """
    path = Path(path)
    data = read_yaml(path, _GridLoader, "grid")
    given = {k: v for k, v in (("search", search), ("n_iter", n_iter), ("seed", seed))
             if v is not None}
    if objectives is not None:
        given["objectives"] = list(parse_objectives(objectives))
    if given and isinstance(data, Mapping):
        if search == "random" and n_iter is None and data.get("n_iter") is None:
            raise StrategyError(f"--search random needs --n-iter (runs to draw), or `n_iter:` "
                                f"in {path}")
        if search == "optuna" and n_iter is None and data.get("n_iter") is None:
            raise StrategyError(f"--search optuna needs --n-trials N (trials to run), or "
                                f"`n_iter:` in {path}")
        data = {**data, **given}
    return grid_from_mapping(data, strategy, source=path)


def grid_from_mapping(
    data: Any, strategy: Strategy, source: str | Path | None = None
) -> GridSpec:
    """Validate a grid mapping against ``strategy`` and build the ``GridSpec``."""
    source = Path(source) if source is not None else None
    return _Parser(strategy, f"{source}: " if source else "grid: ").parse(data, source)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return date_text(value)


class _Parser:
    def __init__(self, strategy: Strategy, label: str):
        self.strategy, self.label = strategy, label

    def fail(self, message: str) -> NoReturn:
        raise StrategyError(self.label + message)

    def parse(self, data: Any, source: Path | None) -> GridSpec:
        if data is None:
            self.fail("the grid is empty; map dotted strategy paths to lists, e.g. "
                      "`risk.risk_pct: [0.5, 1.0]`")
        if not isinstance(data, Mapping):
            self.fail(f"expected a mapping of dotted strategy paths at the top, got {_show(data)}")
        for key in data:
            if not isinstance(key, str):
                self.fail(f"key {_show(key)} is not a dotted strategy path or a reserved key")
            if key not in RESERVED and "." not in key:
                self.unknown_top(key)
        search = data.get("search", "grid")
        if search not in SEARCHES:
            self.fail(f"`search`: expected `grid`, `random` or `optuna`, got {_show(search)}")
        n_iter, seed = data.get("n_iter"), data.get("seed", 0)
        if n_iter is not None and not (_is_int(n_iter) and 1 <= n_iter <= MAX_N_ITER):
            self.fail(f"`n_iter`: expected an integer between 1 and {MAX_N_ITER:,} (runs to "
                      f"draw), got {_show(n_iter)}")
        if search == "random" and n_iter is None:
            self.fail("`search: random` needs `n_iter`, the number of runs to draw (e.g. 200)")
        if search == "optuna" and n_iter is None:
            self.fail("`search: optuna` needs `n_iter`, the number of trials (or pass "
                      "--n-trials N)")
        if search == "optuna" and data.get("constraints"):
            self.fail("`constraints` are not supported by `search: optuna`; drop them or use "
                      "`search: random`")
        if not (_is_int(seed) and 0 <= seed <= MAX_SEED):
            self.fail(f"`seed`: expected an integer between 0 and {MAX_SEED:,}, got {_show(seed)}")
        parent = data.get("parent_experiment")
        if parent is not None and not (_is_int(parent) and 1 <= parent <= MAX_SEED):
            self.fail(f"`parent_experiment`: expected an experiment ID (a positive integer), "
                      f"got {_show(parent)}")
        objectives = ()
        if data.get("objectives") is not None:
            objectives = parse_objectives(data["objectives"], f"{self.label}`objectives`")
        description = data.get("description", "")
        if not isinstance(description, str):
            self.fail(f"`description`: expected a string, got {_show(description)}")
        params = {k: v for k, v in data.items() if k not in RESERVED}
        blocks = [b for b in BLOCKS if b in data]
        if len(blocks) > 1:
            self.fail("both `params:` and `parameters:`; keep one block for every parameter")
        for block in blocks:
            if not isinstance(data[block], Mapping):
                self.fail(f"`{block}`: expected a mapping of dotted strategy paths to lists "
                          f"or distributions, got {_show(data[block])}")
            if params:
                self.fail(f"`{next(iter(params))}` is outside `{block}:`; put every "
                          f"parameter under `{block}:` or all of them at the top level")
            params = dict(data[block])
        if not params:
            self.fail("no parameters to search: add dotted strategy paths with lists of values, "
                      "e.g. `risk.risk_pct: [0.5, 1.0]`")
        parameters = {self.path(k): self.parameter(k, v, search) for k, v in params.items()}
        constraints = self.constraints(data.get("constraints"), parameters)
        split = self.split(data.get("split"))
        return GridSpec(MappingProxyType(parameters), constraints, split, search, n_iter, seed,
                        source, _plain(data), description, objectives)

    def unknown_top(self, key: str) -> NoReturn:
        match = difflib.get_close_matches(key, RESERVED, n=1, cutoff=0.6)
        if match:
            self.fail(f"unknown key `{key}` — did you mean `{match[0]}`?")
        if any(p.startswith(key + ".") for p in valid_paths()):
            _check_path(key, self.label)  # "`risk` is a block, set one of its keys: ..."
        self.fail(f"unknown key `{key}` — grid keys are dotted strategy paths such as "
                  "`risk.risk_pct` or one of " + ", ".join(f"`{k}`" for k in RESERVED))

    def path(self, key: Any) -> str:
        if not isinstance(key, str):
            self.fail(f"key {_show(key)} is not a dotted strategy path")
        if "." not in key:
            if any(p.startswith(key + ".") for p in valid_paths()):
                _check_path(key, self.label)  # "`risk` is a block, set one of its keys: ..."
            self.fail(f"`{key}` is not a dotted strategy path such as `risk.risk_pct`")
        parts = _check_path(key, self.label)
        configured = self.strategy.analysts.configured()
        name = parts[1] if parts[0] == "analysts" else parts[-1]
        weight = parts[:2] == ["ensemble", "analyst_weights"]
        if (parts[0] == "analysts" or weight) and name not in configured:
            self.fail(f"`{key}`: analyst `{name}` is not configured in strategy "
                      f"`{self.strategy.name}`; add `analysts.{name}` to it or drop the key")
        return key

    def values(self, path: str, values: Iterable[Any]) -> None:
        seen: set[str] = set()
        for value in values:
            shown = f"{type(value).__name__}:{value!r}"
            if shown in seen:
                continue
            seen.add(shown)
            message = check_value(path, value)
            if message is not None:
                if isinstance(value, str) and _numeric_text(value):
                    message += f" (YAML reads `{value}` as text; write it with a dot, e.g. 1.0e-3)"
                self.fail(message)

    def parameter(self, path: str, value: Any, search: str) -> tuple | Distribution:
        if isinstance(value, list):
            if not value:
                self.fail(f"`{path}`: empty list; give at least one value")
            self.values(path, value)
            return tuple(value)
        if not isinstance(value, Mapping):
            self.fail(f"`{path}`: expected a list of values (write [{_show(value)}] for one "
                      f"value) or a distribution: {FORMS}; got {_show(value)}")
        if len(value) != 1 or next(iter(value)) not in KINDS:
            bad = next((str(k) for k in value if k not in KINDS), "")
            match = difflib.get_close_matches(bad, KINDS, n=1, cutoff=0.6)
            hint = f" — did you mean `{match[0]}`?" if match else ""
            self.fail(f"`{path}`: expected a list or one distribution: {FORMS}; "
                      f"got {_show(value)}{hint}")
        kind, args = next(iter(value.items()))
        if kind == "choice":
            if not isinstance(args, list) or not args:
                self.fail(f"`{path}`: `choice` needs a non-empty list of values, got {_show(args)}")
            self.values(path, args)
            return Distribution("choice", choices=tuple(args))
        if kind == "int":
            ok = isinstance(args, list) and len(args) in (2, 3) and all(map(_is_int, args))
            if not ok:
                self.fail(f"`{path}`: `int` needs [low, high] or [low, high, step] as integers, "
                          f"got {_show(args)}")
            low, high, step = (*args, 1)[:3]
            if not 1 <= step <= max(1, high - low):
                self.fail(f"`{path}`: `int` step must be between 1 and high - low, got "
                          f"{_show(step)}")
        elif not (isinstance(args, list) and len(args) == 2 and all(map(_is_number, args))):
            self.fail(f"`{path}`: `{kind}` needs [low, high] as two finite numbers, "
                      f"got {_show(args)}")
        else:
            (low, high), step = args, None
        if low > high:
            self.fail(f"`{path}`: `{kind}` low ({low}) is above high ({high})")
        if kind == "loguniform" and low <= 0:
            self.fail(f"`{path}`: `loguniform` needs low > 0, got {low}")
        if kind != "int" and "number" not in _types(path) and "integer" in _types(path):
            self.fail(f"`{path}` takes integers: use `{{int: [low, high]}}`, not `{kind}`")
        dist = Distribution(kind, low, high, step)
        if step and (abs(low) > MAX_SEED or abs(high) > MAX_SEED):
            self.fail(f"`{path}`: `int` bounds must be 64-bit integers (at most {MAX_SEED:,} "
                      "in size)")
        self.values(path, [low, low + (dist.count - 1) * step] if step else [low, high])
        if kind != "int" and search == "grid":
            self.fail(f"`{path}`: `{kind}` cannot be enumerated by grid search; set "
                      "`search: random` with `n_iter` (or pass --search random --n-iter N), "
                      "or list the values")
        return dist if step else Distribution(kind, float(low), float(high))

    def constraints(self, items: Any, parameters: Mapping[str, Any]) -> tuple[Constraint, ...]:
        items = [items] if isinstance(items, str) else items if items is not None else []
        if not isinstance(items, list):
            self.fail(f"`constraints`: expected a list of strings such as "
                      f"`a.b < c.d`, got {_show(items)}")
        out = []
        for text in items:
            try:
                constraint = parse_constraint(text)
            except ValueError as exc:
                self.fail(f"`constraints`: {_show(text)} {exc}")
            where = f"`constraints`: `{constraint}`"
            for path in constraint.paths:
                _check_path(path, f"{self.label}{where}: ")
                if path not in parameters and get_value(self.strategy, path) is None:
                    self.fail(f"{where}: `{path}` is neither a grid parameter nor set by the "
                              "strategy")
                if constraint.op in ORDERING and not _types(path) & {"integer", "number"}:
                    self.fail(f"{where}: `{constraint.op}` compares numbers, `{path}` is not one")
            if not any(p in parameters for p in constraint.paths):
                self.fail(f"{where} names no grid parameter; it is always true or always false")
            out.append(constraint)
        return tuple(out)

    def split(self, block: Any) -> Split:
        if block is None:
            return Split()
        if not isinstance(block, Mapping):
            self.fail(f"`split`: expected a mapping with {', '.join(SPLIT_KEYS)}, "
                      f"got {_show(block)}")
        try:
            split = Split().merged(block)
            split.check()
        except InputError as exc:
            self.fail(str(exc))
        return split


def _numeric_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def grid_warnings(spec: GridSpec) -> list[str]:
    """Non-fatal notes: a grid too large to run whole, ``n_iter`` ignored, repeated values."""
    label = f"{spec.source}: " if spec.source else "grid: "
    out = []
    size = spec.size
    if size is not None and size > LARGE_GRID:
        out.append(f"{label}the grid has {size:,} combinations (before constraints); consider "
                   "`search: random` with `n_iter` (e.g. `n_iter: 1000`)")
    if spec.search == "grid" and spec.n_iter is not None:
        out.append(f"{label}`n_iter` is ignored by `search: grid`")
    for path, values in spec.parameters.items():
        values = values.choices if isinstance(values, Distribution) else values
        if len({(type(v).__name__, repr(v)) for v in values}) < len(values):
            out.append(f"{label}`{path}` repeats a value; the grid will repeat those runs")
    return out
