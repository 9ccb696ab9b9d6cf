"""The DVC pipeline end to end in a fresh clone-like repository: ``dvc repro``, ``dvc exp run
-S``, the queue (a failing experiment is reported as failed), ``dvc exp show``/``metrics diff``/
``params diff``, a clean ``dvc status``, and ``adapters.dvc_exp`` reading an experiment back.

The slow tests share one repository (module fixture) and run in file order; the queue's and
the temporary workspaces load the kernels this checkout compiled (kernels/jit.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otonom_trader.domain.errors import GitStateError, InputError
from tests.helpers import otonom_here

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DVC = str(BIN / "dvc")
NAME = "baseline_v1_grid"
FOLDER = f"experiments/{NAME}"
METRICS = f"{FOLDER}/metrics.json"
FLAT = ("best_test_sharpe", "best_test_cagr_pct", "best_test_max_drawdown_pct", "pbo")
QUEUE_TIMEOUT = 600
slow = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTONOM_", "DVC_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``args`` in ``repo``: dvc and git as processes, ``otonom`` in this process."""
    if args[0] == "otonom":
        out = otonom_here(repo, *args[1:], env=_env())
    else:
        cmd = [DVC, *args[1:]] if args[0] == "dvc" else list(args)
        out = subprocess.run(cmd, cwd=repo, env=_env(), capture_output=True, text=True,
                             timeout=900, check=False)
    if check and out.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {out.returncode}\n{out.stdout}\n{out.stderr}")
    return out


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    run(path, "git", "init", "-q", "-b", "main")
    run(path, "git", "config", "user.name", "Test")
    run(path, "git", "config", "user.email", "test@example.com")
    return path


def commit(repo: Path, message: str) -> None:
    """Commit everything (an empty commit when a fresh dvc.lock left nothing to change)."""
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-q", "--allow-empty", "-m", message)


def exp_rows(repo: Path) -> dict[str, dict]:
    """``dvc exp show --json``: experiment name (or "workspace"/"main") -> its data."""
    rows: dict[str, dict] = {}
    for baseline in json.loads(run(repo, "dvc", "exp", "show", "--json").stdout):
        rows[baseline["name"] or baseline["rev"]] = baseline
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                rows[rev.get("name") or rev["rev"]] = rev
    return rows


def metrics_of(row: dict) -> dict:
    return row["data"]["metrics"][METRICS]["data"]


def params_of(row: dict, file: str = "params.yaml") -> dict:
    return row["data"]["params"][file]["data"]


