"""Hostile or absurd input (issue 16, items 8-13): bounded YAML, integer ranges, huge grids,
nonsense values, bad bars, output paths, and messages that name what the user gave.
Every case: one line, the flag/key/file named, exit 2, no traceback, quickly."""

from __future__ import annotations

import json
import re
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from otonom_trader.app.experiments.grid_search import check_size
from otonom_trader.domain.combinations import Combinations
from otonom_trader.domain.deployment import load_deployment
from otonom_trader.domain.errors import InputError, StrategyError
from otonom_trader.domain.gates import load_gate_params
from otonom_trader.domain.grid import grid_from_mapping, load_grid
from otonom_trader.domain.json_text import dumps
from otonom_trader.domain.safe_yaml import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, read_yaml
from otonom_trader.domain.strategy_loader import load_strategy, strategy_from_mapping
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "strategies" / "baseline_v1.yaml"
SMA = REPO / "strategies" / "sma_cross.yaml"


def one_line(code, out, err, *needles):
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def baseline():
    return load_strategy(BASELINE)


# ---------------------------------------------------------------- 9. YAML


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion laughs": (_bomb(), f"more than {MAX_ALIAS_NODES:,} values"),
    "merge-key bomb": ("a: &a {x: 1, y: 2, z: 3}\n"
                       + "".join(f"b{i}: &b{i} {{<<: *{'a' if i == 0 else f'b{i - 1}'}, "
                                 f"k{i}: [*a, *a, *a, *a, *a, *a, *a, *a]}}\n"
                                 for i in range(400)), "alias bomb"),
    "recursive sequence": ("name: &x [*x]\n", "recursive alias"),
    "recursive mapping": ("risk: &r {inner: *r}\n", "recursive alias"),
    "10,000-deep flow": ("name: " + "[" * 10_000 + "]" * 10_000 + "\n",
                         f"deeper than {MAX_DEPTH}"),
    "deep block": ("".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "x\n",
                   f"deeper than {MAX_DEPTH}"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_strategy_yaml_fails_fast_with_one_line(name, tmp_path, capsys):
    text, needle = HOSTILE[name]
    path = tmp_path / "s.yaml"
    path.write_text(text)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    line = one_line(*run_cli(["strategy", "validate", path], capsys), str(path), needle)
    assert time.perf_counter() - t < 10  # catches a hang (minutes unbounded), not a speed test
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KB
    assert "line" in line  # where in the file


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path, capsys):
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.truncate(50_000_000)
    t = time.perf_counter()
    one_line(*run_cli(["strategy", "validate", path], capsys),
             str(path), f"larger than {MAX_BYTES:,} bytes")
    assert time.perf_counter() - t < 10  # refused before reading, not after 50 MB


def test_every_yaml_reader_is_bounded(tmp_path, baseline):
    """Strategy, grid, params.yaml and deployment files all refuse the same hostile text."""
    bomb, recursive = tmp_path / "bomb.yaml", tmp_path / "rec.yaml"
    bomb.write_text(_bomb())
    recursive.write_text("gates: &g {x: *g}\n")
    readers = [lambda p: load_strategy(p), lambda p: load_grid(p, baseline),
               load_gate_params, load_deployment, lambda p: read_yaml(p, "any")]
    for reader in readers:
        for path, needle in ((bomb, "alias bomb"), (recursive, "recursive alias")):
            with pytest.raises(InputError) as info:
                reader(path)
            assert str(path) in str(info.value) and needle in str(info.value)
    from otonom_trader.app.promotion.gates import load_gates

    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "params.yaml").write_text(_bomb())  # promote's gates
    with pytest.raises(InputError, match=r"params\.yaml: .*alias bomb"):
        load_gates(tmp_path / "repo")


def test_legitimate_aliases_and_merge_keys_still_load(tmp_path):
    text = BASELINE.read_text().replace("  tech:            #", "  tech: &t          #")
    text = text.replace("  news: {}", "  news: {}\n  # the same block again below\n")
    path = tmp_path / "s.yaml"
    path.write_text(text + "\nmetadata: {copy: *t, merged: {<<: *t, ma_type: ema}}\n")
    s = load_strategy(path)
    assert s.metadata["copy"]["fast_window"] == 20 and s.metadata["merged"]["ma_type"] == "ema"


