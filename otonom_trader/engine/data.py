"""Market data: bundled samples, user files under ``data/``, validation, frequency, fingerprint.

Bars are a DataFrame with exactly the float64 columns Open, High, Low, Close, Volume and a
sorted, unique, tz-naive (UTC) ``DatetimeIndex`` of dtype ``datetime64[ns]`` named ``Date``.
A user file ``<data_dir>/<SYMBOL>.parquet`` (preferred) or ``.csv`` takes precedence over the
bundled copy of the same symbol. Symbols are case-insensitive; the canonical form is uppercase.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from otonom_trader.domain.errors import DataError

COLUMNS = ("Open", "High", "Low", "Close", "Volume")
PRICE_COLUMNS = COLUMNS[:4]
# symbol -> package the sample ships in
BUNDLED = dict.fromkeys(("SPX", "NASDAQ", "VIX"), "arch")
BUNDLED |= dict.fromkeys(("GOOG", "EURUSD", "BTC-USD"), "backtesting")
# (median spacing below this many days, label, periods per year); daily uses 252 or 365
_BUCKETS = ((4, "1d", 0.0), (11, "1w", 52.0), (45, "1M", 12.0), (135, "3M", 4.0), (270, "6M", 2.0))
SATURDAY_SHARE = 0.05  # a market trades 7 days a week when >= 5% of its bars fall on Saturdays
_DATE_NAMES = ("date", "datetime", "timestamp")
_EXPECTED = "expected Date, Open, High, Low, Close[, Volume] (names are case-insensitive)"


@dataclass(frozen=True)
class SymbolInfo:
    """One loadable symbol as ``otonom data list`` shows it."""

    symbol: str
    bars: int
    first: pd.Timestamp
    last: pd.Timestamp
    frequency: str  # "1h", "1d", "1w", "1M", "3M", "6M", "1y"
    periods_per_year: float
    source: str  # "arch", "backtesting", or the file path
    fingerprint: str


def load_bars(symbol: str, data_dir: Path | str = "data",
              on_bad_bars: str = "refuse") -> pd.DataFrame:
    """Validated bars for ``symbol``: a user file in ``data_dir`` if present, else bundled data.

    Bars with a price ≤ 0 or High < Low are refused (``refuse_bad_bars``) unless
    ``on_bad_bars`` is ``"score"`` (the strategy's ``data.on_bad_bars``): then they are kept,
    the DSI scores them 0 and no entry is decided on them.
    """
    sym = _canonical(symbol)
    files = _user_files(data_dir)
    if sym in files:
        path = files[sym]
        stat = path.stat()
        bars = _load_file(str(path), stat.st_mtime_ns, stat.st_size).copy()
    elif sym in BUNDLED:
        bars = _bundled(sym).copy()
    else:
        bars = None
    if bars is not None:
        if on_bad_bars != "score":
            refuse_bad_bars(bars, str(files[sym]) if sym in files else f"bundled {sym}")
        return bars
    known = sorted(set(BUNDLED) | set(files))
    hint = difflib.get_close_matches(sym, known, n=1)
    did_you_mean = f"did you mean {hint[0]}? " if hint else ""
    raise DataError(
        f"unknown symbol {symbol!r}; {did_you_mean}known symbols: {', '.join(known)}; "
        f"or add {Path(data_dir) / sym}.csv or .parquet"
    )


def list_symbols(data_dir: Path | str = "data") -> list[SymbolInfo]:
    """Every loadable symbol (bundled and files in ``data_dir``), sorted; bad files raise."""
    files = _user_files(data_dir)
    infos = []
    for sym in sorted(set(BUNDLED) | set(files)):
        bars = load_bars(sym, data_dir)
        label, ppy = _frequency(bars.index)
        infos.append(
            SymbolInfo(
                symbol=sym,
                bars=len(bars),
                first=bars.index[0],
                last=bars.index[-1],
                frequency=label,
                periods_per_year=ppy,
                source=str(files[sym]) if sym in files else BUNDLED[sym],
                fingerprint=data_fingerprint(bars),
            )
        )
    return infos


def prepare(symbol: str, data_dir: Path | str = "data") -> Path:
    """Write ``symbol`` to ``<data_dir>/<SYMBOL>.parquet`` (atomically) from the user's
    ``<SYMBOL>.csv`` when there is one, else from the bundled data; return the path."""
    sym = _canonical(symbol)
    path = Path(data_dir) / f"{sym}.parquet"
    csv = next((p for p in Path(data_dir).glob("*.[cC][sS][vV]") if p.stem.upper() == sym),
               None) if Path(data_dir).is_dir() else None
    if csv is not None:
        bars = _load_file(str(csv), csv.stat().st_mtime_ns, csv.stat().st_size)
        refuse_bad_bars(bars, str(csv))
    elif sym in BUNDLED:
        bars = _bundled(sym)
    elif path.is_file():
        return path  # the user's own parquet file: nothing to prepare
    else:
        raise DataError(
            f"no data for {symbol!r}: bundled symbols are {', '.join(sorted(BUNDLED))}; "
            f"for other symbols put your own file at {Path(data_dir) / sym}.csv"
        )
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        bars.to_parquet(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}; check --data-dir") from exc
    return path


def refuse_bad_bars(bars: pd.DataFrame, source: str) -> None:
    """Raise a one-line DataError naming ``source``, the count and the first dates of bars
    with a price ≤ 0 or High < Low."""
    prices = bars[list(PRICE_COLUMNS)].to_numpy()
    bad = (prices <= 0).any(axis=1) | (bars["High"].to_numpy() < bars["Low"].to_numpy())
    if not bad.any():
        return
    dates = bars.index[bad]
    first = ", ".join(_fmt(ts) for ts in dates[:3]) + (", ..." if len(dates) > 3 else "")
    raise DataError(
        f"{source}: {len(dates):,} bar(s) with a price ≤ 0 or High < Low ({first}); fix or "
        "drop them, or set `data.on_bad_bars: score` in the strategy to keep them with DSI 0 "
        "and no entries on them"
    )


def load_vix() -> pd.Series:
    """Bundled VIX close (float64, named ``VIX``); days without a quote are dropped."""
    return _bundled("VIX")["Close"].rename("VIX").copy()


def infer_periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year from the median bar spacing (see ``_frequency`` for the rule)."""
    return _frequency(index)[1]


def periods_per_year(bars: pd.DataFrame, override: float | None = None) -> float:
    """``override`` when given (the strategy's ``data.periods_per_year``), else inferred."""
    if override is not None:
        if not override > 0:
            raise DataError(f"periods_per_year must be > 0, got {override}")
        return float(override)
    return infer_periods_per_year(bars.index)


def data_fingerprint(bars: pd.DataFrame) -> str:
    """sha256 hex over the index (int64 ns, little-endian) and the OHLCV float64 bytes."""
    index = pd.DatetimeIndex(bars.index).as_unit("ns")
    digest = hashlib.sha256(index.asi8.astype("<i8").tobytes())
    digest.update(np.ascontiguousarray(bars[list(COLUMNS)].to_numpy(dtype="<f8")).tobytes())
    return digest.hexdigest()


# --- frequency ---------------------------------------------------------------------------


def trades_weekends(index: pd.DatetimeIndex) -> bool:
    """True for 24/7 markets: >= 5% of bars fall on a Saturday (FX's Sunday open doesn't count)."""
    return bool(np.mean(index.day_of_week == 5) >= SATURDAY_SHARE) if len(index) else False


def _frequency(index: pd.DatetimeIndex) -> tuple[str, float]:
    """(label, periods per year) from the median spacing m between bars.

    m < 0.75 days, intraday: base x bars per day, where base is 365 for 24/7 markets
    (``trades_weekends``) else 252, and bars per day is the median number of bars per calendar
    date, rounded (EURUSD hourly: 252 x 24 = 6048; US equities hourly: 252 x 7; crypto 1h:
    365 x 24). m < 4 days: daily, 252 or 365. Then weekly (m < 11) 52, monthly (m < 45) 12,
    quarterly (m < 135) 4, half-yearly (m < 270) 2, else yearly 1.
    """
    index = pd.DatetimeIndex(index)
    if len(index) < 2:
        raise DataError("need at least 2 bars to infer periods per year; set data.periods_per_year")
    m = float(np.median(np.diff(index.as_unit("ns").asi8.astype(np.float64)))) / 86_400e9
    if m <= 0:
        raise DataError("timestamps must be sorted and unique to infer periods per year")
    base = 365.0 if trades_weekends(index) else 252.0
    if m < 0.75:
        per_day = float(pd.Series(index.normalize()).value_counts().median())
        return _intraday_label(m), float(base * max(1.0, np.floor(per_day + 0.5)))
    for limit, label, ppy in _BUCKETS:
        if m < limit:
            return label, ppy or base
    return "1y", 1.0


def _intraday_label(days: float) -> str:
    seconds = round(days * 86_400)
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


# --- loading -----------------------------------------------------------------------------


def _canonical(symbol: str) -> str:
    sym = str(symbol).strip().upper()
    if not sym:
        raise DataError("empty symbol; pass one such as SPX")
    return sym


def _user_files(data_dir: Path | str) -> dict[str, Path]:
    """SYMBOL -> file in ``data_dir`` (``.parquet`` wins over ``.csv``)."""
    folder = Path(data_dir)
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if suffix not in (".parquet", ".csv") or path.name.startswith(".") or not path.is_file():
            continue
        sym = path.stem.upper()
        if sym not in found or (suffix == ".parquet" and found[sym].suffix.lower() != ".parquet"):
            found[sym] = path
    return found


def _package_dir(name: str) -> Path:
    """An installed package's folder, found without importing it (arch ≈1 s, backtesting
    ≈0.4 s: they pull in matplotlib and bokeh)."""
    return Path(importlib.util.find_spec(name).submodule_search_locations[0])


def _arch_file(symbol: str) -> pd.DataFrame:
    """The CSV that ``arch.data.<name>.load()`` reads."""
    name = {"SPX": "sp500", "NASDAQ": "nasdaq", "VIX": "vix"}[symbol]
    raw = pd.read_csv(_package_dir("arch") / "data" / name / f"{name}.csv.gz")
    return raw.set_index(pd.to_datetime(raw.pop("Date")))


def _backtesting_file(symbol: str) -> pd.DataFrame:
    """The CSV that ``backtesting.test.<SYMBOL>`` reads."""
    path = _package_dir("backtesting") / "test" / f"{symbol.replace('-', '')}.csv"
    return pd.read_csv(path, index_col=0, parse_dates=True)


@functools.cache
def _bundled(symbol: str) -> pd.DataFrame:
    if symbol in ("SPX", "NASDAQ", "VIX"):
        raw = _arch_file(symbol)
        if symbol == "VIX":
            close = pd.to_numeric(raw["vix"], errors="coerce").dropna()
            raw = pd.DataFrame({c: close for c in PRICE_COLUMNS}).assign(Volume=0.0)
    else:
        raw = _backtesting_file(symbol)
    return _validate(_normalise(raw, f"bundled {symbol}"), f"bundled {symbol}")


@functools.lru_cache(maxsize=32)
def _load_file(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Read and validate one user file; the cache key includes mtime and size."""
    try:
        raw = pd.read_parquet(path) if path.lower().endswith(".parquet") else pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} is empty; {_EXPECTED}") from exc
    except (ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read {path} ({reason}); {_EXPECTED}") from exc
    return _validate(_normalise(raw, path), path)


def _normalise(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Pick the date and OHLCV columns (case-insensitive) and coerce dtypes."""
    if len(raw) == 0:
        raise DataError(f"{source} is empty; {_EXPECTED}")
    names = {str(c).strip().lower(): c for c in raw.columns}
    missing = [c for c in PRICE_COLUMNS if c.lower() not in names]
    if missing:
        raise DataError(f"{source} is missing column(s) {', '.join(missing)}; {_EXPECTED}")
    if isinstance(raw.index, pd.DatetimeIndex):
        dates = _parse_dates(raw.index, source)
    else:
        date_col = next((names[n] for n in _DATE_NAMES if n in names), raw.columns[0])
        dates = _parse_dates(raw[date_col], source)
    out = {}
    for col in COLUMNS:
        if col.lower() in names:
            values = pd.to_numeric(raw[names[col.lower()]], errors="coerce")
            out[col] = np.asarray(values, dtype=np.float64)
        else:
            out[col] = np.zeros(len(raw))
    return pd.DataFrame(out, index=dates)


def _parse_dates(values: pd.Series | pd.DatetimeIndex, source: str) -> pd.DatetimeIndex:
    if isinstance(values, pd.DatetimeIndex):
        index = values
    else:
        series = pd.Series(values).reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            top = float(np.nanmax(np.abs(series))) if series.notna().any() else 0.0
            unit = "s" if top < 1e11 else "ms" if top < 1e14 else "ns"
            parsed = pd.to_datetime(series, unit=unit, utc=True, errors="coerce")
        else:
            with warnings.catch_warnings():  # format-inference warnings; failures become NaT
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(series, utc=True, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(
                f"{source}: unparsable date {series.iloc[row]!r} (data row {row + 1}); "
                "use ISO dates such as 2020-01-31 or 2020-01-31 14:00"
            )
        index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    try:
        index = index.as_unit("ns")
    except (OverflowError, ValueError) as exc:
        raise DataError(f"{source}: dates out of range ({exc}); use dates 1677-2262") from exc
    return pd.DatetimeIndex(index, name="Date")


def _validate(bars: pd.DataFrame, source: str) -> pd.DataFrame:
    """Raise a one-line DataError for non-finite values, duplicate or unsorted timestamps."""
    index = bars.index
    for col in COLUMNS:
        bad = ~np.isfinite(bars[col].to_numpy())
        if bad.any():
            raise DataError(
                f"{source}: column {col} has a missing or non-numeric value at "
                f"{_fmt(index[int(np.argmax(bad))])}; fill or drop that row"
            )
    dup = index.duplicated()
    if dup.any():
        raise DataError(
            f"{source}: duplicate timestamp {_fmt(index[int(np.argmax(dup))])}; "
            "keep one bar per timestamp"
        )
    ns = index.asi8
    back = ns[1:] < ns[:-1]  # compared, not subtracted: 1700 → 2260 overflows int64 ns
    if back.any():
        i = int(np.argmax(back)) + 1
        raise DataError(
            f"{source}: timestamps are not sorted ({_fmt(index[i])} comes after "
            f"{_fmt(index[i - 1])}); sort the file by date"
        )
    return bars


def _fmt(ts: pd.Timestamp) -> str:
    return str(ts.date()) if ts == ts.normalize() else ts.isoformat(sep=" ")
