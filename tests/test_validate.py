"""`otonom validate` (the CI gate), its parsers, and the deployment-tagging tool."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from otonom_trader.app.validation.checks import Context, _dsr_check, compare_metrics
from otonom_trader.cli import main
from otonom_trader.domain.deployment import load_deployment, parse_deployment
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.gates import load_gate_params
from tests.helpers import run_cli
from tests.promotion import REPO, promoted, write_promoted, write_record

MARKER = "<!-- otonom-validate -->"
GATES = {"min_test_sharpe": 0.5, "max_drawdown_pct": -25.0, "max_sharpe_gap": 1.0,
         "min_dsr": 0.5, "min_trades": 5, "production_margin": 0.1,
         "waive": ["baseline_v1:reproduction", "baseline_v1:data_fingerprint",
                   "baseline_v1:min_dsr", "baseline_v1:max_pbo"]}  # as params.yaml
PRODUCTION = {"strategies": [{"name": "baseline_v1", "path": "strategies/baseline_v1.yaml",
                              "stage": "live", "capital_pct": 100}]}


def statuses(report: dict) -> dict[str, str]:
    return {c["gate"]: c["status"] for c in report["checks"]}


def write_params(root: Path, **gates) -> Path:
    params = {"data": {"symbol": "SPX"},
              "split": {"train_start": "2008-01-01", "train_end": "2015-12-31",
                        "test_start": "2016-01-01", "test_end": "2018-12-31"},
              "gates": {**GATES, **gates}}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A small strategy repository in tmp_path (the cwd): two strategies, params, production."""
    (tmp_path / "strategies").mkdir()
    for name in ("baseline_v1.yaml", "sma_cross.yaml"):
        shutil.copy(REPO / "strategies" / name, tmp_path / "strategies" / name)
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / "production.yaml").write_text(yaml.safe_dump(PRODUCTION))
    write_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def good_promotion() -> dict:
    """baseline_v1's parameters promoted as baseline_v2: passes every gate."""
    return promoted(REPO / "strategies" / "baseline_v1.yaml", "baseline_v2")


@pytest.fixture(scope="module")
def weak_promotion() -> dict:
    """sma_cross promoted as sma_v2: reproduces, but fails DSR and the production gate."""
    return promoted(REPO / "strategies" / "sma_cross.yaml", "sma_v2")


# ---------------------------------------------------------------- the shipped repository


def test_shipped_strategies_report_their_real_gate_outcomes(capsys, tmp_path):
    """In the repository itself: baseline_v1 (production, hand-written) passes with its
    missing evidence waived by name; sma_cross passes the absolute gates but has no evidence
    (nothing waives it: the gate fails closed) and is more than production_margin below
    production's test Sharpe."""
    report = tmp_path / "validation.md"
    code, out, err = run_cli(["validate", "strategies/baseline_v1.yaml",
                              "strategies/sma_cross.yaml", "--report-md", str(report)], capsys)
    assert code == 1
    assert err.strip() == "Error: 1 of 2 strategies failed: sma_cross"
    md = report.read_text()
    assert md.startswith(MARKER + "\n") and MARKER not in out  # markdown only in the file
    assert "✅ baseline_v1 (strategies/baseline_v1.yaml)" in out and "┃ Gate" in out
    assert "❌ sma_cross (strategies/sma_cross.yaml)" in out and "| gate |" not in out
    assert out.rstrip().endswith("❌ 1 of 2 strategies failed: sma_cross")
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "### ✅ baseline_v1" in md and "### ❌ sma_cross" in md
    assert "**Summary:** ❌ 1 of 2 strategies failed: sma_cross" in md
    assert "**Waivers**" in md and "- baseline_v1: reproduction — no promotion metadata" in md
    assert "waive `sma_cross:reproduction`" in md

    code, out, _ = run_cli(["validate", "strategies/baseline_v1.yaml",
                            "strategies/sma_cross.yaml", "--json"], capsys)
    payload = json.loads(out)
    base, sma = payload["strategies"]
    assert statuses(base) == {
        "schema": "pass", "reproduction": "waived", "data_fingerprint": "waived",
        "min_test_sharpe": "pass", "max_drawdown_pct": "pass", "max_sharpe_gap": "pass",
        "min_dsr": "waived", "max_pbo": "waived", "min_trades": "pass", "production": "n/a",
    }
    assert statuses(sma) == {**statuses(base), "reproduction": "fail",
                             "data_fingerprint": "fail", "min_dsr": "fail",
                             "max_pbo": "fail", "production": "fail"}
    assert len(payload["waivers"]) == 4
    prod = next(c for c in sma["checks"] if c["gate"] == "production")
    assert prod["value"] == pytest.approx(0.7072, abs=1e-4)
    assert prod["threshold"] == pytest.approx(base["test"]["sharpe"] - 0.1)
    assert base["test"]["n_trades"] == 6 and base["test"]["sharpe"] == pytest.approx(1.6174,
                                                                                      abs=1e-4)


