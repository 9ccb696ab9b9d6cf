"""`otonom experiments show`: console sections, JSON, ranking, parameter analysis, overfitting
statistics, exports and one-line errors."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from otonom_trader.adapters.report import FIGURE_IDS, SECTIONS
from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.app.experiments.show import MAX_LEVELS, parameter_effects, show_experiment
from otonom_trader.cli import main
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
STRATEGY = str(REPO / "strategies" / "sma_cross.yaml")
SPLIT = ["--train-start", "2004-01-01", "--train-end", "2011-12-31",
         "--test-start", "2012-01-01", "--test-end", "2014-12-31"]
# take_profit_pct of 400 % / 800 % never triggers: a parameter that does not matter.
GRID = {
    "analysts.tech.fast_window": [5, 10, 20],
    "analysts.tech.slow_window": [30, 60],
    "risk.stop_loss_pct": [2.0, 5.0],
    "risk.take_profit_pct": [400.0, 800.0],
}
N_RUNS = 24


def grid_search(folder: Path, name: str, grid: dict) -> None:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(grid))
    argv = ["experiments", "grid-search", "--name", name, "--strategy-path", STRATEGY,
            "--grid-path", str(path), *SPLIT, "--db", f"sqlite:///{folder}/s.db",
            "--outputs-dir", str(folder / "experiments")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """Experiment 1: the 24-run sweep; experiment 2: every run fails (fast ≥ slow)."""
    folder = tmp_path_factory.mktemp("show")
    grid_search(folder, "sweep", GRID)
    grid_search(folder, "broken", {"analysts.tech.fast_window": [50, 60],
                                   "analysts.tech.slow_window": [20]})
    return folder


@pytest.fixture
def db(store_dir):
    return f"sqlite:///{store_dir}/s.db"


@pytest.fixture(scope="module")
def report(store_dir):
    return show_experiment(ExperimentStore(f"sqlite:///{store_dir}/s.db"), 1)


def show(db, *extra):
    return ["experiments", "show", *extra, "--db", db]


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def test_show_prints_every_section(db, capsys):
    code, out, err = run_cli(show(db, "1"), capsys)
    assert code == 0, err
    for heading in ("Experiment 1: sweep", "Summary", "Top 10 (by test Sharpe)",
                    "Parameter analysis", "Overfitting", "DSR (best run #", "PBO:", "MinBTL:"):
        assert heading in out
    assert f"{N_RUNS} total: {N_RUNS} done, 0 failed" in out
    assert "Success rate" in out and "100.0%" in out
    assert "fast_window / slow_window / stop_loss_pct / take_profit_pct" in out


def test_json_is_one_object_and_its_top_runs_are_the_stores(db, store_dir, capsys):
    code, out, _ = run_cli(show(db, "1", "--json"), capsys)
    assert code == 0
    data = strict_json(out)
    assert set(data) >= {"experiment", "sort_by", "best_run", "top", "parameters",
                         "overfitting", "notes"}
    exp = data["experiment"]
    assert (exp["id"], exp["name"], exp["total_runs"], exp["done"], exp["failed"]) == (
        1, "sweep", N_RUNS, N_RUNS, 0)
    assert exp["success_rate"] == 1.0 and exp["symbol"] == "SPX"
    assert exp["split"]["test_start"] == "2012-01-01" and exp["search"]["kind"] == "grid"
    assert len(exp["data_fingerprint"]) == 64
    store = ExperimentStore(db)
    top = store.top_runs(1, "sharpe", 10, "test")
    assert [r["run_number"] for r in data["top"]] == top["run_number"].tolist()
    first = data["top"][0]
    assert data["best_run"] == first["run_number"] == int(top["run_number"].iloc[0])
    assert first["test"]["sharpe"] == pytest.approx(top["test_sharpe"].iloc[0])
    assert first["sharpe_gap"] == pytest.approx(first["train"]["sharpe"]
                                                - first["test"]["sharpe"])
    assert set(first["params"]) == set(GRID)
    assert isinstance(first["params"]["analysts.tech.fast_window"], int)
    over = data["overfitting"]
    assert over["n_trials"] == N_RUNS and over["gap_threshold"] == 1.0
    assert 0.0 <= over["dsr"]["dsr"] <= 1.0 and over["dsr"]["n_trials"] == N_RUNS
    assert 0.0 <= over["pbo"]["pbo"] <= 1.0 and over["pbo"]["n_splits"] == 12870
    assert over["min_backtest_length_years"] > 0


def test_sort_by_orders_by_that_test_metric(db, capsys):
    code, out, _ = run_cli(show(db, "1", "--json", "--sort-by", "cagr_pct", "--top", "5"),
                           capsys)
    assert code == 0
    data = strict_json(out)
    cagr = [r["test"]["cagr_pct"] for r in data["top"]]
    assert len(cagr) == 5 and cagr == sorted(cagr, reverse=True)
    store_top = ExperimentStore(db).top_runs(1, "cagr_pct", 5)
    assert [r["run_number"] for r in data["top"]] == store_top["run_number"].tolist()
    code, out, _ = run_cli(show(db, "1", "--sort-by", "calmar", "--top", "3"), capsys)
    assert code == 0 and "Top 3 (by test Calmar)" in out


def test_a_parameter_that_never_matters_ranks_last(report):
    ranked = [e.path for e in report.effects]
    assert ranked[-1] == "risk.take_profit_pct"
    assert report.effects[-1].importance == pytest.approx(0.0, abs=1e-12)
    importance = [e.importance for e in report.effects]
    assert importance == sorted(importance, reverse=True) and importance[0] > 0
    stop = next(e for e in report.effects if e.path == "risk.stop_loss_pct")
    assert stop.labels == ("2", "5") and sum(stop.counts) == N_RUNS
    runs = report.runs
    for label, mean in zip(stop.labels, stop.mean_test_sharpe, strict=True):
        rows = runs[runs["risk.stop_loss_pct"] == float(label)]
        assert mean == pytest.approx(rows["test_sharpe"].mean())


def test_eta_squared_and_quantile_bins_on_a_random_search_shape():
    rng = np.random.default_rng(1)
    n = 2_000
    a = rng.uniform(1.0, 10.0, n)  # continuous: binned
    c = rng.integers(0, 3, n)  # 3 values, unrelated to the outcome
    runs = pd.DataFrame({"run_number": np.arange(1, n + 1), "status": "done",
                         "x.a": a, "x.c": c, "test_sharpe": np.sin(a) + rng.normal(0, .1, n)})
    runs.loc[5, "status"] = "failed"
    effects = parameter_effects(runs, ("x.a", "x.c"), (runs["status"] == "done").to_numpy())
    assert [e.path for e in effects] == ["x.a", "x.c"]
    a_eff, c_eff = effects
    assert a_eff.binned and len(a_eff.labels) == MAX_LEVELS and sum(a_eff.counts) == n - 1
    assert a_eff.importance > 0.8 and c_eff.importance < 0.01 and not c_eff.binned
    assert a_eff.codes[5] == -1 and (a_eff.codes >= 0).sum() == n - 1
    # eta² = between-group / total sum of squares, by hand
    y = runs["test_sharpe"].to_numpy()[a_eff.codes >= 0]
    groups = pd.Series(y).groupby(a_eff.codes[a_eff.codes >= 0])
    between = (groups.count() * (groups.mean() - y.mean()) ** 2).sum()
    assert a_eff.importance == pytest.approx(between / ((y - y.mean()) ** 2).sum())


def test_dsr_reruns_the_best_runs_test_window(report):
    o = report.overfitting
    best_sharpe = report.best["test_sharpe"]
    assert o.dsr.sharpe * math.sqrt(report.info.periods_per_year) == pytest.approx(
        best_sharpe, rel=1e-9)
    assert o.dsr.n_trials == N_RUNS == o.n_trials
    per_period = report.runs["test_sharpe"] / math.sqrt(report.info.periods_per_year)
    assert o.sharpe_variance == pytest.approx(per_period.var(ddof=1))
    assert o.pbo.n_runs == N_RUNS and o.pbo.n_blocks == 16
    assert not [n for n in report.notes if "DSR" in n or "PBO" in n]
    if o.dsr.dsr < 0.95:
        assert any("Deflated Sharpe Ratio" in w for w in o.warnings)
    if o.pbo.pbo > 0.5:
        assert any(w.startswith("PBO") for w in o.warnings)


def test_exports_write_html_csv_and_json(db, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(show(db, "1", "--export", "html"), capsys)
    assert code == 0
    page = tmp_path / "reports" / "experiment_1_report.html"
    assert f"📁 Report: {Path('reports/experiment_1_report.html')}" in out
    text = page.read_text()
    for key, _ in SECTIONS:
        assert f'<section id="{key}">' in text
    for fig in FIGURE_IDS:
        assert f'id="{fig}"' in text
    assert text.count("* plotly.js v") == 1  # plotly.js embedded once
    assert "<script src" not in text and "<link" not in text
    assert "Top 10 Results" in text and "all 24 runs" in text

    code, _, _ = run_cli(show(db, "1", "--export", "csv"), capsys)
    assert code == 0
    runs = pd.read_csv(tmp_path / "reports" / "experiment_1_runs.csv")
    assert len(runs) == N_RUNS and {"run_number", "status", "test_sharpe",
                                    "analysts.tech.fast_window"} <= set(runs.columns)

    code, out, err = run_cli(show(db, "1", "--json", "--export", "json", "--output",
                                  "out/r.json"), capsys)
    assert code == 0 and "📁" in err
    assert strict_json((tmp_path / "out" / "r.json").read_text()) == strict_json(out)


def one_line_error(code, out, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_unknown_experiment(db, capsys):
    line = one_line_error(*run_cli(show(db, "99"), capsys), "no experiment with ID 99")
    assert "1 (sweep)" in line  # recent experiments are listed


def test_unknown_sort_metric(db, capsys):
    one_line_error(*run_cli(show(db, "1", "--sort-by", "sharp"), capsys),
                   "unknown metric 'sharp'", "sharpe", "cagr_pct")


def test_an_experiment_whose_runs_all_failed(db, capsys):
    line = one_line_error(*run_cli(show(db, "2"), capsys))
    assert line.startswith("❌ No 'done' runs for experiment 2")
    assert "must be less than" in line


def test_a_running_experiment(tmp_path, capsys):
    store = ExperimentStore(f"sqlite:///{tmp_path}/r.db")
    exp_id = store.create_experiment(
        name="live", strategy_path=STRATEGY, strategy_hash="x", strategy_name="sma_cross",
        grid={}, split={}, search={"kind": "grid"}, symbol="SPX", data_fingerprint="f",
        periods_per_year=252, total_runs=10, initial_capital=10_000.0)
    line = one_line_error(*run_cli(show(f"sqlite:///{tmp_path}/r.db", str(exp_id)), capsys))
    assert line.startswith(f"❌ No 'done' runs for experiment {exp_id}")
    assert "still running (0/10 runs done)" in line


def test_an_unwritable_reports_folder(db, tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    line = one_line_error(*run_cli(show(db, "1", "--export", "html", "--output",
                                        str(tmp_path / "afile" / "x.html")), capsys),
                          "cannot write")
    assert "is a file, not a folder" in line


def test_python_dash_m_entry_point(db):
    out = subprocess.run([sys.executable, "-m", "otonom_trader.cli", "experiments", "show", "1",
                          "--json", "--top", "2", "--db", db], capture_output=True, text=True,
                         cwd=REPO, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert len(strict_json(out.stdout)["top"]) == 2


# ---------------------------------------------------------------- reports on awkward data

TEST_COLUMNS = ("test_sharpe", "test_cagr_pct", "test_max_drawdown_pct", "test_sortino",
                "test_calmar")
AWKWARD = {
    # what the baseline on BTC-USD with the workflow's dates gives: equal up to the last digit
    "equal-up-to-rounding": lambda f: f.assign(**{c: np.where(
        np.arange(len(f)) % 2, 0.7071067811865476, 0.7071067811865475) for c in TEST_COLUMNS}),
    "single-valued": lambda f: f.assign(**{c: 1.5 for c in (*TEST_COLUMNS, "train_sharpe")}),
    "all-nan": lambda f: f.assign(**{c: np.nan for c in (*TEST_COLUMNS, "train_sharpe")}),
}
AWKWARD_NOTES = {"equal-up-to-rounding": "Test Sharpe: all 24 values are equal: 0.707107",
                 "single-valued": "Test CAGR (%): all 24 values are equal: 1.5",
                 "all-nan": "Test Sharpe: no finite value among 24"}


@pytest.mark.parametrize("case", AWKWARD)
def test_html_report_handles_awkward_run_data(db, tmp_path, monkeypatch, capsys, case):
    original = ExperimentStore.runs_frame
    monkeypatch.setattr(ExperimentStore, "load_snapshot", lambda self, exp_id: None)  # read runs
    monkeypatch.setattr(ExperimentStore, "runs_frame",
                        lambda self, exp_id: AWKWARD[case](original(self, exp_id)))
    out = tmp_path / "report.html"
    code, _, err = run_cli(show(db, "1", "--export", "html", "--output", str(out)), capsys)
    assert code == 0, err
    page = out.read_text()
    assert AWKWARD_NOTES[case] in page
    assert 'id="fig-distributions"' in page


def test_html_report_of_a_one_run_experiment(tmp_path, capsys):
    grid_search(tmp_path, "one", {"analysts.tech.fast_window": [10],
                                  "analysts.tech.slow_window": [30]})
    db = f"sqlite:///{tmp_path}/s.db"
    out = tmp_path / "one.html"
    code, _, err = run_cli(show(db, "1", "--export", "html", "--output", str(out)), capsys)
    assert code == 0, err
    page = out.read_text()
    assert "Test Sharpe: the one value: " in page and 'id="fig-distributions"' in page


def test_histogram_cases():
    from otonom_trader.adapters.report import histogram

    counts, edges, note = histogram(np.array([0.7071067811865476, 0.7071067811865475] * 5), 50)
    assert counts.tolist() == [10] and edges[0] < 0.7071 < edges[1]
    assert note == "all 10 values are equal: 0.707107"
    counts, edges, note = histogram(np.array([1e6, 1e6 + 1e-7, np.nan]), 50)
    assert counts.sum() == 2 and "1 not finite, left out" in note
    counts, _, note = histogram(np.array([np.nan, np.inf]), 50)
    assert len(counts) == 0 and note == "no finite value among 2"
    counts, edges, note = histogram(np.arange(100.0), 50)
    assert len(counts) == 50 and counts.sum() == 100 and note is None


def test_experiments_list_fits_80_columns(tmp_path, capsys, monkeypatch):
    grid_search(tmp_path, "a_rather_long_experiment_name_for_the_list_view_v2",
                {"analysts.tech.fast_window": [10], "analysts.tech.slow_window": [30]})
    grid_search(tmp_path, "broken", {"analysts.tech.fast_window": [50, 60],
                                     "analysts.tech.slow_window": [20]})
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli(["experiments", "list", "--db", f"sqlite:///{tmp_path}/s.db"],
                             capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    assert any("broken" in ln and "2/2 (2)" in ln and "done" in ln for ln in lines), out
    assert any("a_rather_long" in ln and "1/1 " in ln for ln in lines), out
    assert "Runs: stored/total (failed)" in out


@pytest.mark.parametrize("exp_id", [1, 2])
def test_show_from_the_snapshot_equals_show_from_every_run(db, monkeypatch, exp_id):
    """The grid search stores a columnar snapshot and the PBO; `show` reads them instead of
    every run and their block statistics, and must tell exactly the same."""
    from otonom_trader.app.experiments.show import NoDoneRuns

    def analyse():
        try:
            report = show_experiment(ExperimentStore(db), exp_id)
        except NoDoneRuns as exc:
            return str(exc), None
        return report.to_dict(), report

    import otonom_trader.app.experiments.show as show_module

    def no_rerun(*args, **kwargs):
        raise AssertionError("the snapshot keeps the best run's DSR: no re-run, no inputs read")

    with monkeypatch.context() as patch:
        patch.setattr(show_module, "checked_rerun", no_rerun)
        patch.setattr(show_module, "checked_inputs", no_rerun)
        fast, fast_report = analyse()
    assert ExperimentStore(db).load_snapshot(exp_id) is not None
    monkeypatch.setattr(ExperimentStore, "load_snapshot", lambda self, exp_id: None)
    slow, slow_report = analyse()
    assert fast == slow
    if fast_report is not None:
        pd.testing.assert_frame_equal(fast_report.runs, slow_report.runs)
        assert np.array_equal(fast_report.overfitting.pbo.logits,
                              slow_report.overfitting.pbo.logits)
        assert fast_report.notes == slow_report.notes


@pytest.mark.parametrize("damage", ["none", "junk"])
def test_a_snapshot_without_a_usable_dsr_still_gives_the_same_report(db, monkeypatch, damage):
    """A store written before the snapshot kept the DSR (revision 0007), or one whose record
    is not what the search wrote, kept the best run's test returns: `show` computes the same
    DSR from them, checking the inputs first."""
    import otonom_trader.app.experiments.show as show_module

    store = ExperimentStore(db)
    recorded = show_experiment(store, 1).to_dict()
    snapshot = store.load_snapshot(1)
    assert snapshot.dsr is not None and snapshot.dsr["n_trials"] == N_RUNS
    dsr = None if damage == "none" else {**snapshot.dsr, "sharpe": "junk", "skew": [1]}
    monkeypatch.setattr(ExperimentStore, "load_snapshot",
                        lambda self, exp_id: snapshot._replace(dsr=dsr))
    checked = []
    real = show_module.checked_inputs
    monkeypatch.setattr(show_module, "checked_inputs", lambda *a: checked.append(a) or real(*a))
    assert show_experiment(store, 1).to_dict() == recorded
    assert len(checked) == 1


def test_show_of_a_finished_search_loads_no_numba_scipy_or_jsonschema(db):
    """The DSR and MinBTL come recorded with the snapshot: `show` needs neither the engine
    nor scipy's normal quantile (a fifth of its time) nor the strategy schema."""
    from tests.test_layers import loaded

    code, heavy = loaded("experiments", "show", "1", "--db", db,
                         heavy=("numba", "scipy", "jsonschema", "plotly"))
    assert code == 0 and heavy == []