def queue_status(repo: Path) -> dict[str, str]:
    """Experiment name -> Queued / Running / Success / Failed."""
    status = {}
    for line in run(repo, "dvc", "queue", "status").stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[-1] in ("Queued", "Running", "Success", "Failed"):
            status[parts[1]] = parts[-1]
    return status


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A fresh repository with the pipeline's files committed, after ``dvc repro`` (whose
    outputs are committed too, as a user would)."""
    path = git_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    for name in tracked:  # what a clone of the repository holds (working-tree versions)
        src, dst = ROOT / name, path / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    commit(path, "pipeline")
    run(path, "dvc", "repro")
    return path


@slow
def test_repro_writes_flat_metrics_and_only_its_outputs(repo):
    metrics = json.loads((repo / METRICS).read_text())
    for key in FLAT:
        assert isinstance(metrics[key], float), key
    assert 0.0 <= metrics["pbo"] <= 1.0
    assert (metrics["runs_total"], metrics["runs_done"], metrics["runs_failed"]) == (48, 48, 0)
    assert metrics["best_test_sharpe"] == metrics["best"]["test"]["sharpe"]
    assert metrics["experiment"]["total_runs"] == 48  # the nested summary is kept

    equity = (repo / FOLDER / "best_equity.csv").read_text().splitlines()
    assert equity[0] == "date,equity,buy_and_hold" and equity[1].startswith("2008-01-02,")
    assert equity[-1].startswith("2018-12-31,")
    sweep = (repo / FOLDER / "sweep.csv").read_text().splitlines()
    assert len(sweep) == 49 and "train_sharpe,test_sharpe" in sweep[0]
    fingerprint = json.loads((repo / "data/SPX.fingerprint.json").read_text())
    assert fingerprint["fingerprint"] == metrics["experiment"]["data_fingerprint"]
    validation = json.loads((repo / "reports/validation.json").read_text())
    assert validation["strategies"][0]["path"] == "strategies/baseline_v1.yaml"
    assert (repo / f"reports/{NAME}.html").stat().st_size > 10_000

    assert run(repo, "dvc", "status", "--json").stdout.strip() in ("{}", "")
    # Nothing outside the declared outputs: untracked/ignored files are outs, DVC's own
    # files, or bytecode/numba caches.
    listing = run(repo, "git", "status", "--porcelain", "--ignored", "--untracked-files=all")
    paths = {line[3:] for line in listing.stdout.splitlines()}
    expected = {"dvc.lock", "data/.gitignore", "data/SPX.parquet", "data/SPX.fingerprint.json",
                f"{FOLDER}/.gitignore", *(f"{FOLDER}/{f}" for f in (
                    "runs.parquet", "store.db", "metrics.json", "best_params.yaml",
                    "best_equity.csv", "sweep.csv")),
                "reports/.gitignore", f"reports/{NAME}.html", "reports/validation.json",
                "reports/dvc_plots_template.html",
                f"{FOLDER}/timings.json", f".otonom/pipeline/{NAME}.db"}
    stray = {p for p in paths - expected
             if not p.startswith((".dvc/cache/", ".dvc/tmp/")) and "__pycache__/" not in p}
    assert not stray, stray
    commit(repo, "dvc repro")
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    # Run again from scratch (as on a fresh clone): the same bytes, so dvc.lock, metrics.json
    # and the cached outputs' hashes do not change.
    run(repo, "dvc", "repro", "--force", "grid_search", "report")
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    assert run(repo, "dvc", "status", "--json").stdout.strip() in ("{}", "")


@slow
def test_exp_run_with_a_changed_split_shows_in_exp_show_and_diffs(repo):
    run(repo, "dvc", "exp", "run", "-n", "later-test", "-S", "split.test_start=2016-06-01")
    params = json.loads(run(repo, "dvc", "params", "diff", "--json").stdout)
    assert params["params.yaml"]["split.test_start"] == {"old": "2016-01-01",
                                                         "new": "2016-06-01"}
    diff = json.loads(run(repo, "dvc", "metrics", "diff", "main", "--json").stdout)[METRICS]
    assert diff["best_test_sharpe"]["diff"] != 0
    assert "runs_total" not in diff  # unchanged metrics are not listed

    rows = exp_rows(repo)
    main, exp = metrics_of(rows["main"]), metrics_of(rows["later-test"])
    for key in FLAT:
        assert isinstance(exp[key], float), key
    assert exp["runs_total"] == main["runs_total"] == 48
    assert exp["best_test_sharpe"] != main["best_test_sharpe"]
    assert exp["experiment"]["split"]["test_start"] == "2016-06-01"
    assert params_of(rows["later-test"])["split"]["test_start"] == "2016-06-01"
    _back_to_main(repo)


@slow
def test_promote_the_best_run_of_a_dvc_experiment(repo):
    """`otonom promote --dvc-exp` reads the experiment's own store (from the DVC cache) and
    names the DVC experiment in the metadata and the pull-request body. The gates apply: the
    baseline grid's PBO is above gates.max_pbo, so the run is refused, or forced."""
    import yaml

    # The baseline grid's PBO (~0.8) fails the shipped gate (max_pbo 0.5): promoting it is
    # refused unless forced, and then the promotion says so.
    args = ("otonom", "promote", "--dvc-exp", "later-test",
            "--output-name", "baseline_v2", "--expected-impact", "later test")
    refused = run(repo, *args, check=False)
    assert refused.returncode == 1 and "gates.max_pbo" in refused.stderr
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    out = run(repo, *args, "--allow-overfit")
    assert "✅ Successfully promoted experiment 1" in out.stdout
    assert run(repo, "git", "branch", "--show-current").stdout.strip() == "main"
    text = run(repo, "git", "show", "promote/baseline_v2:strategies/baseline_v2.yaml").stdout
    meta = yaml.safe_load(text)["metadata"]
    assert meta["dvc_experiment"]["name"] == "later-test"
    assert meta["split"]["test_start"] == "2016-06-01"
    assert meta["parent"] == "baseline_v1" and meta["experiment"]["n_runs"] == 48
    assert meta["forced"]["flag"] == "--allow-overfit"
    body = (repo / ".otonom/pr/baseline_v2.md").read_text()
    assert "DVC experiment **later-test**" in body


