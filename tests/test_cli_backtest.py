"""`otonom backtest` end to end, its outputs, and its errors (one line, exit 2)."""

import json
import subprocess
import sys

import pytest

from tests.helpers import run_cli


def test_json_metrics_for_the_reference_strategy(capsys):
    code, out, _ = run_cli(["backtest", "--strategy-path", "strategies/sma_cross.yaml",
                            "--symbol", "SPX", "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    for key in ("total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct",
                "calmar", "n_trades", "win_rate_pct", "final_equity"):
        assert key in payload
    assert payload["symbol"] == "SPX" and payload["n_trades"] > 10
    assert payload["max_drawdown_pct"] < 0
    final = payload["initial_capital"] * (1 + payload["total_return_pct"] / 100)
    assert payload["final_equity"] == pytest.approx(final)


def test_window_trades_csv_and_offline_plot(tmp_path, capsys):
    trades, plot = tmp_path / "trades.csv", tmp_path / "plot.html"
    code, out, _ = run_cli(["backtest", "--strategy-path", "strategies/sma_cross.yaml",
                            "--start-date", "2010-01-01", "--end-date", "2012-12-31",
                            "--trades", str(trades), "--plot", str(plot)], capsys)
    assert code == 0 and "Sharpe" in out and "2010-01-04" in out
    header = trades.read_text().splitlines()[0]
    assert header.startswith("entry_time,exit_time,side,units,entry_price,exit_price")
    html = plot.read_text()
    assert '<script src="http' not in html and "Drawdown" in html
    assert len(html) > 1_000_000  # plotly.js embedded, opens offline


def test_initial_capital_scales_equity_not_returns(capsys):
    args = ["backtest", "--strategy-path", "strategies/sma_cross.yaml", "--json"]
    _, a, _ = run_cli(args, capsys)
    _, b, _ = run_cli([*args, "--initial-capital", "1000000"], capsys)
    a, b = json.loads(a), json.loads(b)
    assert b["sharpe"] == pytest.approx(a["sharpe"], rel=1e-12)
    assert b["final_equity"] == pytest.approx(a["final_equity"] * 100, rel=1e-12)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--symbol", "NOPE"], "NOPE"),
        (["--start-date", "2015-13-45"], "--start-date"),
        (["--start-date", "2012-01-01", "--end-date", "2011-01-01"], "after end"),
        (["--start-date", "2023-01-01", "--end-date", "2024-12-31"], "outside the data"),
        (["--start-date", "1999-01-04", "--end-date", "1999-02-10"], "a signal needs 31 bars"),
        (["--initial-capital", "-5"], "--initial-capital"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(extra, needle, capsys):
    code, _, err = run_cli(["backtest", "--strategy-path", "strategies/sma_cross.yaml", *extra],
                           capsys)
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_start_before_warm_up_runs_and_says_when_signals_begin(capsys):
    code, out, err = run_cli(["backtest", "--strategy-path", "strategies/sma_cross.yaml",
                              "--start-date", "1999-01-04", "--end-date", "1999-12-31", "--json"],
                             capsys)
    assert code == 0 and json.loads(out)["start"] == "1999-01-04"
    assert "warm up on 1999-02-16" in err


def test_missing_strategy_file_exit_2(capsys):
    code, _, err = run_cli(["backtest", "--strategy-path", "nope.yaml"], capsys)
    assert code == 2 and "nope.yaml" in err


def test_help_imports_no_heavy_modules():
    code = (
        "import sys; from otonom_trader.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numba', 'pandas', 'plotly', 'numpy', 'dvc') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_module_form_equals_console_script():
    out = subprocess.run([sys.executable, "-m", "otonom_trader.cli", "--help"],
                         capture_output=True, text=True, check=True)
    assert "backtest" in out.stdout and "Usage: otonom" in out.stdout
