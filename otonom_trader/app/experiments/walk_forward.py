"""Use case: walk-forward validation. Per fold, the grid search on the train window (an
ordinary experiment ``<name>_foldNN`` in the store, resumable like any), the best run by THE
selection rule's metric *on the train window* (the fold's test window stays out of sample:
no gap gate either, since the gap reads the test window), then the selected parameters over
the fold's test window through the engine's one ``backtest()``. The test windows follow one
another; their equity curves chained give the stitched out-of-sample equity, whose Sharpe
(with its t-statistic and PSR), walk-forward efficiency (Pardo) and the parameters' path
across folds are the walk-forward's figures, kept in the store's ``walk_forwards`` table.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.domain.errors import InputError, OtonomError
from otonom_trader.domain.json_text import finite
from otonom_trader.domain.names import check_name
from otonom_trader.domain.split import SPLIT_KEYS
from otonom_trader.engine.stats import bar_returns

DATE = "%Y-%m-%d"


@dataclass(frozen=True)
class WalkForwardRequest:
    name: str
    strategy_path: str
    grid_path: str
    train_years: float
    test_years: float
    step_years: float | None = None  # default: the test years (test windows back to back)
    anchored: bool = False  # every train window starts at the first bar
    gap_days: int = 0  # purge gap (calendar days) between a train window and its test window
    symbol: str | None = None
    initial_capital: float = 10_000.0
    data_dir: str = "data"
    outputs_dir: str = "experiments"
    params_path: str = "params.yaml"
    command: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "--name")
        for flag, value in (("--train-years", self.train_years),
                            ("--test-years", self.test_years),
                            ("--step-years", self.step_years)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(f"{flag}: expected a positive number of years, got {value}")
        if self.gap_days < 0:
            raise InputError(f"--gap-days: expected 0 or more days, got {self.gap_days}")
        if self.step_years is not None and self.step_years < self.test_years:
            raise InputError(f"--step-years {self.step_years:g} is shorter than --test-years "
                             f"{self.test_years:g}: the test windows would overlap and the "
                             "out-of-sample equity could not be stitched")


@dataclass(frozen=True)
class Fold:
    number: int  # 1-based
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def split(self) -> dict[str, str | None]:
        dates = (self.train_start, self.train_end, self.test_start, self.test_end)
        return {**{k: f"{d:{DATE}}" for k, d in zip(SPLIT_KEYS, dates, strict=True)},
                "holdout_start": None, "holdout_end": None}


@dataclass
class WalkForwardEvents:
    """Callbacks the CLI uses to show progress (the use case itself prints nothing)."""

    fold_started: Any = lambda fold, n_folds: None
    fold_done: Any = lambda row: None
    grid_events: Any = None  # GridSearchEvents for each fold's search


@dataclass(frozen=True)
class WalkForwardOutcome:
    id: int
    name: str
    settings: dict
    result: dict
    stitched: pd.Series = field(repr=False)  # the out-of-sample equity, folds chained


def _months(years: float) -> int:
    return max(1, round(years * 12))


def plan_folds(index: pd.DatetimeIndex, train_years: float, test_years: float,
               step_years: float | None = None, anchored: bool = False,
               gap_days: int = 0) -> list[Fold]:
    """The folds that fit in ``index``: fold k trains on [t0 + k·step, + train) (anchored:
    from t0), skips ``gap_days`` days, then tests on the next ``test_years``; only folds whose
    whole test window lies in the data (within a week of its nominal end)."""
    t0, last = index[0], index[-1]
    step = pd.DateOffset(months=_months(step_years or test_years))
    train, test = pd.DateOffset(months=_months(train_years)), pd.DateOffset(months=_months(
        test_years))
    folds: list[Fold] = []
    k = 0
    while True:
        begin = t0 + step * k if k else t0
        train_stop = begin + train  # exclusive
        test_begin = train_stop + pd.Timedelta(days=gap_days)
        test_stop = test_begin + test  # exclusive
        if test_stop - pd.Timedelta(days=7) > last:
            break
        start = t0 if anchored else begin
        in_train = index[(index >= start) & (index < train_stop)]
        in_test = index[(index >= test_begin) & (index < test_stop)]
        if len(in_train) and len(in_test) >= 2:
            folds.append(Fold(len(folds) + 1, in_train[0], in_train[-1], in_test[0],
                              in_test[-1]))
        k += 1
    return folds


def _check_warmup(strategy, spec, bars: pd.DataFrame, symbol: str, fold: Fold,
                  data_dir: str) -> None:
    """Refuse folds too short for the indicators at the grid's longest settings: the first
    fold's train window starts at the first bar, so its indicators warm up inside it."""
    from otonom_trader.engine.grid import warmup_bars

    needed = warmup_bars(strategy, spec, bars, symbol, data_dir)
    train_bars = int(((bars.index >= fold.train_start) & (bars.index <= fold.train_end)).sum())
    if needed >= train_bars:
        raise InputError(f"--train-years: fold 1's train window has {train_bars} bars, too few "
                         f"for the indicators at the grid's longest settings (a fold needs more "
                         f"than {needed} bars of history): raise --train-years")