@slow
def test_a_failed_gate_is_recorded_without_failing_the_pipeline(repo):
    run(repo, "dvc", "exp", "run", "-n", "strict-gates", "-S", "gates.min_test_sharpe=5")
    validation = json.loads((repo / "reports/validation.json").read_text())
    assert validation["ok"] is False
    checks = {c["gate"]: c["status"] for c in validation["strategies"][0]["checks"]}
    assert checks["min_test_sharpe"] == "fail"
    rows = exp_rows(repo)
    assert rows["strict-gates"]["data"]["metrics"]["reports/validation.json"]["data"]["ok"] \
        is False
    assert rows["main"]["data"]["metrics"]["reports/validation.json"]["data"]["ok"] is True
    assert metrics_of(rows["strict-gates"]) == metrics_of(rows["main"])  # grid not re-run
    _back_to_main(repo)


@slow
def test_exp_run_on_a_strategy_param_is_tracked_and_materialised(repo):
    """(test_promote_a_dvc_experiment_that_changed_a_strategy_parameter promotes this
    experiment.)"""
    from otonom_trader.adapters.dvc_exp import materialise
    from otonom_trader.adapters.store import ExperimentStore

    run(repo, "dvc", "exp", "run", "-n", "take-profit-8", "-S",
        "strategies/baseline_v1.yaml:risk.take_profit_pct=8")
    rows = exp_rows(repo)
    assert params_of(rows["take-profit-8"], "strategies/baseline_v1.yaml")["risk"][
        "take_profit_pct"] == 8
    assert params_of(rows["main"], "strategies/baseline_v1.yaml")["risk"][
        "take_profit_pct"] == 6.0
    assert metrics_of(rows["take-profit-8"])["runs_total"] == 48
    _back_to_main(repo)

    exp = materialise("take-profit-8", repo=repo, dest=repo.parent / "materialised")
    assert exp.experiment_name == NAME and exp.dvc_name == "take-profit-8"
    assert exp.params["strategies/baseline_v1.yaml"]["risk.take_profit_pct"] == 8
    assert exp.params["params.yaml"]["split.test_start"] == "2016-01-01"
    assert exp.baseline_rev == run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    assert "take_profit_pct: 8" in exp.strategy_file.read_text()  # the experiment's, not HEAD's
    assert "take_profit_pct: 6.0" in (repo / "strategies/baseline_v1.yaml").read_text()
    assert exp.metrics["best_test_sharpe"] == metrics_of(rows["take-profit-8"])[
        "best_test_sharpe"]
    with ExperimentStore(exp.store_url) as store:
        info = store.get(1)
        assert info.name == NAME and len(store.runs_frame(1)) == 48
    assert exp.runs_path is not None and exp.runs_path.stat().st_size > 0
    with pytest.raises(InputError, match="did you mean 'take-profit-8'"):
        materialise("take-profit-9", repo=repo, dest=repo.parent / "nowhere")


