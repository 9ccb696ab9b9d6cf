"""The checks ``otonom validate`` runs on one strategy file: schema, reproduction, gates.

Each check is a row (gate, value, threshold, status). Problems with the strategy itself
(it does not load, its metadata does not reproduce, a backtest cannot run) are failed rows,
not exceptions, so one report covers every file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from otonom_trader.domain.errors import InputError, OtonomError, StrategyError
from otonom_trader.domain.gates import GateParams
from otonom_trader.domain.metrics import METRIC_KEYS
from otonom_trader.domain.split import Split, date_text
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import load_strategy

PASS, FAIL, NA, WAIVED = "pass", "fail", "n/a", "waived"
DEFAULT_CAPITAL = 10_000.0


@dataclass(frozen=True)
class Check:
    """One row of a strategy's table. ``value``/``threshold`` are raw (JSON); ``shown`` and
    ``limit`` are their display text."""

    gate: str  # stable id: schema, reproduction, data_fingerprint, min_test_sharpe, ...
    label: str
    status: str  # pass | fail | n/a
    value: Any = None
    threshold: Any = None
    shown: str = ""
    limit: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Mismatch:
    """A recorded test metric the fresh backtest did not reproduce exactly."""

    metric: str
    recorded: Any
    reproduced: Any


@dataclass(frozen=True)
class StrategyReport:
    path: str
    name: str | None = None
    symbol: str | None = None
    test_window: tuple[str, str] | None = None
    train_window: tuple[str, str] | None = None
    has_metadata: bool = False
    checks: tuple[Check, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()
    test: Mapping[str, Any] | None = None
    train: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def waived(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == WAIVED)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)


@dataclass(frozen=True)
class ProductionEntry:
    """A live/paper strategy to compare against, or why it could not be loaded."""

    name: str
    path: str
    stage: str
    strategy: Strategy | None
    error: str | None = None


@dataclass
class Context:
    """What every strategy's checks share: gates, data, the production reference."""

    params: GateParams
    data_dir: str = "data"
    production: tuple[ProductionEntry, ...] = ()
    production_source: str | None = None
    db_url: str | None = None  # the experiment store holding promoted runs' experiments
    _bars: dict = field(default_factory=dict)
    _prod_sharpe: dict = field(default_factory=dict)

    def bars(self, symbol: str, on_bad_bars: str = "refuse"):
        from otonom_trader.engine.data import data_fingerprint, load_bars

        key = (symbol.upper(), on_bad_bars)
        if key not in self._bars:
            bars = load_bars(key[0], self.data_dir, on_bad_bars)
            self._bars[key] = (bars, data_fingerprint(bars))
        return self._bars[key]


# ---------------------------------------------------------------- formatting


def _num(value: Any, fmt: str = "{:.3f}") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("∞" if value > 0 else "-∞")
    return fmt.format(value)


def _ge(value: Any, floor: float) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) \
        and value >= floor


def _status(ok: bool) -> str:
    return PASS if ok else FAIL


# ---------------------------------------------------------------- reproduction


def _same(recorded: Any, fresh: Any) -> bool:
    """Exact equality; NaN equals NaN; ``null`` (JSON-safe NaN/∞) equals a non-finite value."""
    if recorded is None:
        return isinstance(fresh, float) and not math.isfinite(fresh)
    if isinstance(recorded, bool) or not isinstance(recorded, int | float):
        return False
    if isinstance(recorded, float) and math.isnan(recorded):
        return isinstance(fresh, float) and math.isnan(fresh)
    return recorded == fresh


