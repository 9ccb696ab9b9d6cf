"""Follow a CSV or Parquet file of bars that another process appends to."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from otonom_trader.domain.errors import DataError, InputError


class FileFeed:
    def __init__(self, path: Path, spec: str = "file") -> None:
        if path.suffix.lower() not in (".csv", ".parquet"):
            raise InputError(f"--feed {spec}: expected a .csv or .parquet file")
        if not path.is_file():
            raise InputError(f"--feed {spec}: no such file {path}")
        self.path, self.symbol, self.start = path, path.stem.upper(), None
        self._stamp: tuple[int, int] | None = None
        self._bars = pd.DataFrame()

    def poll(self) -> pd.DataFrame:
        """Re-read the file when it changed; a half-written last line is left for later."""
        from otonom_trader.engine.data import _load_file

        try:
            st = self.path.stat()
        except OSError:
            return self._bars
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                bars = _load_file(str(self.path), *stamp).copy()
            except (DataError, InputError, ValueError, OSError):
                return self._bars  # mid-write: try again next poll
            self._stamp, self._bars = stamp, bars
        return self._bars

    def resume(self, after: pd.Timestamp) -> None:
        """The file holds its own history; nothing to skip."""