def _reference_levels(values: pd.Series):
    """`_levels` as first written: a mask and a min/max per bin (the fast one must agree)."""
    from otonom_trader.app.experiments.show import _num

    v = values.to_numpy(dtype=float)
    nan = np.isnan(v)
    distinct = np.unique(v[~nan])
    if len(distinct) > MAX_LEVELS:
        edges = np.unique(np.quantile(v[~nan], np.linspace(0, 1, MAX_LEVELS + 1)))
        raw = np.searchsorted(edges[1:-1], v, side="right")
        used, codes = np.unique(raw[~nan], return_inverse=True)
        out = np.full(len(v), len(used), dtype=np.int64)
        out[~nan] = codes
        labels = [f"{_num(v[~nan][codes == k].min())}–{_num(v[~nan][codes == k].max())}"
                  for k in range(len(used))]
    else:
        out = np.full(len(v), len(distinct), dtype=np.int64)
        out[~nan] = np.searchsorted(distinct, v[~nan])
        labels = [_num(x) for x in distinct]
    return out, labels + (["None"] if nan.any() else []), len(distinct) > MAX_LEVELS


def test_parameter_levels_and_bins_equal_the_plain_computation():
    from otonom_trader.app.experiments.show import _levels

    rng = np.random.default_rng(3)
    odd = [0.0, -0.0, 1e-9, 3.0, 2.5, 7.0, 1e300, -1e-300, *range(4, 12)]
    for trial in range(600):
        n = int(rng.integers(1, 300))
        v = [rng.normal(size=n), rng.integers(-5, 40, size=n).astype(float),
             rng.choice(odd, size=n), np.round(rng.exponential(size=n), 2)][trial % 4]
        v[rng.random(n) < rng.random() * 0.3] = np.nan
        codes, labels, binned = _levels(pd.Series(v))
        want_codes, want_labels, want_binned = _reference_levels(pd.Series(v))
        assert np.array_equal(codes, want_codes), trial
        assert (labels, binned) == (want_labels, want_binned), trial
