"""``otonom experiments grid-search --cv cpcv``: known answers (planted skill vs pure noise),
the settings checked before any run (flags and the grid file's ``cv:``), and metrics.json,
the summary, ``experiments show`` and the HTML report agreeing on the figures."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

from otonom_trader.app.experiments.cpcv_search import cpcv_record
from otonom_trader.domain.cv import cv_settings
from otonom_trader.domain.errors import InputError
from tests.helpers import mini_project, random_bars, run_cli

DB = "sqlite:///store.db"
SPLIT = ("split: {train_start: 2001-01-01, train_end: 2003-12-31, test_start: 2004-01-01, "
         "test_end: 2006-12-31}\n")
GRID = "params:\n  analysts.tech.fast_window: [2, 5, 8, 12]\n  risk.stop_loss_pct: [2.0, 6.0]\n"
SETTINGS = {"method": "cpcv", "folds": 8, "test_folds": 2, "embargo_days": 0,
            "embargo_blocks": 0}


def block_stats(returns: np.ndarray) -> np.ndarray:
    counts = np.full(returns.shape[:2], float(returns.shape[2]))
    return np.stack([counts, returns.sum(axis=2), (returns * returns).sum(axis=2)], axis=2)


# -- known answers ----------------------------------------------------------------------------


def test_planted_skill_gives_positive_paths_and_noise_centres_near_zero():
    """40 runs of daily noise (16 blocks of 100 bars); in the planted case run 7 also earns
    0.2% a bar (annualised Sharpe ≈ 3.2). The selection finds it on every training set, so
    every path is far above 0; without it the selected run's out-of-sample Sharpe is noise:
    over 20 seeds the path means centre on 0 (one path's Sharpe has a standard error of
    √(252/1600) ≈ 0.4, a mean of 20 seeds about 0.06) and about half the paths fall below 0."""
    means, below = [], []
    for seed in range(20):
        noise = np.random.default_rng(seed).normal(0, 0.01, (40, 16, 100))
        pure = cpcv_record(block_stats(noise), SETTINGS, 252)
        means.append(pure["mean"])
        below.append(pure["share_below_zero"])
        planted = noise.copy()
        planted[7] += 0.002
        skill = cpcv_record(block_stats(planted), SETTINGS, 252)
        assert skill["n_paths"] == 7 and skill["n_splits"] == 28
        assert skill["share_below_zero"] == 0 and skill["quantiles"]["0.05"] > 2, seed
        assert skill["mean"] > 2 and skill["mean"] > pure["mean"] + 1.5, seed
    assert abs(np.mean(means)) < 0.25
    assert 0.35 < np.mean(below) < 0.75


def test_a_record_without_done_runs_says_so():
    record = cpcv_record(np.empty((0, 0, 3)), SETTINGS, 252)
    assert record["note"] == "no done run with block statistics" and "mean" not in record
    assert cpcv_record(np.zeros((3, 16, 3)), None, 252) is None


# -- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(("flags", "file_cv", "needle"), [
    ({"folds": 8}, None, "--folds needs --cv cpcv"),
    ({"test_folds": 1}, None, "--test-folds needs --cv cpcv"),
    ({"embargo_days": 3}, None, "--embargo-days needs --cv cpcv"),
    ({}, {"folds": 4}, "g.yaml: `cv` needs --cv cpcv"),
    ({"method": "cpcv", "folds": 8, "test_folds": 8}, None, "--test-folds 8: expected fewer"),
    ({}, {"method": "cpcv", "folds": 2, "test_folds": 2}, "g.yaml: `cv.test_folds` 2"),
    ({"method": "cpcv"}, {"folds": 4.5}, "g.yaml: `cv.folds` 4.5: expected an integer"),
    ({}, {"method": "cpcv", "embargo_days": True}, "`cv.embargo_days` True"),
    ({}, {"method": "kfold"}, "g.yaml: `cv.method`: expected one of cpcv"),
    ({}, {"fold": 4}, "g.yaml: `cv.fold` is not a cross-validation setting"),
    ({}, [4], "g.yaml: `cv`: expected a mapping"),
    ({"method": "cpcv", "embargo_days": -1}, None, "--embargo-days -1"),
])
def test_settings_shape(flags, file_cv, needle):
    full = {"method": None, "folds": None, "test_folds": None, "embargo_days": None, **flags}
    with pytest.raises(InputError, match=needle.replace("-", r"\-").replace("`", ".")
                       .replace("{", ".").replace("[", ".")):
        cv_settings(full, file_cv, "g.yaml")


def test_flags_win_over_the_grid_file_key_by_key():
    flags = {"method": None, "folds": 16, "test_folds": None, "embargo_days": None}
    settings = cv_settings(flags, {"method": "cpcv", "folds": 4, "test_folds": 3}, "g.yaml")
    assert (settings.folds, settings.test_folds) == (16, 3)
    assert settings.names["folds"] == "--folds"
    assert settings.names["test_folds"] == "g.yaml: `cv.test_folds`"
    assert cv_settings({k: None for k in flags}, None, "g.yaml") is None
    defaults = cv_settings({**flags, "method": "cpcv", "folds": None}, None, "g.yaml")
    assert (defaults.folds, defaults.test_folds, defaults.embargo_days) == (8, 2, 0)


# -- the command ----------------------------------------------------------------------------


def _search(capsys, name, grid, *flags):
    return run_cli(["experiments", "grid-search", "--name", name, "--strategy-path",
                    "strategy.yaml", "--grid-path", grid, "--db", DB, *flags], capsys)


@pytest.mark.parametrize(("grid", "flags", "needle"), [
    ("grid.yaml", ["--folds", "8"], "--folds needs --cv cpcv"),
    ("grid.yaml", ["--cv", "cpcv", "--folds", "8", "--test-folds", "8"], "--test-folds 8"),
    ("grid.yaml", ["--cv", "cpcv", "--folds", "6"], "--folds 6: folds are made of the 16 "
                                                   "blocks each run stores, so expected one of "
                                                   "2, 4, 8, 16"),
    ("grid.yaml", ["--cv", "cpcv", "--folds", "32"], "--folds 32: folds are made of the 16"),
    ("slow.yaml", ["--cv", "cpcv", "--folds", "16"], "--folds 16: a fold of train start → test "
                                                    "end has 97 bars, too few for the "
                                                    "indicators at the grid's longest settings "
                                                    "(a fold needs more than 151 bars)"),
    ("grid.yaml", ["--cv", "cpcv", "--folds", "4", "--test-folds", "3", "--embargo-days",
                   "200"], "--embargo-days 200: 2 block(s) of 137 days (rounded up)"),
    ("filecv.yaml", ["--test-folds", "4"], "--test-folds 4: expected fewer test folds than "
                                           "the 4 folds (filecv.yaml: `cv.folds`)"),
    ("grid.yaml", ["--cv", "kfold"], "Invalid value for '--cv'"),
])
def test_bad_settings_are_refused_before_any_run(tmp_path, monkeypatch, capsys, grid, flags,
                                                  needle):
    mini_project(tmp_path)
    (tmp_path / "grid.yaml").write_text(GRID + SPLIT)
    (tmp_path / "slow.yaml").write_text("analysts.tech.slow_window: [60, 150]\n" + SPLIT)
    (tmp_path / "filecv.yaml").write_text(GRID + SPLIT + "cv: {method: cpcv, folds: 4}\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = _search(capsys, "x", grid, *flags)
    assert code == 2 and needle in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "experiments").exists()  # nothing ran


def test_grid_search_cpcv_agrees_everywhere(tmp_path, monkeypatch, capsys):
    """metrics.json, the grid-search summary, `experiments cpcv` over the same settings,
    `show --json`, `show`'s text and the HTML report give the same CPCV figures; a resumed
    name refuses other settings; a planted trend gives paths far above 0."""
    mini_project(tmp_path)
    (tmp_path / "grid.yaml").write_text(GRID + SPLIT)
    (tmp_path / "filecv.yaml").write_text(GRID + SPLIT + "cv: {method: cpcv, folds: 4, "
                                                         "test_folds: 1}\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = _search(capsys, "noise", "grid.yaml", "--cv", "cpcv", "--folds", "8",
                             "--test-folds", "2", "--embargo-days", "30")
    assert code in (None, 0), err
    metrics = json.loads((tmp_path / "experiments" / "noise" / "metrics.json").read_text())
    cp = metrics["cpcv"]
    # 30 days of a 2,188-day span cut in 16 blocks of ~137 days: rounded up to 1 block
    assert (cp["folds"], cp["test_folds"], cp["embargo_days"], cp["embargo_blocks"],
            cp["n_splits"], cp["n_paths"], cp["n_runs"]) == (8, 2, 30, 1, 28, 7, 8)
    assert metrics["experiment"]["search"]["cv"]["embargo_blocks"] == 1
    assert metrics["cpcv_sharpe_mean"] == cp["mean"]
    assert metrics["cpcv_share_below_zero"] == cp["share_below_zero"]
    assert abs(cp["mean"]) < 0.5  # a random walk: no skill to select
    summary = [line for line in out.splitlines() if line.startswith("CPCV")]
    assert summary == ["CPCV of the selection (best train Sharpe): 8 folds, 2 test, embargo 30 "
                       "days (1 block(s)): 7 paths of 28 splits"]
    assert f"  out-of-sample Sharpe mean {cp['mean']:.3f}, std {cp['std']:.3f}" in out

    code, out, err = run_cli(["experiments", "cpcv", "1", "--folds", "8", "--test-folds", "2",
                              "--embargo-blocks", "1", "--json", "--db", DB], capsys)
    direct = json.loads(out)
    assert direct["path_sharpe"] == cp["path_sharpe"] and direct["mean"] == cp["mean"]
    assert direct["quantiles"] == cp["quantiles"]

    code, out, err = run_cli(["experiments", "show", "1", "--json", "--db", DB], capsys)
    assert code in (None, 0), err
    assert json.loads(out)["overfitting"]["cpcv"] == cp
    code, out, err = run_cli(["experiments", "show", "1", "--db", DB, "--export", "html",
                              "--output", "r.html"], capsys)
    text = " ".join(out.split())
    assert "CPCV: 8 folds, 2 test, embargo 30 days (1 block(s)): 7 paths of 28 splits" in text
    assert f"median {cp['quantiles']['0.5']:.3f}" in text
    page = (tmp_path / "r.html").read_text()
    assert 'id="fig-cpcv-paths"' in page and 'id="fig-pbo-logits"' in page
    assert f"mean {cp['mean']:.3f}, std {cp['std']:.3f}" in page

    # without the store's snapshot (a store written before it), show recomputes the same
    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("DELETE FROM experiment_snapshots")
    code, out, err = run_cli(["experiments", "show", "1", "--json", "--db", DB], capsys)
    assert code in (None, 0), err
    assert json.loads(out)["overfitting"]["cpcv"] == cp

    # the same name again with other settings: refused; the grid file's `cv:` works alone
    code, _, err = _search(capsys, "noise", "grid.yaml", "--cv", "cpcv", "--folds", "4")
    assert code == 2 and "--folds 4: experiment 'noise' (ID: 1) was started with --folds 8" \
        in err
    code, _, err = _search(capsys, "filecv", "filecv.yaml")
    assert code in (None, 0), err
    filecv = json.loads((tmp_path / "experiments" / "filecv" / "metrics.json").read_text())
    assert (filecv["cpcv"]["folds"], filecv["cpcv"]["n_paths"]) == (4, 1)

    # planted skill: the same random walk with a steady 0.3% a day of drift added, traded by
    # the crossover without the stop and target that cut its trends short
    (tmp_path / "trend.yaml").write_text(
        "params:\n  analysts.tech.fast_window: [2, 5, 8, 12]\n  risk.stop_loss_pct: [20.0, "
        "40.0]\n  risk.take_profit_pct: [1000.0]\n" + SPLIT)
    bars = random_bars(1600, seed=7)
    drift = np.exp(0.003 * np.arange(len(bars)))
    for column in ("Open", "High", "Low", "Close"):
        bars[column] *= drift
    bars.to_csv(tmp_path / "data" / "MINI.csv")
    code, _, err = _search(capsys, "trend", "trend.yaml", "--cv", "cpcv")
    assert code in (None, 0), err
    trend = json.loads((tmp_path / "experiments" / "trend" / "metrics.json").read_text())
    assert trend["cpcv"]["share_below_zero"] == 0 and trend["cpcv"]["quantiles"]["0.05"] > 1
    assert trend["cpcv"]["mean"] > cp["mean"] + 1
    assert not math.isnan(trend["cpcv"]["std"])
