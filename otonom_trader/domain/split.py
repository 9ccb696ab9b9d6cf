"""Train/test date windows of an experiment, from a grid file's ``split:`` and CLI flags,
and the optional hold-out window after them that no ranking ever sees."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from otonom_trader.domain.errors import InputError

__all__ = ["ALL_SPLIT_KEYS", "HOLDOUT_KEYS", "SPLIT_KEYS", "Split", "date_text", "flag_name"]

SPLIT_KEYS = ("train_start", "train_end", "test_start", "test_end")  # required
HOLDOUT_KEYS = ("holdout_start", "holdout_end")  # optional, both or neither
ALL_SPLIT_KEYS = SPLIT_KEYS + HOLDOUT_KEYS


def date_text(value: Any) -> Any:
    """Dates (YAML reads ``2020-01-31`` as a date) become ISO strings; the rest is kept."""
    if isinstance(value, dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return value


@dataclass(frozen=True)
class Split:
    """ISO date strings or None (None: the caller's default, e.g. the data's first bar)."""

    train_start: str | None = None
    train_end: str | None = None
    test_start: str | None = None
    test_end: str | None = None
    holdout_start: str | None = None
    holdout_end: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, date_text(getattr(self, f.name)))

    def merged(self, overrides: Mapping[str, Any]) -> Split:
        """A copy where every non-None value of ``overrides`` (e.g. CLI flags) wins."""
        for key in overrides:
            if key not in ALL_SPLIT_KEYS:
                match = difflib.get_close_matches(str(key), ALL_SPLIT_KEYS, n=1)
                hint = f"did you mean `{match[0]}`?" if match else "expected one of " + ", ".join(
                    f"`{k}`" for k in ALL_SPLIT_KEYS
                )
                raise InputError(f"split: unknown key `{key}` — {hint}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def dates(self, label: str = "", flags: Collection[str] = ()) -> dict[str, dt.datetime | None]:
        """Each key parsed (time zones converted to naive UTC); InputError if one doesn't parse."""
        out: dict[str, dt.datetime | None] = {}
        for key in ALL_SPLIT_KEYS:
            value = getattr(self, key)
            out[key] = None if value is None else _parse(value, key, _where(label, flags, key))
        return out

    @property
    def holdout(self) -> tuple[str, str] | None:
        """(start, end) of the hold-out window, or None."""
        if self.holdout_start is None or self.holdout_end is None:
            return None
        return self.holdout_start, self.holdout_end

    def as_dict(self) -> dict[str, str | None]:
        """The four required keys, plus the hold-out keys when there is a hold-out."""
        keys = ALL_SPLIT_KEYS if self.holdout else SPLIT_KEYS
        return {k: getattr(self, k) for k in keys}

    def check(self, label: str = "", flags: Collection[str] = ()) -> None:
        """Raise ``InputError`` if a date doesn't parse, a window ends before it starts, or
        the windows overlap. ``label`` (e.g. ``"grid.yaml: "``) prefixes the message about
        file keys; the keys in ``flags`` came from the command line and are named as flags."""
        d = self.dates(label, flags)
        pairs = [
            ("train_start", "train_end", "the train window ends before it starts"),
            ("test_start", "test_end", "the test window ends before it starts"),
            ("train_end", "test_start", "the train and test windows overlap; end training "
             "before the test window starts"),
            ("train_start", "test_start", "the train window must come before the test window"),
            ("holdout_start", "holdout_end", "the hold-out window ends before it starts"),
            ("test_end", "holdout_start", "the hold-out window must start after the test "
             "window ends: no ranking may see it"),
            ("train_end", "holdout_start", "the hold-out window must start after the train "
             "window ends"),
        ]
        if (self.holdout_start is None) != (self.holdout_end is None):
            given, absent = (("holdout_start", "holdout_end") if self.holdout_end is None
                             else ("holdout_end", "holdout_start"))
            raise InputError(f"{label}split: `{given}` without `{absent}`: give both hold-out "
                             "dates or neither")
        for first, second, why in pairs:
            a, b = d[first], d[second]
            if a is None or b is None:
                continue
            strict = second in ("test_start", "holdout_start")
            if a > b or (strict and a == b):
                verb = "is not before" if strict else "is after"
                raise InputError(
                    f"{_where(label, flags, first, second)}{_name(first, flags)} "
                    f"({getattr(self, first)}) {verb} {_name(second, flags)} "
                    f"({getattr(self, second)}): {why}"
                )


def flag_name(key: str) -> str:
    """The command-line flag of a split key: ``train_start`` -> ``--train-start``."""
    return "--" + key.replace("_", "-")


def _name(key: str, flags: Collection[str]) -> str:
    return flag_name(key) if key in flags else f"`{key}`"


def _where(label: str, flags: Collection[str], *keys: str) -> str:
    """The message prefix: none when every key came from a flag, else the file's ``split:``."""
    return "" if all(k in flags for k in keys) else f"{label}split: "


def _parse(value: Any, key: str, where: str) -> dt.datetime:
    """``where`` is the message prefix from ``_where``: empty for a flag."""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            return parsed
    raise InputError(
        f"{where}{f'`{key}`' if where else flag_name(key)} {value!r} is not a date; "
        "use an ISO date such as 2020-01-31 or 2020-01-31 14:00"
    )
