"""Grid files: loading and validation, constraints, splits, and streamed combinations."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from otonom_trader.domain.combinations import Chunk, Combinations
from otonom_trader.domain.constraints import Constraint, parse_constraint
from otonom_trader.domain.errors import InputError, StrategyError
from otonom_trader.domain.grid import (
    Distribution,
    GridSpec,
    Split,
    grid_from_mapping,
    grid_warnings,
    load_grid,
)
from otonom_trader.domain.strategy_loader import apply_overrides, check_value, load_strategy

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "grids" / "baseline_grid.yaml"


@pytest.fixture(scope="module")
def baseline():
    return load_strategy(ROOT / "strategies" / "baseline_v1.yaml")


@pytest.fixture(scope="module")
def sma():
    return load_strategy(ROOT / "strategies" / "sma_cross.yaml")


def grid(text: str, strategy, tmp_path: Path) -> GridSpec:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    return load_grid(path, strategy)


def rows(combos: Combinations, size: int = 1000, skip=()) -> list[tuple[int, dict]]:
    return [
        (int(chunk.run_numbers[i]), combos.params_of(chunk, i))
        for chunk in combos.chunks(size, skip=skip)
        for i in range(len(chunk))
    ]


# ---------------------------------------------------------------- grid search order


def test_baseline_grid_has_48_runs_in_product_order(baseline):
    spec = load_grid(GRID, baseline)
    data = yaml.safe_load(GRID.read_text())["params"]  # the workflow's `params:` block
    assert data == {"risk.risk_pct": [0.5, 1.0, 1.5, 2.0],
                    "risk.stop_loss_pct": [3.0, 5.0, 8.0, 10.0],
                    "ensemble.analyst_weights.news": [0.5, 1.0, 1.5]}
    assert spec.search == "grid" and spec.size == 48 and spec.seed == 0
    combos = Combinations(spec, baseline)
    assert combos.total == 48
    product = itertools.product(*data.values())
    expected = [dict(zip(data, values, strict=True)) for values in product]
    got = rows(combos)
    assert [n for n, _ in got] == list(range(1, 49))
    assert [p for _, p in got] == expected
    assert all(type(v) is float for _, p in got for v in p.values())
    assert grid_warnings(spec) == []
    # every row is a valid override set
    assert apply_overrides(baseline, got[-1][1]).risk.stop_loss_pct == 10.0


def test_int_ranges_expand_for_grid_search(baseline, tmp_path):
    text = (
        "analysts.tech.fast_window: {int: [2, 80, 2]}\n"
        "analysts.momentum.lookback: {int: [1, 10, 4]}\n"
    )
    spec = grid(text, baseline, tmp_path)
    assert spec.parameters["analysts.tech.fast_window"] == Distribution("int", 2, 80, 2)
    assert spec.size == 40 * 3
    got = rows(Combinations(spec, baseline))
    assert [p["analysts.momentum.lookback"] for _, p in got[:3]] == [1, 5, 9]  # 10 is off-step
    fast = [p["analysts.tech.fast_window"] for _, p in got[::3]]
    assert fast == list(range(2, 81, 2))
    chunk = next(Combinations(spec, baseline).chunks(5))
    assert chunk.values["analysts.tech.fast_window"].dtype == np.int64
    assert all(type(v) is int for v in chunk.params(0).values())


def test_int_range_on_a_number_key_gives_floats(baseline, tmp_path):
    spec = grid("risk.stop_loss_pct: {int: [1, 3]}\n", baseline, tmp_path)
    chunk = next(Combinations(spec, baseline).chunks(10))
    assert chunk.values["risk.stop_loss_pct"].dtype == np.float64
    assert chunk.values["risk.stop_loss_pct"].tolist() == [1.0, 2.0, 3.0]


def test_strings_bools_and_nulls_are_object_columns(baseline, tmp_path):
    spec = grid(
        "analysts.tech.ma_type: [sma, ema]\nrisk.allow_short: [false, true]\n"
        "risk.take_profit_pct: [null, 5.0]\n",
        baseline,
        tmp_path,
    )
    chunk = next(Combinations(spec, baseline).chunks(100))
    assert {v.dtype.kind for v in chunk.values.values()} == {"O"}
    assert chunk.params(0) == {
        "analysts.tech.ma_type": "sma",
        "risk.allow_short": False,
        "risk.take_profit_pct": None,
    }
    assert len(chunk) == 8


def test_parameters_block_is_the_same_as_top_level_keys(baseline):
    top = {"risk.risk_pct": [0.5, 1.0], "seed": 3}
    block = {"parameters": {"risk.risk_pct": [0.5, 1.0]}, "seed": 3}
    a, b = grid_from_mapping(top, baseline), grid_from_mapping(block, baseline)
    assert dict(a.parameters) == dict(b.parameters) and a.seed == b.seed == 3
    assert b.raw == block


# ---------------------------------------------------------------- constraints


FAST_SLOW = """
analysts.tech.fast_window: {int: [10, 60, 10]}
analysts.tech.slow_window: [20, 40, 60]
constraints:
  - analysts.tech.fast_window < analysts.tech.slow_window