# ---------------------------------------------------------------- 10. huge numbers


BIG = str(2**70)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["experiments", "show", BIG], "EXP_ID"),
        (["experiments", "show", "--", "-3"], "EXP_ID"),
        (["experiments", "show", "1", "--top", BIG], "--top"),
        (["experiments", "list", "--limit", BIG], "--limit"),
        (["experiments", "list", "--limit", "-1"], "--limit"),
        (["experiments", "grid-search", "--resume", BIG], "--resume"),
        (["experiments", "grid-search", "--resume", "0"], "--resume"),
        (["experiments", "grid-search", "--n-iter", BIG], "--n-iter"),
        (["experiments", "grid-search", "--seed", "-1"], "--seed"),
        (["experiments", "grid-search", "--max-combinations", "0"], "--max-combinations"),
        (["experiments", "grid-search", "--workers", BIG], "--workers"),
        (["compare", "--baseline", SMA, "--candidate", SMA, "--bootstrap", BIG], "--bootstrap"),
        (["compare", "--baseline", SMA, "--candidate", SMA, "--seed", "-5"], "--seed"),
        (["promote", "--experiment-id", BIG, "--output-name", "x"], "--experiment-id"),
        (["backtest", "--strategy-path", SMA, "--periods-per-year", BIG], "--periods-per-year"),
        (["backtest", "--strategy-path", SMA, "--initial-capital", BIG], "--initial-capital"),
    ],
)
def test_integer_flags_have_ranges(argv, flag, capsys):
    one_line(*run_cli(argv, capsys), flag, "range")


@pytest.mark.parametrize(
    ("key", "value"),
    [("analysts.tech.fast_window", 2**70), ("analysts.tech.slow_window", -5),
     ("analysts.momentum.lookback", 2**64), ("analysts.meanrev.window", 10**9),
     ("data.periods_per_year", 2**70)],
)
def test_integer_keys_have_ranges(key, value, tmp_path, capsys):
    import yaml

    data = yaml.safe_load(BASELINE.read_text())
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    one_line(*run_cli(["strategy", "validate", path], capsys), f"`{key}`", "and")


@pytest.mark.parametrize(
    ("grid", "needle"),
    [
        ({"search": "random", "n_iter": 2**70, "risk.risk_pct": [1.0]}, "`n_iter`"),
        ({"seed": 2**70, "risk.risk_pct": [1.0]}, "`seed`"),
        ({"seed": -1, "risk.risk_pct": [1.0]}, "`seed`"),
        ({"analysts.tech.fast_window": {"int": [1, 10, 2**70]}}, "step"),
        ({"analysts.tech.fast_window": {"int": [1, 2**70]}}, "64-bit"),
        ({"analysts.tech.fast_window": {"int": [1, 200_000]}}, "between 1 and 100000"),
        ({"risk.risk_pct": {"int": [1, 2**70]}}, "64-bit"),
    ],
)
def test_integer_grid_keys_have_ranges(grid, needle, baseline):
    with pytest.raises(StrategyError, match=needle):
        grid_from_mapping(grid, baseline)


def test_gate_integers_have_ranges(tmp_path):
    text = (REPO / "params.yaml").read_text()
    for old, new in (("min_trades: ", f"min_trades: {BIG} #"),
                     ("min_test_sharpe: ", f"min_test_sharpe: {2**2000} #")):
        path = tmp_path / "params.yaml"
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(InputError, match="between"):
            load_gate_params(path)


# ---------------------------------------------------------------- 11. huge grids


