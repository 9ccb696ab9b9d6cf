"""`otonom compare` end to end on a synthetic symbol, the paired bootstrap, and bad input."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from otonom_trader.app.compare import (
    BETTER,
    NOT_SIGNIFICANT,
    UNDEFINED,
    WORSE,
    annualised_sharpe,
    paired_sharpe_bootstrap,
    run_compare,
)
from otonom_trader.engine.stats import eta_squared, optimal_block_length
from tests.helpers import run_cli

STRATEGY = """\
name: {name}
description: synthetic test strategy
analysts:
  {analysts}
ensemble:
  analyst_weights: {{{weights}}}
  entry_threshold: {entry}
  exit_threshold: {exit}
risk: {{sizing: fixed, position_pct: 100}}
data: {{symbol: {symbol}}}
"""


def write_strategy(folder, name, analysts, weights, entry=0, exit_=0, symbol="SYN"):
    path = folder / f"{name}.yaml"
    path.write_text(STRATEGY.format(name=name, analysts=analysts, weights=weights, entry=entry,
                                    exit=exit_, symbol=symbol))
    return str(path)


@pytest.fixture
def synth(tmp_path):
    """SYN: 1,500 business days of 60-bar legs trending +0.4%/day then -0.4%/day, with 1%
    daily noise. A moving-average trend follower rides the up legs; a dip buyer buys the
    down legs."""
    rng = np.random.default_rng(5)
    n = 1500
    drift = np.where((np.arange(n) // 60) % 2 == 0, 0.004, -0.004)
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.001, n))
    bars = pd.DataFrame({
        "Open": open_, "High": np.maximum(open_, close) * 1.002,
        "Low": np.minimum(open_, close) * 0.998, "Close": close, "Volume": 1.0,
    }, index=pd.bdate_range("2010-01-01", periods=n, name="Date"))
    data = tmp_path / "data"
    data.mkdir()
    bars.to_csv(data / "SYN.csv")
    return {
        "data": str(data),
        "trend": write_strategy(tmp_path, "trend",
                                "tech: {fast_window: 5, slow_window: 20, ma_type: sma}",
                                "tech: 1.0"),
        "dip": write_strategy(tmp_path, "dip", "meanrev: {window: 20, z_scale: 2.0}",
                              "meanrev: 1.0", entry=0.3, exit_=-0.3),
        "slow": write_strategy(tmp_path, "slow",
                               "tech: {fast_window: 10, slow_window: 60, ma_type: sma}",
                               "tech: 1.0"),
        "spx": write_strategy(tmp_path, "spx",
                              "tech: {fast_window: 5, slow_window: 20, ma_type: sma}",
                              "tech: 1.0", symbol="SPX"),
    }


def compare_json(synth, baseline, candidate, capsys, *extra):
    code, out, err = run_cli(["compare", "--baseline", synth[baseline], "--candidate",
                              synth[candidate], "--data-dir", synth["data"], "--json", *extra],
                             capsys)
    assert code == 0, err
    return json.loads(out, parse_constant=reject_nan)  # undefined values are null


def reject_nan(token):
    raise AssertionError(f"{token} is not valid JSON")


# --- the command ---------------------------------------------------------------------------


def test_a_strategy_against_itself_is_not_significantly_different(synth, capsys):
    payload = compare_json(synth, "trend", "trend", capsys)
    test = payload["sharpe_test"]
    assert test["ci_low"] == 0.0 and test["ci_high"] == 0.0  # contains 0, width 0
    assert test["difference"] == 0.0
    assert payload["verdict"] == NOT_SIGNIFICANT
    assert all(v == 0 for v in payload["difference"].values())


def test_a_clearly_better_candidate_is_detected(synth, capsys):
    payload = compare_json(synth, "dip", "trend", capsys)
    test = payload["sharpe_test"]
    assert payload["verdict"] == BETTER and test["ci_low"] > 0
    assert payload["candidate"]["sharpe"] > 1 > payload["baseline"]["sharpe"]
    assert test["difference"] == pytest.approx(
        payload["candidate"]["sharpe"] - payload["baseline"]["sharpe"], rel=1e-9)
    assert test["ci_low"] < test["difference"] < test["ci_high"]
    swapped = compare_json(synth, "trend", "dip", capsys)
    assert swapped["verdict"] == WORSE and swapped["sharpe_test"]["ci_high"] < 0


def test_json_is_one_object_with_both_sides_and_the_test(synth, capsys):
    payload = compare_json(synth, "dip", "trend", capsys, "--bootstrap", "500", "--seed", "7")
    assert set(payload) == {"symbol", "start", "end", "bars", "periods_per_year",
                            "initial_capital", "baseline", "candidate", "difference",
                            "sharpe_test", "verdict", "report", "notes"}
    metrics = {"total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct",
               "calmar", "win_rate_pct", "profit_factor", "exposure_pct", "n_trades",
               "final_equity"}
    assert set(payload["baseline"]) == {"strategy", "path"} | metrics
    assert set(payload["difference"]) == metrics
    assert payload["baseline"]["strategy"] == "dip" and payload["candidate"]["strategy"] == "trend"
    assert payload["symbol"] == "SYN" and payload["periods_per_year"] == 252
    test = payload["sharpe_test"]
    assert (test["resamples"], test["seed"], test["confidence"]) == (500, 7, 0.95)
    assert test["returns"] == payload["bars"] - 1
    assert isinstance(test["block_length"], int)  # Politis–White, see the bootstrap tests
    assert 1 <= test["block_length"] < test["returns"]


def test_console_table_and_verdict(synth, capsys):
    code, out, _ = run_cli(["compare", "--baseline", synth["dip"], "--candidate",
                            synth["trend"], "--data-dir", synth["data"]], capsys)
    assert code == 0
    for needle in ("dip vs trend on SYN", "Baseline", "Candidate", "Difference", "Sharpe",
                   "Max drawdown", " pp", "Verdict: candidate better", "95% CI"):
        assert needle in out


def test_html_report_is_self_contained(synth, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["compare", "--baseline", synth["dip"], "--candidate",
                            synth["trend"], "--data-dir", synth["data"], "--export", "html"],
                           capsys)
    assert code == 0 and "reports/compare_dip_vs_trend.html" in out
    html = (tmp_path / "reports" / "compare_dip_vs_trend.html").read_text()
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js embedded
    for needle in ("Drawdown (%)", "Metrics", "baseline: dip", "candidate: trend",
                   "candidate better"):
        assert needle in html
    custom = tmp_path / "out" / "cmp.html"
    payload = compare_json(synth, "dip", "trend", capsys, "--export", "html",
                           "--output", str(custom))
    assert payload["report"] == str(custom) and custom.exists()


def test_both_strategies_start_when_both_are_warm(synth):
    result = run_compare(synth["trend"], synth["slow"], data_dir=synth["data"])
    assert result.baseline.start == result.candidate.start
    assert result.baseline.equity.index.equals(result.candidate.equity.index)
    assert any("when the indicators of both are warm" in note for note in result.notes)
    alone = run_compare(synth["trend"], synth["trend"], data_dir=synth["data"])
    assert alone.baseline.start < result.baseline.start


def test_symbol_flag_resolves_different_default_symbols(synth, capsys):
    payload = compare_json(synth, "spx", "trend", capsys, "--symbol", "syn")
    assert payload["symbol"] == "SYN"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--baseline", "missing.yaml", "--candidate", "{trend}"], "missing.yaml"),
        (["--baseline", "{spx}", "--candidate", "{trend}"], "pass --symbol"),
        (["--baseline", "{dip}", "--candidate", "{trend}", "--start-date", "2012-13-40"],
         "--start-date"),
        (["--baseline", "{dip}", "--candidate", "{trend}", "--start-date", "2013-01-01",
          "--end-date", "2012-01-01"], "after end"),
        (["--baseline", "{dip}", "--candidate", "{trend}", "--start-date", "2030-01-01"],
         "outside the data"),
        (["--baseline", "{dip}", "--candidate", "{trend}", "--bootstrap", "10"],
         "--bootstrap"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(synth, args, needle, capsys):
    argv = ["compare", "--data-dir", synth["data"], *(a.format(**synth) for a in args)]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_output_without_export_is_a_usage_error(synth, capsys):
    code, _, err = run_cli(["compare", "--baseline", synth["dip"], "--candidate",
                            synth["trend"], "--output", "x.html"], capsys)
    assert code == 2 and "--output needs --export html" in err


# --- the bootstrap -------------------------------------------------------------------------


def test_bootstrap_of_identical_series_is_exactly_zero():
    r = np.random.default_rng(0).normal(0.0005, 0.01, 1000)
    test = paired_sharpe_bootstrap(r, r.copy(), 252)
    assert (test.difference, test.ci_low, test.ci_high) == (0.0, 0.0, 0.0)
    assert test.verdict == NOT_SIGNIFICANT
    assert test.block_length == 1  # white noise: no dependence to keep in blocks
    assert test.n_resamples == 2000 and test.n_returns == 1000


def test_block_length_follows_the_dependence_of_the_returns():
    """Politis–White's optimal length (arch) when none is given: longer for autocorrelated
    returns, the largest of the two series' estimates; a given length is used as is."""
    rng = np.random.default_rng(4)
    noise = rng.normal(0.0005, 0.01, 2000)
    ar = np.empty(2000)
    ar[0] = 0.0
    for i in range(1, 2000):  # AR(1), φ = 0.9
        ar[i] = 0.9 * ar[i - 1] + rng.normal(0.0, 0.01)
    alone = optimal_block_length(ar)
    assert optimal_block_length(noise) <= 2 < 10 < alone
    assert optimal_block_length(noise, ar) == alone == optimal_block_length(ar, noise)
    assert paired_sharpe_bootstrap(noise, ar, 252, n_resamples=200).block_length == alone
    fixed = paired_sharpe_bootstrap(noise, ar, 252, n_resamples=200, block_length=50)
    assert fixed.block_length == 50
    longer = paired_sharpe_bootstrap(noise, ar, 252, n_resamples=200, block_length=5000)
    assert longer.block_length == 2000  # at most the series


