"""Hostile-input review of issue 14's commands: each problem is one line, exit 2, and a
command never silently runs with settings other than the ones it was given."""

import numpy as np
import pytest
import yaml

from otonom_trader.adapters.store import ExperimentStore
from tests.helpers import mini_project, run_cli

SPLIT = {"train_start": "2001-01-01", "train_end": "2004-06-30", "test_start": "2004-07-01",
         "test_end": "2007-02-15"}
PARAMS = {"analysts.tech.fast_window": {"int": [2, 20, 1]},
          "analysts.tech.slow_window": {"int": [25, 80, 5]}}


@pytest.fixture
def root(tmp_path):
    mini_project(tmp_path)
    grid = {"search": "optuna", "n_iter": 6, "seed": 3, "split": SPLIT, **PARAMS}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid, sort_keys=False))
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({**grid, "seed": 4}, sort_keys=False))
    return tmp_path


def common(root):
    return ["--data-dir", str(root / "data"), "--db", f"sqlite:///{root}/store.db",
            "--outputs-dir", str(root / "experiments")]


def search(root, *extra):
    return ["experiments", "grid-search", "--name", "tpe", "--strategy-path",
            str(root / "strategy.yaml"), "--grid-path", str(root / "grid.yaml"),
            *common(root), *extra]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--objectives", "sharpe,max_drawdown_pct"], "--objectives sharpe,max_drawdown_pct"),
    (["--seed", "9"], "--seed 9: experiment 'tpe' (ID: 1) was started with 3"),
    (["--search", "random", "--n-iter", "6"], "--search random"),
    (["--train-start", "2001-06-01"], "--train-start 2001-06-01"),
    (["--name", "other"], "--name other"),
    (["--grid-path", "{root}/other.yaml"], "--grid-path"),
])
def test_resume_with_other_settings_is_refused_not_ignored(root, capsys, extra, needle):
    assert run_cli(search(root), capsys)[0] == 0
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:
        store.set_status(1, "interrupted", 0.0)  # a killed search, to be resumed
    extra = [e.format(root=root) for e in extra]
    code, _, err = run_cli(["experiments", "grid-search", "--resume", "1", *common(root),
                            *extra], capsys)
    assert code == 2, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:  # nothing ran or changed
        info = store.get(1)
        assert info.status == "interrupted" and "objectives" not in info.search
    # the same settings (or none) resume it
    code, _, err = run_cli(["experiments", "grid-search", "--resume", "1", "--seed", "3",
                            "--search", "optuna", *common(root)], capsys)
    assert code == 0, err


def test_written_files_get_the_usual_mode_not_mkstemps_0600(root, capsys, tmp_path):
    """A refined grid (any atomic write) is readable like any new file (umask), and
    rewriting a file keeps its mode."""
    import os
    import stat

    from otonom_trader.adapters.atomic import write_atomic

    mask = os.umask(0o022)
    os.umask(mask)
    assert run_cli(search(root), capsys)[0] == 0
    out = tmp_path / "grids" / "fine.yaml"
    code, _, err = run_cli(["experiments", "refine", "1", "--top", "2", "--output", str(out),
                            "--db", f"sqlite:///{root}/store.db"], capsys)
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    for mode in (0o640, 0o604):
        out.chmod(mode)
        write_atomic(out, "again")
        assert stat.S_IMODE(out.stat().st_mode) == mode and out.read_text() == "again"


@pytest.mark.parametrize(("grid", "extra", "needle"), [
    ({"search": "grid", "analysts.tech.fast_window": [5, 10]}, ["--n-trials", "5"],
     "--n-trials is for an optuna search"),
    ({"analysts.tech.fast_window": [5, 10]}, ["--search", "random", "--n-trials", "5"],
     "--n-trials is for an optuna search"),
    (PARAMS, ["--search", "optuna", "--n-trials", "5", "--n-iter", "7"],
     "--n-trials and --n-iter: give"),
    (PARAMS, ["--search", "optuna", "--n-trials", "20000000"],
     "optuna search has 20,000,000 runs (--n-trials or `n_iter`), more than the maximum of "
     "10,000,000 runs: lower --n-trials, or raise"),
])
def test_trials_flag_misuse_is_refused(root, capsys, grid, extra, needle):
    (root / "g.yaml").write_text(yaml.safe_dump({"split": SPLIT, **grid}))
    code, _, err = run_cli(["experiments", "grid-search", "--name", "x", "--strategy-path",
                            str(root / "strategy.yaml"), "--grid-path", str(root / "g.yaml"),
                            *common(root), *extra], capsys)
    assert code == 2, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (root / "store.db").exists() or ExperimentStore(
        f"sqlite:///{root}/store.db").find_by_name("x") is None