def compare_metrics(recorded: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[Mismatch]:
    """Every public metric whose recorded value is missing or differs from ``fresh``."""
    out = []
    for key in METRIC_KEYS:
        if key not in recorded:
            out.append(Mismatch(key, "missing", fresh[key]))
        elif not _same(recorded[key], fresh[key]):
            out.append(Mismatch(key, recorded[key], fresh[key]))
    return out


# ---------------------------------------------------------------- the run plan


@dataclass(frozen=True)
class _Plan:
    symbol: str
    test: tuple[str, str]
    train: tuple[str, str] | None
    capital: float
    notes: tuple[str, ...] = ()
    holdout: tuple[str, str] | None = None


def _metadata_plan(meta: Mapping[str, Any]) -> _Plan:
    """Symbol, windows and capital recorded at promotion; StrategyError names what's missing."""
    def need(key: str, where: Mapping[str, Any], prefix: str = "metadata") -> Any:
        if not isinstance(where, Mapping) or where.get(key) in (None, ""):
            raise StrategyError(f"`{prefix}.{key}` is missing")
        return where[key]

    split = need("split", meta)
    dates = {k: str(date_text(need(k, split, "metadata.split")))
             for k in ("train_start", "train_end", "test_start", "test_end")}
    try:  # name the metadata key, not the --start-date of a command nobody typed
        Split(**dates).check("metadata.")
    except InputError as exc:
        raise StrategyError(str(exc)) from None
    capital = meta.get("initial_capital")
    notes = ()
    if capital is None:
        capital, notes = DEFAULT_CAPITAL, ("metadata has no `initial_capital`; used 10000",)
    if isinstance(capital, bool) or not isinstance(capital, int | float) \
            or not 0 < capital < math.inf:
        raise StrategyError(f"`metadata.initial_capital`: expected a positive number, "
                            f"got {capital!r}")
    need("test", meta)
    holdout = None
    if split.get("holdout_start") is not None or meta.get("holdout") is not None:
        holdout = tuple(str(date_text(need(k, split, "metadata.split")))
                        for k in ("holdout_start", "holdout_end"))
        need("holdout", meta)
    return _Plan(str(need("symbol", meta)), (dates["test_start"], dates["test_end"]),
                 (dates["train_start"], dates["train_end"]), float(capital), notes, holdout)


def _params_plan(strategy: Strategy, params: GateParams) -> _Plan:
    symbol = params.symbol or strategy.data.symbol
    split = params.split
    if not symbol:
        raise StrategyError("no symbol: set `data.symbol` in params.yaml or the strategy")
    if split.test_start is None or split.test_end is None:
        raise StrategyError(f"{params.source} has no `split.test_start`/`split.test_end`")
    train = (split.train_start, split.train_end) if split.train_end is not None else None
    return _Plan(symbol, (split.test_start, split.test_end), train, DEFAULT_CAPITAL)


def _run(strategy: Strategy, ctx: Context, symbol: str, window: tuple[str | None, str | None],
         capital: float):
    from otonom_trader.engine.backtest import backtest

    bars, _ = ctx.bars(symbol, strategy.data.on_bad_bars)
    return backtest(strategy, bars, symbol=symbol.upper(), start=window[0], end=window[1],
                    initial_capital=capital, data_dir=ctx.data_dir)


# ---------------------------------------------------------------- missing evidence


def missing(gate: str, label: str, why: str, ctx: Context, strategy: str | None,
            limit: str = "") -> Check:
    """A check whose evidence is missing: it fails (the gate fails closed) unless
    ``gates.waive`` in params.yaml names it, and then it says so."""
    waiver = ctx.params.waived(strategy, gate)
    if waiver:
        return Check(gate, label, WAIVED, shown="n/a", limit=limit,
                     detail=f"{why}; waived by `{waiver}` in {ctx.params.source} gates.waive")
    return Check(gate, label, FAIL, shown="missing", limit=limit,
                 detail=f"{why}; provide it, or waive `{strategy}:{gate}` in "
                        f"{ctx.params.source} gates.waive")


# ---------------------------------------------------------------- gates


def _dsr_check(meta: Mapping[str, Any] | None, equity, ctx: Context,
               strategy: str | None) -> list[Check]:
    """The experiment record's row, the DSR row and the PBO row. N, V[SR] and the PBO come
    from the experiment's own record (the store, or its committed metrics.json), never from
    the file under review; metadata that disagrees with the record fails."""
    from otonom_trader.app.experiments.record import MissingRecord, find_record

    floor = ctx.params.gates.min_dsr
    limit = f"≥ {floor:g}"
    pbo_limit = f"≤ {ctx.params.gates.max_pbo:g}"
    if meta is None:
        return [missing("min_dsr", "Deflated Sharpe", "no promotion metadata (no experiment "
                        "record to count the trials)", ctx, strategy, limit),
                missing("max_pbo", "PBO", "no promotion metadata (no experiment record)",
                        ctx, strategy, pbo_limit)]
    try:
        record = find_record(meta, ctx.db_url)
    except MissingRecord as exc:
        return [missing("experiment_record", "experiment record", str(exc), ctx, strategy,
                        "found"),
                missing("min_dsr", "Deflated Sharpe", "no experiment record", ctx, strategy,
                        limit),
                missing("max_pbo", "PBO", "no experiment record", ctx, strategy, pbo_limit)]
    rows = [Check("experiment_record", "experiment record", PASS, record.source,
                  shown=f"{record.n_trials} trials", limit="found", detail=record.source)]
    over = meta.get("overfitting") if isinstance(meta.get("overfitting"), Mapping) else {}
    claimed = (over.get("n_trials"), over.get("sharpe_variance"))
    if not record.matches(*claimed):
        rows[0] = replace(rows[0], status=FAIL, shown="mismatch",
                          detail=f"metadata.overfitting says n_trials {claimed[0]!r}, "
                                 f"sharpe_variance {claimed[1]!r}; {record.source} says "
                                 f"{record.n_trials}, {record.sharpe_variance!r}")
    from otonom_trader.engine.overfitting import deflated_sharpe_ratio
    from otonom_trader.engine.stats import bar_returns

    returns = bar_returns(equity)
    detail = f"{record.n_trials} trials, Sharpe variance {record.sharpe_variance:.3g} " \
             f"({record.source})"
    try:
        dsr = float(deflated_sharpe_ratio(returns, record.sharpe_variance,
                                          record.n_trials).dsr)
    except OtonomError as exc:
        rows.append(Check("min_dsr", "Deflated Sharpe", FAIL, None, floor, "error", limit,
                          f"{detail}: {exc}"))
    else:
        rows.append(Check("min_dsr", "Deflated Sharpe", _status(_ge(dsr, floor)), dsr, floor,
                          _num(dsr), limit, detail))
    return [*rows, _pbo_check(record, ctx, strategy, pbo_limit)]


def _pbo_check(record, ctx: Context, strategy: str | None, limit: str) -> Check:
    """PBO of the experiment the strategy was selected from, at most ``gates.max_pbo``: a
    promotion forced past promote's own PBO gate (``--allow-overfit``) fails here too."""
    ceiling = ctx.params.gates.max_pbo
    if record.pbo is None:
        return missing("max_pbo", "PBO", f"{record.source} has no PBO (it needs the block "
                       "statistics of at least 2 done runs)", ctx, strategy, limit)
    return Check("max_pbo", "PBO", _status(record.pbo <= ceiling), record.pbo, ceiling,
                 _num(record.pbo), limit, record.source)


def _gate_checks(test, train, meta, ctx: Context, strategy: str | None) -> list[Check]:
    params = ctx.params
    g = params.gates
    m = test.metrics
    sharpe, mdd, trades = m["sharpe"], m["max_drawdown_pct"], m["n_trades"]
    rows = [
        Check("min_test_sharpe", "test Sharpe", _status(_ge(sharpe, g.min_test_sharpe)),
              sharpe, g.min_test_sharpe, _num(sharpe), f"≥ {g.min_test_sharpe:g}"),
        Check("max_drawdown_pct", "test max drawdown", _status(_ge(mdd, g.max_drawdown_pct)),
              mdd, g.max_drawdown_pct, _num(mdd, "{:.2f}%"), f"≥ {g.max_drawdown_pct:g}%"),
    ]
    if train is None:
        rows.append(missing("max_sharpe_gap", "train − test Sharpe", "no train window", ctx,
                            strategy, f"≤ {g.max_sharpe_gap:g}"))
    else:
        gap = train.metrics["sharpe"] - sharpe
        ok = not math.isnan(gap) and gap <= g.max_sharpe_gap
        rows.append(Check("max_sharpe_gap", "train − test Sharpe", _status(ok), gap,
                          g.max_sharpe_gap, _num(gap), f"≤ {g.max_sharpe_gap:g}",
                          f"train {_num(train.metrics['sharpe'])}"))
    rows += _dsr_check(meta, test.equity, ctx, strategy)
    rows.append(Check("min_trades", "test trades", _status(trades >= g.min_trades), trades,
                      g.min_trades, str(trades), f"≥ {g.min_trades}"))
    return rows


def _holdout_checks(strategy: Strategy, plan: _Plan, meta: Mapping[str, Any], test, train,
                    ctx: Context) -> list[Check]:
    """The hold-out window (never ranked): its metrics reproduce exactly, its Sharpe clears
    ``min_holdout_sharpe`` and falls at most ``max_holdout_degradation`` below the selection
    window's."""
    g = ctx.params.gates
    try:
        holdout = _run(strategy, ctx, plan.symbol, plan.holdout, plan.capital)
    except OtonomError as exc:
        return [Check("holdout", "hold-out backtest", FAIL, shown="error", detail=str(exc))]
    recorded = meta["holdout"] if isinstance(meta["holdout"], Mapping) else {}
    mismatches = compare_metrics(recorded, holdout.metrics)
    n = len(METRIC_KEYS)
    rows = [Check("holdout_reproduction", "hold-out reproduction", _status(not mismatches),
                  len(mismatches), 0, f"{n - len(mismatches)}/{n} equal", "exact",
                  "; ".join(f"{m.metric}: recorded {m.recorded!r}, reproduced {m.reproduced!r}"
                            for m in mismatches))]
    sharpe = holdout.metrics["sharpe"]
    rows.append(Check("min_holdout_sharpe", "hold-out Sharpe",
                      _status(_ge(sharpe, g.min_holdout_sharpe)), sharpe, g.min_holdout_sharpe,
                      _num(sharpe), f"≥ {g.min_holdout_sharpe:g}",
                      f"{plan.holdout[0]} → {plan.holdout[1]}, never ranked"))
    window = meta.get("selected_on") if meta.get("selected_on") in ("train", "test") else "test"
    source = train if window == "train" and train is not None else test
    drop = source.metrics["sharpe"] - sharpe
    rows.append(Check("max_holdout_degradation", f"{window} − hold-out Sharpe",
                      _status(not math.isnan(drop) and drop <= g.max_holdout_degradation),
                      drop, g.max_holdout_degradation, _num(drop),
                      f"≤ {g.max_holdout_degradation:g}",
                      f"selection window ({window}) {_num(source.metrics['sharpe'])}"))
    return rows


def _production_checks(path: str, test, plan: _Plan, ctx: Context) -> list[Check]:
    margin = ctx.params.gates.production_margin
    here = Path(path).resolve()
    rows = []
    for entry in ctx.production:
        label = f"vs production {entry.name} ({entry.stage})"
        if Path(entry.path).resolve() == here:
            rows.append(Check("production", label, NA, None, None, "n/a", "",
                              "this is the production strategy"))
            continue
        if entry.strategy is None:
            rows.append(Check("production", label, FAIL, None, None, "error", "",
                              f"the production strategy does not load: {entry.error}"))
            continue
        key = (entry.path, plan.symbol.upper(), plan.test)
        if key not in ctx._prod_sharpe:
            try:
                ctx._prod_sharpe[key] = _run(entry.strategy, ctx, plan.symbol, plan.test,
                                             plan.capital).metrics["sharpe"]
            except OtonomError as exc:
                ctx._prod_sharpe[key] = exc
        prod = ctx._prod_sharpe[key]
        if isinstance(prod, OtonomError):
            rows.append(Check("production", label, FAIL, None, None, "error", "",
                              f"production backtest failed: {prod}"))
            continue
        floor = prod - margin
        sharpe = test.metrics["sharpe"]
        rows.append(Check("production", label, _status(_ge(sharpe, floor)), sharpe, floor,
                          _num(sharpe), f"≥ {_num(floor)} ({_num(prod)} − {margin:g})",
                          f"production test Sharpe {_num(prod)} on the same window"))
    return rows


# ---------------------------------------------------------------- one strategy


def check_strategy(path: str, ctx: Context,
                   loader: Callable[[str], Strategy] = load_strategy) -> StrategyReport:
    """Every check for one strategy file (which must exist)."""
    try:
        strategy = loader(path)
    except StrategyError as exc:
        return StrategyReport(path, checks=(Check("schema", "schema", FAIL, shown="invalid",
                                                  limit="valid", detail=str(exc)),))
    rows = [Check("schema", "schema", PASS, shown="valid", limit="valid")]
    meta = strategy.metadata
    base = dict(path=path, name=strategy.name, has_metadata=meta is not None)
    try:
        plan = _metadata_plan(meta) if meta is not None else _params_plan(strategy, ctx.params)
    except StrategyError as exc:
        rows.append(Check("reproduction", "reproduction", FAIL, shown="error", detail=str(exc)))
        return StrategyReport(**base, checks=tuple(rows))
    info = dict(symbol=plan.symbol.upper(), test_window=plan.test, train_window=plan.train)
    try:
        test = _run(strategy, ctx, plan.symbol, plan.test, plan.capital)
        train = _run(strategy, ctx, plan.symbol, plan.train, plan.capital) if plan.train \
            else None
    except OtonomError as exc:
        rows.append(Check("backtest", "backtest", FAIL, shown="error", detail=str(exc)))
        return StrategyReport(**base, **info, checks=tuple(rows))
    mismatches: list[Mismatch] = []
    if meta is None:
        why = "no promotion metadata (a hand-written strategy): nothing recorded to reproduce"
        rows.append(missing("reproduction", "reproduction", why, ctx, strategy.name, "exact"))
        rows.append(missing("data_fingerprint", "data fingerprint", "no promotion metadata",
                            ctx, strategy.name, "equal"))
    else:
        recorded = meta["test"] if isinstance(meta["test"], Mapping) else {}
        mismatches = compare_metrics(recorded, test.metrics)
        n = len(METRIC_KEYS)
        shown = f"{n}/{n} test metrics equal" if not mismatches else \
            f"{len(mismatches)} of {n} test metrics differ"
        rows.append(Check("reproduction", "reproduction", _status(not mismatches),
                          len(mismatches), 0, shown, "exact",
                          "; ".join(f"{m.metric}: recorded {m.recorded!r}, reproduced "
                                    f"{m.reproduced!r}" for m in mismatches)))
        want = meta.get("data_fingerprint")
        _, have = ctx.bars(plan.symbol, strategy.data.on_bad_bars)
        rows.append(Check("data_fingerprint", "data fingerprint", _status(want == have), have,
                          want, f"`{have[:12]}`", f"`{str(want)[:12]}`",
                          "" if want == have else f"recorded {want}, data {have}"))
    rows += _gate_checks(test, train, meta, ctx, strategy.name)
    if plan.holdout is not None:
        rows += _holdout_checks(strategy, plan, meta, test, train, ctx)
    rows += _production_checks(path, test, plan, ctx)
    return StrategyReport(**base, **info, checks=tuple(rows), mismatches=tuple(mismatches),
                          test=test.metrics, train=train.metrics if train else None,
                          notes=tuple(dict.fromkeys(plan.notes + test.notes)))
