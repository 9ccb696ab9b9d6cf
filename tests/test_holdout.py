"""An honest out-of-sample: the hold-out window no ranking sees, measured for the promoted
run only and gated by validate; `--select-on train` keeps the test window out-of-sample."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from otonom_trader.domain.errors import InputError
from otonom_trader.domain.split import Split
from otonom_trader.engine.selection import SelectionRule, select_run, selection_rule
from tests.helpers import REPO, clean_env, copy_repo, git_init
from tests.helpers import otonom_here as otonom

WINDOWS = ["--train-start", "2008-01-01", "--train-end", "2011-12-31",
           "--test-start", "2012-01-01", "--test-end", "2014-12-31"]
HOLDOUT = ["--holdout-start", "2015-01-01", "--holdout-end", "2018-12-31"]


# ---------------------------------------------------------------- the split


@pytest.mark.parametrize(("split", "needle"), [
    ({"holdout_start": "2019-01-01"}, "`holdout_start` without `holdout_end`"),
    ({"holdout_end": "2019-01-01"}, "`holdout_end` without `holdout_start`"),
    ({"holdout_start": "2018-06-01", "holdout_end": "2019-01-01"},
     "`test_end` (2018-12-31) is not before `holdout_start`"),
    ({"holdout_start": "2018-12-31", "holdout_end": "2019-06-01"}, "no ranking may see it"),
    ({"holdout_start": "2019-06-01", "holdout_end": "2019-01-01"},
     "the hold-out window ends before it starts"),
    ({"holdout_start": "someday", "holdout_end": "2019-01-01"}, "`holdout_start` 'someday'"),
])
def test_a_holdout_must_follow_the_test_window(split, needle):
    base = Split("2008-01-01", "2015-12-31", "2016-01-01", "2018-12-31")
    with pytest.raises(InputError) as exc:
        base.merged(split).check("g.yaml: ")
    assert needle in str(exc.value)


def test_a_split_without_holdout_keeps_its_four_keys():
    split = Split("2008-01-01", "2015-12-31", "2016-01-01", "2018-12-31")
    assert list(split.as_dict()) == ["train_start", "train_end", "test_start", "test_end"]
    both = split.merged({"holdout_start": "2019-01-01", "holdout_end": "2019-12-31"})
    assert both.holdout == ("2019-01-01", "2019-12-31") and len(both.as_dict()) == 6


# ---------------------------------------------------------------- the selection rule


def runs_frame() -> pd.DataFrame:
    """Three done runs: #1 best test Sharpe but overfit (gap 2), #2 best train Sharpe,
    #3 the best test Sharpe within the gap gate."""
    return pd.DataFrame({
        "run_number": [1, 2, 3], "status": ["done"] * 3, "error": [None] * 3,
        "risk.risk_pct": [1.0, 2.0, 3.0],
        **{f"{w}_{k}": np.nan for w in ("train", "test")
           for k in ("total_return_pct", "cagr_pct", "sortino", "max_drawdown_pct", "calmar",
                     "win_rate_pct", "profit_factor", "exposure_pct", "n_trades",
                     "final_equity")},
        "train_sharpe": [3.0, 2.5, 1.2], "test_sharpe": [1.0, 0.2, 0.8],
    })


def test_one_rule_window_metric_and_gap():
    runs = runs_frame()
    assert select_run(runs, 1, SelectionRule()).run.run_number == 3  # #1 fails the gap gate
    assert select_run(runs, 1, SelectionRule(allow_overfit=True)).run.run_number == 1
    on_train = select_run(runs, 1, SelectionRule(window="train", max_gap=5.0))
    assert on_train.run.run_number == 1 and on_train.rule.label == "train sharpe"
    assert SelectionRule().label == "test sharpe (selection window)"


