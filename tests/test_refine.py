"""``otonom experiments refine``: a smaller grid around the top runs (bounds, integers,
constraints, categorical choices), its ``parent_experiment``, and the DSR's trials counting
the whole chain."""

from __future__ import annotations

import json

import pytest
import yaml

from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.app.experiments.refine import refine_parameter
from otonom_trader.domain.grid import Distribution
from tests.helpers import mini_project, run_cli

GRID = """\
params:
  analysts.tech.fast_window: [2, 6, 10, 14, 18]
  analysts.tech.slow_window: [20, 40, 60]
  analysts.tech.ma_type: [sma, ema]
  risk.stop_loss_pct: [2.0, 4.0, 6.0, 8.0]
constraints:
  - analysts.tech.fast_window < analysts.tech.slow_window
split: {train_start: 2001-01-01, train_end: 2003-12-31, test_start: 2004-01-01,
        test_end: 2006-12-31}
"""
DB = "sqlite:///store.db"


# -- one parameter -------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "top", "expected"), [
    ([2, 6, 10, 14, 18], [10, 10], [6, 8, 10, 12, 14]),  # widened to half the range, centred
    ([2, 6, 10, 14, 18], [2, 6], [2, 4, 6, 8, 10]),  # moved inside the lower bound
    ([2, 6, 10, 14, 18], [18], [10, 12, 14, 16, 18]),  # ... and the upper one
    ([2, 6, 10, 14, 18], [2, 18], [2, 6, 10, 14, 18]),  # the top runs span it all: kept
    ([1, 2, 3], [2], [2]),  # 1.5..2.5 holds one integer: the parameter settles
    ([0, 25, 50, 75, 100], [40, 45], [18, 30, 42, 55, 67]),  # 17.5..67.5 → 18..67
])
def test_integer_lists_stay_integers_within_the_original_bounds(values, top, expected):
    new, refinable = refine_parameter("analysts.tech.fast_window", tuple(values), top, 0.5,
                                      "grid")
    assert refinable and new == expected
    assert all(isinstance(v, int) for v in new)
    assert min(values) <= min(new) and max(new) <= max(values)
    assert min(top) >= min(new) and max(top) <= max(new)


def test_floats_categoricals_fixed_values_and_distributions():
    new, _ = refine_parameter("risk.stop_loss_pct", (2.0, 4.0, 6.0, 8.0), [4.0, 6.0], 0.5,
                              "grid")
    assert new == [3.5, 4.5, 5.5, 6.5] and all(isinstance(v, float) for v in new)
    new, _ = refine_parameter("risk.stop_loss_pct", (1.0, 2.0, 3.0), [2.0], 0.1, "grid")
    assert new == [1.9, 2.0, 2.1]  # no float noise (1.9000000000000001)
    new, _ = refine_parameter("risk.stop_loss_pct", (3.0, 5.0, 8.0, 10.0), [3.0, 10.0], 0.5,
                              "grid")
    assert new == [3.0, 5.3, 7.7, 10.0]  # one digit finer than the spacing, ends exact
    assert refine_parameter("analysts.tech.ma_type", ("sma", "ema"), ["ema", "ema"], 0.5,
                            "grid") == (["ema"], True)
    assert refine_parameter("risk.risk_pct", (1.0,), [1.0], 0.5, "grid") == ([1.0], False)
    uniform = Distribution("uniform", 1.0, 9.0)
    assert refine_parameter("risk.stop_loss_pct", uniform, [8.0, 8.5], 0.25, "random") == (
        {"uniform": [7.0, 9.0]}, True)
    ints = Distribution("int", 2, 80, 2)
    new, _ = refine_parameter("analysts.tech.fast_window", ints, [40], 0.5, "random")
    low, high, step = new["int"]
    assert (low, high) == (21, 59) and all(isinstance(v, int) for v in (low, high, step))
    listed, _ = refine_parameter("analysts.tech.fast_window", ints, [40], 0.5, "grid")
    assert listed[0] == 21 and listed[-1] == 59 and len(listed) == len(set(listed)) <= 40
    choice = Distribution("choice", choices=("sma", "ema"))
    assert refine_parameter("analysts.tech.ma_type", choice, ["sma"], 0.5, "random") == (
        {"choice": ["sma"]}, True)