def test_a_huge_grid_is_refused_with_the_way_out(baseline, tmp_path):
    grid = {f"analysts.{k}": {"int": [1, 10_000]} for k in
            ("tech.fast_window", "tech.slow_window", "momentum.lookback")}
    spec = grid_from_mapping(grid, baseline, source=tmp_path / "g.yaml")
    with pytest.raises(InputError) as info:
        check_size(spec, Combinations(spec, baseline), 10_000_000)
    message = str(info.value)
    for needle in ("1,000,000,000,000 combinations", "maximum of 10,000,000", "--max-combinations",
                   "search: random", str(tmp_path / "g.yaml")):
        assert needle in message
    small = grid_from_mapping({"risk.risk_pct": [0.5, 1.0]}, baseline)
    check_size(small, Combinations(small, baseline), 2)  # at the maximum: fine
    with pytest.raises(InputError, match="more than the maximum of 1 runs"):
        check_size(small, Combinations(small, baseline), 1)
    rand = grid_from_mapping({"search": "random", "n_iter": 50, "risk.risk_pct": [1.0]},
                             baseline)
    with pytest.raises(InputError, match=r"random search has 50 runs \(--n-iter or `n_iter`\), "
                       "more than the maximum of 49 runs: lower --n-iter"):
        check_size(rand, Combinations(rand, baseline), 49)


def test_a_huge_constrained_grid_is_estimated_in_bounded_time(baseline):
    grid = {"analysts.tech.fast_window": {"int": [1, 100_000]},
            "analysts.tech.slow_window": {"int": [1, 100_000]},
            "analysts.momentum.lookback": {"int": [1, 100_000]},
            "constraints": ["analysts.tech.fast_window < analysts.tech.slow_window"]}
    spec = grid_from_mapping(grid, baseline)
    t = time.perf_counter()
    with pytest.raises(InputError) as info:
        check_size(spec, Combinations(spec, baseline), 10_000_000, seconds=0.3)
    assert time.perf_counter() - t < 20  # bounded; unbounded counting takes hours
    message = str(info.value)
    assert re.search(r"about 5\d\d,\d{3},\d{3},\d{3},\d{3} combinations", message), message
    assert "an estimate from 100,000 sampled of 1,000,000,000,000,000" in message
    assert "more than the maximum" in message
    # under the maximum but too large to count in time: refused, and said to be an estimate
    with pytest.raises(InputError, match=r"an estimate.*would have to walk"):
        check_size(spec, Combinations(spec, baseline), 10**15, seconds=0.3)


def test_a_small_constrained_grid_is_counted_exactly(baseline):
    spec = grid_from_mapping({"analysts.tech.fast_window": {"int": [1, 100]},
                              "analysts.tech.slow_window": {"int": [1, 100]},
                              "constraints": ["analysts.tech.fast_window < "
                                              "analysts.tech.slow_window"]}, baseline)
    combos = Combinations(spec, baseline)
    assert combos.count(5.0) == (4950, True) and combos.total == 4950


def test_grid_search_refuses_a_huge_grid_before_any_work(tmp_path, capsys):
    grid = tmp_path / "g.yaml"
    grid.write_text("params:\n  analysts.tech.fast_window: {int: [1, 5000]}\n"
                    "  analysts.tech.slow_window: {int: [1, 5000]}\n")
    db = tmp_path / "s.db"
    args = ["experiments", "grid-search", "--name", "huge", "--strategy-path", BASELINE,
            "--grid-path", grid, "--db", f"sqlite:///{db}", "--train-start", "2008-01-01",
            "--train-end", "2015-12-31", "--test-start", "2016-01-01",
            "--test-end", "2018-12-31", "--outputs-dir", tmp_path / "out"]
    one_line(*run_cli(args, capsys), "25,000,000 combinations", "--max-combinations")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- grid files: params, --search


def test_the_workflows_params_block_and_both_other_styles(baseline, tmp_path):
    values = {"risk.risk_pct": [0.5, 1.0, 1.5, 2.0], "risk.stop_loss_pct": [3.0, 5.0, 8.0, 10.0],
              "ensemble.analyst_weights.news": [0.5, 1.0, 1.5]}
    specs = [grid_from_mapping(g, baseline) for g in
             ({"params": values}, {"parameters": values}, values)]
    assert all(s.size == 48 and dict(s.parameters) == dict(specs[0].parameters) for s in specs)
    assert dict(load_grid(REPO / "grids" / "baseline_grid.yaml", baseline).parameters) == \
        {k: tuple(v) for k, v in values.items()}
    with pytest.raises(StrategyError, match="both `params:` and `parameters:`"):
        grid_from_mapping({"params": values, "parameters": values}, baseline)
    with pytest.raises(StrategyError, match="outside `params:`"):
        grid_from_mapping({"params": values, "risk.max_leverage": [1.0]}, baseline)