def test_bootstrap_detects_a_better_and_a_worse_candidate_and_is_seeded():
    rng = np.random.default_rng(1)
    base = rng.normal(0.0, 0.01, 2000)
    better = base * 0.5 + rng.normal(0.001, 0.005, 2000)  # correlated, annualised SR ≈ +2
    up = paired_sharpe_bootstrap(base, better, 252, seed=3)
    sr = lambda x: x.mean() / x.std(ddof=1) * math.sqrt(252)  # noqa: E731
    assert up.difference == pytest.approx(sr(better) - sr(base), rel=1e-9)
    assert up.verdict == BETTER and up.ci_low > 0
    assert paired_sharpe_bootstrap(better, base, 252, seed=3).verdict == WORSE
    again = paired_sharpe_bootstrap(base, better, 252, seed=3)
    assert (again.ci_low, again.ci_high) == (up.ci_low, up.ci_high)
    noise = paired_sharpe_bootstrap(base, base + rng.normal(0, 1e-4, 2000), 252, seed=3)
    assert noise.verdict == NOT_SIGNIFICANT and noise.ci_low < 0 < noise.ci_high


def test_zero_variance_has_no_sharpe_as_in_the_backtest_metrics():
    """One rule (kernels.enums.ZERO_VARIANCE): no Sharpe for a flat series, here as in the
    backtest's metrics; the test then has no verdict rather than a number that pretends."""
    assert math.isnan(annualised_sharpe(0.0, 0.0, 100, 252))
    assert math.isnan(annualised_sharpe(0.5, 0.0025, 100, 252))  # constant 0.5% a bar
    assert annualised_sharpe(0.5, 0.0025 + 1e-6, 100, 252) > 0
    flat = np.zeros(500)
    r = np.random.default_rng(2).normal(0.002, 0.01, 500)
    test = paired_sharpe_bootstrap(flat, r, 252, n_resamples=200)
    assert test.verdict == UNDEFINED and math.isnan(test.difference)
    assert math.isnan(test.ci_low) and math.isnan(test.ci_high)
    assert paired_sharpe_bootstrap(r, flat, 252, n_resamples=200).verdict == UNDEFINED


def test_eta_squared_is_the_share_of_variance_the_groups_explain():
    y = np.array([1.0, 1.0, 3.0, 3.0])
    eta2, counts, means = eta_squared(y, np.array([0, 0, 1, 1]), 3)
    assert eta2 == 1.0 and counts.tolist() == [2, 2, 0]
    assert means[:2].tolist() == [1.0, 3.0] and math.isnan(means[2])  # an empty group
    assert eta_squared(y, np.array([0, 1, 0, 1]), 2)[0] == 0.0  # groups explain nothing
    assert eta_squared(np.array([2.0, 2.0]), np.array([0, 1]), 2)[0] == 0.0  # constant
    assert eta_squared(np.empty(0), np.empty(0, dtype=np.int64), 2)[0] == 0.0
    partial = eta_squared(np.array([0.0, 2.0, 4.0, 6.0]), np.array([0, 0, 1, 1]), 2)[0]
    assert partial == pytest.approx(16 / 20)  # between 2·2²+2·2², total 3²+1²+1²+3²