def _stability(selections: list[dict[str, Any]]) -> dict[str, dict]:
    """Per swept parameter: the value each fold chose, how many distinct, the most common
    one's share of folds, and (numbers) the spread as std / |mean| (coefficient of
    variation)."""
    out: dict[str, dict] = {}
    for path in selections[0] if selections else ():
        values = [s.get(path) for s in selections]
        mode, count = Counter(map(str, values)).most_common(1)[0]
        entry: dict[str, Any] = {"values": values, "distinct": len(set(map(str, values))),
                                 "mode": next(v for v in values if str(v) == mode),
                                 "mode_share": count / len(values)}
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(values):
            arr = np.asarray(numbers, dtype=np.float64)
            entry["std"] = float(arr.std(ddof=0))
            mean = float(arr.mean())
            entry["cv"] = float(arr.std(ddof=0) / abs(mean)) if mean else None
        out[path] = entry
    return out


def stitch(equities: list[pd.Series], capital: float) -> pd.Series:
    """Each fold's test equity, rescaled to start where the previous one ended."""
    pieces, level = [], float(capital)
    for equity in equities:
        piece = equity / float(equity.iloc[0]) * level
        pieces.append(piece)
        level = float(piece.iloc[-1])
    return pd.concat(pieces).rename("equity")


def buy_and_hold(close: pd.Series, windows: list[pd.DatetimeIndex], capital: float) -> pd.Series:
    """Holding the symbol over the same test bars as the stitched equity, stitched the same
    way: out of the market between test windows, as the strategy is."""
    return stitch([close.reindex(window) for window in windows], capital)


def fold_windows(record: dict) -> list[pd.DatetimeIndex]:
    """Each fold's bars in a walk-forward record's stitched equity."""
    dates = pd.to_datetime(record["result"]["stitched"]["dates"])
    return [dates[(dates >= pd.Timestamp(f["test_start"])) & (dates <= pd.Timestamp(f["test_end"]))]
            for f in record["result"]["folds"]]


def oos_stats(stitched: pd.Series, periods_per_year: float) -> dict[str, Any]:
    """The stitched out-of-sample Sharpe (annualised), its t-statistic (per-period Sharpe ×
    √n), its PSR against 0, the CAGR (over the out-of-sample periods, like the Sharpe: with
    --step-years above --test-years the test windows leave gaps) and the maximum drawdown."""
    from otonom_trader.engine import overfitting as of

    returns = bar_returns(stitched)
    sharpe, skew, kurtosis, n = of.return_moments(returns)
    psr = (of.probabilistic_sharpe_ratio(sharpe, 0.0, n, skew, kurtosis)
           if math.isfinite(sharpe) else math.nan)
    years = n / periods_per_year  # the time out of sample: test windows may leave gaps
    growth = float(stitched.iloc[-1] / stitched.iloc[0])
    cagr = (growth ** (1 / years) - 1) * 100 if years > 0 and growth > 0 else math.nan
    drawdown = float((stitched / stitched.cummax() - 1).min() * 100)
    return {"sharpe": finite(sharpe * math.sqrt(periods_per_year)),
            "t_stat": finite(sharpe * math.sqrt(n)), "psr": finite(psr), "n_returns": n,
            "cagr_pct": finite(cagr), "total_return_pct": finite((growth - 1) * 100),
            "max_drawdown_pct": finite(drawdown), "years": years}


