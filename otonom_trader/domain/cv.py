"""The cross-validation settings of a grid search: ``--cv cpcv --folds N --test-folds k
[--embargo-days D]`` or a ``cv:`` mapping in the grid file (the flags win, key by key).

Only the shape is checked here (integers, k < N, D ≥ 0); what depends on the data (N divides
the stored blocks, a fold holds enough bars for the indicators, the embargo leaves training
folds) is checked by ``app.experiments.cpcv_search`` once the bars are loaded, before any run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from otonom_trader.domain.errors import InputError

METHODS = ("cpcv",)
KEYS = ("method", "folds", "test_folds", "embargo_days")
FLAGS = {"method": "--cv", "folds": "--folds", "test_folds": "--test-folds",
         "embargo_days": "--embargo-days"}
DEFAULTS = {"folds": 8, "test_folds": 2, "embargo_days": 0}
MAX_DAYS = 36_500


@dataclass(frozen=True)
class CVSettings:
    method: str
    folds: int
    test_folds: int
    embargo_days: int
    names: Mapping[str, str]  # key -> how the user gave it (a flag or `<grid>: cv.key`)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "names"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def cv_settings(flags: Mapping[str, Any], file_cv: Any = None,
                grid_label: str = "grid") -> CVSettings | None:
    """The settings from ``flags`` (``KEYS`` → value or None) over the grid file's ``cv:``;
    None when neither asks for cross-validation. ``InputError`` naming the flag or key."""
    names = dict(FLAGS)
    values: dict[str, Any] = {}
    if file_cv is not None:
        if not isinstance(file_cv, Mapping):
            raise InputError(f"{grid_label}: `cv`: expected a mapping like `{{method: cpcv, "
                             f"folds: 8, test_folds: 2, embargo_days: 0}}`, got {file_cv!r}")
        for key, value in file_cv.items():
            if key not in KEYS:
                raise InputError(f"{grid_label}: `cv.{key}` is not a cross-validation "
                                 f"setting: use {', '.join(KEYS)}")
            values[key], names[key] = value, f"{grid_label}: `cv.{key}`"
    for key, value in flags.items():
        if value is not None:
            values[key], names[key] = value, FLAGS[key]
    if "method" not in values:
        given = [FLAGS[k] for k in KEYS if flags.get(k) is not None]
        if given or file_cv is not None:
            where = given[0] if given else f"{grid_label}: `cv`"
            raise InputError(f"{where} needs --cv cpcv (or `method: cpcv` under `cv:` in the "
                             "grid file)")
        return None
    if values["method"] not in METHODS:
        raise InputError(f"{names['method']}: expected one of {', '.join(METHODS)}, got "
                         f"{values['method']!r}")
    for key, default in DEFAULTS.items():
        values.setdefault(key, default)
    for key, low, high in (("folds", 2, 64), ("test_folds", 1, 63),
                           ("embargo_days", 0, MAX_DAYS)):
        if not (_is_int(values[key]) and low <= values[key] <= high):
            raise InputError(f"{names[key]} {values[key]!r}: expected an integer from {low} "
                             f"to {high:,}")
    if values["test_folds"] >= values["folds"]:
        raise InputError(f"{names['test_folds']} {values['test_folds']}: expected fewer test "
                         f"folds than the {values['folds']} folds ({names['folds']})")
    return CVSettings(names=names, **values)


def cpcv_lines(record: Mapping[str, Any]) -> list[str]:
    """A stored CPCV record (``app.experiments.cpcv_search.cpcv_record``) in two lines: its
    settings and split counts, then the out-of-sample path-Sharpe summary (grid-search, show,
    the HTML report)."""
    head = (f"{record['folds']} folds, {record['test_folds']} test, embargo "
            f"{record['embargo_days']} days ({record['embargo_blocks']} block(s))")
    if "note" in record:
        return [head, record["note"]]
    q, below = record["quantiles"], record["share_below_zero"]
    return [f"{head}: {record['n_paths']:,} paths of {record['n_splits']:,} splits",
            f"out-of-sample Sharpe mean {_f(record['mean'])}, std {_f(record['std'])}, "
            f"5% {_f(q['0.05'])}, median {_f(q['0.5'])}, 95% {_f(q['0.95'])}; paths below 0: "
            f"{_f(None if below is None else 100 * below, '.1f')}%"]


def _f(value: Any, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)
