"""Market data loading, validation, frequency, fingerprint, the ``data`` CLI and the DSI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from otonom_trader.domain.errors import DataError
from otonom_trader.engine.data import (
    BUNDLED,
    COLUMNS,
    data_fingerprint,
    infer_periods_per_year,
    list_symbols,
    load_bars,
    load_vix,
    periods_per_year,
    prepare,
)
from otonom_trader.engine.quality import dsi
from tests import helpers

LENGTHS = {"SPX": 5031, "NASDAQ": 5031, "VIX": 1259, "GOOG": 2148, "EURUSD": 5000, "BTC-USD": 156}


def synthetic(index, seed: int = 0) -> pd.DataFrame:
    """Clean bars on ``index``: a 1%-vol random walk, Open = previous Close."""
    rng = np.random.default_rng(seed)
    n = len(index)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close) * 1.002,
            "Low": np.minimum(open_, close) * 0.998,
            "Close": close,
            "Volume": np.full(n, 1000.0),
        },
        index=pd.DatetimeIndex(index, name="Date"),
    )


@pytest.fixture
def wide(monkeypatch):
    """A 200-column terminal for the CLI's tables."""
    monkeypatch.setenv("COLUMNS", "200")


# --- bundled data --------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", sorted(BUNDLED))
def test_bundled_symbols_load_normalised(symbol, tmp_path):
    bars = load_bars(symbol, tmp_path)
    assert list(bars.columns) == list(COLUMNS)
    assert all(str(t) == "float64" for t in bars.dtypes)
    assert str(bars.index.dtype) == "datetime64[ns]" and bars.index.name == "Date"
    assert bars.index.tz is None and bars.index.is_monotonic_increasing and bars.index.is_unique
    assert len(bars) == LENGTHS[symbol]
    assert np.isfinite(bars.to_numpy()).all()


def test_spx_range_and_case_insensitive(tmp_path):
    bars = load_bars("spx", tmp_path)
    assert (str(bars.index[0].date()), str(bars.index[-1].date())) == ("1999-01-04", "2018-12-31")
    pd.testing.assert_frame_equal(bars, load_bars("SPX", tmp_path))


def test_vix_bars_and_series(tmp_path):
    bars = load_bars("VIX", tmp_path)
    assert (bars["Open"] == bars["Close"]).all() and (bars["High"] == bars["Low"]).all()
    assert (bars["Volume"] == 0).all()
    vix = load_vix()
    assert vix.dtype == np.float64 and isinstance(vix.index, pd.DatetimeIndex)
    np.testing.assert_array_equal(vix.to_numpy(), bars["Close"].to_numpy())


def test_callers_cannot_mutate_the_cache(tmp_path):
    bars = load_bars("GOOG", tmp_path)
    bars.iloc[0, 0] = -1.0
    vix = load_vix()
    vix.iloc[0] = -1.0
    assert load_bars("GOOG", tmp_path).iloc[0, 0] != -1.0
    assert load_vix().iloc[0] != -1.0


# --- periods per year ----------------------------------------------------------------------


def test_periods_per_year_bundled(tmp_path):
    assert periods_per_year(load_bars("SPX", tmp_path)) == 252
    assert periods_per_year(load_bars("BTC-USD", tmp_path)) == 12
    assert periods_per_year(load_bars("EURUSD", tmp_path)) == 252 * 24
    assert periods_per_year(load_bars("SPX", tmp_path), override=365) == 365


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (pd.date_range("2020-01-01", periods=400, freq="D"), 365),  # 24/7 daily
        (pd.bdate_range("2020-01-01", periods=400), 252),
        (pd.date_range("2020-01-01", periods=2000, freq="h"), 365 * 24),  # 24/7 hourly
        (pd.date_range("2020-01-03", periods=100, freq="W-FRI"), 52),
        (pd.date_range("2000-01-31", periods=40, freq="QE"), 4),
        (pd.date_range("1990-12-31", periods=30, freq="YE"), 1),
    ],
)
def test_periods_per_year_rule(index, expected):
    assert infer_periods_per_year(index) == expected