# ---------------------------------------------------------------- promoted files


def test_a_promotion_that_reproduces_and_passes_exits_0(project, good_promotion, capsys):
    write_promoted(project / "strategies" / "baseline_v2.yaml", good_promotion)
    code, out, err = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
    assert code == 0 and err == ""
    (report,) = json.loads(out)["strategies"]
    assert report["ok"] and set(statuses(report).values()) == {"pass"}
    assert report["mismatches"] == [] and report["has_metadata"]
    dsr = next(c for c in report["checks"] if c["gate"] == "min_dsr")
    assert dsr["value"] == good_promotion["metadata"]["overfitting"]["dsr"]


def test_a_tampered_metric_is_a_reproduction_failure(project, good_promotion, capsys):
    data = json.loads(json.dumps(good_promotion))
    recorded = data["metadata"]["test"]["sharpe"]
    data["metadata"]["test"]["sharpe"] = math.nextafter(recorded, 10)  # one ulp off
    write_promoted(project / "strategies" / "baseline_v2.yaml", data)
    report_md = project / "v.md"
    code, out, err = run_cli(["validate", "strategies/baseline_v2.yaml", "--report-md",
                              str(report_md)], capsys)
    assert code == 1 and "baseline_v2" in err
    md = report_md.read_text()
    assert "| reproduction<br><sub>sharpe: recorded" in md
    row = next(line for line in md.splitlines() if line.startswith("| reproduction"))
    assert "1 of 11 test metrics differ" in row and row.endswith("❌ fail |")
    assert f"| sharpe | `{math.nextafter(recorded, 10)!r}` | `{recorded!r}` |" in md
    # every other gate still passes: only the reproduction is wrong
    code, out, _ = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
    (report,) = json.loads(out)["strategies"]
    assert [c["gate"] for c in report["checks"] if c["status"] == "fail"] == ["reproduction"]
    assert report["mismatches"] == [{"metric": "sharpe", "recorded": data["metadata"]["test"][
        "sharpe"], "reproduced": recorded}]


def test_other_data_or_a_missing_metric_fails_reproduction(project, good_promotion, capsys):
    data = json.loads(json.dumps(good_promotion))
    data["metadata"]["data_fingerprint"] = "0" * 64
    del data["metadata"]["test"]["n_trades"]
    write_promoted(project / "strategies" / "baseline_v2.yaml", data)
    code, out, _ = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
    (report,) = json.loads(out)["strategies"]
    assert code == 1
    assert statuses(report)["data_fingerprint"] == "fail"
    assert report["mismatches"] == [{"metric": "n_trades", "recorded": "missing",
                                     "reproduced": 6}]