@slow
def test_queue_reports_a_failing_experiment_as_failed(repo):
    from otonom_trader.adapters.dvc_exp import materialise

    run(repo, "dvc", "exp", "run", "--queue", "-n", "outside-data",
        "-S", "split.test_end=2025-12-31")
    run(repo, "dvc", "exp", "run", "--queue", "-n", "short-test",
        "-S", "split.test_start=2017-01-01", "-S", "split.test_end=2018-06-30")
    assert run(repo, "dvc", "queue", "start").returncode == 0
    try:  # `dvc queue start` returns at once; the worker runs the queue in the background
        deadline = time.monotonic() + QUEUE_TIMEOUT
        while True:
            status = queue_status(repo)
            if not {"Queued", "Running"} & set(status.values()):
                break
            assert time.monotonic() < deadline, f"queue still busy: {status}"
            time.sleep(2)
    finally:
        run(repo, "dvc", "queue", "stop", "--kill", check=False)
    assert status["outside-data"] == "Failed" and status["short-test"] == "Success"
    logs = run(repo, "dvc", "queue", "logs", "outside-data", check=False)
    assert "outside the data" in logs.stdout + logs.stderr

    rows = exp_rows(repo)
    short = metrics_of(rows["short-test"])
    assert short["runs_done"] == 48 and isinstance(short["best_test_sharpe"], float)
    assert short["experiment"]["split"]["test_end"] == "2018-06-30"
    with pytest.raises(InputError, match="dvc queue status"):
        materialise("outside-data", repo=repo, dest=repo.parent / "nowhere")
    assert run(repo, "dvc", "status", "--json").stdout.strip() in ("{}", "")


@slow
def test_promote_a_dvc_experiment_that_changed_a_strategy_parameter(repo):
    """`dvc exp run -S <strategy>:<key>=...` edits the strategy file in the experiment only
    (take-profit-8, run by test_exp_run_on_a_strategy_param_is_tracked_and_materialised);
    `promote --dvc-exp` promotes onto the file as the experiment had it (not HEAD's), lists
    the edit among the parameter changes and names the DVC experiment."""
    import yaml

    rows = exp_rows(repo)
    assert params_of(rows["take-profit-8"], "strategies/baseline_v1.yaml")["risk"][
        "take_profit_pct"] == 8
    assert "take_profit_pct: 6.0" in (repo / "strategies/baseline_v1.yaml").read_text()

    # The baseline grid's PBO is above gates.max_pbo: forced, as a user would.
    out = run(repo, "otonom", "promote", "--dvc-exp", "take-profit-8", "--output-name",
              "baseline_tp8", "--allow-overfit")
    assert "✅ Successfully promoted experiment 1" in out.stdout
    assert "risk.take_profit_pct: 6.0 → 8.0" in out.stdout
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    text = run(repo, "git", "show",
               "promote/baseline_tp8:strategies/baseline_tp8.yaml").stdout
    promoted = yaml.safe_load(text)
    assert promoted["risk"]["take_profit_pct"] == 8.0
    assert "take_profit_pct: 8.0" in text and "# Baseline ensemble" in text  # comments kept
    meta = promoted["metadata"]
    assert meta["dvc_experiment"]["name"] == "take-profit-8"
    assert meta["dvc_experiment"]["params"]["strategies/baseline_v1.yaml"][
        "risk.take_profit_pct"] == 8
    assert meta["parent"] == "baseline_v1"
    body = (repo / ".otonom/pr/baseline_tp8.md").read_text()
    assert "DVC experiment **take-profit-8**" in body
    assert "| `risk.take_profit_pct` | 6.0 | 8.0 |" in body
    log = run(repo, "git", "show", "promote/baseline_tp8:STRATEGY_LOG.md").stdout
    assert "- `risk.take_profit_pct`: 8.0" in log
    # HEAD's file is untouched; the experiment's own record goes with the promotion (main's
    # experiments/<name>/metrics.json is another experiment), and `validate` on the branch
    # checks against it: every gate passes but the PBO the promotion was forced past.
    assert "take_profit_pct: 6.0" in (repo / "strategies/baseline_v1.yaml").read_text()
    record = f"{FOLDER}/dvc_exps/take-profit-8/metrics.json"
    committed = run(repo, "git", "show", "--name-only", "--format=", "promote/baseline_tp8")
    assert set(committed.stdout.split()) == {"STRATEGY_LOG.md", "strategies/baseline_tp8.yaml",
                                             record}
    assert meta["dvc_experiment"]["record"] == record
    run(repo, "git", "checkout", "-q", "promote/baseline_tp8")
    try:
        report = repo.parent / "tp8-validation.json"
        out = run(repo, "otonom", "validate", "--changed",
                  "--base", "main", "--output-json", str(report), check=False)
        assert out.returncode == 1 and "1 of 1 strategy failed: baseline_tp8" in out.stdout
        checks = {c["gate"]: c for c in json.loads(report.read_text())["strategies"][0][
            "checks"]}
        assert [g for g, c in checks.items() if c["status"] == "fail"] == ["max_pbo"]
        assert checks["max_pbo"]["value"] > 0.5 and checks["max_pbo"]["detail"] == record
        assert checks["experiment_record"]["status"] == "pass"
        assert checks["experiment_record"]["value"] == record
        assert checks["reproduction"]["status"] == "pass"
    finally:
        run(repo, "git", "checkout", "-q", "main")
    assert run(repo, "git", "status", "--porcelain").stdout == ""


