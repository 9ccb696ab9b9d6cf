"""Kernel throughput: the sma_cross 6,400-combination grid on the whole SPX history.

    .venv/bin/python benchmarks/bench_engine.py            # table
    .venv/bin/python benchmarks/bench_engine.py --json     # machine-readable

Grid: fast 5..50 step 5 (10) × slow 60..240 step 20 (10) × stop-loss 1..8% (8) × take-profit
2..16% step 2 (8) = 6,400 combinations over all 5,031 SPX bars (window = bars 0..5030; the
warm-up bars have a NaN score and never signal). Each of the 100 distinct (fast, slow)
scores is computed once; then a small ``@njit(parallel=True)`` driver (``bench_grid_nb``
below) calls ``simulate_nb`` for every combination with ``numba.prange`` and no equity,
trade or block recording (zero-length arrays). The package's own ``kernels.grid.grid_nb``
(train + test windows and 16 return blocks per combination, as the grid search runs it) is
timed on the same bars for comparison, and so is a *limit* kernel
(``limit_total_return_nb`` below): the same trades, but only the final cash, no metrics,
equity, trade book or blocks; its total returns are checked equal to the engine's, and the
engine's bar-steps per second are reported as a share of the limit's (target ≥ 40 %).
Threads are set with ``numba.set_num_threads``. Each
driver is compiled and run once first (warm-up), then timed best of ``--repeat`` (3) per
thread count. A bar-step is one kernel bar for one combination: 6,400 × 5,031 = 32.2 M per
grid.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from itertools import product
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otonom_trader.domain.strategy_loader import apply_overrides, load_strategy  # noqa: E402
from otonom_trader.engine.analysts import AnalystContext  # noqa: E402
from otonom_trader.engine.backtest import (  # noqa: E402
    PreparedData,
    Window,
    run_window,
    sim_params,
    strategy_score,
)
from otonom_trader.engine.data import load_bars  # noqa: E402
from otonom_trader.kernels.enums import (  # noqa: E402
    BLOCK_FIELDS,
    N_METRICS,
    SimParams,
    trade_dt,
)
from otonom_trader.kernels.simulate import simulate_nb  # noqa: E402

STRATEGY = ROOT / "strategies" / "sma_cross.yaml"
SYMBOL = "SPX"
FAST = tuple(range(5, 51, 5))
SLOW = tuple(range(60, 241, 20))
SL_PCT = tuple(float(x) for x in range(1, 9))
TP_PCT = tuple(float(x) for x in range(2, 17, 2))


@njit(parallel=True, cache=True)
def bench_grid_nb(open_, high, low, close, dsi, scores, score_idx, sl, tp, start, end,
                  years, periods_per_year, base, metrics_out):
    """Run combination k = (scores[score_idx[k]], sl[k], tp[k]) for every k, in parallel.

    ``base`` carries the parameters shared by all combinations; ``metrics_out`` has one row
    per combination. No equity curve, trade list or block statistics are recorded.
    """
    no_equity = np.empty(0)
    no_trades = np.empty(0, trade_dt)
    no_block_of = np.empty(0, np.int64)
    no_blocks = np.empty((0, BLOCK_FIELDS))
    for k in prange(score_idx.shape[0]):
        p = SimParams(base.entry_threshold, base.exit_threshold, base.fraction, sl[k], tp[k],
                      base.fee, base.slippage, base.allow_short, base.entry_bar_stops,
                      base.init_cash, base.min_dsi)
        simulate_nb(open_, high, low, close, scores[score_idx[k]], dsi, start, end, years,
                    periods_per_year, p, metrics_out[k], no_equity, no_trades, no_block_of,
                    no_blocks)


@njit(cache=True)
def limit_total_return_nb(open_, high, low, close, score, dsi, start, end, p):
    """The limit the engine is measured against: the same trades (signals at the close fill
    at the next open; gaps through a level fill at the open; intrabar stop-loss before
    take-profit; fees, slippage, DSI-blocked entries, reversals), but nothing besides the
    final cash: no per-bar equity, return statistics, drawdown, trade book or blocks.
    Returns the total return (final equity / initial cash - 1)."""
    cash = p.init_cash
    pos = 0
    units = 0.0
    sl_px = 0.0
    tp_px = 0.0
    pending_exit = False
    pending_side = 0
    for t in range(start, end + 1):
        entered = False
        exit_px = -1.0
        if pending_exit:
            exit_px = open_[t] * (1.0 - p.slippage * pos)
            pending_exit = False
        elif pos == 1 and (open_[t] <= sl_px or open_[t] >= tp_px):
            exit_px = open_[t] * (1.0 - p.slippage)
        elif pos == -1 and (open_[t] >= sl_px or open_[t] <= tp_px):
            exit_px = open_[t] * (1.0 + p.slippage)
        if exit_px >= 0.0:
            cash += pos * units * exit_px - units * exit_px * p.fee
            pos = 0
            units = 0.0
        if pending_side != 0:
            fill = open_[t] * (1.0 + p.slippage * pending_side)
            if fill > 0.0 and cash > 0.0:
                pos = pending_side
                units = p.fraction * cash / (fill * (1.0 + p.fee))
                cash -= pos * units * fill + units * fill * p.fee
                sl_px = fill * (1.0 - pos * p.sl)
                tp_px = fill * (1.0 + pos * p.tp)
                entered = True
            pending_side = 0
        if pos != 0 and (not entered or p.entry_bar_stops):
            exit_px = -1.0
            if pos == 1:
                if low[t] <= sl_px:
                    exit_px = sl_px
                elif high[t] >= tp_px:
                    exit_px = tp_px
            else:
                if high[t] >= sl_px:
                    exit_px = sl_px
                elif low[t] <= tp_px:
                    exit_px = tp_px
            if exit_px >= 0.0:
                exit_px = exit_px * (1.0 - p.slippage * pos)
                cash += pos * units * exit_px - units * exit_px * p.fee
                pos = 0
                units = 0.0
        if t < end and t > 0:
            s0 = score[t - 1]
            s1 = score[t]
            pending_exit = (pos == 1 and s0 > p.exit_threshold and s1 < p.exit_threshold) or (
                pos == -1 and s0 < -p.exit_threshold and s1 > -p.exit_threshold)
            if (pos == 0 or pending_exit) and dsi[t] >= p.min_dsi:
                if pos != 1 and s0 < p.entry_threshold and s1 > p.entry_threshold:
                    pending_side = 1
                elif (p.allow_short and pos != -1 and s0 > -p.entry_threshold
                      and s1 < -p.entry_threshold):
                    pending_side = -1
    return (cash + pos * units * close[end]) / p.init_cash - 1.0


@njit(parallel=True, cache=True)
def limit_grid_nb(open_, high, low, close, dsi, scores, score_idx, sl, tp, start, end,
                  years, periods_per_year, base, total_out):
    """``bench_grid_nb`` with the limit kernel: the total return of every combination."""
    for k in prange(score_idx.shape[0]):
        p = SimParams(base.entry_threshold, base.exit_threshold, base.fraction, sl[k], tp[k],
                      base.fee, base.slippage, base.allow_short, base.entry_bar_stops,
                      base.init_cash, base.min_dsi)
        total_out[k] = limit_total_return_nb(open_, high, low, close, scores[score_idx[k]],
                                             dsi, start, end, p)


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "load_avg_1m_before": os.getloadavg()[0],  # other processes compete for the cores
    }


def prepare():
    """Bars, the 100 distinct scores, and the 6,400 combinations."""
    base = load_strategy(STRATEGY)
    bars = load_bars(SYMBOL)
    data = PreparedData.from_bars(bars, base.data.periods_per_year)
    ctx = AnalystContext(symbol=SYMBOL, periods_per_year=data.periods_per_year)
    t0 = time.perf_counter()
    pairs = list(product(FAST, SLOW))
    scores = np.empty((len(pairs), len(bars)))
    for i, (fast, slow) in enumerate(pairs):
        s = apply_overrides(base, {"analysts.tech.fast_window": fast,
                                   "analysts.tech.slow_window": slow})
        scores[i] = strategy_score(s, bars, ctx)
    score_s = time.perf_counter() - t0
    combos = list(product(range(len(pairs)), SL_PCT, TP_PCT))
    score_idx = np.array([c[0] for c in combos], dtype=np.int64)
    sl = np.array([c[1] / 100.0 for c in combos])
    tp = np.array([c[2] / 100.0 for c in combos])
    window = Window(0, len(bars) - 1)
    args = (data.open, data.high, data.low, data.close, data.dsi, scores, score_idx, sl, tp,
            window.start, window.end, window.years(data.index), data.periods_per_year,
            sim_params(base))
    return base, bars, data, pairs, args, score_s


def package_args(data, args):
    """The same grid for the package's ``kernels.grid.grid_nb``: parameter rows, the history
    split at its middle into train and test windows (together the same 5,031 bar-steps per
    combination) and 16 return blocks, as the grid search runs it."""
    from otonom_trader.engine.grid import Split, block_map

    base, sl, tp = args[13], args[7], args[8]
    rows = np.tile(np.array(tuple(base), np.float64), (len(sl), 1))
    rows[:, SimParams._fields.index("sl")] = sl
    rows[:, SimParams._fields.index("tp")] = tp
    start, end = args[9], args[10]
    mid = (start + end) // 2
    split = Split(Window(start, mid), Window(mid + 1, end))
    windows = np.array([[start, mid], [mid + 1, end]], np.int64)
    years = np.array([split.train.years(data.index), split.test.years(data.index)])
    n = len(sl)
    return (data.open, data.high, data.low, data.close, data.dsi, args[5], args[6], rows,
            windows, years, data.periods_per_year, block_map(len(data.index), split),
            np.empty((n, N_METRICS)), np.empty((n, N_METRICS)))


def spot_check(base, data, pairs, args, metrics, n: int = 8) -> None:
    """A few combinations through the engine's own ``run_window`` must give the same metrics."""
    rng = np.random.default_rng(0)
    scores, score_idx, sl, tp = args[5], args[6], args[7], args[8]
    window = Window(args[9], args[10])
    for k in rng.choice(len(score_idx), size=n, replace=False):
        fast, slow = pairs[score_idx[k]]
        s = apply_overrides(base, {"analysts.tech.fast_window": fast,
                                   "analysts.tech.slow_window": slow,
                                   "risk.stop_loss_pct": sl[k] * 100.0,
                                   "risk.take_profit_pct": tp[k] * 100.0})
        ref, _, _ = run_window(data, scores[score_idx[k]], window, s)
        if not np.array_equal(ref, metrics[k], equal_nan=True):
            raise SystemExit(f"bench_grid_nb disagrees with run_window at combination {k}: "
                             f"{metrics[k]} vs {ref}")


