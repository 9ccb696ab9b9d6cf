"""`otonom monitor` on a real shadow replay's journal, and its thresholds and bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from otonom_trader.app.production.monitor import _trades, thresholds_from
from otonom_trader.app.production.run import run_daemon
from otonom_trader.engine.live_stats import Thresholds
from tests.helpers import run_cli
from tests.test_daemon import config, make_prod_repo


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitor")
    repo, _ = make_prod_repo(tmp)
    run_daemon(config(repo, tmp, "replay:SPX:2016-01-01:2016-03-31"), speed=0)
    (repo / "params.yaml").write_text(yaml.safe_dump({
        "split": {"train_start": "2008-01-01", "train_end": "2015-12-31",
                  "test_start": "2016-01-01", "test_end": "2018-12-31"},
        "gates": {"min_test_sharpe": 0.5, "max_drawdown_pct": -25.0, "max_sharpe_gap": 1.0,
                  "min_dsr": 0.5, "min_trades": 5, "production_margin": 0.1},
        "rollout": {"min_periods": 100}}))
    return repo, f"sqlite:///{tmp}/j.db"


def test_monitor_reads_the_journal_and_says_how_much_is_missing(replayed, capsys,
                                                               monkeypatch):
    repo, journal = replayed
    monkeypatch.chdir(repo)
    code, out, err = run_cli(["monitor", "--journal", journal, "--json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)["strategies"]
    assert row["deployment"] == "baseline_v1" and row["stage"] == "shadow"
    assert 55 <= row["returns"] < 100 and row["verdict"] == "inconclusive"
    assert f"{100 - row['returns']} more needed" in row["reasons"][-1]
    assert row["live_sharpe"] is None  # never a number that pretends
    assert row["slippage_bps"] == 0.0  # paper fills at the engine's price
    assert row["days_in_stage"] is None  # the test's production.yaml gives no `since`
    assert row["expected_source"].startswith("test window 2016-01-01 → 2018-12-31")
    code, out, _ = run_cli(["monitor", "baseline_v1", "--journal", journal], capsys)
    assert code == 0 and "baseline_v1 (shadow): inconclusive" in out
    assert "more needed before the Sharpe can be judged" in out


def test_unknown_name_and_bad_thresholds_are_one_line(replayed, capsys, monkeypatch):
    repo, journal = replayed
    monkeypatch.chdir(repo)
    code, _, err = run_cli(["monitor", "nope", "--journal", journal], capsys)
    assert code == 2 and "NAME 'nope': not a strategy of" in err
    bad = repo / "bad.yaml"
    for block, needle in (({"min_psr": 1.5}, "`rollout.min_psr` 1.5"),
                          ({"min_periods": 1}, "`rollout.min_periods` 1"),
                          ({"haircut": "x"}, "`rollout.haircut` 'x'")):
        bad.write_text(yaml.safe_dump({"rollout": block}))
        code, _, err = run_cli(["monitor", "--journal", journal, "--params", str(bad)], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_thresholds_and_trade_pairing():
    assert thresholds_from(__import__("pathlib").Path("/nonexistent.yaml")) == Thresholds()
    fills = [{"side": "buy", "qty": 2.0, "price": 10.0}, {"side": "sell", "qty": 2.0,
                                                           "price": 11.0},
             {"side": "sell", "qty": 1.0, "price": 20.0}, {"side": "buy", "qty": 1.0,
                                                            "price": 21.0}]
    assert _trades(fills) == (2, 1)  # a winning long, a losing short


def test_export_html_is_one_offline_page_with_the_cone(replayed, capsys, monkeypatch):
    repo, journal = replayed
    monkeypatch.chdir(repo)
    out_file = repo / "reports" / "monitor.html"
    code, out, err = run_cli(["monitor", "--journal", journal, "--export", "html"], capsys)
    assert code == 0, err
    assert "📄 reports/monitor.html" in out
    page = out_file.read_text()
    assert '<script src="http' not in page and len(page) > 3_000_000  # plotly.js inline
    assert page.count("Plotly.newPlot") == 3
    for div in ("baseline_v1-0", "baseline_v1-1", "baseline_v1-2"):
        assert f'id="{div}"' in page
    assert "circular block bootstrap" in page and "inconclusive" in page


def test_bootstrap_cone_has_known_answers():
    import numpy as np

    from otonom_trader.app.production.monitor_page import bootstrap_cone

    flat = np.full(250, 0.001)  # no dispersion: every path is the same compounding
    cone, _ = bootstrap_cone(flat, 400)
    expected = 1.001 ** np.arange(1, 401) - 1
    assert np.allclose(cone, expected, rtol=1e-12, atol=0)
    noisy = np.random.default_rng(4).normal(0.0005, 0.01, 750)
    cone, block = bootstrap_cone(noisy, 250)
    assert block >= 1 and np.all(cone[0] <= cone[1]) and np.all(cone[1] <= cone[2])
    width = cone[2] - cone[0]
    assert width[-1] > width[25] > 0  # the cone widens with the horizon