def run_walk_forward(req: WalkForwardRequest, store: ExperimentStore,
                     events: WalkForwardEvents | None = None) -> WalkForwardOutcome:
    """Plan the folds, run each fold's search and out-of-sample test, store the record."""
    from otonom_trader.app.experiments.grid_search import GridSearchRequest, run_grid_search
    from otonom_trader.domain.grid import load_grid
    from otonom_trader.domain.objectives import objectives_of
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine import overfitting as of
    from otonom_trader.engine.data import load_bars
    from otonom_trader.engine.selection import (
        KNEE,
        SelectionRule,
        checked_rerun,
        select_run,
        selection_rule,
    )

    events = events or WalkForwardEvents()
    strategy = load_strategy(req.strategy_path)
    spec = load_grid(req.grid_path, strategy)
    if spec.split.holdout is not None:
        raise InputError(f"{req.grid_path}: `split.holdout_start`/`holdout_end` do not apply "
                         "to a walk-forward (its folds' test windows are out of sample): "
                         "remove them or use a copy of the grid without them")
    symbol = (req.symbol or strategy.data.symbol or "").upper()
    if not symbol:
        raise InputError(f"{req.strategy_path}: no `data.symbol`; pass --symbol")
    bars = load_bars(symbol, req.data_dir, strategy.data.on_bad_bars)
    folds = plan_folds(bars.index, req.train_years, req.test_years, req.step_years,
                       req.anchored, req.gap_days)
    if not folds:
        need = req.train_years + req.test_years + req.gap_days / 365.25
        raise InputError(f"the {symbol} history ({bars.index[0]:{DATE}} → "
                         f"{bars.index[-1]:{DATE}}) is too short for one fold of "
                         f"--train-years {req.train_years:g} + --test-years "
                         f"{req.test_years:g} (≈{need:.1f} years): shorten them")
    _check_warmup(strategy, spec, bars, symbol, folds[0], req.data_dir)
    base = selection_rule(Path(req.params_path))
    # the fold's test window never ranks: the train metric, and no gap gate (it reads test)
    rule = SelectionRule(base.metric, "train", math.inf, True)
    if rule.metric == KNEE and not spec.objectives:
        raise InputError(f"{req.params_path}: `experiment.select_by: {KNEE}` needs "
                         f"`objectives:` in {req.grid_path} (e.g. [sharpe, max_drawdown_pct]): "
                         "each fold takes the knee of its Pareto front on them")
    settings = {"strategy_path": str(req.strategy_path), "grid_path": str(req.grid_path),
                "symbol": symbol, "train_years": req.train_years, "test_years": req.test_years,
                "step_years": req.step_years or req.test_years, "anchored": req.anchored,
                "gap_days": req.gap_days, "select_by": rule.metric, "select_on": "train",
                "initial_capital": req.initial_capital, "command": req.command}

    same = {k: v for k, v in settings.items() if k != "command"}
    before = store.walk_forward_settings(req.name)
    if before is not None and {k: v for k, v in before.items() if k != "command"} != same:
        raise InputError(f"walk-forward '{req.name}' already exists with other settings "
                         "(windows, grid, symbol or selection metric): choose another --name, "
                         "or run it again with its own settings to complete it")
    longest = f"{req.name}_fold{folds[-1].number:02d}"
    if len(longest) > 64:  # the name rule's limit, for every fold's experiment
        raise InputError(f"--name {req.name}: too long for its folds' experiment names "
                         f"({longest!r} is over 64 characters): use at most "
                         f"{64 - len(longest) + len(req.name)} characters")
    if before is None:  # a new walk-forward: its folds' names must be free
        for fold in folds:
            taken = store.find_by_name(f"{req.name}_fold{fold.number:02d}")
            if taken is not None:
                raise InputError(f"--name {req.name}: its fold {fold.number}'s experiment name "
                                 f"'{taken.name}' is taken by experiment {taken.id}: choose "
                                 "another --name")
    store.save_walk_forward(req.name, settings, None)  # the folds' runs belong to it from now
    rows, equities, selections = [], [], []
    ppy = None
    for fold in folds:
        events.fold_started(fold, len(folds))
        grid_req = GridSearchRequest(
            name=f"{req.name}_fold{fold.number:02d}", strategy_path=req.strategy_path,
            grid_path=req.grid_path, symbol=symbol, split=fold.split(),
            initial_capital=req.initial_capital, data_dir=req.data_dir,
            outputs_dir=req.outputs_dir, params_path=req.params_path, command=req.command)
        outcome = run_grid_search(grid_req, store, events.grid_events)
        info = outcome.experiment
        ppy = info.periods_per_year
        try:
            chosen = select_run(store.runs_frame(info.id), info.id, rule,
                                objectives_of(info.search)).run
        except InputError as exc:
            raise InputError(f"fold {fold.number} ({fold.train_start:{DATE}} → "
                             f"{fold.train_end:{DATE}}): {str(exc).removeprefix('❌ ')}"
                             ) from None
        result, _ = checked_rerun(info, chosen.params, fold.test_start, fold.test_end,
                                  req.data_dir)
        equities.append(result.equity)
        selections.append(chosen.params)
        train_cagr, test_cagr = chosen.train["cagr_pct"], finite(result.metrics["cagr_pct"])
        wfe = (finite(float(of.walk_forward_efficiency(train_cagr, test_cagr)))
               if train_cagr is not None and test_cagr is not None else None)
        row = {"fold": fold.number, "experiment_id": info.id, **fold.split(),
               "run_number": chosen.run_number, "params": chosen.params,
               "train_sharpe": chosen.train["sharpe"], "train_cagr_pct": train_cagr,
               "test_sharpe": finite(result.metrics["sharpe"]), "test_cagr_pct": test_cagr,
               "test_max_drawdown_pct": finite(result.metrics["max_drawdown_pct"]),
               "test_n_trades": int(result.metrics["n_trades"]), "wfe": wfe}
        for key in ("holdout_start", "holdout_end"):
            row.pop(key)
        rows.append(row)
        events.fold_done(row)

    stitched = stitch(equities, req.initial_capital)
    stats = oos_stats(stitched, ppy)
    train_cagrs = [r["train_cagr_pct"] for r in rows if r["train_cagr_pct"] is not None]
    mean_is = float(np.mean(train_cagrs)) if train_cagrs else math.nan
    wfe = (finite(float(of.walk_forward_efficiency(mean_is, stats["cagr_pct"])))
           if stats["cagr_pct"] is not None else None)
    hold = buy_and_hold(bars["Close"], [e.index for e in equities], req.initial_capital)
    result_doc = {"folds": rows, "oos": stats, "is_cagr_pct_mean": finite(mean_is),
                  "wfe": wfe, "stability": _stability(selections),
                  "buy_hold_return_pct": finite(float(hold.iloc[-1] / hold.iloc[0] - 1) * 100),
                  "periods_per_year": ppy,
                  "stitched": {"dates": [f"{d:{DATE}}" for d in stitched.index],
                               "equity": [float(v) for v in stitched]}}
    wf_id = store.save_walk_forward(req.name, settings, result_doc)
    return WalkForwardOutcome(wf_id, req.name, settings, result_doc, stitched)


def export_walk_forward(record: dict, fmt: str, output: str | Path | None = None,
                        data_dir: str | Path = "data") -> Path:
    """Write walk-forward ``record`` as HTML (folds, stitched equity vs buy & hold) or JSON."""
    from otonom_trader.adapters.output import check_output, write_atomic_text
    from otonom_trader.domain.json_text import dumps

    if fmt not in ("html", "json"):
        raise InputError(f"--export {fmt}: a walk-forward exports as html or json")
    path = Path(output or f"reports/walk_forward_{record['id']}.{fmt}")
    check_output(path, "--output", f".{fmt}")
    if fmt == "json":
        return write_atomic_text(path, "--output", ".json",
                                 dumps(record, ensure_ascii=False) + "\n")
    from otonom_trader.adapters.report import walk_forward_html
    from otonom_trader.engine.data import load_bars

    try:
        close = load_bars(record["settings"]["symbol"], data_dir)["Close"]
        hold = buy_and_hold(close, fold_windows(record), record["settings"]["initial_capital"])
    except OtonomError:
        hold = None  # the data moved: the page shows the strategy alone
    return write_atomic_text(path, "--output", ".html", walk_forward_html(record, hold))