def test_search_random_flag_overrides_a_file_with_distributions(baseline, tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("risk.risk_pct: {uniform: [0.5, 2.0]}\nanalysts.tech.fast_window: "
                    "{int: [5, 30]}\n")
    with pytest.raises(StrategyError, match="--search random"):
        load_grid(path, baseline)  # the file alone is a grid search: say how to switch
    spec = load_grid(path, baseline, search="random", n_iter=25, seed=3)
    assert (spec.search, spec.n_iter, spec.seed) == ("random", 25, 3)
    with pytest.raises(StrategyError, match="--search random needs --n-iter"):
        load_grid(path, baseline, search="random")
    path.write_text(path.read_text() + "n_iter: 7\n")
    assert load_grid(path, baseline, search="random").n_iter == 7


# ---------------------------------------------------------------- 12. nonsense values


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--periods-per-year", "0"), ("--periods-per-year", "nan"), ("--periods-per-year", "-5"),
     ("--periods-per-year", "inf"), ("--initial-capital", "inf"), ("--initial-capital", "nan"),
     ("--initial-capital", "0"), ("--initial-capital", "-1e3")],
)
def test_nonsense_numbers_are_refused(flag, value, capsys):
    one_line(*run_cli(["backtest", "--strategy-path", SMA, flag, value], capsys), flag)


def test_json_output_never_has_nan_or_infinity():
    text = dumps({"a": float("nan"), "b": [float("inf"), np.float64("-inf")], "c": 1.5,
                  "d": {"e": np.float32("nan")}})
    assert json.loads(text) == {"a": None, "b": [None, None], "c": 1.5, "d": {"e": None}}
    assert "NaN" not in text and "Infinity" not in text


def test_backtest_json_is_strict_json(capsys):
    code, out, _ = run_cli(["backtest", "--strategy-path", SMA, "--start-date", "2016-01-01",
                            "--end-date", "2016-02-29", "--json"], capsys)
    assert code == 0
    json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))


def test_strategy_name_with_a_trailing_newline_is_refused(baseline):
    data = dict(baseline.raw)
    for name in ("baseline\n", "baseline\r\n", "base\nline", "baseline "):
        with pytest.raises(StrategyError, match="`name`"):
            strategy_from_mapping({**data, "name": name})


def _bars(n=300, start="2000-01-03"):
    c = np.linspace(100.0, 130.0, n) + 3 * np.sin(np.arange(n) / 5)
    return pd.DataFrame({"Date": pd.date_range(start, periods=n, freq="B").strftime("%Y-%m-%d"),
                         "Open": c, "High": c + 1, "Low": c - 1, "Close": c})


def _strategy(tmp_path, on_bad_bars=None, news=None):
    text = ("name: s\nanalysts:\n  tech: {fast_window: 3, slow_window: 10}\n"
            + (f"  news: {{path: {news}}}\n" if news else "")
            + "ensemble: {analyst_weights: {tech: 1.0" + (", news: 0.5" if news else "")
            + "}}\nrisk: {position_pct: 100}\n"
            + (f"data: {{on_bad_bars: {on_bad_bars}}}\n" if on_bad_bars else ""))
    path = tmp_path / f"s_{on_bad_bars}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("column", "rows", "value"),
    [("Close", [50], 0.0), ("Open", [60, 61, 62, 63], -1.0), ("High", [70], "low")],
)
def test_bad_bars_are_refused_naming_file_count_and_dates(column, rows, value, tmp_path,
                                                          capsys):
    bars = _bars()
    for r in rows:
        bars.loc[r, column] = bars.loc[r, "Low"] - 5 if value == "low" else value
    (tmp_path / "data").mkdir()
    bars.to_csv(tmp_path / "data" / "BAD.csv", index=False)
    argv = ["backtest", "--strategy-path", _strategy(tmp_path), "--symbol", "BAD",
            "--data-dir", tmp_path / "data"]
    line = one_line(*run_cli(argv, capsys), str(tmp_path / "data" / "BAD.csv"),
                    f"{len(rows)} bar(s)", bars.loc[rows[0], "Date"], "data.on_bad_bars: score")
    assert (", ..." in line) == (len(rows) > 3)


