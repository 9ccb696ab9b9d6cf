"""Strategy files: loading, the two validation passes, overrides and ``otonom strategy``."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from otonom_trader.cli import main
from otonom_trader.domain.errors import InputError, StrategyError
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import (
    _schema,
    apply_overrides,
    get_value,
    load_strategy,
    raw_dict,
    strategy_from_mapping,
    strategy_hash,
    valid_paths,
)

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "strategies" / "baseline_v1.yaml"
SMA = ROOT / "strategies" / "sma_cross.yaml"
GRID = ROOT / "grids" / "baseline_grid.yaml"


@pytest.fixture(scope="module")
def base_data() -> dict:
    return yaml.safe_load(BASELINE.read_text())


def mutated(base: dict, path: str, value, *, delete: bool = False) -> dict:
    data = copy.deepcopy(base)
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if delete:
        del node[leaf]
    else:
        node[leaf] = value
    return data


def error_of(data: dict) -> str:
    with pytest.raises(StrategyError) as info:
        strategy_from_mapping(data, source=Path("s.yaml"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("s.yaml: ")
    return message


# ---------------------------------------------------------------- shipped files


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(_schema())


def test_baseline_loads_with_all_values():
    s = load_strategy(BASELINE)
    assert s.name == "baseline_v1"
    assert list(s.analysts.configured()) == ["tech", "momentum", "meanrev", "regime", "news"]
    assert (s.analysts.tech.fast_window, s.analysts.tech.slow_window) == (20, 50)
    assert s.analysts.regime.source == "realized"
    assert s.analysts.news.path is None
    assert dict(s.ensemble.analyst_weights) == {
        "tech": 0.4, "momentum": 0.2, "meanrev": 0.1, "regime": 0.2, "news": 0.1,
    }
    assert (s.ensemble.entry_threshold, s.ensemble.exit_threshold) == (0.2, -0.2)
    assert s.risk.sizing == "risk" and s.risk.fraction == pytest.approx(0.5)
    assert (s.risk.stop_loss_pct, s.risk.take_profit_pct) == (2.0, 6.0)
    assert (s.execution.fee_bps, s.execution.slippage_bps) == (5.0, 2.0)
    assert isinstance(s.execution.fee_bps, float)
    assert (s.data.symbol, s.data.dsi_threshold) == ("SPX", 0.5)
    assert s.source == BASELINE and s.metadata is None


def test_sma_cross_is_the_reference_strategy():
    s = load_strategy(SMA)
    assert list(s.analysts.configured()) == ["tech"]
    assert s.analysts.tech == type(s.analysts.tech)(fast_window=10, slow_window=30, ma_type="sma")
    assert dict(s.ensemble.analyst_weights) == {"tech": 1.0}
    assert s.risk.sizing == "fixed" and s.risk.fraction == 1.0
    assert (s.risk.stop_loss_pct, s.risk.take_profit_pct) == (5.0, 10.0)
    assert (s.execution.fee_bps, s.execution.slippage_bps, s.data.dsi_threshold) == (0, 0, 0)
    assert s.execution.entry_bar_stops is True  # a default


def test_baseline_grid_paths_are_valid_and_every_combination_validates():
    grid = yaml.safe_load(GRID.read_text())["params"]
    assert set(grid) <= set(valid_paths())
    sizes = [len(v) for v in grid.values()]
    assert sizes == [4, 4, 3]
    base = load_strategy(BASELINE)
    first = apply_overrides(base, {k: v[0] for k, v in grid.items()})
    assert first.risk.risk_pct == 0.5 and first.ensemble.analyst_weights["news"] == 0.5


# ---------------------------------------------------------------- frozen objects


def test_objects_and_mappings_are_frozen():
    s = load_strategy(BASELINE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.risk.risk_pct = 5.0
    with pytest.raises(TypeError):
        s.ensemble.analyst_weights["tech"] = 1.0
    with pytest.raises(TypeError):
        s.raw["name"] = "x"


def test_raw_is_a_deep_copy_of_the_input(base_data):
    data = copy.deepcopy(base_data)
    s = strategy_from_mapping(data)
    data["risk"]["risk_pct"] = 99.0
    assert s.raw["risk"]["risk_pct"] == 1.0
    copied = raw_dict(s)
    copied["risk"]["risk_pct"] = 42.0
    assert s.raw["risk"]["risk_pct"] == 1.0
    assert copied["name"] == "baseline_v1" and s.source is None


def test_metadata_is_kept_frozen_and_left_out_of_the_hash(base_data):
    plain = strategy_from_mapping(base_data)
    promoted = strategy_from_mapping({**base_data, "metadata": {"parent": "x", "run": 3}})
    assert promoted.metadata["run"] == 3
    with pytest.raises(TypeError):
        promoted.metadata["run"] = 4
    assert strategy_hash(promoted) == strategy_hash(plain)


def test_hash_is_stable_and_ignores_int_versus_float(base_data):
    s = strategy_from_mapping(base_data)
    h = strategy_hash(s)
    assert len(h) == 64 and h == strategy_hash(load_strategy(BASELINE))
    assert strategy_hash(apply_overrides(s, {"execution.fee_bps": 5.0})) == h
    assert strategy_hash(apply_overrides(s, {"execution.fee_bps": 6})) != h


def test_defaults_come_from_the_dataclasses():
    s = strategy_from_mapping(
        {
            "name": "min",
            "analysts": {"momentum": {}},
            "ensemble": {"analyst_weights": {"momentum": 1}},
            "risk": {},
        }
    )
    assert s.analysts.momentum.lookback == 20 and s.analysts.momentum.scale_pct == 5.0
    assert s.risk.sizing == "fixed" and s.risk.stop_loss_pct is None
    assert s.execution.entry_bar_stops is True and s.data.symbol is None
    assert s.description == ""
    assert isinstance(s, Strategy)


# ---------------------------------------------------------------- load errors


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(StrategyError, match=r"nope\.yaml: no such strategy file"):
        load_strategy(tmp_path / "nope.yaml")
    assert issubclass(StrategyError, InputError)


def test_malformed_yaml_names_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nrisk:\n  risk_pct: 1\n   stop_loss_pct: 2\n")
    with pytest.raises(StrategyError) as info:
        load_strategy(path)
    assert str(info.value).startswith(f"{path}: invalid YAML at line 4, column ")


def test_duplicate_keys_are_rejected(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(SMA.read_text() + "\nrisk:\n  sizing: fixed\n")
    with pytest.raises(StrategyError, match=r"duplicate key `risk` \(first at line \d+\)"):
        load_strategy(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "the file is empty"), ("- a\n- b\n", "got a list"),
     ("root:x:0:0:root:/root:/bin/bash\n", "got a string")],
)
def test_top_must_be_a_mapping(tmp_path, text, expected):
    """The message names the type, never the content (the file may be any file)."""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(StrategyError, match=expected) as exc:
        load_strategy(path)
    assert "root:" not in str(exc.value) and '"a"' not in str(exc.value)


# ---------------------------------------------------------------- pass 1: schema


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("risk.stop_los_pct", 2.0,
         "unknown key `risk.stop_los_pct` — did you mean `risk.stop_loss_pct`?"),
        ("analyst", {}, "unknown key `analyst` — did you mean `analysts`?"),
        ("ensemble.analyst_weights.sentiment", 1.0,
         "unknown key `ensemble.analyst_weights.sentiment` — allowed keys under "
         "`ensemble.analyst_weights`: `tech`, `momentum`, `meanrev`, `regime`, `news`"),
        ("risk.risk_pct", "1%", '`risk.risk_pct`: expected a number > 0, got "1%"'),
        ("risk.risk_pct", True, "`risk.risk_pct`: expected a number > 0, got true"),
        ("analysts.tech.fast_window", True,
         "`analysts.tech.fast_window`: expected an integer between 1 and 100000, got true"),
        ("analysts.tech.fast_window", "20",
         '`analysts.tech.fast_window`: expected an integer between 1 and 100000, got "20"'),
        ("analysts.tech.fast_window", 2.5,
         "`analysts.tech.fast_window`: expected an integer between 1 and 100000, got 2.5"),
        ("analysts.tech.fast_window", 20.0,
         "`analysts.tech.fast_window`: expected an integer between 1 and 100000 "
         "(write 20, not 20.0), got 20.0"),
        ("analysts.tech.fast_window", 0,
         "`analysts.tech.fast_window`: expected an integer between 1 and 100000, got 0"),
        ("analysts.momentum.lookback", -5,
         "`analysts.momentum.lookback`: expected an integer between 1 and 100000, got -5"),
        ("analysts.meanrev.window", 1,
         "`analysts.meanrev.window`: expected an integer between 2 and 100000, got 1"),
        ("analysts.tech.ma_type", "wma",
         '`analysts.tech.ma_type`: expected one of `sma`, `ema`, got "wma"'),
        ("risk.stop_loss_pct", 0, "`risk.stop_loss_pct`: expected a number > 0 or null, got 0"),
        ("risk.stop_loss_pct", -1.5,
         "`risk.stop_loss_pct`: expected a number > 0 or null, got -1.5"),
        ("risk.max_leverage", float("inf"),
         "`risk.max_leverage`: expected a finite number > 0, got Infinity"),
        ("risk.allow_short", "no", '`risk.allow_short`: expected true or false, got "no"'),
        ("ensemble.analyst_weights.news", -0.1,
         "`ensemble.analyst_weights.news`: expected a number ≥ 0, got -0.1"),
        ("ensemble.entry_threshold", 1.5,
         "`ensemble.entry_threshold`: expected a number between -1 and 1, got 1.5"),
        ("data.dsi_threshold", 2, "`data.dsi_threshold`: expected a number between 0 and 1, got 2"),
        ("analysts.news", None, "`analysts.news`: expected a mapping of keys, got null"),
        ("name", "my strategy", "`name`: expected a name safe for files and branches"),
    ],
)
def test_schema_errors_are_one_clear_line(base_data, path, value, expected):
    assert expected in error_of(mutated(base_data, path, value))


def test_missing_required_block(base_data):
    message = error_of(mutated(base_data, "risk", None, delete=True))
    assert message == "s.yaml: missing required key `risk`"


# ---------------------------------------------------------------- pass 2: cross-field


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"analysts.tech.fast_window": 50},
         "`analysts.tech.fast_window` (50) must be less than `analysts.tech.slow_window` (50)"),
        ({f"ensemble.analyst_weights.{n}": 0 for n in ("tech", "momentum", "meanrev", "regime",
                                                        "news")},
         "`ensemble.analyst_weights`: all weights are zero"),
        ({"risk.stop_loss_pct": None},
         "`risk.sizing: risk` needs `risk.stop_loss_pct`"),
        ({"ensemble.exit_threshold": 0.3},
         "`ensemble.exit_threshold` (0.3) must not be above `ensemble.entry_threshold` (0.2)"),
        ({"risk.sizing": "fixed", "risk.position_pct": 150},
         "`risk.position_pct` (150.0) exceeds `risk.max_leverage` (1.0)"),
    ],
)
def test_cross_field_errors(base_data, changes, expected):
    data = base_data
    for path, value in changes.items():
        data = mutated(data, path, value)
    assert expected in error_of(data)


def test_weight_for_an_unconfigured_analyst(base_data):
    message = error_of(mutated(base_data, "analysts.news", None, delete=True))
    assert "`ensemble.analyst_weights.news` weights an analyst the strategy does not configure" in (
        message
    )


def test_configured_analyst_without_weight(base_data):
    message = error_of(mutated(base_data, "ensemble.analyst_weights.news", None, delete=True))
    assert "`analysts.news` has no weight: add `ensemble.analyst_weights.news`" in message


# ---------------------------------------------------------------- overrides and paths


def test_apply_overrides_returns_a_new_validated_strategy():
    base = load_strategy(BASELINE)
    s = apply_overrides(
        base,
        {"risk.risk_pct": 2, "ensemble.analyst_weights.news": 0.0, "analysts.tech.fast_window": 10},
    )
    assert s.risk.risk_pct == 2.0 and s.ensemble.analyst_weights["news"] == 0.0
    assert s.analysts.tech.fast_window == 10 and s.source == base.source
    assert base.risk.risk_pct == 1.0 and base.raw["risk"]["risk_pct"] == 1.0
    assert s.raw["risk"]["risk_pct"] == 2
    assert strategy_hash(s) != strategy_hash(base)


def test_apply_overrides_rejects_unknown_paths_with_did_you_mean():
    with pytest.raises(StrategyError) as info:
        apply_overrides(load_strategy(BASELINE), {"risk.stop_los_pct": 1.0})
    assert str(info.value) == (
        f"{BASELINE} with overrides: unknown key `risk.stop_los_pct` — "
        "did you mean `risk.stop_loss_pct`?"
    )
    with pytest.raises(StrategyError, match="`risk` is a block, set one of its keys"):
        apply_overrides(load_strategy(BASELINE), {"risk": 1.0})


def test_apply_overrides_revalidates_both_passes():
    base = load_strategy(BASELINE)
    with pytest.raises(StrategyError, match=r"with overrides: `risk.risk_pct`: expected a number"):
        apply_overrides(base, {"risk.risk_pct": -1})
    with pytest.raises(StrategyError, match=r"must be less than `analysts\.tech\.slow_window`"):
        apply_overrides(base, {"analysts.tech.fast_window": 60})


def test_apply_overrides_cannot_add_an_analyst():
    sma = load_strategy(SMA)
    with pytest.raises(StrategyError, match="analyst `news` is not configured"):
        apply_overrides(sma, {"analysts.news.path": "x.csv"})
    with pytest.raises(StrategyError, match=r"does not configure: add `analysts\.news`"):
        apply_overrides(sma, {"ensemble.analyst_weights.news": 0.1})


def test_apply_overrides_creates_missing_optional_blocks():
    s = strategy_from_mapping(
        {"name": "m", "analysts": {"tech": {}}, "ensemble": {"analyst_weights": {"tech": 1}},
         "risk": {}}
    )
    assert apply_overrides(s, {"execution.fee_bps": 3}).execution.fee_bps == 3.0


def test_get_value_and_valid_paths():
    sma = load_strategy(SMA)
    assert get_value(sma, "analysts.tech.slow_window") == 30
    assert get_value(sma, "risk.max_leverage") == 1.0  # a default
    assert get_value(sma, "ensemble.analyst_weights.news") == 0.0
    assert get_value(sma, "analysts.news.path") is None
    paths = valid_paths()
    assert {"risk.risk_pct", "ensemble.analyst_weights.news", "analysts.tech.fast_window",
            "data.dsi_threshold", "name"} <= set(paths)
    assert not any(p.startswith("metadata") for p in paths)
    with pytest.raises(StrategyError, match=r"did you mean `ensemble\.analyst_weights\.news`"):
        get_value(sma, "ensemble.analyst_weight.news")


def test_schema_file_is_json():
    text = (ROOT / "otonom_trader" / "domain" / "strategy.schema.json").read_text()
    assert json.loads(text)["additionalProperties"] is False


# ---------------------------------------------------------------- CLI


def test_cli_validate_good_files(capsys):
    with pytest.raises(SystemExit) as info:
        main(["strategy", "validate", str(BASELINE), str(SMA)])
    out = capsys.readouterr().out
    assert info.value.code == 0
    assert f"✓ {BASELINE}: baseline_v1 (5 analysts)" in out
    assert f"✓ {SMA}: sma_cross (1 analyst)" in out


def test_cli_validate_reports_every_bad_file_and_exits_2(tmp_path, capsys):
    typo = tmp_path / "typo.yaml"
    typo.write_text(SMA.read_text().replace("stop_loss_pct", "stop_los_pct"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SystemExit) as info:
        main(["strategy", "validate", str(typo), str(SMA), str(broken), str(tmp_path / "no.yaml")])
    captured = capsys.readouterr()
    assert info.value.code == 2
    assert "✓" in captured.out and "sma_cross" in captured.out
    lines = captured.err.strip().splitlines()
    assert lines == [
        f"✗ {typo}: unknown key `risk.stop_los_pct` — did you mean `risk.stop_loss_pct`?",
        lines[1],
        f"✗ {tmp_path / 'no.yaml'}: no such strategy file",
    ]
    assert lines[1].startswith(f"✗ {broken}: invalid YAML at line 2, column 1")
    assert "Traceback" not in captured.err


def test_cli_validate_needs_a_file(capsys):
    with pytest.raises(SystemExit) as info:
        main(["strategy", "validate"])
    assert info.value.code == 2
    assert "Missing argument" in capsys.readouterr().err
