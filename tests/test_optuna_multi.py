"""Multi-objective Optuna (NSGA-II on --objectives), the Pareto front in show/report, the
pareto-knee selection, and exact resume (an interrupted or killed study equals an
uninterrupted one with the same seed), for TPE and NSGA-II."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.domain.objectives import direction, parse_objectives, search_value
from otonom_trader.engine.pareto import pareto_front
from tests.helpers import REPO, mini_project, otonom_here, run_cli

SPLIT = {"train_start": "2001-01-01", "train_end": "2004-06-30", "test_start": "2004-07-01",
         "test_end": "2007-02-15"}
PARAMS = {"analysts.tech.fast_window": {"int": [2, 20, 1]},
          "analysts.tech.slow_window": {"int": [25, 80, 5]},
          "risk.stop_loss_pct": {"uniform": [1.0, 8.0]}}
OBJECTIVES = ["sharpe", "max_drawdown_pct"]


def project(root, objectives=True, n_iter=40, seed=3):
    root.mkdir(parents=True, exist_ok=True)
    mini_project(root)
    grid = {"search": "optuna", "n_iter": n_iter, "seed": seed, "split": SPLIT, **PARAMS}
    if objectives:
        grid["objectives"] = OBJECTIVES
    (root / "grid.yaml").write_text(yaml.safe_dump(grid, sort_keys=False))
    return root


def search_args(root, *extra):
    return ["experiments", "grid-search", "--name", "mo", "--strategy-path",
            str(root / "strategy.yaml"), "--grid-path", str(root / "grid.yaml"),
            "--data-dir", str(root / "data"), "--db", f"sqlite:///{root}/store.db",
            "--outputs-dir", str(root / "experiments"), *extra]


def runs_of(root):
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:
        return store.get(1), store.runs_frame(1).sort_values("run_number").reset_index(
            drop=True)


def test_objective_directions_and_told_values():
    assert parse_objectives("sharpe, max_drawdown") == ("sharpe", "max_drawdown_pct")
    assert direction("sharpe") == "maximize" and direction("max_drawdown_pct") == "minimize"
    assert search_value("max_drawdown_pct", -12.5) == 12.5  # the loss magnitude, minimised
    assert search_value("cagr_pct", -3.0) == -3.0
    # stored drawdowns are negative: the shallower one is on the front, not the deeper one
    stored = np.array([[1.0, -5.0], [1.0, -12.0]])
    assert pareto_front(stored).tolist() == [True, False]


def test_nsga2_search_stores_objectives_and_matches_optunas_own_front(tmp_path, capsys,
                                                                      monkeypatch):
    root = project(tmp_path / "p")
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "200")  # show's lines unwrapped, whatever the terminal
    code, out, err = run_cli(search_args(root), capsys)
    assert code == 0, err
    assert "Running optuna search (NSGA-II): 40 total trials" in out
    info, runs = runs_of(root)
    assert info.search["objectives"] == OBJECTIVES and info.search["sampler"] == "nsga2"
    assert info.search["window"] == "train" and len(runs) == 40
    storage = optuna.storages.RDBStorage(f"sqlite:///{root}/store.db",
                                         skip_compatibility_check=True)
    try:
        study = optuna.load_study(study_name="mo", storage=storage)
        assert study.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                    optuna.study.StudyDirection.MINIMIZE]
        by_run = runs.set_index("run_number")
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
            row = by_run.loc[t.number + 1]  # trial number + 1 = run number
            assert t.values == [row["train_sharpe"], -row["train_max_drawdown_pct"]]
            assert t.values[1] >= 0
        optuna_front = sorted(t.number + 1 for t in study.best_trials)
    finally:
        storage.engine.dispose()
    done = runs[runs["status"] == "done"]
    ours = done["run_number"][pareto_front(
        done[["train_sharpe", "train_max_drawdown_pct"]].to_numpy())]
    assert sorted(ours) == optuna_front  # directions and signs agree with Optuna's own

    code, out, err = run_cli(["experiments", "show", "1", "--db", f"sqlite:///{root}/store.db",
                              "--data-dir", str(root / "data")], capsys)
    assert code == 0, err
    text = out
    assert "NSGA-II on train sharpe, max_drawdown_pct" in text
    assert f"Pareto front ({len(ours)} done runs not dominated on train sharpe, " in text
    code, out, err = run_cli(["experiments", "show", "1", "--json", "--db",
                              f"sqlite:///{root}/store.db", "--data-dir", str(root / "data")],
                             capsys)
    front = json.loads(out)["pareto_front"]
    assert sorted(r["run_number"] for r in front["runs"]) == optuna_front
    assert front["knee_run"] in optuna_front and front["objectives"] == OBJECTIVES
    assert f"★ {front['knee_run']} " in text and text.count("★ ") == 2  # legend + knee
    html = root / "r.html"
    code, _, err = run_cli(["experiments", "show", "1", "--db", f"sqlite:///{root}/store.db",
                            "--data-dir", str(root / "data"), "--output", str(html)], capsys)
    assert code == 0, err
    page = html.read_text()
    assert 'id="fig-pareto-front"' in page and f"knee (run #{front['knee_run']})" in page


def test_pareto_knee_names_the_same_run_in_show_outputs_and_promote(tmp_path, capsys,
                                                                    monkeypatch):
    from otonom_trader.app.promotion.promote import PromoteRequest, build_promotion

    root = project(tmp_path / "p")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["experiment"] |= {"select_by": "pareto-knee", "select_on": "train"}
    params["gates"]["max_sharpe_gap"] = 100.0  # the knee itself, whatever its gap
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(root)
    code, _, err = run_cli(search_args(root, "--params", "params.yaml"), capsys)
    assert code == 0, err
    code, out, err = run_cli(["experiments", "show", "1", "--json", "--db",
                              f"sqlite:///{root}/store.db", "--data-dir", "data"], capsys)
    assert code == 0, err
    report = json.loads(out)
    knee = report["pareto_front"]["knee_run"]
    assert report["best_run"] == knee and report["selected_by"] == "train pareto-knee"
    metrics = json.loads((root / "experiments/mo/metrics.json").read_text())
    assert metrics["best"]["run_number"] == knee, metrics
    assert metrics["best"]["selected_by"] == "train pareto-knee"
    best_params = yaml.safe_load((root / "experiments/mo/best_params.yaml").read_text())
    assert best_params["run_number"] == knee
    promotion = build_promotion(PromoteRequest(
        experiment_id=1, output_name="mo_knee", base_strategy="strategy.yaml",
        select_by="pareto-knee", select_on="train", db_url=f"sqlite:///{root}/store.db",
        allow_overfit=True), root)
    assert promotion.selection.run.run_number == knee
    # another objective name picks by that metric instead (the shallowest train drawdown)
    _, runs = runs_of(root)
    done = runs[runs["status"] == "done"]
    shallowest = int(done.sort_values(["train_max_drawdown_pct", "run_number"],
                                      ascending=[False, True]).iloc[0]["run_number"])
    promotion = build_promotion(PromoteRequest(
        experiment_id=1, output_name="mo_dd", base_strategy="strategy.yaml",
        select_by="max_drawdown_pct", select_on="train", db_url=f"sqlite:///{root}/store.db",
        allow_overfit=True), root)
    assert promotion.selection.run.run_number == shallowest


def test_pareto_knee_of_a_single_objective_experiment_is_one_line(tmp_path, capsys,
                                                                  monkeypatch):
    root = project(tmp_path / "p", objectives=False, n_iter=16)
    monkeypatch.chdir(root)
    code, _, err = run_cli(search_args(root), capsys)
    assert code == 0, err
    from otonom_trader.app.promotion.promote import PromoteRequest, build_promotion
    from otonom_trader.domain.errors import InputError

    with pytest.raises(InputError, match="has no objectives; run its search with --objectives"):
        build_promotion(PromoteRequest(experiment_id=1, output_name="x",
                                       base_strategy="strategy.yaml", select_by="pareto-knee",
                                       db_url=f"sqlite:///{root}/store.db"), root)


@pytest.mark.parametrize(("flag", "file", "expected"), [
    ("sharpe,foo", None, "--objectives: 'foo' is not a metric; choose from total_return_pct"),
    ("sharpe", None, "--objectives: expected 2 to 4 different metrics"),
    ("sharpe,sharpe", None, "--objectives: expected 2 to 4 different metrics"),
    (None, ["sharpe", "drawdown"], "`objectives`: 'drawdown' is not a metric; choose from"),
    (None, "sharpe", "`objectives`: expected 2 to 4 different metrics"),
    (None, {"a": 1}, "`objectives`: expected comma-separated metric names"),
])
def test_bad_objectives_are_one_line_exit_2(tmp_path, capsys, flag, file, expected):
    root = project(tmp_path / "p", objectives=False)
    if file is not None:
        grid = yaml.safe_load((root / "grid.yaml").read_text())
        (root / "grid.yaml").write_text(yaml.safe_dump({**grid, "objectives": file}))
    code, _, err = run_cli(search_args(root, *(["--objectives", flag] if flag else [])), capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], err
    if "not a metric" in expected:
        assert "sharpe" in lines[0] and "max_drawdown_pct" in lines[0]


# -- exact resume ----------------------------------------------------------------------------


_CLEAN: dict = {}


def clean_runs(tmp_path_factory, capsys, objectives):
    """The runs of an uninterrupted search (computed once per sampler)."""
    if objectives not in _CLEAN:
        root = project(tmp_path_factory.mktemp("clean"), objectives)
        code, _, err = run_cli(search_args(root), capsys)
        assert code == 0, err
        _CLEAN[objectives] = runs_of(root)[1]
    return _CLEAN[objectives]


@pytest.mark.parametrize("objectives", [False, True], ids=["tpe", "nsga2"])
@pytest.mark.parametrize(("method", "call"), [
    ("ask", 21),  # mid-batch: 4 trials of batch 2 asked, none evaluated
    ("tell", 21),  # batch 2 stored, 4 of its trials told
    ("tell", 17),  # batch 2 stored, none told
])
def test_interrupted_search_resumes_to_the_uninterrupted_history(
        tmp_path, tmp_path_factory, capsys, monkeypatch, objectives, method, call):
    expected = clean_runs(tmp_path_factory, capsys, objectives)
    root = project(tmp_path / "p", objectives)
    real = getattr(optuna.study.Study, method)
    calls = [0]

    def dying(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt  # the process stops here (Ctrl-C)
        return real(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(optuna.study.Study, method, dying)
        code, _, err = run_cli(search_args(root), capsys)
    assert code == 130, err
    with sqlite3.connect(root / "store.db") as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM trials GROUP BY state"))
    assert states["RUNNING"] == call - 17 if method == "ask" else 16 - (call - 17)
    code, out, err = run_cli(search_args(root), capsys)
    assert code == 0, err
    assert "resumed (ID: 1)" in out
    pd.testing.assert_frame_equal(runs_of(root)[1], expected)


def _spawn(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "otonom_trader.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stored(db):
    try:
        with sqlite3.connect(db, timeout=0.1) as conn:
            return conn.execute("SELECT count(*) FROM experiment_runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("objectives", [False, True], ids=["tpe", "nsga2"])
def test_sigkill_mid_search_then_resume_equals_an_uninterrupted_search(tmp_path, objectives):
    n_iter = 64  # four batches of 16: killed once two are stored (the sampler past startup)
    killed = project(tmp_path / "killed", objectives, n_iter=n_iter)
    clean = project(tmp_path / "clean", objectives, n_iter=n_iter)
    proc = _spawn(search_args(killed, "--workers", "1"), killed)
    deadline = time.monotonic() + 120
    while _stored(killed / "store.db") < 32 and proc.poll() is None:
        assert time.monotonic() < deadline, "no two batches stored in time"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    partial = _stored(killed / "store.db")
    assert 32 <= partial < n_iter, partial
    resumed = otonom_here(killed, *search_args(killed), env=dict(os.environ))
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed (ID: 1)" in resumed.stdout
    done = otonom_here(clean, *search_args(clean), env=dict(os.environ))  # no kill
    assert done.returncode == 0, done.stderr
    a, b = runs_of(killed)[1], runs_of(clean)[1]
    assert len(a) == n_iter
    pd.testing.assert_frame_equal(a, b)


def test_a_grid_search_with_objectives_shows_its_front_too(tmp_path, capsys, monkeypatch):
    root = tmp_path / "p"
    root.mkdir()
    mini_project(root)
    (root / "grid.yaml").write_text(yaml.safe_dump({
        "split": SPLIT, "analysts.tech.fast_window": [3, 6, 10, 15],
        "analysts.tech.slow_window": [30, 50], "risk.stop_loss_pct": [2.0, 6.0]}))
    monkeypatch.chdir(root)
    code, _, err = run_cli(search_args(root, "--objectives", "cagr,max_drawdown_pct"), capsys)
    assert code == 0, err
    info, runs = runs_of(root)
    assert info.search == {"kind": "grid", "n_iter": None, "seed": 0,
                           "objectives": ["cagr_pct", "max_drawdown_pct"]}
    code, out, err = run_cli(["experiments", "show", "1", "--json", "--db",
                              f"sqlite:///{root}/store.db", "--data-dir", "data"], capsys)
    assert code == 0, err
    done = runs[runs["status"] == "done"]
    expected = done["run_number"][pareto_front(
        done[["train_cagr_pct", "train_max_drawdown_pct"]].to_numpy())]
    front = json.loads(out)["pareto_front"]
    assert sorted(r["run_number"] for r in front["runs"]) == sorted(expected)


def test_pareto_knee_as_the_optuna_metric_needs_objectives(tmp_path, capsys, monkeypatch):
    root = project(tmp_path / "p", objectives=False, n_iter=16)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["experiment"]["select_by"] = "pareto-knee"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(root)
    code, _, err = run_cli(search_args(root, "--params", "params.yaml"), capsys)
    assert code == 2 and "`experiment.select_by: pareto-knee` needs --objectives" in err, err
    assert len(err.strip().splitlines()) == 1
