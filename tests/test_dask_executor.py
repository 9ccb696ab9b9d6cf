"""`grid-search --executor dask` on a real dask.distributed LocalCluster (two worker
processes on 127.0.0.1): the same runs as locally, a worker killed mid-run, an interrupted
search resumed on the cluster, and the faults at connect (one line, exit 2)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from otonom_trader.adapters.executors import dask_cluster
from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.app.experiments.grid_search import (
    GridSearchEvents,
    GridSearchInterrupted,
    GridSearchRequest,
    run_grid_search,
)
from tests.helpers import mini_project, run_cli

distributed = pytest.importorskip("distributed")

SPLIT = {"train_start": "2001-06-01", "train_end": "2005-12-31", "test_start": "2006-01-01",
         "test_end": "2007-02-01"}
GRID = {  # 384 runs, some failing (fast >= slow is not a valid crossover)
    "analysts.tech.fast_window": {"int": [5, 40, 5]},
    "analysts.tech.slow_window": [20, 30, 40, 60, 80, 120],
    "risk.stop_loss_pct": [2.0, 5.0, 8.0, 12.0],
    "risk.take_profit_pct": [4.0, 10.0],
}
RANDOM = {"search": "random", "n_iter": 600, "seed": 11,
          "analysts.tech.fast_window": {"int": [3, 40, 1]},
          "analysts.tech.slow_window": {"int": [30, 150, 1]},
          "risk.stop_loss_pct": {"uniform": [1.0, 10.0]}}


def local_cluster(n_workers: int, **worker_kwargs):
    """Worker processes on 127.0.0.1; every port (the scheduler's HTTP one too) free: xdist."""
    return distributed.LocalCluster(
        n_workers=n_workers, processes=True, threads_per_worker=1, host="127.0.0.1",
        scheduler_port=0, dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, **worker_kwargs)

WORKER_SCORES = {"search": "random", "n_iter": 300, "seed": 5,  # a continuous analyst weight:
                 "analysts.tech.fast_window": [5, 10, 20],  # the workers compute the scores
                 "ensemble.analyst_weights.tech": {"uniform": [0.5, 2.0]},
                 "risk.take_profit_pct": {"uniform": [2.0, 20.0]}}


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(2) as local:
        yield local


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = mini_project(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.delenv("OTONOM_SCHEDULER", raising=False)
    return root


def request(root: Path, grid: dict, db: str, **extra) -> GridSearchRequest:
    (root / f"{db}.yaml").write_text(yaml.safe_dump(grid))
    return GridSearchRequest(name="sweep", strategy_path="strategy.yaml",
                             grid_path=f"{db}.yaml", split=dict(SPLIT), outputs_dir=f"out-{db}",
                             **{"chunk_size": 16, **extra})


def search(root: Path, grid: dict, db: str, events=None, **extra) -> ExperimentStore:
    store = ExperimentStore(f"sqlite:///{root}/{db}.db")
    run_grid_search(request(root, grid, db, **extra), store, events)
    return store


def assert_same_runs(a: ExperimentStore, b: ExperimentStore, total: int) -> None:
    runs_a, runs_b = (s.runs_frame(1).sort_values("run_number").reset_index(drop=True)
                      for s in (a, b))
    assert len(runs_a) == total and runs_a["run_number"].is_unique
    pd.testing.assert_frame_equal(runs_a, runs_b)
    np.testing.assert_array_equal(a.block_stats(1)[1], b.block_stats(1)[1])


@pytest.mark.parametrize(("grid", "total"), [(GRID, 384), (RANDOM, 600), (WORKER_SCORES, 300)])
def test_the_cluster_stores_the_same_runs_and_outputs_as_local(project, cluster, capsys, grid,
                                                               total):
    local = search(project, grid, "local")
    (project / "grid.yaml").write_text(yaml.safe_dump(grid))
    code, out, err = run_cli(
        ["experiments", "grid-search", "--name", "sweep", "--strategy-path", "strategy.yaml",
         "--grid-path", "grid.yaml", "--db", f"sqlite:///{project}/dask.db",
         "--outputs-dir", "out-dask", "--chunk-size", "16", "--executor", "dask",
         "--scheduler", cluster.scheduler_address,
         *[f"--{k.replace('_', '-')}={v}" for k, v in SPLIT.items()]], capsys)
    assert code == 0, err
    assert f"Completed: {total:,}/{total:,} runs" in out
    dask = ExperimentStore(f"sqlite:///{project}/dask.db")
    assert_same_runs(local, dask, total)
    assert dask.get(1).status == "done"
    for name in ("runs.parquet", "metrics.json", "best_params.yaml", "sweep.csv"):
        assert (project / "out-dask/sweep" / name).read_bytes() == (
            project / "out-local/sweep" / name).read_bytes(), name


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(project, cluster):
    grid = {**GRID, "risk.take_profit_pct": [4.0, 6.0, 8.0, 10.0, 12.0, 14.0]}  # 1,152 runs
    local = search(project, grid, "local")
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as spy:
        pids = spy.run(os.getpid)
        seen, lost, victim = [], [], []

        def advanced(n):
            seen.append(n)
            busy = {w: keys for w, keys in spy.processing().items() if keys}
            if busy and not victim:  # kill a worker while it holds chunks of this search
                worker = sorted(busy)[0]
                lost.extend(busy[worker])
                victim.append(pids[worker])
                os.kill(pids[worker], signal.SIGKILL)

        dask = search(project, grid, "dask", GridSearchEvents(advanced=advanced),
                      executor="dask", scheduler=cluster.scheduler_address, chunk_size=24)
        assert lost and all(str(key).startswith("otonom-chunk-") for key in lost)
        assert victim[0] not in spy.run(os.getpid).values()  # the nanny started another
    assert sum(seen) == 1152  # every chunk stored once: its lost chunks ran again elsewhere
    assert_same_runs(local, dask, 1152)


def test_an_interrupted_cluster_search_resumes_to_the_local_runs(project, cluster):
    local = search(project, RANDOM, "local")
    calls = []

    def advanced(n):
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(GridSearchInterrupted) as stop:
        search(project, RANDOM, "dask", GridSearchEvents(advanced=advanced), executor="dask",
               scheduler=cluster.scheduler_address)
    assert 0 < stop.value.saved < 600
    resumed = search(project, RANDOM, "dask", executor="dask",
                     scheduler=cluster.scheduler_address)
    assert_same_runs(local, resumed, 600)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def grid_search_cli(project, capsys, *extra):
    (project / "grid.yaml").write_text(yaml.safe_dump(GRID))
    return run_cli(["experiments", "grid-search", "--name", "sweep", "--strategy-path",
                    "strategy.yaml", "--grid-path", "grid.yaml", "--db",
                    f"sqlite:///{project}/store.db",
                    *[f"--{k.replace('_', '-')}={v}" for k, v in SPLIT.items()], *extra],
                   capsys)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_unreachable_scheduler_is_one_line_exit_2_within_seconds(project, capsys,
                                                                    monkeypatch, how):
    monkeypatch.setattr(dask_cluster, "CONNECT_SECONDS", 2.0)
    address = f"tcp://127.0.0.1:{closed_port()}"
    extra = ["--executor", "dask"]
    if how == "flag":
        extra += ["--scheduler", address]
    else:
        monkeypatch.setenv("OTONOM_SCHEDULER", address)
    started = time.monotonic()
    code, _, err = grid_search_cli(project, capsys, *extra)
    assert time.monotonic() - started < 15
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --scheduler " + address), err
    assert "no dask scheduler answered within 2 s" in err and "--executor local" in err
    assert ExperimentStore(f"sqlite:///{project}/store.db").list_experiments() == []


@pytest.mark.parametrize(("extra", "needle"), [
    (["--executor", "dask"], "--executor dask needs --scheduler tcp://HOST:PORT"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--search", "optuna",
      "--n-trials", "10"], "an optuna search asks for its trials"),
])
def test_dask_without_a_scheduler_or_with_optuna_is_refused(project, capsys, extra, needle):
    code, _, err = grid_search_cli(project, capsys, *extra)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert needle in err and "--executor local" in err


def test_workers_with_another_otonom_version_are_refused_at_connect(project, cluster, capsys,
                                                                   monkeypatch):
    import otonom_trader

    monkeypatch.setattr(otonom_trader, "__version__", "9.9.9")
    code, _, err = grid_search_cli(project, capsys, "--executor", "dask", "--scheduler",
                                   cluster.scheduler_address)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "runs otonom-trader 0.1.0, this client otonom-trader 9.9.9" in err
    assert "install the same version on every worker" in err and "--executor local" in err


def test_workers_without_the_package_are_refused_at_connect(project, capsys):
    preload = str(Path(__file__).with_name("dask_worker_without_otonom.py"))
    with local_cluster(1, preload=[preload]) as lacking:
        code, _, err = grid_search_cli(project, capsys, "--executor", "dask", "--scheduler",
                                       lacking.scheduler_address)
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert code == 2 and len(lines) == 1, err
    assert "cannot import otonom_trader (No module named 'otonom_trader')" in lines[0]
    assert "install otonom-trader==0.1.0 on every worker" in lines[0]
    assert "--executor local" in lines[0]
    assert ExperimentStore(f"sqlite:///{project}/store.db").list_experiments() == []


def test_a_scheduler_without_workers_is_refused(project, capsys, monkeypatch):
    monkeypatch.setattr(dask_cluster, "CONNECT_SECONDS", 1.0)
    with local_cluster(0) as empty:
        code, _, err = grid_search_cli(project, capsys, "--executor", "dask", "--scheduler",
                                       empty.scheduler_address)
    assert code == 2 and "no dask worker joined within 1 s" in err


def evaluator_and_combinations(grid: dict):
    """The mini project's evaluator and combinations for ``grid`` (as a search builds them)."""
    from otonom_trader.domain.combinations import Combinations
    from otonom_trader.domain.grid import grid_from_mapping
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.data import load_bars
    from otonom_trader.engine.grid import GridEvaluator, resolve_split

    strategy = load_strategy("strategy.yaml")
    spec = grid_from_mapping(grid, strategy, source=Path("grid.yaml"))
    bars = load_bars("MINI", "data", strategy.data.on_bad_bars)
    evaluator = GridEvaluator(strategy, bars, symbol="MINI", paths=list(spec.parameters),
                              split=resolve_split(bars.index, "MINI", *SPLIT.values()))
    return evaluator, Combinations(spec, strategy)


@pytest.mark.parametrize(("grid", "computed"), [
    (GRID, 8 * 6),  # every fast × slow window pair
    ({**RANDOM, "n_iter": 5000}, 38 * 121),  # int distributions enumerate their values too
    (RANDOM, 0),  # 4,598 analyst sets for 600 runs: left to the workers
    (WORKER_SCORES, 0),  # a continuous analyst weight: left to the workers
])
def test_the_scores_shipped_to_the_workers_are_the_enumerable_analyst_sets(project, grid,
                                                                          computed):
    evaluator, combos = evaluator_and_combinations(grid)
    assert evaluator.precompute_scores(
        [combos.values_of(p) for p in evaluator.score_paths], combos.total) == computed
    chunk = next(combos.chunks(64))
    fresh, _ = evaluator_and_combinations(grid)  # computes its scores as it goes
    a, b = (e.evaluate(chunk.run_numbers, chunk.values) for e in (evaluator, fresh))
    np.testing.assert_array_equal(a.test, b.test)
    assert a.params == b.params and a.status == b.status


def test_the_trading_row_cache_stays_bounded_and_changes_no_number(project, monkeypatch):
    from otonom_trader.domain.combinations import Combinations
    from otonom_trader.domain.grid import grid_from_mapping
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine import grid as engine_grid
    from otonom_trader.engine.data import load_bars

    strategy = load_strategy("strategy.yaml")
    spec = grid_from_mapping(WORKER_SCORES, strategy, source=Path("grid.yaml"))
    bars = load_bars("MINI", "data", strategy.data.on_bad_bars)

    def evaluator():
        return engine_grid.GridEvaluator(
            strategy, bars, symbol="MINI", paths=list(spec.parameters),
            split=engine_grid.resolve_split(bars.index, "MINI", *SPLIT.values()))

    chunks = list(Combinations(spec, strategy).chunks(50))
    unbounded = [evaluator().evaluate(c.run_numbers, c.values).test for c in chunks]
    monkeypatch.setattr(engine_grid, "TRADING_CACHE_ROWS", 7)
    bounded = evaluator()
    for chunk, expected in zip(chunks, unbounded, strict=True):
        np.testing.assert_array_equal(bounded.evaluate(chunk.run_numbers, chunk.values).test,
                                      expected)
        assert len(bounded._trading) <= 7


def wire_bytes(logs, before: set[int]) -> int:
    """Bytes on the wire of the messages in dask's logs of recent messages (one per connection,
    ``distributed.admin.low-level-log-length`` long) that are not in ``before`` (their ids)."""
    from distributed.protocol import dumps

    return sum(memoryview(frame).nbytes for log in logs for msg in log if id(msg) not in before
               for frame in dumps([msg]))


def scheduler_logs(dask_scheduler):
    return [stream.recent_message_log for stream in dask_scheduler.stream_comms.values()]


def scheduler_log_ids(dask_scheduler) -> set[int]:
    return {id(msg) for log in scheduler_logs(dask_scheduler) for msg in log}


def scheduler_wire_bytes(before, dask_scheduler) -> int:
    return wire_bytes(scheduler_logs(dask_scheduler), set(before))


CONSTRAINED = {**GRID, "constraints": ["analysts.tech.fast_window < analysts.tech.slow_window"]}


@pytest.mark.parametrize(("grid", "ranges"), [
    ({**RANDOM, "n_iter": 3000}, True),  # a random run's values follow from its number
    ({**GRID, "risk.take_profit_pct": [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]}, True),
    (CONSTRAINED, False),  # numbered by the combinations that pass: the values travel
])
def test_a_task_sends_run_ranges_so_dasks_message_logs_keep_no_chunk_values(project, cluster,
                                                                            grid, ranges):
    """dask keeps each connection's last 1,000 messages alive (the client's to the scheduler,
    the scheduler's to each worker): a task carrying its chunk's values kept ~300 kB per
    8,192-run chunk in the client and the scheduler, growing with the runs (issue 15)."""
    evaluator, combos = evaluator_and_combinations(grid)
    chunks = list(combos.chunks(500))
    values = sum(c.run_numbers.nbytes + sum(v.nbytes for v in c.values.values()) for c in chunks)
    executor = dask_cluster.DaskExecutor.connect(cluster.scheduler_address)
    try:
        client_log = executor.client.scheduler_comm.recent_message_log
        before = {id(msg) for msg in client_log}
        before_scheduler = executor.client.run_on_scheduler(scheduler_log_ids)
        results = list(executor.map(evaluator, iter(chunks), combos))
        sent = wire_bytes([client_log], before)
        forwarded = executor.client.run_on_scheduler(scheduler_wire_bytes, before_scheduler)
    finally:
        executor.close()
    assert combos.numbered is ranges
    if ranges:  # a few hundred bytes per task, whatever the chunk size
        assert sent < values / 4 and forwarded < values / 4, (sent, forwarded, values)
    else:
        assert sent > values and forwarded > values, (sent, forwarded, values)
    got = {int(r): row for res in results for r, row in zip(res.run_numbers, res.test, strict=True)}
    assert sorted(got) == list(range(1, combos.total + 1))
    for chunk in chunks:
        expected = evaluator.evaluate(chunk.run_numbers, chunk.values).test
        np.testing.assert_array_equal(np.array([got[int(r)] for r in chunk.run_numbers]),
                                      expected)


@pytest.mark.parametrize("grid", [RANDOM, GRID, CONSTRAINED])
def test_a_chunk_rebuilt_from_its_run_ranges_is_the_streamed_one(project, grid):
    from otonom_trader.domain.combinations import Combinations
    from otonom_trader.domain.grid import grid_from_mapping
    from otonom_trader.domain.strategy_loader import load_strategy

    strategy = load_strategy("strategy.yaml")
    combos = Combinations(grid_from_mapping(grid, strategy, source=Path("grid.yaml")), strategy)
    skip = [2, 3, 4, 50, 77, 78, *range(120, 180)]  # a resumed search: runs done before
    chunks = list(combos.chunks(40, skip=skip))
    assert combos.numbered is (grid is not CONSTRAINED)
    for chunk in chunks:
        ranges = dask_cluster.run_ranges(chunk.run_numbers)
        runs = np.concatenate([np.arange(a, b + 1) for a, b in ranges])
        np.testing.assert_array_equal(runs, chunk.run_numbers)
        if not combos.numbered:
            with pytest.raises(ValueError, match="constrained grid"):
                combos.chunk_of(runs)
            continue
        rebuilt = combos.chunk_of(runs)
        assert rebuilt.values.keys() == chunk.values.keys()
        for path, column in chunk.values.items():
            assert rebuilt.values[path].dtype == column.dtype
            np.testing.assert_array_equal(rebuilt.values[path], column)
    assert len(dask_cluster.run_ranges(chunks[0].run_numbers)) > 1  # the skip splits it
    if combos.numbered:  # the client then streams run numbers alone, drawing nothing
        bare = list(combos.chunks(40, skip=skip, values=False))
        assert [c.values for c in bare] == [{}] * len(chunks)
        for a, b in zip(bare, chunks, strict=True):
            np.testing.assert_array_equal(a.run_numbers, b.run_numbers)
    else:
        with pytest.raises(ValueError, match="constrained grid"):
            next(combos.chunks(40, values=False))