@slow
def test_plot_pages_render_offline(repo, tmp_path):
    """`dvc plots show` and `dvc plots diff` write pages that draw every plot with the
    network off (the plots_template stage's page, .dvc/config plots.html_template); DVC's
    own page (vega from a CDN) draws nothing, so the check can fail."""
    from dvc_render.html import PAGE_HTML

    from tests.test_report_browser import chromium

    binary = chromium()
    assert (repo / "reports/dvc_plots_template.html").stat().st_size > 500_000
    pages = {}
    for label, args in (("show", ("show",)), ("diff", ("diff", "main"))):
        run(repo, "dvc", "plots", *args, "-o", str(tmp_path / label))
        pages[label] = tmp_path / label / "index.html"
    cdn_template = tmp_path / "cdn.html"
    cdn_template.write_text(PAGE_HTML)
    run(repo, "dvc", "plots", "show", "-o", str(tmp_path / "cdn"), "--html-template",
        str(cdn_template))
    assert "cdn.jsdelivr.net" in (tmp_path / "cdn/index.html").read_text()
    assert run(repo, "git", "status", "--porcelain").stdout == ""

    for label, page in pages.items():
        assert "cdn.jsdelivr.net" not in page.read_text(), label
        dom = offline_dom(binary, page, tmp_path)
        assert dom.count('class="vega-embed') == 2, label
        assert dom.count('class="marks"') == 2, label  # two drawn vega views
        assert 'class="mark-line role-mark' in dom, label  # equity vs buy and hold
        assert 'class="mark-symbol role-mark' in dom, label  # the sweep's scatter
        assert "X-axis titled 'date' for a time scale" in dom, label
    dom = offline_dom(binary, tmp_path / "cdn/index.html", tmp_path)
    assert 'class="marks"' not in dom and 'class="vega-embed' not in dom