def test_periods_per_year_needs_two_bars():
    with pytest.raises(DataError):
        infer_periods_per_year(pd.DatetimeIndex(["2020-01-01"]))


# --- user files ----------------------------------------------------------------------------


def test_user_csv_and_parquet_load_and_take_precedence(tmp_path):
    (tmp_path / "spx.csv").write_text(
        "timestamp,open,HIGH,low,Close\n2020-01-02,1,2,0.5,1.5\n2020-01-03,1.5,2,1,1.8\n"
    )
    bars = load_bars("SPX", tmp_path)
    assert len(bars) == 2 and (bars["Volume"] == 0).all()
    assert str(bars.index.dtype) == "datetime64[ns]" and bars["Close"].iloc[-1] == 1.8

    frame = synthetic(pd.bdate_range("2021-01-01", periods=5)).reset_index()
    frame.columns = [c.lower() for c in frame.columns]
    frame.to_parquet(tmp_path / "ABC.parquet", index=False)
    assert len(load_bars("abc", tmp_path)) == 5

    synthetic(pd.bdate_range("2022-01-03", periods=3)).to_parquet(tmp_path / "SPX.parquet")
    assert len(load_bars("SPX", tmp_path)) == 3  # parquet wins over csv, both over bundled
    sources = {i.symbol: i.source for i in list_symbols(tmp_path)}
    assert sources["SPX"] == str(tmp_path / "SPX.parquet") and sources["GOOG"] == "backtesting"
    assert "ABC" in sources


def test_tz_aware_dates_become_naive_utc(tmp_path):
    (tmp_path / "X.csv").write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2020-01-02T10:00:00+02:00,1,2,0.5,1.5,3\n2020-01-02T11:00:00+02:00,1,2,0.5,1.5,3\n"
    )
    bars = load_bars("X", tmp_path)
    assert bars.index.tz is None and bars.index[0] == pd.Timestamp("2020-01-02 08:00")