def test_refine_keeps_the_objectives_and_the_cv_settings(root, capsys):
    """Refining a multi-objective search with CPCV gives a grid that is again one (its
    Pareto front, its CPCV), not a single-objective search without cross-validation."""
    code, _, err = run_cli(search(root, "--objectives", "sharpe,max_drawdown_pct", "--cv",
                                  "cpcv", "--folds", "4", "--test-folds", "1",
                                  "--embargo-days", "3"), capsys)
    assert code == 0, err
    fine = root / "fine.yaml"
    code, _, err = run_cli(["experiments", "refine", "1", "--top", "3", "--output", str(fine),
                            "--db", f"sqlite:///{root}/store.db"], capsys)
    assert code == 0, err
    grid = yaml.safe_load(fine.read_text())
    assert grid["objectives"] == ["sharpe", "max_drawdown_pct"]
    assert grid["cv"] == {"method": "cpcv", "folds": 4, "test_folds": 1, "embargo_days": 3}
    code, out, err = run_cli(["experiments", "grid-search", "--name", "fine", "--strategy-path",
                              str(root / "strategy.yaml"), "--grid-path", str(fine),
                              *common(root)], capsys)
    assert code == 0, err
    assert "optuna search (NSGA-II)" in out and "CPCV of the selection" in out
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:
        search_record = store.find_by_name("fine").search
    assert search_record["objectives"] == ["sharpe", "max_drawdown_pct"]
    assert search_record["cv"]["folds"] == 4


def test_stitched_cagr_is_over_the_out_of_sample_time_not_the_gaps_between_folds():
    """--step-years 3 --test-years 1: two test years 3 years apart, each +10%: the
    out-of-sample CAGR is 10% a year (not 10% a year diluted over the 4-year span), so the
    walk-forward efficiency is not understated."""
    import numpy as np
    import pandas as pd

    from otonom_trader.app.experiments.walk_forward import oos_stats, stitch

    def year(start):
        index = pd.bdate_range(start, periods=252)
        steps = 1.1 ** (1 / 251) * (1 + 0.001 * np.tile([1, -1], 126))
        return pd.Series(100 * np.cumprod(np.r_[1.0, steps[1:]]), index=index)

    contiguous = stitch([year("2001-01-01"), year("2001-12-18")], 10_000)
    gapped = stitch([year("2001-01-01"), year("2004-01-01")], 10_000)
    a, b = oos_stats(contiguous, 252.0), oos_stats(gapped, 252.0)
    assert a["total_return_pct"] == pytest.approx(b["total_return_pct"])
    assert b["cagr_pct"] == pytest.approx(a["cagr_pct"], rel=1e-9)
    assert b["cagr_pct"] == pytest.approx(10.0, abs=0.6)


def test_walk_forward_whose_fold_name_is_taken_is_refused_before_it_is_recorded(root, capsys):
    """An experiment already named <name>_fold01 is refused in one line naming --name, and no
    half-made walk-forward is left behind that running again could never complete."""
    (root / "lists.yaml").write_text(yaml.safe_dump(
        {"analysts.tech.fast_window": [3, 6], "analysts.tech.slow_window": [30, 40]}))
    taken = ["experiments", "grid-search", "--name", "wf_fold01", "--strategy-path",
             str(root / "strategy.yaml"), "--grid-path", str(root / "lists.yaml"),
             *common(root), *(f"--{k.replace('_', '-')}={v}" for k, v in SPLIT.items())]
    assert run_cli(taken, capsys)[0] == 0
    walk = ["experiments", "walk-forward", "--name", "wf", "--strategy-path",
            str(root / "strategy.yaml"), "--grid-path", str(root / "lists.yaml"),
            "--train-years", "2", "--test-years", "1", *common(root)]
    for _ in range(2):
        code, _, err = run_cli(walk, capsys)
        assert code == 2, err
        assert ("--name wf: its fold 1's experiment name 'wf_fold01' is taken by experiment 1"
                in err and len(err.strip().splitlines()) == 1)
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:
        assert store.walk_forward_settings("wf") is None
    code, _, err = run_cli([*walk[:3], "wf2", *walk[4:]], capsys)
    assert code in (0, None), err