"""


def test_constraints_filter_and_number_the_survivors(baseline, tmp_path):
    spec = grid(FAST_SLOW, baseline, tmp_path)
    assert spec.size == 18
    assert spec.constraints == (
        Constraint("analysts.tech.fast_window", "<", "analysts.tech.slow_window"),
    )
    combos = Combinations(spec, baseline)
    product = itertools.product(range(10, 61, 10), [20, 40, 60])
    expected = [(f, s) for f, s in product if f < s]
    assert combos.total == len(expected) == 9
    got = rows(combos)
    assert [n for n, _ in got] == list(range(1, 10))
    assert [(p["analysts.tech.fast_window"], p["analysts.tech.slow_window"]) for _, p in got] == (
        expected
    )
    # skipping keeps every other run's number
    assert rows(combos, 2, skip={1, 4, 9}) == [r for r in got if r[0] not in (1, 4, 9)]


def test_constraint_against_a_fixed_strategy_value(baseline, tmp_path):
    spec = grid(
        "analysts.tech.fast_window: [30, 50, 70, 40]\n"
        "constraints: ['60 > analysts.tech.fast_window', "
        "'analysts.tech.fast_window < analysts.tech.slow_window']\n",
        baseline,
        tmp_path,
    )
    assert spec.constraints[0] == Constraint("analysts.tech.fast_window", "<", 60)
    got = rows(Combinations(spec, baseline))  # base slow_window is 50
    assert got == [(1, {"analysts.tech.fast_window": 30}), (2, {"analysts.tech.fast_window": 40})]


def test_ordering_constraints_are_false_against_null(baseline, tmp_path):
    spec = grid(
        "risk.take_profit_pct: [null, 1.0, 5.0]\n"
        "constraints: [risk.take_profit_pct > risk.stop_loss_pct]\n",
        baseline,
        tmp_path,
    )
    assert [p for _, p in rows(Combinations(spec, baseline))] == [{"risk.take_profit_pct": 5.0}]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 9, 100])
def test_chunks_of_any_size_concatenate_to_the_same_sequence(baseline, tmp_path, size):
    spec = grid(FAST_SLOW, baseline, tmp_path)
    combos = Combinations(spec, baseline)
    chunks = list(combos.chunks(size))
    assert all(len(c) == size for c in chunks[:-1]) and 0 < len(chunks[-1]) <= size
    assert all(isinstance(c, Chunk) for c in chunks)
    assert rows(combos, size) == rows(combos, 1000)


def test_skip_accepts_arrays_and_everything_skipped_yields_nothing(baseline):
    spec = load_grid(GRID, baseline)
    combos = Combinations(spec, baseline)
    got = rows(combos, 5, skip=np.arange(1, 46))
    assert [n for n, _ in got] == [46, 47, 48]
    assert got == rows(combos)[45:]
    assert list(combos.chunks(10, skip=range(1, 49))) == []
    with pytest.raises(ValueError):
        next(combos.chunks(0))


def test_a_large_grid_is_counted_not_enumerated(baseline, tmp_path):
    spec = grid(
        "analysts.tech.fast_window: {int: [1, 1000]}\nanalysts.tech.slow_window: {int: [1, 1000]}\n"
        "analysts.momentum.lookback: {int: [1, 1000]}\n",
        baseline,
        tmp_path,
    )
    assert spec.size == 10**9
    assert Combinations(spec, baseline).total == 10**9  # arithmetic, no constraints
    (warning,) = grid_warnings(spec)
    assert "1,000,000,000 combinations" in warning and "`search: random`" in warning
    assert "`n_iter`" in warning and warning.startswith(str(tmp_path / "g.yaml"))
    first = next(Combinations(spec, baseline).chunks(3))
    assert first.values["analysts.momentum.lookback"].tolist() == [1, 2, 3]


def test_other_warnings(baseline):
    spec = grid_from_mapping({"risk.risk_pct": [1.0, 1.0], "n_iter": 5}, baseline)
    notes = grid_warnings(spec)
    assert any("`n_iter` is ignored" in n for n in notes)
    assert any("`risk.risk_pct` repeats a value" in n for n in notes)


# ---------------------------------------------------------------- random search


RANDOM = """
search: random
n_iter: 40
seed: 7
risk.risk_pct: {loguniform: [0.1, 10.0]}
risk.stop_loss_pct: {uniform: [1.0, 3.0]}
analysts.tech.fast_window: {int: [5, 45, 5]}
analysts.tech.ma_type: {choice: [sma, ema]}
ensemble.analyst_weights.news: [0.0, 0.5]
"""


def test_random_search_is_reproducible_and_stays_in_range(baseline, tmp_path):
    spec = grid(RANDOM, baseline, tmp_path)
    assert spec.size is None and spec.n_iter == 40 and spec.seed == 7
    combos = Combinations(spec, baseline)
    assert combos.total == 40
    got = rows(combos, 7)
    assert [n for n, _ in got] == list(range(1, 41))
    assert got == rows(Combinations(spec, baseline), 40)  # same seed, any chunking
    params = [p for _, p in got]
    assert all(0.1 <= p["risk.risk_pct"] <= 10.0 for p in params)
    assert all(1.0 <= p["risk.stop_loss_pct"] <= 3.0 for p in params)
    assert {p["analysts.tech.fast_window"] for p in params} <= set(range(5, 46, 5))
    assert {p["analysts.tech.ma_type"] for p in params} == {"sma", "ema"}
    assert {p["ensemble.analyst_weights.news"] for p in params} == {0.0, 0.5}
    # loguniform spreads over the decades
    assert min(p["risk.risk_pct"] for p in params) < 1.0 < max(p["risk.risk_pct"] for p in params)
    chunk = next(combos.chunks(3))
    assert chunk.values["analysts.tech.fast_window"].dtype == np.int64
    assert chunk.values["risk.stop_loss_pct"].dtype == np.float64
    assert chunk.values["analysts.tech.ma_type"].dtype == object

    other = rows(Combinations(grid(RANDOM.replace("seed: 7", "seed: 8"), baseline, tmp_path),
                              baseline))
    assert [p for _, p in other] != params


def test_any_random_run_regenerates_alone(baseline, tmp_path):
    spec = grid(RANDOM, baseline, tmp_path)
    combos = Combinations(spec, baseline)
    everything = dict(rows(combos))
    assert combos.draw(17) == everything[17]
    alone = rows(combos, 5, skip=set(range(1, 41)) - {17})
    assert alone == [(17, everything[17])]
    rng = np.random.default_rng([7, 17])  # the documented recipe
    assert everything[17]["risk.risk_pct"] == pytest.approx(
        math.exp(rng.uniform(math.log(0.1), math.log(10.0)))
    )


def test_random_search_redraws_until_constraints_hold(baseline, tmp_path):
    spec = grid(
        "search: random\nn_iter: 30\nanalysts.tech.fast_window: {int: [10, 90]}\n"
        "analysts.tech.slow_window: {int: [20, 100]}\n"
        "constraints: [analysts.tech.fast_window < analysts.tech.slow_window]\n",
        baseline,
        tmp_path,
    )
    params = [p for _, p in rows(Combinations(spec, baseline))]
    assert len(params) == 30
    assert all(p["analysts.tech.fast_window"] < p["analysts.tech.slow_window"] for p in params)


def test_random_search_gives_up_on_impossible_constraints(baseline, tmp_path):
    spec = grid(
        "search: random\nn_iter: 3\nanalysts.tech.fast_window: {int: [60, 90]}\n"
        "constraints: [analysts.tech.fast_window < analysts.tech.slow_window]\n",
        baseline,
        tmp_path,
    )
    with pytest.raises(InputError, match="too tight") as info:
        next(Combinations(spec, baseline).chunks(2))
    assert "\n" not in str(info.value) and "run #1" in str(info.value)


# ---------------------------------------------------------------- bad input: one line each


BAD = [
    ("risk.risk_pct: [1, 2\n", ["invalid YAML at line 2"]),
    ("risk.risk_pct: !!int x\n", ["invalid YAML"]),
    ("risk.risk_pct: [1]\nrisk.risk_pct: [2]\n", ["duplicate key `risk.risk_pct`"]),
    ("", ["the grid is empty"]),
    ("[1, 2]\n", ["expected a mapping"]),
    ("description: nothing\nseed: 1\n", ["no parameters"]),
    ("risk.risk_pt: [1]\n", ["unknown key `risk.risk_pt`", "did you mean `risk.risk_pct`?"]),
    ("risk: [1]\n", ["`risk` is a block", "`risk.risk_pct`"]),
    ("constrants: []\nrisk.risk_pct: [1]\n", ["`constrants`", "did you mean `constraints`?"]),
    ("seach: random\nrisk.risk_pct: [1]\n", ["`seach`", "did you mean `search`?"]),
    ("foo: 1\nrisk.risk_pct: [1]\n", ["unknown key `foo`", "dotted strategy paths"]),
    ("analysts.tech.fast_window: [10, 2.5]\n", ["`analysts.tech.fast_window`", "an integer"]),
    ("analysts.tech.fast_window: [10, 0]\n",
     ["`analysts.tech.fast_window`", "between 1 and 100000", "got 0"]),
    ("analysts.tech.ma_type: [sma, wma]\n", ["`analysts.tech.ma_type`", "`ema`", '"wma"']),
    ("risk.risk_pct: [1e-3]\n", ["`risk.risk_pct`", "a number", "YAML reads `1e-3` as text"]),
    ("risk.allow_short: [true, 1]\n", ["`risk.allow_short`", "true or false"]),
    ("risk.risk_pct: []\n", ["`risk.risk_pct`", "empty list"]),
    ("risk.risk_pct: 0.5\n", ["`risk.risk_pct`", "write [0.5]"]),
    ("risk.risk_pct: {uniform: [2.0, 1.0]}\nsearch: random\nn_iter: 5\n",
     ["`risk.risk_pct`", "low (2.0) is above high (1.0)"]),
    ("analysts.tech.fast_window: {int: [30, 10]}\n", ["`analysts.tech.fast_window`", "above"]),
    ("risk.risk_pct: {uniform: [1.0]}\n", ["`risk.risk_pct`", "[low, high]"]),
    ("risk.risk_pct: {uniform: [1, 1e400]}\n", ["`risk.risk_pct`", "finite numbers"]),
    ("risk.risk_pct: {uniform: [1, 1" + "0" * 400 + "]}\n",
     ["`risk.risk_pct`", "finite numbers"]),
    ("risk.risk_pct: {unifrom: [1, 2]}\n", ["`risk.risk_pct`", "did you mean `uniform`?"]),
    ("risk.risk_pct: {uniform: [1, 2], choice: [1]}\n", ["`risk.risk_pct`", "one distribution"]),
    ("analysts.tech.fast_window: {int: [1.5, 3]}\n", ["`analysts.tech.fast_window`", "integers"]),
    ("analysts.tech.fast_window: {int: [1, 9, 0]}\n", ["`analysts.tech.fast_window`", "step"]),
    ("analysts.tech.fast_window: {int: [0, 9]}\n", ["`analysts.tech.fast_window`", "got 0"]),
    ("risk.risk_pct: {choice: []}\n", ["`risk.risk_pct`", "non-empty list"]),
    ("risk.risk_pct: {loguniform: [0, 1]}\nsearch: random\nn_iter: 5\n",
     ["`risk.risk_pct`", "low > 0"]),
    ("risk.risk_pct: {uniform: [-1.0, 1.0]}\nsearch: random\nn_iter: 5\n",
     ["`risk.risk_pct`", "a number > 0"]),
    ("analysts.tech.fast_window: {uniform: [2, 9]}\nsearch: random\nn_iter: 5\n",
     ["`analysts.tech.fast_window` takes integers", "{int: [low, high]}"]),
    ("risk.risk_pct: {uniform: [0.5, 1.0]}\n", ["`risk.risk_pct`", "`search: random`", "n_iter"]),
    ("search: random\nrisk.risk_pct: [1]\n", ["`search: random` needs `n_iter`"]),
    ("search: random\nn_iter: 0\nrisk.risk_pct: [1]\n", ["`n_iter`", "between 1 and"]),
    ("search: bayes\nrisk.risk_pct: [1]\n", ["`search`", "`grid`, `random` or `optuna`"]),
    ("seed: -1\nrisk.risk_pct: [1]\n", ["`seed`", "between 0 and"]),
    ("parameters: {risk.risk_pct: [1]}\nrisk.stop_loss_pct: [1]\n",
     ["`risk.stop_loss_pct` is outside `parameters:`"]),
    ("parameters: {risk: [1]}\n", ["`risk` is a block"]),
    ("parameters: {name: [x]}\n", ["`name` is not a dotted strategy path"]),
    ("risk.risk_pct: [1]\nconstraints: [\"__import__('os')\"]\n",
     ["`constraints`", "does not parse"]),
    ("risk.risk_pct: [1]\nconstraints: [risk.risk_pct < risk.stop_los_pct]\n",
     ["`risk.stop_los_pct`", "did you mean `risk.stop_loss_pct`?"]),
    ("risk.risk_pct: [1]\nconstraints: [risk.stop_loss_pct < 3]\n",
     ["`risk.stop_loss_pct < 3`", "names no grid parameter"]),
    ("analysts.tech.ma_type: [sma]\nconstraints: [analysts.tech.ma_type < 3]\n",
     ["`analysts.tech.ma_type`", "compares numbers"]),
    ("risk.risk_pct: [1]\nconstraints: 3\n", ["`constraints`", "list of strings"]),
    ("risk.risk_pct: [1]\nsplit: {train_end: 2020-06-01, test_start: 2020-01-01}\n",
     ["`train_end` (2020-06-01)", "`test_start` (2020-01-01)", "overlap"]),
    ("risk.risk_pct: [1]\nsplit: {train_start: 2020-13-01}\n", ["`train_start`", "not a date"]),
    ("risk.risk_pct: [1]\nsplit: {train_stop: 2020-01-01}\n", ["`train_stop`", "did you mean"]),
    ("risk.risk_pct: [1]\nsplit: 2020\n", ["`split`", "expected a mapping"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[t[:40] for t, _ in BAD])
def test_bad_grids_fail_with_one_line_naming_the_key(baseline, tmp_path, text, expected):
    with pytest.raises(StrategyError) as info:
        grid(text, baseline, tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'g.yaml'}: ")
    for part in expected:
        assert part in message, message


SMA_BAD = [
    ("analysts.momentum.lookback: [5, 10]\n", "analyst `momentum` is not configured"),
    ("ensemble.analyst_weights.news: [0.1]\n", "analyst `news` is not configured"),
    ("analysts.tech.fast_window: [5]\nconstraints: [analysts.tech.fast_window < "
     "analysts.momentum.lookback]\n", "`analysts.momentum.lookback` is neither a grid parameter"),
]


@pytest.mark.parametrize(("text", "expected"), SMA_BAD)
def test_keys_of_analysts_the_strategy_lacks_are_rejected(sma, tmp_path, text, expected):
    with pytest.raises(StrategyError, match=expected) as info:
        grid(text, sma, tmp_path)
    assert "`sma_cross`" in str(info.value) or "neither" in str(info.value)


def test_missing_file_and_label_without_source(baseline, tmp_path):
    with pytest.raises(StrategyError, match="no such grid file"):
        load_grid(tmp_path / "nope.yaml", baseline)
    with pytest.raises(StrategyError, match=r"^grid: `risk.risk_pct`: empty list"):
        grid_from_mapping({"risk.risk_pct": []}, baseline)


def test_cross_field_rules_are_not_applied_per_value(baseline, tmp_path):
    spec = grid("analysts.tech.fast_window: [10, 60]\n", baseline, tmp_path)  # base slow is 50
    assert spec.size == 2


def test_raw_is_a_plain_json_ready_dict(baseline, tmp_path):
    spec = grid(
        "description: d\nrisk.risk_pct: [1.0]\nsplit: {train_start: 2010-01-04, "
        "test_start: 2020-01-01}\n",
        baseline,
        tmp_path,
    )
    assert spec.description == "d"
    assert spec.split == Split(train_start="2010-01-04", test_start="2020-01-01")
    assert json.loads(json.dumps(spec.raw)) == spec.raw
    assert spec.raw["split"] == {"train_start": "2010-01-04", "test_start": "2020-01-01"}


# ---------------------------------------------------------------- constraint parsing


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "a.b < ",
        "< a.b",
        "len(a.b) < 3",
        "a.b < c.d or 1",
        "a.b < c.d; import os",
        "a.b < c.d < e.f",
        "a.b = 3",
        "a.b <> 3",
        "a.b < 'x'",
        "a.__class__ < 3 and 1",
        "a < 3",
        "",
        "1 < 2",
        "a.b < c.d()",
        "lambda: 1",
        3,
    ],
)
def test_constraint_parser_rejects_anything_but_a_comparison(text):
    with pytest.raises(ValueError):
        parse_constraint(text)


def test_constraint_parser_accepts_comparisons():
    assert parse_constraint("a.b<=c.d") == Constraint("a.b", "<=", "c.d")
    assert parse_constraint(" 3 < a.b ") == Constraint("a.b", ">", 3)
    assert parse_constraint("a.b != -1.5e2") == Constraint("a.b", "!=", -150.0)
    assert parse_constraint("a.b == .5").right == 0.5
    assert str(parse_constraint("x.y>=2")) == "x.y >= 2"
    c = parse_constraint("a.b < c.d")
    assert c.holds({"a.b": np.array([1, 5]), "c.d": 3}).tolist() == [True, False]
    assert c.holds({"a.b": 1, "c.d": 3}) is True


# ---------------------------------------------------------------- split


def test_split_merged_and_check():
    base = Split(train_start="2010-01-01", train_end="2015-12-31", test_start="2016-01-01")
    merged = base.merged({"train_start": None, "test_start": "2017-01-01", "test_end": None})
    assert merged == Split("2010-01-01", "2015-12-31", "2017-01-01", None)
    merged.check()
    Split().check()
    assert Split(train_start=dt.date(2020, 1, 2)).train_start == "2020-01-02"
    Split(train_end="2020-01-01T12:00:00+02:00", test_start="2020-01-01 11:00").check()
    with pytest.raises(InputError, match="did you mean `test_end`"):
        base.merged({"test_ends": "2020-01-01"})


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        (Split(train_end="2020-01-01", test_start="2020-01-01"),
         ["`train_end` (2020-01-01) is not before `test_start` (2020-01-01)", "overlap"]),
        (Split(train_start="2021-01-01", train_end="2020-01-01"), ["train window ends before"]),
        (Split(test_start="2021-01-01", test_end="2020-01-01"), ["test window ends before"]),
        (Split(train_start="2021-01-01", test_start="2020-01-01"), ["must come before"]),
        (Split(test_end="31/01/2020"), ["`test_end`", "not a date", "2020-01-31"]),
        (Split(test_end=2020), ["`test_end`", "not a date"]),
    ],
)
def test_split_check_failures(split, expected):
    with pytest.raises(InputError) as info:
        split.check("x.yaml: ")
    message = str(info.value)
    assert message.startswith("x.yaml: split: ") and "\n" not in message
    for part in expected:
        assert part in message, message


# ---------------------------------------------------------------- check_value


def test_check_value():
    assert check_value("risk.risk_pct", 0.5) is None
    assert check_value("risk.stop_loss_pct", None) is None
    assert check_value("analysts.tech.fast_window", np.int64(3)) is None
    assert check_value("risk.risk_pct", 0) == "`risk.risk_pct`: expected a number > 0, got 0"
    assert "write 2, not 2.0" in check_value("analysts.tech.fast_window", 2.0)
    assert "did you mean `risk.risk_pct`" in check_value("risk.risk_pt", 1)