def test_metadata_without_a_split_fails_with_the_missing_key(project, good_promotion, capsys):
    data = json.loads(json.dumps(good_promotion))
    del data["metadata"]["split"]["test_end"]
    write_promoted(project / "strategies" / "baseline_v2.yaml", data)
    code, out, _ = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
    (report,) = json.loads(out)["strategies"]
    assert code == 1
    (check,) = [c for c in report["checks"] if c["status"] == "fail"]
    assert check["gate"] == "reproduction" and "`metadata.split.test_end`" in check["detail"]


def test_a_gate_failure_exits_1_with_that_gate_marked(project, weak_promotion, capsys):
    write_promoted(project / "strategies" / "sma_v2.yaml", weak_promotion)
    code, out, err = run_cli(["validate", "strategies/sma_v2.yaml", "--report-md", "v.md"],
                             capsys)
    assert code == 1 and err.strip() == "Error: 1 of 1 strategy failed: sma_v2"
    assert "Deflated Sharpe" in out and "❌ fail" in out
    md = (project / "v.md").read_text()
    rows = {line.split("|")[1].split("<br>")[0].strip(): line for line in md.splitlines()
            if line.startswith("| ") and not line.startswith("| gate")}
    assert rows["Deflated Sharpe"].endswith("| ❌ fail |")
    assert rows["vs production baseline_v1 (live)"].endswith("| ❌ fail |")
    assert rows["reproduction"].endswith("| ✅ pass |")
    assert rows["test Sharpe"].endswith("| ✅ pass |")


def test_thresholds_come_from_params(project, capsys):
    write_params(project, min_trades=7, max_drawdown_pct=-1.5, min_test_sharpe=2.0)
    code, out, _ = run_cli(["validate", "strategies/baseline_v1.yaml", "--json"], capsys)
    (report,) = json.loads(out)["strategies"]
    assert code == 1
    assert {g for g, s in statuses(report).items() if s == "fail"} == {
        "min_trades", "max_drawdown_pct", "min_test_sharpe"}
    trades = next(c for c in report["checks"] if c["gate"] == "min_trades")
    assert (trades["value"], trades["threshold"]) == (6, 7)


def test_an_invalid_strategy_is_a_failed_schema_row(project, capsys):
    bad = project / "strategies" / "broken.yaml"
    bad.write_text((project / "strategies" / "sma_cross.yaml").read_text()
                   .replace("fast_window: 10", "fast_window: 40"))
    code, out, _ = run_cli(["validate", str(bad), "--json"], capsys)
    (report,) = json.loads(out)["strategies"]
    assert code == 1 and report["name"] is None
    (check,) = report["checks"]
    assert check["gate"] == "schema" and check["status"] == "fail"
    assert "`analysts.tech.fast_window` (40) must be less than" in check["detail"]


def test_without_files_every_strategy_is_checked(project, capsys):
    code, out, _ = run_cli(["validate", "--json"], capsys)
    payload = json.loads(out)
    assert code == 1 and payload["selection"] == "every strategies/*.yaml"
    assert [s["path"] for s in payload["strategies"]] == ["strategies/baseline_v1.yaml",
                                                          "strategies/sma_cross.yaml"]


def test_json_shape(project, capsys):
    code, out, _ = run_cli(["validate", "strategies/baseline_v1.yaml", "--json"], capsys)
    payload = json.loads(out)
    assert code == 0
    assert set(payload) == {"ok", "summary", "selection", "params", "production", "waivers",
                            "strategies"}
    (report,) = payload["strategies"]
    assert set(report) == {"path", "name", "ok", "symbol", "test_window", "train_window",
                           "has_metadata", "checks", "mismatches", "test", "train", "notes"}
    assert report["test_window"] == ["2016-01-01", "2018-12-31"] and report["symbol"] == "SPX"
    for check in report["checks"]:
        assert set(check) == {"gate", "label", "status", "value", "threshold", "detail"}
        assert check["status"] in ("pass", "fail", "n/a", "waived")
    assert payload["summary"] == "✅ 1 of 1 strategy passed every gate"


# ---------------------------------------------------------------- bad input: exit 2, one line