@pytest.mark.parametrize(("length", "ok"), [(57, True), (58, False), (64, False)])
def test_walk_forward_name_too_long_for_its_folds_is_refused_up_front(root, capsys, length, ok):
    (root / "lists.yaml").write_text(yaml.safe_dump(
        {"analysts.tech.fast_window": [3, 6], "analysts.tech.slow_window": [30, 40]}))
    name = "w" * length
    code, _, err = run_cli(["experiments", "walk-forward", "--name", name, "--strategy-path",
                            str(root / "strategy.yaml"), "--grid-path", str(root / "lists.yaml"),
                            "--train-years", "2", "--test-years", "2", *common(root)], capsys)
    if ok:
        assert code in (0, None), err
        return
    assert code == 2, err
    assert (f"--name {name}: too long for its folds' experiment names" in err
            and "use at most 57 characters" in err and len(err.strip().splitlines()) == 1)
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:
        assert store.walk_forward_settings(name) is None


def test_refine_with_pareto_knee_selection_is_one_line_not_a_traceback(root, capsys):
    assert run_cli(search(root, "--objectives", "sharpe,max_drawdown_pct"), capsys)[0] == 0
    params = root / "params.yaml"
    for select_on in ("test", "train"):
        params.write_text(yaml.safe_dump({"experiment": {"select_by": "pareto-knee",
                                                         "select_on": select_on}}))
        code, _, err = run_cli(["experiments", "refine", "1", "--top", "2", "--output",
                                str(root / "fine.yaml"), "--params", str(params),
                                "--db", f"sqlite:///{root}/store.db"], capsys)
        assert code == 2, err
        assert "`experiment.select_by: pareto-knee` picks one run" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not (root / "fine.yaml").exists()


def test_walk_forward_with_pareto_knee_selection(root, capsys):
    """select_by: pareto-knee: each fold takes its knee on the grid's objectives; a grid
    without objectives is refused before any fold runs."""
    from otonom_trader.engine.pareto import pareto_front

    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"experiment": {"select_by": "pareto-knee"}}))
    grid = {"search": "optuna", "n_iter": 8, "seed": 3, **PARAMS}
    (root / "plain.yaml").write_text(yaml.safe_dump(grid))
    (root / "multi.yaml").write_text(yaml.safe_dump({**grid, "objectives": ["sharpe",
                                                                            "max_drawdown_pct"]}))

    def walk(grid_name, name):
        return run_cli(["experiments", "walk-forward", "--name", name, "--strategy-path",
                        str(root / "strategy.yaml"), "--grid-path", str(root / grid_name),
                        "--train-years", "2", "--test-years", "2", "--params", str(params),
                        *common(root)], capsys)

    code, _, err = walk("multi.yaml", "wf_multi")
    assert code in (0, None), err
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:
        before = len(store.list_experiments())
    code, _, err = walk("plain.yaml", "wf_plain")
    assert code == 2 and "needs `objectives:` in" in err and len(err.strip().splitlines()) == 1
    with ExperimentStore(f"sqlite:///{root}/store.db") as store:
        assert len(store.list_experiments()) == before  # no fold ran
        record = store.walk_forward(1)
        for fold in record["result"]["folds"]:
            runs = store.runs_frame(fold["experiment_id"])
            done = runs[runs["status"] == "done"]
            values = np.column_stack([done["train_sharpe"], done["train_max_drawdown_pct"]])
            front = set(done["run_number"].to_numpy()[pareto_front(values)])
            assert fold["run_number"] in front  # on the front, the knee of it
