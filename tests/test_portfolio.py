"""`otonom backtest --portfolio`: shared capital against hand-computed combinations of single
backtests, the engine's metrics on one member, and bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from otonom_trader.app.portfolio import run_portfolio
from otonom_trader.domain.strategy_loader import load_strategy
from otonom_trader.engine.backtest import backtest
from otonom_trader.engine.data import load_bars
from tests.helpers import REPO, run_cli

WINDOW = ("2010-01-01", "2011-12-31")


def write_production(repo, *entries, capital=100_000):
    items = [{"name": n, "path": f"strategies/{f}.yaml", "stage": stage, "capital_pct": pct}
             for n, f, stage, pct in entries]
    path = repo / "deployments" / "production.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"capital": capital, "strategies": items}))
    return path


def strategy_variant(repo, source, name, **data):
    doc = yaml.safe_load((repo / "strategies" / f"{source}.yaml").read_text())
    doc["name"] = name
    doc["data"].update(data)
    (repo / "strategies" / f"{name}.yaml").write_text(yaml.safe_dump(doc))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    shutil.copytree(REPO / "strategies", tmp_path / "strategies")
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def single(repo, name, symbol="SPX", capital=10_000.0):
    strategy = load_strategy(repo / "strategies" / f"{name}.yaml")
    return backtest(strategy, load_bars(symbol), symbol=symbol, start=WINDOW[0], end=WINDOW[1],
                    initial_capital=capital)


def test_combined_equity_is_the_allocated_sum_of_single_backtests(repo):
    path = write_production(repo, ("a", "baseline_v1", "paper", 40),
                            ("b", "sma_cross", "live", 10), ("s", "sma_cross", "shadow", 0))
    result = run_portfolio(path, *WINDOW)
    e1, e2 = single(repo, "baseline_v1").equity, single(repo, "sma_cross").equity
    assert e1.index.equals(result.equity.index) and len(e1) == 504
    # P = 0.4·C·E1/E1[0] + 0.1·C·E2/E2[0] + 0.5·C (the engine sizes on equity)
    c = 100_000
    expected = 0.4 * c * e1 / e1.iloc[0] + 0.1 * c * e2 / e2.iloc[0] + 0.5 * c
    np.testing.assert_allclose(result.equity.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert result.cash == 50_000 and result.excluded == (("s", "shadow: trades no capital"),)
    # contributions: each member's P&L, shares of the total P&L adding up to 1
    pnl1, pnl2 = 0.4 * c * (e1.iloc[-1] / e1.iloc[0] - 1), 0.1 * c * (e2.iloc[-1] / e2.iloc[0] - 1)
    rows = {r["name"]: r for r in result.contributions()}
    assert rows["a"]["pnl"] == pytest.approx(pnl1, rel=1e-12)
    assert rows["b"]["pnl"] == pytest.approx(pnl2, rel=1e-12)
    assert rows["a"]["pnl_share"] == pytest.approx(pnl1 / (pnl1 + pnl2), rel=1e-9)
    assert rows["a"]["pnl_share"] + rows["b"]["pnl_share"] == pytest.approx(1.0)
    # correlation of the members' per-bar returns, as pandas computes it by hand
    r = pd.DataFrame({"a": e1.pct_change(), "b": e2.pct_change()}).iloc[1:]
    assert result.correlation.loc["a", "b"] == pytest.approx(r.corr().loc["a", "b"], rel=1e-9)
    # combined metrics: the same definitions on the combined curve
    p = expected.to_numpy()
    ret = p[1:] / p[:-1] - 1
    years = (e1.index[-1] - e1.index[0]).total_seconds() / (365.25 * 86400)
    m = result.metrics
    assert m["total_return_pct"] == pytest.approx((p[-1] / p[0] - 1) * 100, rel=1e-9)
    assert m["cagr_pct"] == pytest.approx(((p[-1] / p[0]) ** (1 / years) - 1) * 100, rel=1e-9)
    assert m["sharpe"] == pytest.approx(ret.mean() / ret.std(ddof=1) * np.sqrt(252), rel=1e-9)
    dd = 1 - p / np.maximum.accumulate(p)
    assert m["max_drawdown_pct"] == pytest.approx(-dd.max() * 100, rel=1e-9)
    n1, n2 = (single(repo, n).metrics["n_trades"] for n in ("baseline_v1", "sma_cross"))
    assert m["n_trades"] == n1 + n2


def test_one_member_at_100_percent_reproduces_otonom_backtest(repo, capsys):
    path = write_production(repo, ("only", "sma_cross", "live", 100), capital=10_000)
    code, out, err = run_cli(["backtest", "--portfolio", path, "--start-date", WINDOW[0],
                              "--end-date", WINDOW[1], "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    ref = single(repo, "sma_cross").metrics
    for key, value in ref.items():  # the kernel's one-pass metrics vs the curve's
        if value is None or not np.isfinite(value):
            assert payload[key] is None
        else:
            assert payload[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert payload["cash"] == 0 and payload["members"][0]["pnl_share"] == pytest.approx(1.0)
    code, out, _ = run_cli(["backtest", "--portfolio", path, "--start-date", WINDOW[0],
                            "--end-date", WINDOW[1]], capsys)
    assert code == 0 and "only" in out and "Sharpe" in out and "100.0%" in out


def test_members_on_two_symbols_share_one_window(repo):
    strategy_variant(repo, "sma_cross", "sma_nasdaq", symbol="NASDAQ")
    path = write_production(repo, ("spx", "sma_cross", "paper", 30),
                            ("ndx", "sma_nasdaq", "paper", 30))
    result = run_portfolio(path, *WINDOW)
    assert result.equity.iloc[0] == pytest.approx(100_000)
    assert len(result.equity) >= 0.95 * len(single(repo, "sma_cross").equity)
    assert -1 <= result.correlation.loc["spx", "ndx"] <= 1


def test_bad_portfolios_are_one_line_exit_2(repo, capsys):
    (repo / "deployments").mkdir()
    strategy_variant(repo, "sma_cross", "sma_btc", symbol="BTC-USD")
    bars = load_bars("SPX")
    bars.index = bars.index + pd.Timedelta(hours=12)  # same frequency, no shared bar
    bars.to_csv(repo / "data" / "NOON.csv", index_label="Date")
    strategy_variant(repo, "sma_cross", "sma_noon", symbol="NOON", periods_per_year=252)
    cases = [
        ([("a", "baseline_v1", "paper", 60), ("b", "sma_cross", "paper", 50)],
         "allocations add up to 110% (a 60% + b 50%), more than 100%"),
        ([("a", "sma_cross", "paper", 40), ("b", "sma_btc", "paper", 40)],
         "different frequencies: a (SPX, 252 periods/year) and b (BTC-USD, 12 periods/year)"),
        ([("a", "sma_cross", "paper", 40), ("b", "sma_noon", "paper", 40)],
         "the calendars cannot be aligned"),
        ([("s", "sma_cross", "shadow", 0)], "no paper or live strategy with capital_pct > 0"),
    ]
    for entries, needle in cases:
        path = write_production(repo, *entries)
        code, _, err = run_cli(["backtest", "--portfolio", path, "--start-date", "2014-01-01",
                                "--end-date", "2016-12-31"], capsys)
        assert code == 2 and needle in err, err
        assert len(err.strip().splitlines()) == 1
    for argv, needle in ((["--portfolio", "nope.yaml"], "nope.yaml: no such deployment file"),
                         (["--portfolio", path, "--symbol", "SPX"], "--symbol does not apply"),
                         (["--portfolio", path, "--initial-capital", "5"],
                          "--initial-capital does not apply"),
                         ([], "pass --strategy-path FILE")):
        code, _, err = run_cli(["backtest", *argv], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_monitor_shows_the_portfolio_the_journal_holds(tmp_path, capsys, monkeypatch):
    """Two paper strategies at 40% and 30% replayed by the daemon: monitor's combined journal
    equity is `backtest --portfolio` over the same bars."""
    from otonom_trader.app.production.daemon import DaemonConfig
    from otonom_trader.app.production.run import run_daemon
    from tests.test_daemon import git, make_prod_repo

    repo, _ = make_prod_repo(tmp_path)
    members = (("a", "baseline_v1", "paper", 40), ("b", "sma_cross", "paper", 30))
    path = write_production(repo, *members, capital=20_000)
    (repo / "params.yaml").write_text(yaml.safe_dump({
        "split": {"train_start": "2008-01-01", "train_end": "2015-12-31",
                  "test_start": "2016-01-01", "test_end": "2018-12-31"},
        "gates": {"min_test_sharpe": 0.5, "max_drawdown_pct": -25.0, "max_sharpe_gap": 1.0,
                  "min_dsr": 0.5, "min_trades": 5, "production_margin": 0.1}}))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two paper strategies")
    git(repo, "push", "-q", "origin", "main")
    journal = f"sqlite:///{tmp_path}/j.db"
    run_daemon(DaemonConfig(root=repo, feed="replay:SPX:2016-03-01:2016-03-31",
                            journal_url=journal, fetch_every=3600.0), speed=0)
    write_production(repo, *members, ("s", "sma_cross", "shadow", 0), capital=20_000)
    monkeypatch.chdir(repo)
    code, out, err = run_cli(["monitor", "--journal", journal, "--json"], capsys)
    assert code == 0, err
    p = json.loads(out)["portfolio"]
    assert p["members"] == ["a", "b"] and p["excluded"] == ["s"] and p["cash"] == 6_000
    backtested = run_portfolio(path, "2016-03-01", "2016-03-31")
    assert p["bars"] == len(backtested.equity) == 22
    assert p["equity"] == pytest.approx(backtested.equity.iloc[-1], rel=1e-12)
    assert p["start_equity"] == pytest.approx(20_000)
    assert p["return"] == pytest.approx(backtested.metrics["total_return_pct"] / 100, rel=1e-9)
    peak = np.maximum.accumulate(backtested.equity.to_numpy())
    assert p["max_drawdown"] == pytest.approx(np.max(1 - backtested.equity / peak), rel=1e-9)
    assert p["expected_mean_annualised"] is not None and p["missing"] == []
    code, out, _ = run_cli(["monitor", "--journal", journal], capsys)
    assert code == 0 and "portfolio: a, b on 20,000.00 (6,000.00 unallocated)" in out
    code, out, _ = run_cli(["monitor", "a", "--journal", journal, "--json"], capsys)
    assert code == 0 and "portfolio" not in json.loads(out)  # one strategy asked for
