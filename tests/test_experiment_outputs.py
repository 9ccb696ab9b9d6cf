"""experiments/<name>/: the best run is promote's; rebuilt from the store by `experiments
export`, byte for byte; a store snapshot for DVC that does not depend on the session."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.app.experiments.pipeline_outputs import best_equity_frame
from tests.helpers import run_cli
from tests.test_store_versions import git

# 2012–2014 trained, 2015 tested: the 4% stop (run 1) has the best test Sharpe and a
# train−test gap above params.yaml's gates.max_sharpe_gap (1.0); run 2 is the best within it.
OVERFIT = ["--train-start", "2012-01-01", "--train-end", "2014-12-31",
           "--test-start", "2015-01-01", "--test-end", "2015-12-31"]


def overfit_search(db: str, capsys, name: str = "overfit", *extra: str):
    Path("grid.yaml").write_text(yaml.safe_dump({"risk.stop_loss_pct": [4.0, 2.0, 1.0]}))
    argv = ["experiments", "grid-search", "--name", name, "--strategy-path",
            "strategies/baseline_v1.yaml", "--grid-path", "grid.yaml", *OVERFIT, "--db", db,
            "--outputs-dir", "experiments", *extra]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    return out


def test_outputs_and_promote_name_the_same_run_when_the_top_one_fails_the_gap_gate(
        strategy_repo, tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/s.db"
    overfit_search(db, capsys)
    with ExperimentStore(db) as store:
        runs = store.runs_frame(1).set_index("run_number")
        info = store.get(1)
    gaps = runs["train_sharpe"] - runs["test_sharpe"]
    assert runs["test_sharpe"].idxmax() == 1 and gaps[1] > 1.0 >= gaps[2]  # the premise

    folder = strategy_repo / "experiments/overfit"
    metrics = json.loads((folder / "metrics.json").read_text())
    best = yaml.safe_load((folder / "best_params.yaml").read_text())
    equity = pd.read_csv(folder / "best_equity.csv")
    assert metrics["best_run_number"] == metrics["best"]["run_number"] == 2
    assert metrics["best"]["skipped_over_gap"] == [1] and metrics["best"]["max_sharpe_gap"] == 1.0
    assert metrics["best_test_sharpe"] == runs.loc[2, "test_sharpe"]
    assert best["run_number"] == 2 and best["params"] == {"risk.stop_loss_pct": 2.0}
    expected = best_equity_frame(info, {"risk.stop_loss_pct": 2.0}, "data", 10_000.0)
    assert equity["equity"].tolist() == expected["equity"].tolist()

    # show names the same run (its table may be sorted otherwise)
    code, out, err = run_cli(["experiments", "show", "1", "--db", db, "--json"], capsys)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["best_run"] == 2 and shown["top"][0]["run_number"] == 1
    assert shown["selected_by"] == "test sharpe (selection window)"

    # promote, with every gate but the gap relaxed (run #2 is weak, and promote refuses weak
    # runs: that has its own test), takes the same run
    params = yaml.safe_load((strategy_repo / "params.yaml").read_text())
    params["gates"].update(min_test_sharpe=-10.0, min_dsr=0.0, max_pbo=1.0, min_trades=0)
    (strategy_repo / "params.yaml").write_text(yaml.safe_dump(params))
    git(strategy_repo, "commit", "-qam", "relax every gate but the gap")
    code, _, err = run_cli(["promote", "--experiment-id", "1", "--output-name", "v2",
                            "--base-strategy", "strategies/baseline_v1.yaml", "--db", db],
                           capsys)
    assert code == 0, err
    meta = yaml.safe_load(git(strategy_repo, "show", "promote/v2:strategies/v2.yaml"))["metadata"]
    assert meta["run_number"] == 2

    # params.yaml's select_by and gap gate decide for the outputs as they do for promote
    params = yaml.safe_load((strategy_repo / "params.yaml").read_text())
    params["gates"]["max_sharpe_gap"] = 10.0
    (strategy_repo / "params.yaml").write_text(yaml.safe_dump(params))
    run_cli(["experiments", "export", "1", "--db", db], capsys)
    assert json.loads((folder / "metrics.json").read_text())["best_run_number"] == 1


@pytest.mark.parametrize("read_rows", [65_536, 2])  # the runs read back in one part or more
def test_export_rebuilds_the_outputs_byte_for_byte_and_a_deterministic_snapshot(
        strategy_repo, tmp_path, capsys, monkeypatch, read_rows):
    from otonom_trader.adapters import store as store_module

    first, second = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    out = overfit_search(first, capsys, "overfit", "--store-snapshot")
    assert "📁 store: experiments/overfit/store.db" in out
    folder = strategy_repo / "experiments/overfit"
    written = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(written) == {"runs.parquet", "metrics.json", "best_params.yaml",
                            "best_equity.csv", "sweep.csv", "store.db", "timings.json"}
    metrics = json.loads(written["metrics.json"])
    assert "elapsed_seconds" not in json.dumps(metrics)  # session times: timings.json only
    timings = json.loads(written["timings.json"])
    assert timings["experiment_id"] == 1 and timings["elapsed_seconds"] > 0

    for path in folder.iterdir():
        path.unlink()
    monkeypatch.setattr(store_module, "READ_ROWS", read_rows)
    code, out, err = run_cli(["experiments", "export", "1", "--db", first,
                              "--store-snapshot"], capsys)
    assert code == 0, err
    assert "📁 metrics: experiments/overfit/metrics.json" in out
    again = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(again) == set(written)
    for name in set(written) - {"timings.json"}:
        assert again[name] == written[name], name

    # Another session (another store, other times): the same snapshot bytes, which hold
    # the runs and settings and no session data; show and promote read it.
    overfit_search(second, capsys, "overfit", "--outputs-dir", str(tmp_path / "b"),
                   "--store-snapshot")
    snapshot = tmp_path / "b/overfit/store.db"
    assert snapshot.read_bytes() == written["store.db"]
    with sqlite3.connect(snapshot) as conn:
        row = conn.execute("SELECT created_at, elapsed_seconds, git_commit, git_dirty, owner, "
                           "initial_capital FROM experiments").fetchone()
        assert conn.execute("SELECT count(*) FROM experiment_runs").fetchone()[0] == 3
    conn.close()
    assert row == (None, 0.0, None, None, None, 10_000.0)
    code, out, err = run_cli(["experiments", "show", "1", "--db", f"sqlite:///{snapshot}"],
                             capsys)
    assert code == 0, err
    assert snapshot.read_bytes() == written["store.db"]  # reading it changes nothing


def test_export_of_an_unknown_experiment_is_one_line(strategy_repo, tmp_path, capsys):
    code, _, err = run_cli(["experiments", "export", "7", "--db", f"sqlite:///{tmp_path}/s.db"],
                           capsys)
    assert code == 2 and "no experiment with ID 7" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("capital", ["25000", "1e6"])
def test_initial_capital_is_recorded_and_drives_the_equity_curve(strategy_repo, tmp_path, capsys,
                                                                  capital):
    db = f"sqlite:///{tmp_path}/s.db"
    overfit_search(db, capsys, "overfit", "--initial-capital", capital)
    with ExperimentStore(db) as store:
        assert store.get(1).initial_capital == float(capital)
    folder = strategy_repo / "experiments/overfit"
    equity = pd.read_csv(folder / "best_equity.csv")
    assert equity["equity"].iloc[0] == equity["buy_and_hold"].iloc[0] == float(capital)
    assert json.loads((folder / "metrics.json").read_text())["experiment"][
        "initial_capital"] == float(capital)