@pytest.mark.parametrize(
    ("argv", "setup", "needle"),
    [
        (["strategies/nope.yaml"], None, "strategies/nope.yaml: no such strategy file"),
        (["strategies"], None, "strategies: is a directory"),
        ([], lambda p: (p / "params.yaml").unlink(), "no such params file"),
        ([], lambda p: (p / "params.yaml").write_text("data: {}\n"), "no `gates:` block"),
        ([], lambda p: write_params(p, min_trades=2.5), "`gates.min_trades`: expected an int"),
        ([], lambda p: (p / "params.yaml").write_text(
            (p / "params.yaml").read_text().replace("min_dsr", "min_dsrr")),
         "did you mean `gates.min_dsr`?"),
        ([], lambda p: (p / "params.yaml").write_text("gates: [\n"), "invalid YAML"),
        ([], lambda p: write_params(p, waive=["nope"]), "'nope' names no waivable check"),
        ([], lambda p: write_params(p, waive="min_dsr"), "`gates.waive`: expected a list"),
        (["--changed", "strategies/sma_cross.yaml"], None, "not several"),
        ([], lambda p: (p / "deployments" / "production.yaml").write_text(
            "strategies: [{name: a, path: a.yaml, stage: prod, capital_pct: 1}]"),
         "`strategies[0]`.stage: expected one of shadow, paper, live"),
    ],
)
def test_bad_input_exits_2_with_one_line(project, capsys, argv, setup, needle):
    if setup:
        setup(project)
    code, out, err = run_cli(["validate", *argv], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err, err


def test_an_unknown_base_is_bad_input(project, capsys):
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    code, _, err = run_cli(["validate", "--changed", "--base", "origin/main"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--base origin/main: not a known revision" in err


# ---------------------------------------------------------------- --changed in a scratch repo


def git(cwd: Path, *args: str) -> str:
    env_args = ["-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *env_args, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def test_changed_picks_only_changed_strategy_files(project, good_promotion, capsys,
                                                   tmp_path_factory):
    (project / "grids").mkdir()
    (project / "grids" / "g.yaml").write_text("risk.risk_pct: [1, 2]\n")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "main")
    bare = tmp_path_factory.mktemp("origin") / "origin.git"
    git(project, "init", "-q", "--bare", str(bare))
    git(project, "remote", "add", "origin", str(bare))
    git(project, "push", "-q", "origin", "main")
    git(project, "checkout", "-qb", "promote/baseline_v2")
    write_promoted(project / "strategies" / "baseline_v2.yaml", good_promotion)
    (project / "grids" / "g.yaml").write_text("risk.risk_pct: [1, 3]\n")
    (project / "strategies" / "notes.txt").write_text("not a strategy\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "promote")

    code, out, _ = run_cli(["validate", "--changed", "--base", "origin/main", "--json"], capsys)
    payload = json.loads(out)
    assert code == 0
    assert [s["path"] for s in payload["strategies"]] == ["strategies/baseline_v2.yaml"]
    assert payload["production"] == "deployments/production.yaml at origin/main"

    # Deployment changes add the strategies the file lists (validated against base production).
    prod = {"strategies": [*PRODUCTION["strategies"],
                           {"name": "sma_cross", "path": "strategies/sma_cross.yaml",
                            "stage": "paper", "capital_pct": 0}]}
    (project / "deployments" / "production.yaml").write_text(yaml.safe_dump(prod))
    git(project, "commit", "-qam", "deploy sma_cross on paper")
    code, out, _ = run_cli(["validate", "--changed", "--json"], capsys)
    payload = json.loads(out)
    assert code == 1
    assert [s["path"] for s in payload["strategies"]] == [
        "strategies/baseline_v2.yaml", "strategies/baseline_v1.yaml", "strategies/sma_cross.yaml"]
    assert [s["ok"] for s in payload["strategies"]] == [True, True, False]

    # Nothing changed: nothing to validate, exit 0.
    git(project, "checkout", "-q", "main")
    code, out, _ = run_cli(["validate", "--changed"], capsys)
    assert code == 0 and MARKER not in out and out.startswith("✅ nothing to validate")


# ---------------------------------------------------------------- parsers and helpers


def test_compare_metrics_is_exact_with_nan_equal_to_nan():
    fresh = {k: 1.0 for k in ("total_return_pct", "cagr_pct", "sharpe", "sortino",
                              "max_drawdown_pct", "calmar", "win_rate_pct", "exposure_pct",
                              "final_equity")}
    fresh |= {"profit_factor": math.nan, "n_trades": 0}
    assert compare_metrics(dict(fresh), fresh) == []
    assert compare_metrics({**fresh, "profit_factor": None}, fresh) == []  # JSON-safe NaN
    assert [m.metric for m in compare_metrics({**fresh, "sharpe": 1.0 + 1e-15}, fresh)] == [
        "sharpe"]
    assert [m.metric for m in compare_metrics({**fresh, "profit_factor": 1.0}, fresh)] == [
        "profit_factor"]


def test_dsr_fails_closed_without_a_record_and_when_undefined(project):
    import pandas as pd

    ctx = Context(load_gate_params("params.yaml"))
    flat = pd.Series([100.0] * 30)
    row, pbo = _dsr_check(None, flat, ctx, "x")
    assert (row.status, row.shown) == ("fail", "missing") and "waive `x:min_dsr`" in row.detail
    assert (pbo.status, pbo.shown) == ("fail", "missing") and "waive `x:max_pbo`" in pbo.detail
    row, pbo = _dsr_check(None, flat, ctx, "baseline_v1")
    assert row.status == "waived" and "baseline_v1:min_dsr" in row.detail
    assert pbo.status == "waived" and "baseline_v1:max_pbo" in pbo.detail
    meta = {"experiment": {"id": 1, "name": "g"}, "data_fingerprint": "f",
            "overfitting": {"n_trials": 10, "sharpe_variance": 0.001, "pbo": 0.2}}
    record, dsr, pbo = _dsr_check(meta, flat, ctx, "x")  # no store, no metrics.json
    assert record.status == dsr.status == pbo.status == "fail"
    assert "experiments/g/metrics.json is missing" in record.detail
    write_record(project, meta)
    record, undefined, pbo = _dsr_check(meta, flat, ctx, "x")  # constant returns: NaN DSR
    assert record.status == "pass" and (undefined.status, undefined.shown) == ("fail", "nan")
    assert (pbo.status, pbo.value) == ("pass", 0.2)
    _, short, _ = _dsr_check(meta, pd.Series([100.0, 101.0]), ctx, "x")  # one return
    assert short.status == "fail" and "at least 2 returns" in short.detail
    write_record(project, meta, pbo=None)  # PBO undefined in the record: missing evidence
    *_, pbo = _dsr_check(meta, flat, ctx, "x")
    assert (pbo.status, pbo.shown) == ("fail", "missing") and "has no PBO" in pbo.detail


def test_a_promotion_forced_past_the_pbo_gate_fails_validate(project, good_promotion, capsys):
    """`promote --allow-overfit` can commit a run whose experiment's PBO is above
    `gates.max_pbo`; the CI gate reads the PBO from the experiment's record and fails it."""
    data = json.loads(json.dumps(good_promotion))
    data["metadata"]["overfitting"]["pbo"] = 0.1  # the file's own claim is not read
    write_promoted(project / "strategies" / "baseline_v2.yaml", data, record=False)
    write_record(project, data["metadata"], pbo=0.8)
    code, out, _ = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
    (report,) = json.loads(out)["strategies"]
    row = next(c for c in report["checks"] if c["gate"] == "max_pbo")
    assert code == 1 and (row["status"], row["value"], row["threshold"]) == ("fail", 0.8, 0.5)
    assert row["detail"] == "experiments/baseline_v2_grid/metrics.json"


def test_trials_come_from_the_record_not_the_file(project, good_promotion, capsys):
    """A hand-edited `n_trials` (or variance) fails: the DSR uses the experiment's record."""
    for key, value in (("n_trials", 2), ("sharpe_variance", 1e-9)):
        data = json.loads(json.dumps(good_promotion))
        write_promoted(project / "strategies" / "baseline_v2.yaml", data)  # the true record
        data["metadata"]["overfitting"][key] = value
        write_promoted(project / "strategies" / "baseline_v2.yaml", data, record=False)
        code, out, _ = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
        (report,) = json.loads(out)["strategies"]
        assert code == 1 and statuses(report)["experiment_record"] == "fail", key
        row = next(c for c in report["checks"] if c["gate"] == "experiment_record")
        assert f"says {'n_trials 2' if key == 'n_trials' else 'n_trials 24'}" in row["detail"]
        dsr = next(c for c in report["checks"] if c["gate"] == "min_dsr")
        assert dsr["value"] == good_promotion["metadata"]["overfitting"]["dsr"]  # N = 24


def test_a_promotion_without_its_record_fails_unless_waived(project, good_promotion, capsys):
    write_promoted(project / "strategies" / "baseline_v2.yaml", good_promotion, record=False)
    code, out, _ = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
    (report,) = json.loads(out)["strategies"]
    assert code == 1 and statuses(report)["experiment_record"] == "fail"
    assert statuses(report)["min_dsr"] == statuses(report)["max_pbo"] == "fail"
    write_params(project, waive=["experiment_record", "baseline_v2:min_dsr",
                                 "baseline_v2:max_pbo"])
    code, out, _ = run_cli(["validate", "strategies/baseline_v2.yaml", "--json"], capsys)
    payload = json.loads(out)
    assert code == 0 and len(payload["waivers"]) == 3


def test_gate_params_and_deployment_parse(project):
    params = load_gate_params("params.yaml")
    assert params.gates.min_trades == 5 and params.gates.max_drawdown_pct == -25.0
    assert params.symbol == "SPX" and params.split.test_start == "2016-01-01"
    shipped = load_deployment(REPO / "deployments" / "production.yaml")
    assert [(e.name, e.stage, e.capital_pct) for e in shipped.active()] == [
        ("baseline_v1", "live", 100.0)]
    assert shipped.capital == 10_000 and shipped.entries[0].broker == "paper"
    with pytest.raises(InputError, match="more than 100%"):
        parse_deployment({"strategies": [
            {"name": n, "path": f"{n}.yaml", "stage": "live", "capital_pct": pct}
            for n, pct in (("a", 50), ("b", 100))]})
    with pytest.raises(InputError, match="listed twice"):
        parse_deployment({"strategies": [
            {"name": "a", "path": "a.yaml", "stage": "shadow", "capital_pct": 0}] * 2})


# ---------------------------------------------------------------- tools/record_deployment.py


TOOL = REPO / "tools" / "record_deployment.py"


def record(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=cwd, capture_output=True,
                          text=True, check=False)


def test_record_deployment_tags_live_and_paper_and_pushes(tmp_path):
    repo, bare = tmp_path / "repo", tmp_path / "origin.git"
    (repo / "deployments").mkdir(parents=True)
    prod = {"strategies": [
        {"name": "baseline_v1", "path": "strategies/baseline_v1.yaml", "stage": "live",
         "capital_pct": 50},
        {"name": "baseline_v2", "path": "strategies/baseline_v2.yaml", "stage": "paper",
         "capital_pct": 10},
        {"name": "baseline_v3", "path": "strategies/baseline_v3.yaml", "stage": "shadow",
         "capital_pct": 0}]}
    (repo / "deployments" / "production.yaml").write_text(yaml.safe_dump(prod))
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "deploy")

    out = record(repo, "--push", "--date", "2026-03-04")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "tagged deploy/baseline_v1/2026-03-04 (live, 50%), pushed to origin",
        "tagged deploy/baseline_v2/2026-03-04 (paper, 10%), pushed to origin"]
    remote_tags = git(repo, "ls-remote", "--tags", "origin").split()
    assert "refs/tags/deploy/baseline_v1/2026-03-04" in remote_tags
    assert not any("baseline_v3" in t for t in remote_tags)
    message = git(repo, "tag", "-l", "--format=%(contents)", "deploy/baseline_v1/2026-03-04")
    assert "baseline_v1: live at 50% of capital" in message
    assert "strategy: strategies/baseline_v1.yaml" in message

    again = record(repo, "--push", "--date", "2026-03-04")  # a re-run: nothing moves
    assert again.returncode == 0
    assert again.stdout.splitlines()[0].startswith("already tagged deploy/baseline_v1/2026-03-04")

    git(repo, "commit", "-q", "--allow-empty", "-m", "second deployment the same day")
    third = record(repo, "--date", "2026-03-04")
    assert third.stdout.splitlines()[0] == "tagged deploy/baseline_v1/2026-03-04.2 (live, 50%)"
    head = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "rev-parse", "deploy/baseline_v1/2026-03-04.2^{commit}").strip() == head
    assert git(repo, "rev-parse", "deploy/baseline_v1/2026-03-04^{commit}").strip() != head