# -- the commands ----------------------------------------------------------------------------


@pytest.fixture()
def project(tmp_path, monkeypatch):
    mini_project(tmp_path)
    (tmp_path / "grid.yaml").write_text(GRID)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def search(name, grid, capsys):
    code, _out, err = run_cli(["experiments", "grid-search", "--name", name, "--strategy-path",
                              "strategy.yaml", "--grid-path", grid, "--db", DB], capsys)
    assert code in (None, 0), err
    return metrics(name)


def metrics(name):
    with open(f"experiments/{name}/metrics.json") as fh:
        return json.load(fh)


def refine(exp_id, capsys, *extra):
    return run_cli(["experiments", "refine", exp_id, "--db", DB, *extra], capsys)


def test_refine_chain_writes_a_valid_grid_and_the_dsr_counts_the_chain(project, capsys):
    first = search("coarse", "grid.yaml", capsys)
    n1 = first["experiment"]["done"]
    code, out, err = refine("1", capsys, "--top", "5", "--output", "grids/fine.yaml")
    assert code in (None, 0), err
    fine = yaml.safe_load((project / "grids" / "fine.yaml").read_text())
    assert fine["parent_experiment"] == 1
    assert fine["constraints"] == ["analysts.tech.fast_window < analysts.tech.slow_window"]
    assert fine["split"]["test_end"] == "2006-12-31"
    for path, values in yaml.safe_load(GRID)["params"].items():
        new = fine["params"][path]
        if isinstance(values[0], str):
            assert set(new) <= set(values)
        else:
            assert min(values) <= min(new) and max(new) <= max(values)
            assert all(type(v) is type(values[0]) for v in new)

    second = search("fine", "grids/fine.yaml", capsys)
    n2 = second["experiment"]["done"]
    assert second["overfitting"]["n_trials"] == n1 + n2
    code, out, err = refine("2", capsys, "--top", "3", "--shrink", "0.5", "--output",
                            "grids/finer.yaml")
    assert code in (None, 0), err
    third = search("finer", "grids/finer.yaml", capsys)
    n3 = third["experiment"]["done"]
    assert third["overfitting"]["n_trials"] == n1 + n2 + n3
    code, out, _ = run_cli(["experiments", "show", "3", "--db", DB, "--json"], capsys)
    shown = json.loads(out)["overfitting"]
    assert shown["n_trials"] == n1 + n2 + n3
    # the DSR the search recorded over the chain is the one show reads, and metrics.json's
    with ExperimentStore(DB) as store:
        assert store.load_snapshot(3).dsr["n_trials"] == n1 + n2 + n3
    assert shown["dsr"]["dsr"] == third["overfitting"]["dsr"]
    # without the chain (the same grid, no parent) only its own runs count
    plain = yaml.safe_load((project / "grids" / "finer.yaml").read_text())
    del plain["parent_experiment"]
    (project / "grids" / "plain.yaml").write_text(yaml.safe_dump(plain))
    assert search("plain", "grids/plain.yaml", capsys)["overfitting"]["n_trials"] == n3