def test_the_rule_comes_from_params_with_flags_winning(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("experiment: {select_by: sortino, select_on: train}\n"
                      "gates: {max_sharpe_gap: 0.5}\n")
    assert selection_rule(params) == SelectionRule("sortino", "train", 0.5)
    assert selection_rule(params, "cagr", "test") == SelectionRule("cagr_pct", "test", 0.5)
    assert selection_rule(tmp_path / "none.yaml") == SelectionRule()
    params.write_text("experiment: {select_on: holdout}\n")
    with pytest.raises(InputError, match=r"`experiment\.select_on` 'holdout': choose one of"):
        selection_rule(params)


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("holdout")
    repo = git_init(copy_repo(root / "repo", ("strategies", "grids", "deployments"),
                              ("params.yaml", ".gitignore")))
    env = clean_env(OTONOM_DB=f"sqlite:///{root}/store.db")
    out = otonom(repo, "experiments", "grid-search", "--name", "ho_grid", "--strategy-path",
                 "strategies/baseline_v1.yaml", "--grid-path", "grids/baseline_grid.yaml",
                 *WINDOWS, *HOLDOUT, env=env)
    assert out.returncode == 0, out.stderr
    return repo, env


def test_the_holdout_is_measured_for_the_promoted_run_and_gated(repo):
    from otonom_trader.domain.strategy_loader import load_strategy
    from otonom_trader.engine.backtest import backtest
    from otonom_trader.engine.data import load_bars

    repo, env = repo
    out = otonom(repo, "promote", "--experiment-id", "1", "--output-name", "ho_v2",
                 "--base-strategy", "strategies/baseline_v1.yaml", "--allow-overfit", env=env)
    assert out.returncode == 0, out.stderr
    assert "Hold-out (never ranked): Sharpe=" in out.stdout
    body = (repo / ".otonom/pr/ho_v2.md").read_text()
    assert "**selection window**" in body and "**Hold-out** 2015-01-01 → 2018-12-31" in body
    subprocess.run(["git", "checkout", "-q", "promote/ho_v2"], cwd=repo, check=True)
    path = repo / "strategies/ho_v2.yaml"
    meta = yaml.safe_load(path.read_text())["metadata"]
    assert meta["split"]["holdout_start"] == "2015-01-01" and meta["selected_on"] == "test"
    fresh = backtest(load_strategy(path), load_bars("SPX"), symbol="SPX",
                     start="2015-01-01", end="2018-12-31").metrics
    assert meta["holdout"] == {k: (None if isinstance(v, float) and np.isnan(v) else v)
                               for k, v in fresh.items()}

    def gates(**extra) -> dict[str, dict]:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["gates"].update(extra, waive=["experiment_record", "min_dsr"])
        (repo / "params.yaml").write_text(yaml.safe_dump(params))
        res = otonom(repo, "validate", "strategies/ho_v2.yaml", "--json", "--no-fail", env=env)
        assert res.returncode == 0, res.stderr
        (report,) = json.loads(res.stdout)["strategies"]
        return {c["gate"]: c for c in report["checks"]}

    rows = gates()
    assert rows["holdout_reproduction"]["status"] == "pass"
    sharpe = fresh["sharpe"]
    assert rows["min_holdout_sharpe"]["value"] == sharpe
    assert rows["max_holdout_degradation"]["value"] == pytest.approx(
        meta["test"]["sharpe"] - sharpe, abs=0)
    assert gates(min_holdout_sharpe=sharpe + 0.01)["min_holdout_sharpe"]["status"] == "fail"
    assert gates(max_holdout_degradation=-100.0)["max_holdout_degradation"]["status"] == "fail"

    data = yaml.safe_load(path.read_text())
    data["metadata"]["holdout"]["sharpe"] = sharpe + 1.0  # a hand-polished hold-out
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert gates()["holdout_reproduction"]["status"] == "fail"


def test_a_holdout_outside_the_data_is_refused(repo):
    repo, env = repo
    out = otonom(repo, "experiments", "grid-search", "--name", "ho_far", "--strategy-path",
                 "strategies/baseline_v1.yaml", "--grid-path", "grids/baseline_grid.yaml",
                 *WINDOWS, "--holdout-start", "2030-01-01", "--holdout-end", "2031-01-01",
                 env=env)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "hold-out window" in out.stderr