def test_record_deployment_bad_input(tmp_path):
    out = record(tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == "Error: deployments/production.yaml: no such deployment file"
    (tmp_path / "deployments").mkdir()
    (tmp_path / "deployments" / "production.yaml").write_text(yaml.safe_dump(PRODUCTION))
    out = record(tmp_path, "--date", "2026-02-30")
    assert out.returncode == 2 and "--date 2026-02-30: expected YYYY-MM-DD" in out.stderr


def test_deployed_output_json_and_no_fail(tmp_path, capsys, monkeypatch):
    """What the DVC `validate` stage runs: production's strategies, JSON to a file, exit 0
    even when a gate fails, with the verdict in `ok`."""
    import json as _json


    params = tmp_path / "params.yaml"
    text = Path("params.yaml").read_text().replace("min_test_sharpe: 0.5", "min_test_sharpe: 50")
    params.write_text(text)
    out = tmp_path / "reports" / "validation.json"
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--deployed", "--params", str(params), "--output-json", str(out),
              "--no-fail"])
    capsys.readouterr()
    assert exc.value.code == 0
    report = _json.loads(out.read_text())
    assert report["ok"] is False
    assert [s["name"] for s in report["strategies"]] == ["baseline_v1"]
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--deployed", "--params", str(params)])
    assert exc.value.code == 1


def test_value_and_threshold_are_rounded_alike():
    from otonom_trader.app.validation.checks import Check
    from otonom_trader.cli.views.validate import shown_pair

    dsr = Check("min_dsr", "Deflated Sharpe", "fail", 0.9496, 0.95, "0.950", "≥ 0.95")
    assert shown_pair(dsr) == ("0.9496", "≥ 0.9500")
    sharpe = Check("min_test_sharpe", "test Sharpe", "pass", 1.23456, 0.5, "1.235", "≥ 0.5")
    assert shown_pair(sharpe) == ("1.23", "≥ 0.50")
    mdd = Check("max_drawdown_pct", "test max drawdown", "fail", -25.004, -25.0, "-25.00%",
                "≥ -25%")
    assert shown_pair(mdd) == ("-25.004%", "≥ -25.000%")
    prod = Check("production", "vs production", "pass", 1.2, 1.1, "1.200",
                 "≥ 1.100 (1.200 − 0.1)")
    assert shown_pair(prod) == ("1.20", "≥ 1.10 (1.200 − 0.1)")
    trades = Check("min_trades", "test trades", "pass", 7, 5, "7", "≥ 5")
    assert shown_pair(trades) == ("7", "≥ 5")
