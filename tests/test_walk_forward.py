"""``otonom experiments walk-forward`` on a planted-skill series: the take-profit that the
series rewards changes half-way, and each fold's train-window selection must find the one of
its own regime; the stitched out-of-sample equity chains the folds' test equity."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from otonom_trader.app.experiments.walk_forward import plan_folds, stitch
from tests.helpers import run_cli

STRATEGY = """\
name: planted
analysts:
  momentum: {lookback: 1, scale_pct: 0.0001}
ensemble:
  analyst_weights: {momentum: 1.0}
  entry_threshold: 0.5
  exit_threshold: -0.5
risk: {sizing: fixed, position_pct: 100, stop_loss_pct: 50, take_profit_pct: 10}
execution: {fee_bps: 0, slippage_bps: 0}
data: {symbol: PLANT, dsi_threshold: 0}
"""
GRID = "risk.take_profit_pct: [2, 4, 6, 8, 10]\n"


def planted(rises: list[int]) -> pd.DataFrame:
    """One 12-ish-bar cycle per entry of ``rises``: a down day, an up day (the momentum entry
    fills at the next open), ``n`` days of +1% (+7.2% after 7, +9.4% after 9), then a 15% gap
    down. The best take-profit is the largest one the rise reaches: 6 for 7 days, 8 for 9."""
    closes, opens = [100.0], [100.0]
    for n in rises:
        for gap, move in [(1.0, 0.99), (1.0, 1.005), *[(1.0, 1.01)] * n, (0.85, 1.0),
                          (1.0, 1.002), (1.0, 0.999)]:
            opens.append(closes[-1] * gap)
            closes.append(opens[-1] * move)
    o, c = np.array(opens), np.array(closes)
    index = pd.bdate_range("2001-01-01", periods=len(c), name="Date")
    return pd.DataFrame({"Open": o, "High": np.maximum(o, c) * 1.001,
                         "Low": np.minimum(o, c) * 0.999, "Close": c, "Volume": 1.0}, index)


@pytest.fixture()
def project(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    bars = planted([7] * 60 + [9] * 50)  # regime A ≈ 2.8 years, then regime B ≈ 2.7 years
    bars.to_csv(tmp_path / "data" / "PLANT.csv")
    (tmp_path / "strategy.yaml").write_text(STRATEGY)
    (tmp_path / "grid.yaml").write_text(GRID)
    monkeypatch.chdir(tmp_path)
    return tmp_path, bars


def wf(*extra):
    return ["experiments", "walk-forward", "--name", "wf", "--strategy-path", "strategy.yaml",
            "--grid-path", "grid.yaml", "--db", "sqlite:///store.db", *extra]


def test_walk_forward_recovers_the_planted_parameter_per_regime(project, capsys):
    root, bars = project
    code, out, err = run_cli(wf("--train-years", "1", "--test-years", "1"), capsys)
    assert code is None or code == 0, err
    assert "Stitched out-of-sample" in out and "Walk-forward 1: wf" in out
    code, out, _ = run_cli(["experiments", "show", "1", "--walk-forward", "--db",
                            "sqlite:///store.db", "--json"], capsys)
    record = json.loads(out)
    folds = record["result"]["folds"]
    switch = bars.index[1 + (7 + 5) * 60]  # first bar of regime B (cycles of n + 5 bars)
    chosen = {(pd.Timestamp(f["train_start"]), pd.Timestamp(f["train_end"])):
              f["params"]["risk.take_profit_pct"] for f in folds}
    for (start, end), tp in chosen.items():
        if end < switch:
            assert tp == 6, (start, end)
        elif start >= switch:
            assert tp == 8, (start, end)
    assert {6, 8} <= set(chosen.values())
    assert record["result"]["stability"]["risk.take_profit_pct"]["values"] == [
        f["params"]["risk.take_profit_pct"] for f in folds]
    # the folds' test windows follow one another; the stitched equity is their product
    for a, b in itertools.pairwise(folds):
        assert pd.Timestamp(a["test_end"]) < pd.Timestamp(b["test_start"])
        assert (bars.loc[a["test_end"]:b["test_start"]].index.size == 2)
    growth = np.prod([1 + f["test_cagr_pct"] / 100 for f in folds])  # ≈: CAGRs of ~1 year
    stitched = record["result"]["stitched"]["equity"]
    assert stitched[0] == 10_000.0 and stitched[-1] > 10_000.0
    assert np.isclose(stitched[-1] / stitched[0], growth, rtol=0.25)
    oos = record["result"]["oos"]
    assert oos["psr"] > 0.99 and oos["t_stat"] > 10 and record["result"]["wfe"] > 0.5
    # each fold is an ordinary experiment; the HTML page has the folds and the equity
    code, out, _ = run_cli(["experiments", "show", "1", "--walk-forward", "--db",
                            "sqlite:///store.db", "--export", "html"], capsys)
    page = (root / "reports" / "walk_forward_1.html").read_text()
    assert "Stitched out-of-sample equity vs buy &amp; hold" in page or "buy & hold" in page
    assert page.count("<tr>") == len(folds) + 1


def test_plan_folds_gap_anchored_and_step():
    index = pd.bdate_range("2000-01-03", "2009-12-31")
    rolling = plan_folds(index, 4, 1)
    assert len(rolling) == 6 and rolling[0].train_start == index[0]
    assert all(b.train_start > a.train_start for a, b in itertools.pairwise(rolling))
    anchored = plan_folds(index, 4, 1, anchored=True)
    assert all(f.train_start == index[0] for f in anchored)
    assert [f.test_start for f in anchored] == [f.test_start for f in rolling]
    gapped = plan_folds(index, 4, 1, gap_days=30)
    assert all((f.test_start - f.train_end).days > 30 for f in gapped)
    assert len(plan_folds(index, 4, 1, step_years=2)) == 3
    assert plan_folds(index, 9, 2) == []


def test_stitch_chains_each_fold_from_the_last_level():
    a = pd.Series([100.0, 110.0], index=pd.to_datetime(["2020-01-01", "2020-01-02"]))
    b = pd.Series([50.0, 40.0, 60.0], index=pd.to_datetime(["2020-01-03", "2020-01-06",
                                                             "2020-01-07"]))
    out = stitch([a, b], 1000.0)
    assert out.tolist() == pytest.approx([1000.0, 1100.0, 1100.0, 880.0, 1320.0])


@pytest.mark.parametrize(("extra", "needle"), [
    (("--train-years", "0", "--test-years", "1"), "--train-years"),
    (("--train-years", "1", "--test-years", "-1"), "--test-years"),
    (("--train-years", "2", "--test-years", "2", "--step-years", "1"), "would overlap"),
    (("--train-years", "5", "--test-years", "1"), "too short for one fold"),
])
def test_bad_walk_forward_input_is_one_line_exit_2(project, capsys, extra, needle):
    code, _out, err = run_cli(wf(*extra), capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_a_grid_with_a_hold_out_is_refused(project, capsys):
    root, _ = project
    (root / "grid.yaml").write_text(GRID + "split: {holdout_start: 2006-01-02, holdout_end: "
                                           "2006-06-01}\n")
    code, _, err = run_cli(wf("--train-years", "1", "--test-years", "1"), capsys)
    assert code == 2 and "holdout_start" in err and "grid.yaml" in err, err


def test_folds_too_short_for_the_indicators_say_how_many_bars(project, capsys):
    root, _ = project
    (root / "grid.yaml").write_text("analysts.momentum.lookback: [1, 400]\n")
    code, _, err = run_cli(wf("--train-years", "1", "--test-years", "1"), capsys)
    assert code == 2 and "more than 402 bars" in err and "--train-years" in err, err
    assert len(err.strip().splitlines()) == 1


def test_promote_from_a_walk_forward_takes_the_last_fold_and_records_it(project, capsys,
                                                                         monkeypatch):
    import shutil

    from tests.helpers import REPO, git_init

    root, _ = project
    (root / "strategies").mkdir()
    shutil.move(root / "strategy.yaml", root / "strategies" / "planted.yaml")
    for name in ("params.yaml", "STRATEGY_LOG.md"):
        shutil.copy(REPO / name, root / name)
    (root / ".gitignore").write_text(".otonom/\nexperiments/\nstore.db\n")
    git_init(root)
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "OTONOM_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(root.parent))
    args = wf("--train-years", "1", "--test-years", "1")
    args[args.index("strategy.yaml")] = "strategies/planted.yaml"
    code, _, err = run_cli(args, capsys)
    assert code in (None, 0), err
    record = json.loads(run_cli(["experiments", "show", "1", "--walk-forward", "--db",
                                 "sqlite:///store.db", "--json"], capsys)[1])
    last = record["result"]["folds"][-1]

    promote = ["promote", "--walk-forward", "1", "--output-name", "planted_v2",
               "--base-strategy", "strategies/planted.yaml", "--db", "sqlite:///store.db"]
    code, _, err = run_cli([*promote, "--experiment-id", "1"], capsys)
    assert code == 2 and "--walk-forward" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli([*promote, "--select-on", "test"], capsys)
    assert code == 2 and "best train sharpe" in err
    code, out, err = run_cli(promote, capsys)
    assert code in (None, 0), err
    assert f"Successfully promoted experiment {last['experiment_id']}" in out
    import subprocess

    import yaml

    text = subprocess.run(["git", "show", "promote/planted_v2:strategies/planted_v2.yaml"],
                          cwd=root, capture_output=True, text=True, check=True).stdout
    meta = yaml.safe_load(text)["metadata"]
    assert meta["run_number"] == last["run_number"] and meta["selected_on"] == "train"
    assert meta["walk_forward"]["last_fold"]["experiment_id"] == last["experiment_id"]
    assert meta["walk_forward"]["oos"]["psr"] == record["result"]["oos"]["psr"]
    assert yaml.safe_load(text)["risk"]["take_profit_pct"] == 8  # regime B's, the last fold's
    body = (root / ".otonom" / "pr" / "planted_v2.md").read_text()
    assert "**Walk-forward** wf (ID 1)" in body and "walk-forward efficiency" in body


def test_an_unfinished_or_changed_walk_forward_says_what_to_do(project, capsys):
    code, _, err = run_cli(wf("--train-years", "4", "--test-years", "1"), capsys)
    assert code in (None, 0), err
    code, _, err = run_cli(wf("--train-years", "3", "--test-years", "1"), capsys)
    assert code == 2 and "already exists with other settings" in err, err
    from otonom_trader.adapters.store import ExperimentStore

    with ExperimentStore("sqlite:///store.db") as store:
        store.save_walk_forward("half", {"command": "otonom experiments walk-forward ..."},
                                None)
    code, _, err = run_cli(["experiments", "show", "2", "--walk-forward", "--db",
                            "sqlite:///store.db"], capsys)
    assert code == 2 and "has not finished" in err and "walk-forward ..." in err, err


def test_the_same_command_again_reuses_the_folds_and_gives_the_same_record(project, capsys):
    args = wf("--train-years", "2", "--test-years", "1", "--anchored", "--gap-days", "5")
    assert run_cli(args, capsys)[0] in (None, 0)
    show = ["experiments", "show", "1", "--walk-forward", "--db", "sqlite:///store.db",
            "--json"]
    first = json.loads(run_cli(show, capsys)[1])
    code, out, err = run_cli(args, capsys)
    assert code in (None, 0), err
    again = json.loads(run_cli(show, capsys)[1])
    assert again["result"] == first["result"] and again["settings"] == first["settings"]
    folds = first["result"]["folds"]
    assert len(folds) == 3 and len({f["train_start"] for f in folds}) == 1  # anchored
    assert all((pd.Timestamp(f["test_start"]) - pd.Timestamp(f["train_end"])).days > 5
               for f in folds)
    code, out, _ = run_cli(["experiments", "list", "--db", "sqlite:///store.db"], capsys)
    assert "wf_fold03" in out and "wf_fold04" not in out


def test_buy_and_hold_is_measured_over_the_same_test_windows(project, capsys):
    """With --step-years above --test-years the strategy is out of the market between test
    windows: buying and holding is measured over the same bars, chained the same way."""
    _, bars = project
    code, out, err = run_cli(wf("--train-years", "1", "--test-years", "0.5", "--step-years",
                                "1"), capsys)
    assert code is None or code == 0, err
    code, out, _ = run_cli(["experiments", "show", "1", "--walk-forward", "--db",
                            "sqlite:///store.db", "--json"], capsys)
    result = json.loads(out)["result"]
    dates = pd.to_datetime(result["stitched"]["dates"])
    growth, windows = 1.0, []
    for fold in result["folds"]:
        window = dates[(dates >= pd.Timestamp(fold["test_start"]))
                       & (dates <= pd.Timestamp(fold["test_end"]))]
        windows.append(window)
        growth *= bars["Close"][window[-1]] / bars["Close"][window[0]]
    assert len(windows) >= 2 and sum(map(len, windows)) == len(dates)
    assert windows[0][-1] + pd.Timedelta(days=90) < windows[1][0]  # a gap between them
    assert result["buy_hold_return_pct"] == pytest.approx((growth - 1) * 100, rel=1e-12)
    span = bars["Close"][dates[-1]] / bars["Close"][dates[0]]
    assert abs(result["buy_hold_return_pct"] - (span - 1) * 100) > 1.0  # not over the gaps