def test_bad_refine_input_is_one_line_exit_2(project, capsys):
    search("coarse", "grid.yaml", capsys)
    done = metrics("coarse")["experiment"]["done"]
    for extra, needle in [(("--top", str(done + 1)), f"only {done} done runs"),
                          (("--top", "0"), "--top"),
                          (("--top", "2", "--shrink", "0"), "--shrink"),
                          (("--top", "2", "--shrink", "1.5"), "--shrink")]:
        code, _, err = refine("1", capsys, *extra, "--output", "out.yaml")
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    code, _, err = refine("9", capsys, "--top", "1", "--output", "out.yaml")
    assert code == 2 and "no experiment with ID 9" in err

    (project / "fixed.yaml").write_text("analysts.tech.fast_window: [10]\n"
                                        "split: {train_start: 2001-01-01, train_end: "
                                        "2003-12-31, test_start: 2004-01-01, test_end: "
                                        "2006-12-31}\n")
    search("fixed", "fixed.yaml", capsys)
    code, _, err = refine("2", capsys, "--top", "1", "--output", "out.yaml")
    assert code == 2 and "nothing to refine" in err, err

    (project / "cold.yaml").write_text("analysts.tech.slow_window: [3000, 4000]\n"
                                       "split: {train_start: 2001-01-01, train_end: "
                                       "2003-12-31, test_start: 2004-01-01, test_end: "
                                       "2006-12-31}\n")
    run_cli(["experiments", "grid-search", "--name", "cold", "--strategy-path",
             "strategy.yaml", "--grid-path", "cold.yaml", "--db", DB], capsys)
    code, _, err = refine("3", capsys, "--top", "1", "--output", "out.yaml")
    assert code == 2 and "no done run" in err, err
    assert not (project / "out.yaml").exists()

    from otonom_trader.adapters.store import ExperimentStore

    with ExperimentStore(DB) as store:  # a search stopped halfway: its top runs are partial
        store.set_status(1, "interrupted")
    code, _, err = refine("1", capsys, "--top", "2", "--output", "out.yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"experiment 1 (coarse) is interrupted with {done:,}/" in err and "--resume 1" in err
    assert not (project / "out.yaml").exists()

    (project / "orphan.yaml").write_text("parent_experiment: 99\n" + GRID)
    code, _, err = run_cli(["experiments", "grid-search", "--name", "orphan",
                            "--strategy-path", "strategy.yaml", "--grid-path", "orphan.yaml",
                            "--db", DB], capsys)
    assert code == 2 and "parent_experiment: 99" in err, err


@pytest.mark.parametrize("value", ["-1", "0", "x", "1.5", "true"])
def test_a_bad_parent_experiment_is_refused_by_the_grid(project, capsys, value):
    (project / "bad.yaml").write_text(f"parent_experiment: {value}\n" + GRID)
    code, _, err = run_cli(["experiments", "grid-search", "--name", "bad", "--strategy-path",
                            "strategy.yaml", "--grid-path", "bad.yaml", "--db", DB], capsys)
    assert code == 2 and "`parent_experiment`: expected an experiment ID" in err, err


def test_the_snapshot_of_a_refined_experiment_carries_its_chain(project, capsys):
    """`--store-snapshot` of a refined experiment (DVC's store.db) holds the experiments it
    was refined from, so its DSR counts their trials there too."""
    n1 = search("coarse", "grid.yaml", capsys)["experiment"]["done"]
    code, _, err = refine("1", capsys, "--top", "5", "--output", "grids/fine.yaml")
    assert code in (None, 0), err
    code, _, err = run_cli(["experiments", "grid-search", "--name", "fine", "--strategy-path",
                            "strategy.yaml", "--grid-path", "grids/fine.yaml", "--db", DB,
                            "--store-snapshot"], capsys)
    assert code in (None, 0), err
    n2 = metrics("fine")["experiment"]["done"]
    snapshot = project / "experiments" / "fine" / "store.db"
    first = snapshot.read_bytes()
    code, out, err = run_cli(["experiments", "show", "2", "--db", f"sqlite:///{snapshot}",
                              "--json"], capsys)
    assert code in (None, 0), err
    assert json.loads(out)["overfitting"]["n_trials"] == n1 + n2
    code, out, _ = run_cli(["experiments", "list", "--db", f"sqlite:///{snapshot}"], capsys)
    assert "coarse" in out and "fine" in out
    snapshot.unlink()  # written again: the same bytes
    code, _, err = run_cli(["experiments", "grid-search", "--name", "fine", "--strategy-path",
                            "strategy.yaml", "--grid-path", "grids/fine.yaml", "--db", DB,
                            "--store-snapshot"], capsys)
    assert code in (None, 0), err
    assert snapshot.read_bytes() == first