def time_driver(call, threads: list[int], repeat: int) -> list[dict]:
    """Best of ``repeat`` wall-clock runs per thread count; the thread counts take turns, so
    a burst of load from other processes does not land on one count only."""
    runs = {n: [] for n in threads}
    for _ in range(repeat):
        for n in threads:
            numba.set_num_threads(n)
            t0, c0 = time.perf_counter(), time.process_time()
            call()
            runs[n].append((time.perf_counter() - t0, time.process_time() - c0))
    results = []
    for n in threads:
        wall, cpu = min(runs[n])
        results.append({"threads": n, "best_s": wall, "cpu_s": cpu,
                        "runs_s": [w for w, _ in runs[n]]})
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per thread count")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--no-package", action="store_true",
                    help="skip timing the package's kernels.grid.grid_nb")
    opts = ap.parse_args(argv)
    threads = [int(t) for t in opts.threads.split(",")]
    max_threads = numba.config.NUMBA_NUM_THREADS
    if any(t < 1 or t > max_threads for t in threads):
        ap.error(f"--threads: each count must be 1..{max_threads} (NUMBA_NUM_THREADS)")

    host = machine()
    base, bars, data, pairs, args, score_s = prepare()
    n_combos = len(args[6])
    n_bars = args[10] - args[9] + 1
    steps = n_combos * n_bars
    metrics = np.empty((n_combos, N_METRICS))

    totals = np.empty(n_combos)
    drivers = {"bench_grid_nb": lambda: bench_grid_nb(*args, metrics),
               "limit (total return only)": lambda: limit_grid_nb(*args, totals)}
    if not opts.no_package:
        from otonom_trader.engine.grid import N_BLOCKS
        from otonom_trader.kernels.grid import grid_nb

        pargs = package_args(data, args)

        def package_call():
            blocks = np.zeros((n_combos, N_BLOCKS, BLOCK_FIELDS))
            grid_nb(*pargs, blocks)

        drivers["kernels.grid.grid_nb"] = package_call

    numba.set_num_threads(max(threads))
    warmup = {}
    for name, call in drivers.items():  # compile (or load from the cache) and run once
        t0 = time.perf_counter()
        call()
        warmup[name] = time.perf_counter() - t0
    spot_check(base, data, pairs, args, metrics)
    gap = np.max(np.abs(totals - metrics[:, 0]) / np.maximum(1.0, np.abs(metrics[:, 0])))
    if not gap <= 1e-12:  # the limit must trade exactly as the engine does
        raise SystemExit(f"the limit kernel's total returns differ from the engine's by {gap}")

    results = {}
    for name, call in drivers.items():
        rows = time_driver(call, threads, opts.repeat)
        for r in rows:
            r["combos_per_s"] = n_combos / r["best_s"]
            r["bar_steps_per_s"] = steps / r["best_s"]
            r["speedup"] = rows[0]["best_s"] / r["best_s"]
            r["bar_steps_per_cpu_s"] = steps / r["cpu_s"]
        results[name] = rows

    engine_best = min(r["best_s"] for r in results["bench_grid_nb"])
    limit_best = min(r["best_s"] for r in results["limit (total return only)"])
    out = {
        "engine_vs_limit": limit_best / engine_best,  # engine bar-steps/s ÷ the limit's
        # the same per second of process CPU time, which other processes do not inflate
        "engine_vs_limit_cpu": (max(r["bar_steps_per_cpu_s"] for r in results["bench_grid_nb"])
                                / max(r["bar_steps_per_cpu_s"]
                                      for r in results["limit (total return only)"])),
        "limit_max_rel_gap": float(gap),
        "benchmark": "sma_cross 6,400-combination grid on SPX, simulate_nb, numba prange",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/bench_engine.py " + " ".join(argv or sys.argv[1:]),
        "machine": host,
        "threading_layer": numba.threading_layer(),
        "symbol": SYMBOL,
        "bars": n_bars,
        "period": f"{bars.index[0]:%Y-%m-%d} → {bars.index[-1]:%Y-%m-%d}",
        "combinations": n_combos,
        "distinct_scores": len(pairs),
        "bar_steps_per_grid": steps,
        "score_prep_s": score_s,
        "warmup_s": warmup,
        "repeat": opts.repeat,
        "results": results,
    }
    if opts.json:
        print(json.dumps(out, indent=2))
        return 0
    m = out["machine"]
    print(f"engine throughput — {out['date']}")
    print(f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable); "
          f"{m['platform']}")
    print(f"python {m['python']}, numpy {m['numpy']}, numba {m['numba']} "
          f"(threading layer {out['threading_layer']}); 1-min load average before the run "
          f"{m['load_avg_1m_before']:.2f}")
    print(f"grid: {n_combos:,} combinations ({len(FAST)} fast × {len(SLOW)} slow × "
          f"{len(SL_PCT)} SL × {len(TP_PCT)} TP) on {SYMBOL}, {n_bars:,} bars "
          f"({out['period']}) = {steps / 1e6:.1f} M bar-steps per grid")
    print(f"scores: {len(pairs)} distinct (fast, slow) computed once in {score_s:.2f}s; "
          "warm-up (compile or cache load + 1 run): "
          + ", ".join(f"{k} {v:.2f}s" for k, v in warmup.items()))
    print("spot check: bench_grid_nb metrics identical to run_window on 8 combinations; "
          f"limit kernel total returns equal the engine's (max relative gap {gap:.1e})")
    print(f"\n{'driver':<27}{'threads':>8}{'best s':>9}{'combos/s':>11}{'bar-steps/s':>14}"
          f"{'speedup':>9}{'per CPU-s':>13}")
    for name, rows in results.items():
        for r in rows:
            print(f"{name:<27}{r['threads']:>8}{r['best_s']:>9.4f}{r['combos_per_s']:>11,.0f}"
                  f"{r['bar_steps_per_s'] / 1e6:>12.1f} M{r['speedup']:>8.2f}x"
                  f"{r['bar_steps_per_cpu_s'] / 1e6:>11.1f} M")
    print(f"(wall clock, best of {opts.repeat}; 'per CPU-s' = bar-steps per second of process "
          "CPU time, which other processes on the machine do not inflate;\n "
          "kernels.grid.grid_nb runs the same bars as a train/test split with 16 return "
          "blocks, as the grid search does)")
    print(f"engine / limit bar-steps per second (best of each): {out['engine_vs_limit']:.0%} "
          f"wall, {out['engine_vs_limit_cpu']:.0%} per CPU-s (target ≥ 40%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