def offline_dom(binary: str, page: Path, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran in headless Chromium without a network: in an
    empty network namespace when allowed, and through a proxy that does not exist."""
    from tests.test_report_browser import FLAGS

    isolate = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0 else []
    profile = tmp_path / f"profile-{page.parent.name}-{len(list(tmp_path.iterdir()))}"
    done = subprocess.run([*isolate, binary, *FLAGS, f"--user-data-dir={profile}",
                           "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                           "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _back_to_main(repo: Path) -> None:
    """Undo an applied experiment in the workspace (tracked files and cached outputs)."""
    run(repo, "git", "checkout", "--", ".")
    run(repo, "dvc", "checkout", "--force")
    assert run(repo, "dvc", "status", "--json").stdout.strip() in ("{}", "")


# --------------------------------------------------------------- the pipeline's outputs (fast)


def test_grid_search_writes_flat_metrics_and_plot_tables(tmp_path, capsys):
    import pandas as pd
    import yaml

    from otonom_trader.adapters.store import ExperimentStore
    from otonom_trader.app.experiments.outputs import write_outputs
    from otonom_trader.cli import main

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"analysts.tech.fast_window": [10, 40],
                                    "analysts.tech.slow_window": [30, 60]}))
    db = f"sqlite:///{tmp_path}/store.db"
    with pytest.raises(SystemExit) as exit_:
        main(["experiments", "grid-search", "--name", "small", "--strategy-path",
              str(ROOT / "strategies/sma_cross.yaml"), "--grid-path", str(grid), "--db", db,
              "--outputs-dir", str(tmp_path / "out"), "--train-start", "2004-01-01",
              "--train-end", "2011-12-31", "--test-start", "2012-01-01",
              "--test-end", "2014-12-31"])
    assert exit_.value.code == 0, capsys.readouterr().err
    folder = tmp_path / "out" / "small"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["runs_total"], metrics["runs_done"], metrics["runs_failed"]) == (4, 3, 1)
    assert metrics["best_test_sharpe"] == metrics["best"]["test"]["sharpe"]
    assert metrics["best_run_number"] == metrics["best"]["run_number"]
    assert isinstance(metrics["best_test_n_trades"], int) and 0 <= metrics["pbo"] <= 1
    assert "_blocks" not in pd.read_parquet(folder / "runs.parquet")
    sweep = pd.read_csv(folder / "sweep.csv")
    assert len(sweep) == 4 and sweep["test_sharpe"].isna().sum() == 1  # the failed run
    assert {"analysts.tech.fast_window", "train_sharpe", "test_sharpe"} <= set(sweep)
    equity = pd.read_csv(folder / "best_equity.csv")
    assert list(equity) == ["date", "equity", "buy_and_hold"]
    assert equity["date"].iloc[0] == "2004-01-02" and equity["date"].iloc[-1] == "2014-12-31"
    assert equity["equity"].iloc[0] == equity["buy_and_hold"].iloc[0] == 10_000

    # From the store (a resumed experiment): the same PBO when given the block statistics,
    # none without them.
    with ExperimentStore(db) as store:
        info, runs = store.get(1), store.runs_frame(1)
        _, blocks = store.block_stats(1)
    write_outputs(info, runs, tmp_path / "again", blocks=blocks)
    again = json.loads((tmp_path / "again/small/metrics.json").read_text())
    assert again["pbo"] == metrics["pbo"] and again["best"] == metrics["best"]
    write_outputs(info, runs, tmp_path / "bare")
    assert json.loads((tmp_path / "bare/small/metrics.json").read_text())["pbo"] is None


# --------------------------------------------------------------- dvc.yaml and the plot page (fast)


def _tracked_params() -> dict[str, set[str]]:
    """Params file -> keys (or groups) the stages of dvc.yaml track."""
    import yaml

    tracked: dict[str, set[str]] = {}
    for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values():
        for entry in stage.get("params", []):
            if isinstance(entry, str):
                tracked.setdefault("params.yaml", set()).add(entry)
            else:
                for file, keys in entry.items():
                    tracked.setdefault(file, set()).update(keys or [])
    return tracked


def _covered(key: str, keys: set[str]) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in keys)


def test_dvc_yaml_tracks_every_swept_key_and_every_suggested_set_key():
    """`dvc exp show` shows a key only when dvc.yaml tracks it: every key the pipeline's grid
    sweeps and every `-S` the README, dvc.yaml and params.yaml suggest."""
    import re

    import yaml

    tracked = _tracked_params()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    strategy = params["experiment"]["strategy"]
    grid = yaml.safe_load((ROOT / params["experiment"]["grid"]).read_text())
    swept = grid.get("params") or {k: v for k, v in grid.items() if "." in k}
    assert len(swept) == 3
    for key in swept:
        assert _covered(key, tracked[strategy]), f"{strategy}:{key} is swept, not tracked"
    suggested = set()
    for doc in ("README.md", "dvc.yaml", "params.yaml"):
        suggested |= set(re.findall(r"-S ([\w./:-]+)=", (ROOT / doc).read_text()))
    assert "strategies/baseline_v1.yaml:risk.take_profit_pct" in suggested
    assert "split.test_start" in suggested and "experiment.n_iter" in suggested
    for entry in suggested:
        file, _, key = entry.rpartition(":")
        assert _covered(key, tracked[file or "params.yaml"]), f"-S {entry} is not tracked"


def test_the_plot_template_inlines_vega_and_has_no_cdn_script(tmp_path):
    from dvc_render.html import HTML

    from otonom_trader.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["plots", "template", "--output", str(tmp_path / "t.html")])
    assert exit_.value.code == 0
    page = (tmp_path / "t.html").read_text()
    assert page.count("{plot_divs}") == 1 and "{scripts}" not in page
    assert "window.vegaEmbed" in page and "<script src" not in page
    filled = HTML(page).with_scripts('<script src="https://cdn.example/vega.js"></script>') \
        .with_element('<div id="x"></div>').embed()
    assert "cdn.example" not in filled and '<div id="x"></div>' in filled
    with open(ROOT / ".dvc/config") as config:
        assert "html_template = ../reports/dvc_plots_template.html" in config.read()


# --------------------------------------------------------------- resolving names (fast)


def test_resolve_finds_experiment_refs_and_git_revisions(tmp_path):
    from otonom_trader.adapters.dvc_exp import experiment_refs, resolve

    repo = git_repo(tmp_path / "r")
    (repo / "f").write_text("1")
    commit(repo, "one")
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    ref = f"refs/exps/{head[:2]}/{head[2:]}/brave-fox"
    run(repo, "git", "update-ref", ref, head)
    run(repo, "git", "update-ref", "refs/exps/celery/failed", head)
    assert experiment_refs(repo) == {"brave-fox": [(head, head)]}
    assert resolve("brave-fox", repo) == (head, head)
    assert resolve("main", repo) == (head, None)
    with pytest.raises(InputError, match=r"did you mean 'brave-fox'.*brave-fox"):
        resolve("brave-fix", repo)


def test_resolve_refuses_a_name_on_several_baselines_unless_one_is_head(tmp_path):
    from otonom_trader.adapters.dvc_exp import resolve

    repo = git_repo(tmp_path / "r")
    shas = []
    for i in range(3):
        (repo / "f").write_text(str(i))
        commit(repo, f"c{i}")
        shas.append(run(repo, "git", "rev-parse", "HEAD").stdout.strip())
    for base, target in ((shas[0], shas[1]), (shas[1], shas[2])):
        run(repo, "git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/twin", target)
    with pytest.raises(InputError, match="several baselines"):
        resolve("twin", repo)
    run(repo, "git", "checkout", "-q", shas[1])
    assert resolve("twin", repo) == (shas[2], shas[1])


def test_outside_a_git_repository_is_a_git_state_error(tmp_path):
    from otonom_trader.adapters.dvc_exp import materialise

    with pytest.raises(GitStateError, match="not a git repository"):
        materialise("anything", repo=tmp_path)


def test_a_dvc_experiments_strategy_edits_are_listed_against_the_repositorys_file():
    """`-S <strategy>:<key>=...` edits show as changes from the repository's value; a run that
    moves an edited key is listed from the repository's value; one that sets it back keeps
    the change so the promoted file is the run's."""
    from otonom_trader.app.promotion.promote import _DvcBase, _file_edits, _with_edits
    from otonom_trader.domain.strategy_loader import strategy_from_text

    text = (ROOT / "strategies/baseline_v1.yaml").read_text()
    current = strategy_from_text(text, "current.yaml")
    edited_text = (text.replace("take_profit_pct: 6.0", "take_profit_pct: 8")
                   .replace("risk_pct: 1.0 ", "risk_pct: 1.5 ")
                   .replace("fast_window: 20", "fast_window: 10")
                   .replace("description: Five", "description: Edited five"))
    edited = strategy_from_text(edited_text, "edited.yaml")
    edits = _file_edits(current, edited)
    assert edits == {"analysts.tech.fast_window": (20, 10), "risk.risk_pct": (1.0, 1.5),
                     "risk.take_profit_pct": (6.0, 8)}
    assert _file_edits(current, current) == {}
    base = _DvcBase(edited, edited_text, edits)
    assert _with_edits({}, None) == {}
    assert _with_edits({"risk.stop_loss_pct": (2.0, 8.0)}, base) == {
        "risk.stop_loss_pct": (2.0, 8.0), **edits}
    moved = _with_edits({"risk.risk_pct": (1.5, 2.0)}, base)  # the run moved an edited key
    assert moved["risk.risk_pct"] == (1.0, 2.0)
    back = _with_edits({"risk.risk_pct": (1.5, 1.0)}, base)  # ... back to the repository's
    assert back["risk.risk_pct"] == (1.5, 1.0)