def test_on_bad_bars_score_keeps_them_without_entries(tmp_path, capsys):
    from otonom_trader.engine.backtest import backtest
    from otonom_trader.engine.data import load_bars
    from otonom_trader.engine.quality import dsi

    clean = _bars()
    bad = clean.copy()
    bad.loc[100:140, "High"] = bad.loc[100:140, "Low"] - 1  # 41 inconsistent bars
    (tmp_path / "data").mkdir()
    bad.to_csv(tmp_path / "data" / "BAD.csv", index=False)
    clean.to_csv(tmp_path / "data" / "CLEAN.csv", index=False)
    scored = load_strategy(_strategy(tmp_path, "score"))
    bars = load_bars("BAD", tmp_path / "data", "score")
    assert (dsi(bars)[100:141] == 0).all()
    result = backtest(scored, bars, symbol="BAD", data_dir=tmp_path / "data")
    entries = result.trades["entry_time"]
    decided = bars.index[bars.index.get_indexer(entries) - 1]  # decided at the bar before
    assert len(entries) > 3
    assert not decided.isin(bars.index[100:141]).any()
    # clean data: the policy changes nothing
    clean_bars = load_bars("CLEAN", tmp_path / "data")
    a = backtest(load_strategy(_strategy(tmp_path)), clean_bars, symbol="CLEAN")
    b = backtest(scored, clean_bars, symbol="CLEAN")
    assert a.metrics == b.metrics and a.trades.equals(b.trades)
    code, _, err = run_cli(["strategy", "validate", _strategy(tmp_path, "scores")], capsys)
    assert code == 2 and "`data.on_bad_bars`" in err and "`score`" in err


