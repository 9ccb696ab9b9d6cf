"""The gate fails closed, end to end: promote commits the experiment's record with the
strategy, and `otonom validate` on the promotion branch checks the DSR against that record
(no store in CI), refusing a file whose trial count was edited."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import clean_env, copy_repo, git_init
from tests.helpers import otonom_here as otonom

SPLIT = ["--train-start", "2008-01-01", "--train-end", "2015-12-31",
         "--test-start", "2016-01-01", "--test-end", "2018-12-31"]


def sh(cwd: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env,
                          check=False)


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """A repository whose grid search wrote experiments/<name>/ inside it, promoted with its
    store outside (as on a researcher's laptop); returns (repo, env without a store)."""
    root = tmp_path_factory.mktemp("evidence")
    repo = git_init(copy_repo(root / "repo", ("strategies", "grids", "deployments"),
                              ("params.yaml", ".gitignore")))
    env = clean_env()
    db = f"sqlite:///{root}/store.db"
    out = otonom(repo, "experiments", "grid-search", "--name", "ev_grid", "--strategy-path",
                 "strategies/baseline_v1.yaml", "--grid-path", "grids/baseline_grid.yaml",
                 *SPLIT, "--db", db, "--outputs-dir", "experiments", env=env)
    assert out.returncode == 0, out.stderr
    out = otonom(repo, "promote", "--experiment-id", "1", "--output-name", "baseline_v2",
                 "--base-strategy", "strategies/baseline_v1.yaml", "--db", db,
                 "--allow-overfit", env=env)
    assert out.returncode == 0, out.stderr
    assert sh(repo, "git", "checkout", "-q", "promote/baseline_v2").returncode == 0
    return repo, env


def checks(out: subprocess.CompletedProcess) -> dict[str, dict]:
    (report,) = json.loads(out.stdout)["strategies"]
    return {c["gate"]: c for c in report["checks"]}


def test_the_promotion_commit_carries_the_record_and_validate_uses_it(promoted):
    repo, env = promoted
    files = sh(repo, "git", "show", "--name-only", "--format=", "HEAD").stdout.split()
    assert "experiments/ev_grid/metrics.json" in files
    out = otonom(repo, "validate", "strategies/baseline_v2.yaml", "--json", "--no-fail",
                 env=env)
    assert out.returncode == 0, out.stderr
    rows = checks(out)
    record = json.loads((repo / "experiments/ev_grid/metrics.json").read_text())
    assert rows["experiment_record"]["status"] == "pass"
    assert rows["experiment_record"]["detail"] == "experiments/ev_grid/metrics.json"
    assert record["overfitting"]["n_trials"] == 48
    assert f"{record['overfitting']['n_trials']} trials" in rows["min_dsr"]["detail"]
    meta = yaml.safe_load((repo / "strategies/baseline_v2.yaml").read_text())["metadata"]
    assert rows["min_dsr"]["value"] == pytest.approx(meta["overfitting"]["dsr"], abs=1e-12)


@pytest.mark.parametrize(("key", "value"), [("n_trials", 2), ("sharpe_variance", 1e-9)])
def test_an_edited_trial_count_fails(promoted, tmp_path, key, value):
    repo, env = promoted
    path = repo / "strategies/baseline_v2.yaml"
    original = path.read_text()
    data = yaml.safe_load(original)
    data["metadata"]["overfitting"][key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        out = otonom(repo, "validate", "strategies/baseline_v2.yaml", "--json", env=env)
    finally:
        path.write_text(original)
    assert out.returncode == 1
    row = checks(out)["experiment_record"]
    assert row["status"] == "fail" and f"{key} {value!r}" in row["detail"]


def test_a_missing_record_fails_with_its_reason(promoted):
    repo, env = promoted
    record = repo / "experiments/ev_grid/metrics.json"
    saved = record.read_text()
    record.unlink()
    try:
        out = otonom(repo, "validate", "strategies/baseline_v2.yaml", "--json", env=env)
    finally:
        record.write_text(saved)
    assert out.returncode == 1
    row = checks(out)["experiment_record"]
    assert row["status"] == "fail" and "experiments/ev_grid/metrics.json is missing" in \
        row["detail"]


def test_one_overfitting_summary_in_outputs_show_and_promote(promoted):
    """metrics.json, `experiments show` and the promoted metadata give the same run, DSR,
    PBO, trial count and MinBTL: one summary (engine.selection.overfitting_stats)."""
    repo, env = promoted
    record = json.loads((repo / "experiments/ev_grid/metrics.json").read_text())
    over = record["overfitting"]
    assert set(over) == {"sharpe_gap", "dsr", "pbo", "n_trials", "sharpe_variance",
                         "min_btl_years"}
    assert record["pbo"] == over["pbo"] and 0 <= over["dsr"] <= 1
    meta = yaml.safe_load((repo / "strategies/baseline_v2.yaml").read_text())["metadata"]
    assert meta["run_number"] == record["best_run_number"]  # no run skipped over the gap
    assert meta["overfitting"] == over
    out = otonom(repo, "experiments", "show", "1", "--json", "--db",
                 f"sqlite:///{repo.parent}/store.db", env=env)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["best_run"] == record["best_run_number"]
    assert shown["overfitting"]["dsr"]["dsr"] == over["dsr"]
    assert shown["overfitting"]["pbo"]["pbo"] == over["pbo"]
    assert shown["overfitting"]["min_backtest_length_years"] == over["min_btl_years"]
