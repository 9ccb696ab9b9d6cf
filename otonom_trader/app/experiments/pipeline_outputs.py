"""What the DVC pipeline shows besides the run table: flat summary metrics (one column each in
``dvc exp show``), the Probability of Backtest Overfitting, the best run's equity curve and the
parameter-sweep table (the two CSVs ``dvc plots`` draws)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from otonom_trader.adapters.atomic import atomic_path
from otonom_trader.adapters.store import ExperimentInfo
from otonom_trader.domain.errors import OtonomError

EQUITY_COLUMNS = ("date", "equity", "buy_and_hold")
SWEEP_METRICS = ("train_sharpe", "test_sharpe", "test_cagr_pct", "test_max_drawdown_pct")


def _number(value) -> float | int | None:
    if value is None:
        return None
    value = value.item() if hasattr(value, "item") else value
    return value if math.isfinite(value) else None


def _count(value) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def pbo(blocks: np.ndarray | None) -> float | None:
    """PBO by CSCV over the done runs' blocks; None without at least two runs to compare."""
    if blocks is None or blocks.ndim != 3 or blocks.shape[0] < 2 or blocks.shape[1] < 2:
        return None
    from otonom_trader.engine.overfitting import pbo_cscv

    return _number(float(pbo_cscv(blocks).pbo))


def flat_metrics(runs: pd.DataFrame, best: pd.Series | None, info: ExperimentInfo,
                 pbo_value: float | None) -> dict:
    """Top-level scalars of metrics.json: the best run's test (and train) figures, PBO, counts."""

    def pick(key: str):
        return None if best is None else _number(best[key])

    return {
        "best_run_number": None if best is None else int(best["run_number"]),
        "best_test_sharpe": pick("test_sharpe"),
        "best_test_cagr_pct": pick("test_cagr_pct"),
        "best_test_max_drawdown_pct": pick("test_max_drawdown_pct"),
        "best_test_n_trades": None if best is None else _count(best["test_n_trades"]),
        "best_train_sharpe": pick("train_sharpe"),
        "pbo": pbo_value,
        "runs_total": int(info.total_runs),
        "runs_done": int((runs["status"] == "done").sum()),
        "runs_failed": int((runs["status"] == "failed").sum()),
    }


def sweep_frame(runs: pd.DataFrame, param_columns: list[str]) -> pd.DataFrame:
    """One row per run: run number, status, parameters, train/test Sharpe, test CAGR and DD."""
    columns = ["run_number", "status", *param_columns, *SWEEP_METRICS]
    return runs.reindex(columns=columns)


def best_equity_frame(info: ExperimentInfo, params: dict, data_dir: Path | str,
                      initial_capital: float) -> pd.DataFrame:
    """The best run's close-marked equity from the train start to the test end (the checked
    re-run, ``engine.selection.checked_rerun``), next to buying and holding the same capital
    over that span."""
    from otonom_trader.engine.selection import checked_rerun

    result, bars = checked_rerun(info, params, info.split["train_start"],
                                 info.split["test_end"], data_dir)
    close = bars["Close"].reindex(result.equity.index)
    return pd.DataFrame({
        "date": result.equity.index.strftime("%Y-%m-%d"),
        "equity": result.equity.to_numpy().round(4),
        "buy_and_hold": (initial_capital * close / close.iloc[0]).to_numpy().round(4),
    })


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """pyarrow's CSV writer (~10x pandas' on a 160,000-run sweep), unquoted like pandas';
    pandas writes it when a value needs quotes."""
    import pyarrow as pa
    import pyarrow.csv

    options = pyarrow.csv.WriteOptions(quoting_style="none", include_header=False)
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as out:
                out.write((",".join(frame.columns) + "\n").encode())
                pyarrow.csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), out,
                                      options)
        except pa.ArrowInvalid:
            frame.to_csv(tmp, index=False)


def write_plots(folder: Path, info: ExperimentInfo, runs: pd.DataFrame, param_columns: list[str],
                best_params: dict | None, data_dir: Path | str,
                initial_capital: float) -> tuple[dict[str, Path], str | None]:
    """Write ``best_equity.csv`` and ``sweep.csv``; return the paths and why the equity curve
    is empty (None when it is not). An empty curve never fails an experiment whose runs are
    already stored."""
    paths = {"best_equity": folder / "best_equity.csv", "sweep": folder / "sweep.csv"}
    _write_csv(sweep_frame(runs, param_columns), paths["sweep"])
    equity, problem = pd.DataFrame(columns=list(EQUITY_COLUMNS)), None
    if best_params is None:
        problem = "no done run with a finite test Sharpe"
    else:
        try:
            equity = best_equity_frame(info, best_params, data_dir, initial_capital)
        except OtonomError as exc:
            problem = str(exc)
    with atomic_path(paths["best_equity"]) as tmp:
        equity.to_csv(tmp, index=False)
    return paths, problem