def test_unknown_symbol_lists_known_ones(tmp_path):
    (tmp_path / "MINE.csv").write_text("Date,Open,High,Low,Close\n2020-01-02,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match=r"unknown symbol 'NOPE'.*BTC-USD.*MINE.*SPX"):
        load_bars("NOPE", tmp_path)


HEADER = "Date,Open,High,Low,Close,Volume\n"
BAD_FILES = {
    "missing": ("Date,Open,Close\n2020-01-02,1,1\n", r"missing column\(s\) High, Low"),
    "nan": (HEADER + "2020-01-02,1,2,0.5,1.5,1\n2020-01-03,1,2,0.5,,1\n", r"Close.*2020-01-03"),
    "text": (HEADER + "2020-01-02,1,2,0.5,1.5,1\n2020-01-03,1,x,0.5,1,1\n", r"High.*2020-01-03"),
    "dup": (
        HEADER + "2020-01-02,1,2,0.5,1.5,1\n2020-01-03,1,2,0.5,1,1\n2020-01-03,1,2,0.5,1,1\n",
        r"duplicate timestamp 2020-01-03",
    ),
    "unsorted": (
        HEADER + "2020-01-02,1,2,0.5,1.5,1\n2020-01-06,1,2,0.5,1,1\n2020-01-03,1,2,0.5,1,1\n",
        r"not sorted \(2020-01-03 comes after 2020-01-06\)",
    ),
    "baddate": (HEADER + "2020-01-02,1,2,0.5,1.5,1\nsoon,1,2,0.5,1,1\n", r"unparsable date 'soon'"),
    "empty": ("", r"is empty"),
    "headeronly": (HEADER, r"is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_one_line_error_and_cli_exits_2(case, tmp_path, capsys, wide):
    text, pattern = BAD_FILES[case]
    path = tmp_path / "BAD.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=pattern) as exc:
        load_bars("bad", tmp_path)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message

    code, out, err = helpers.run_cli(["data", "list", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("Error: ") and "BAD.csv" in err
    assert "Traceback" not in err + out


def test_corrupt_parquet_is_a_data_error(tmp_path):
    (tmp_path / "Z.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match=r"cannot read .*Z\.parquet"):
        load_bars("Z", tmp_path)


# --- prepare, list, fingerprint ------------------------------------------------------------


def test_prepare_round_trips(tmp_path):
    target = tmp_path / "nested" / "data"
    path = prepare("spx", target)
    assert path == target / "SPX.parquet" and path.is_file()
    bundled = load_bars("SPX", tmp_path)
    prepared = load_bars("SPX", target)
    pd.testing.assert_frame_equal(prepared, bundled, check_exact=True, check_freq=False)
    assert data_fingerprint(prepared) == data_fingerprint(bundled)
    assert {i.symbol: i.source for i in list_symbols(target)}["SPX"] == str(path)


def test_cli_prepare_and_list(tmp_path, capsys, wide):
    code, out, err = helpers.run_cli(
        ["data", "prepare", "spx", "--data-dir", str(tmp_path)], capsys
    )
    assert code == 0, err
    assert out.strip() == f"✓ wrote {tmp_path / 'SPX.parquet'} (5031 bars, 1999-01-04 → 2018-12-31)"

    code, out, err = helpers.run_cli(["data", "list", "--data-dir", str(tmp_path)], capsys)
    assert code == 0, err
    for text in (*BUNDLED, "5031", "1999-01-04", "6048", "1M", "SPX.parquet", "backtesting"):
        assert text in out


def test_cli_prepare_unknown_symbol_exits_2(tmp_path, capsys, wide):
    code, _, err = helpers.run_cli(
        ["data", "prepare", "AAPL", "--data-dir", str(tmp_path)], capsys
    )
    assert code == 2 and "no data for 'AAPL'" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_cli_prepare_from_a_user_csv_with_fingerprint(tmp_path, capsys, wide):
    bars = synthetic(pd.bdate_range("2020-01-01", periods=30))
    bars.to_csv(tmp_path / "acme.csv", index_label="Date")
    out_json = tmp_path / "ACME.fingerprint.json"
    code, out, _ = helpers.run_cli(["data", "prepare", "ACME", "--data-dir", str(tmp_path),
                            "--fingerprint", str(out_json)], capsys)
    assert code == 0 and "30 bars" in out
    info = json.loads(out_json.read_text())
    prepared = load_bars("ACME", tmp_path)
    assert info["bars"] == 30 and info["fingerprint"] == data_fingerprint(prepared)
    assert (tmp_path / "ACME.parquet").is_file()


def test_fingerprint_stable_and_sensitive():
    bars = synthetic(pd.bdate_range("2020-01-01", periods=50))
    assert data_fingerprint(bars) == data_fingerprint(bars.copy())
    # pinned on exactly representable values: the same bars hash the same in every run
    exact = pd.DataFrame(
        np.arange(25, dtype=np.float64).reshape(5, 5) + 1.0,
        columns=list(COLUMNS),
        index=pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=5), name="Date"),
    )
    assert data_fingerprint(exact) == PINNED_FINGERPRINT
    changed = bars.copy()
    changed.iloc[10, changed.columns.get_loc("Close")] += 1e-9
    assert data_fingerprint(changed) != data_fingerprint(bars)
    shifted = bars.copy()
    shifted.index = shifted.index + pd.Timedelta(hours=1)
    assert data_fingerprint(shifted) != data_fingerprint(bars)


PINNED_FINGERPRINT = "cb44edbb6cbc74962897f516d2f7b2d392971d8ed9733856502a368ba4122021"


# --- DSI -----------------------------------------------------------------------------------


def test_dsi_clean_bars_score_one(tmp_path):
    bars = synthetic(pd.bdate_range("2020-01-01", periods=300))
    score = dsi(bars)
    assert score.dtype == np.float64 and len(score) == len(bars)
    np.testing.assert_array_equal(score, 1.0)
    assert dsi(bars.iloc[:0]).shape == (0,)


def _defect(bars: pd.DataFrame, k: int, kind: str) -> pd.DataFrame:
    bars = bars.copy()
    col = bars.columns.get_loc
    if kind == "zero":
        bars.iloc[k, col("Low")] = 0.0
    elif kind == "negative":
        bars.iloc[k, col("Open")] = -1.0
    elif kind == "high_below_low":
        bars.iloc[k, [col("High"), col("Low")]] = bars.iloc[k][["Low", "High"]].to_numpy()
    elif kind == "open_above_high":
        bars.iloc[k, col("Open")] = bars.iloc[k]["High"] * 1.01
    elif kind == "stale_bar":
        bars.iloc[k, :4] = bars.iloc[k - 1, :4].to_numpy()
    elif kind == "stale_flat":
        bars.iloc[k, :4] = bars.iloc[k - 1]["Close"]
    elif kind == "outlier":
        bars.iloc[k:, :4] *= 1.5  # a level shift: one huge return, then normal ones
    return bars


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("zero", 0.0),
        ("negative", 0.0),
        ("high_below_low", 0.0),
        ("open_above_high", 0.0),
        ("stale_bar", 0.5),
        ("stale_flat", 0.5),
        ("outlier", 0.25),
    ],
)
def test_dsi_defect_lowers_its_own_bar(kind, expected):
    bars = synthetic(pd.bdate_range("2020-01-01", periods=200))
    k = 120
    score = dsi(_defect(bars, k, kind))
    assert score[k] == expected
    assert (np.delete(score, k) == 1.0).all()


def test_dsi_gaps_daily_weekday_calendar():
    days = pd.bdate_range("2020-01-01", periods=200)
    one_holiday = synthetic(days.delete([100]))
    assert (dsi(one_holiday) == 1.0).all()  # weekends and a one-day holiday are not gaps
    hole = synthetic(days.delete([100, 101, 102]))
    score = dsi(hole)
    assert score[100] == 0.5 and (np.delete(score, 100) == 1.0).all()


def test_dsi_gaps_24_7_and_intraday():
    days = pd.date_range("2020-01-01", periods=200, freq="D")
    score = dsi(synthetic(days.delete([100, 101, 102, 103])))
    assert score[100] == 0.5 and (np.delete(score, 100) == 1.0).all()

    hours = pd.DatetimeIndex(
        [
            d + pd.Timedelta(hours=h)
            for d in pd.bdate_range("2020-01-01", periods=60)
            for h in range(9, 17)
        ]
    )
    assert (dsi(synthetic(hours)) == 1.0).all()  # overnight and weekend breaks are not gaps
    hole_at = hours.get_loc(pd.Timestamp("2020-02-12 15:00"))
    score = dsi(synthetic(hours.delete(range(hole_at - 4, hole_at))))
    assert score[hole_at - 4] == 0.5 and (np.delete(score, hole_at - 4) == 1.0).all()


def test_dsi_has_no_look_ahead(tmp_path):
    bars = synthetic(pd.bdate_range("2020-01-01", periods=160).delete([40, 41, 42]))
    for k, kind in ((20, "stale_bar"), (60, "outlier"), (90, "zero"), (100, "high_below_low")):
        bars = _defect(bars, k, kind)
    for frame in (
        bars,
        load_bars("EURUSD", tmp_path).iloc[:400],
        load_bars("SPX", tmp_path).iloc[650:850],
    ):
        full = dsi(frame)
        assert (full < 1).any()
        for t in range(len(frame)):
            np.testing.assert_array_equal(dsi(frame.iloc[: t + 1]), full[: t + 1])