def test_data_spanning_1700_to_2260_loads(tmp_path, capsys):
    bars = _bars()
    bars.loc[0, "Date"], bars.loc[len(bars) - 1, "Date"] = "1700-01-01", "2260-01-01"
    (tmp_path / "data").mkdir()
    bars.to_csv(tmp_path / "data" / "OLD.csv", index=False)
    code, out, err = run_cli(["data", "prepare", "OLD", "--data-dir", tmp_path / "data"], capsys)
    assert code == 0 and "1700-01-01 → 2260-01-01" in out, err
    code, out, err = run_cli(["backtest", "--strategy-path", _strategy(tmp_path), "--symbol",
                              "OLD", "--data-dir", tmp_path / "data", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["end"] == "2260-01-01"


@pytest.mark.parametrize("news", ["folder", "folder/"])
def test_a_news_path_that_is_a_folder(news, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    one_line(*run_cli(["backtest", "--strategy-path", _strategy(tmp_path, news=news),
                       "--symbol", "SPX"], capsys), "`analysts.news.path`", "not a file")


# ---------------------------------------------------------------- 8. output paths


def _blocked(tmp_path: Path, suffix: str) -> dict[str, Path]:
    (tmp_path / "afile").write_text("x")
    (tmp_path / f"adir{suffix}").mkdir(exist_ok=True)
    return {"a folder": tmp_path / f"adir{suffix}", "under a file": tmp_path / "afile" /
            f"x{suffix}", "in /proc": Path(f"/proc/self/nope/x{suffix}")}


@pytest.mark.parametrize(("flag", "suffix"), [("--trades", ".csv"), ("--plot", ".html")])
def test_backtest_outputs_to_unwritable_places(flag, suffix, tmp_path, capsys):
    for where, path in _blocked(tmp_path, suffix).items():
        line = one_line(*run_cli(["backtest", "--strategy-path", SMA, "--start-date",
                                  "2016-01-01", flag, path], capsys), flag, str(path))
        assert ("is a directory" if where == "a folder" else "cannot write there") in line
    fresh = tmp_path / "new" / "deeper" / f"out{suffix}"  # a missing folder is created
    code, _, err = run_cli(["backtest", "--strategy-path", SMA, "--start-date", "2016-01-01",
                            flag, fresh], capsys)
    assert code == 0 and fresh.is_file(), err
    assert [p.name for p in fresh.parent.iterdir()] == [f"out{suffix}"]  # no temporary left


def test_an_output_path_must_name_the_kind_of_file_written(tmp_path, capsys):
    """A mistyped or hostile --output (a system file, a file of another kind) is refused
    before any work, and the file is left as it was."""
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0\n")
    grid = tmp_path / "grid.yml"
    for argv, flag in (
            (["backtest", "--strategy-path", SMA, "--trades", victim], "--trades"),
            (["backtest", "--strategy-path", SMA, "--plot", grid], "--plot"),
            (["experiments", "refine", "1", "--top", "1", "--output", victim], "--output"),
            (["experiments", "show", "1", "--export", "html", "--output", victim], "--output"),
            (["data", "prepare", "SPX", "--fingerprint", victim], "--fingerprint"),
            (["validate", "--report-md", victim], "--report-md")):
        code, out, err = run_cli([*argv, "--db", f"sqlite:///{tmp_path}/s.db"]
                                 if argv[0] == "experiments" else argv, capsys)
        line = one_line(code, out, err, flag, str(argv[-1]))
        assert "expected a file name ending in" in line
    assert victim.read_text() == "root:x:0:0\n" and not grid.exists()


def test_fingerprint_and_export_to_unwritable_places(tmp_path, capsys):
    for path in _blocked(tmp_path, ".json").values():
        one_line(*run_cli(["data", "prepare", "SPX", "--data-dir", tmp_path / "d",
                           "--fingerprint", path], capsys), "--fingerprint", str(path))
    for path in _blocked(tmp_path, ".csv").values():
        one_line(*run_cli(["experiments", "show", "1", "--db", f"sqlite:///{tmp_path}/none.db",
                           "--export", "csv", "--output", path], capsys))
    assert not (tmp_path / "d").exists()  # refused before any work


# ---------------------------------------------------------------- 13. blame the right thing


@pytest.mark.parametrize(
    ("flags", "needles", "not_in"),
    [
        (["--train-start", "2008-13-01"], ["--train-start", "'2008-13-01' is not a date"],
         "g.yaml"),
        (["--test-end", "yesterday"], ["--test-end", "not a date"], "g.yaml"),
        (["--train-end", "2017-01-01"], ["--train-end (2017-01-01) is not before `test_start`",
                                         "g.yaml: split:"], None),
    ],
)
def test_split_errors_name_the_flag_or_the_file(flags, needles, not_in, tmp_path, capsys):
    grid = tmp_path / "g.yaml"
    grid.write_text("risk.risk_pct: [1.0]\nsplit: {train_start: 2008-01-01, train_end: "
                    "2015-12-31, test_start: 2016-01-01, test_end: 2018-12-31}\n")
    line = one_line(*run_cli(["experiments", "grid-search", "--name", "x", "--strategy-path",
                              BASELINE, "--grid-path", grid, "--db",
                              f"sqlite:///{tmp_path}/s.db", *flags], capsys), *needles)
    if not_in:
        assert not_in not in line


def test_record_deployment_names_the_remote_and_gits_real_error(tmp_path):
    import subprocess
    import sys

    repo = tmp_path / "repo"
    shutil.copytree(REPO / "deployments", repo / "deployments")
    shutil.copytree(REPO / "strategies", repo / "strategies")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    tool = [sys.executable, str(REPO / "tools" / "record_deployment.py"), "--push"]
    out = subprocess.run([*tool, "--remote", "nope"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 2 and "--remote nope: no such git remote" in out.stderr
    assert subprocess.run(["git", "tag"], cwd=repo, capture_output=True,
                          text=True).stdout == ""  # nothing tagged
    subprocess.run(["git", "remote", "add", "gone", str(tmp_path / "missing.git")], cwd=repo,
                   check=True)
    out = subprocess.run([*tool, "--remote", "gone"], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 1 and "and the repository exists" not in out.stderr
    assert "git push:" in out.stderr and len(out.stderr.strip().splitlines()) == 1
