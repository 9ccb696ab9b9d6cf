"""``apply_overrides`` checks only the nodes it wrote (pass 1): the same strategies and the
same error messages as validating the whole document, on every path and a battery of values."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import pytest

from otonom_trader.domain import strategy_loader
from otonom_trader.domain.errors import StrategyError
from otonom_trader.domain.strategy_loader import apply_overrides, load_strategy, valid_paths

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = sorted((ROOT / "strategies").glob("*.yaml"))
VALUES = [0, 1, 2, 7, 250, -1, 0.5, 1.5, 99.9, 100, 101, 1e9, 10**400, True, False, None, "",
          "sma", "ema", "fixed", "risk", "drop", "score", "x", math.nan, math.inf, -math.inf,
          [], [1], {}, {"a": 1}, {"sizing": "fixed"}]


def outcome(strategy, overrides: dict):
    try:
        return apply_overrides(strategy, overrides)
    except StrategyError as exc:
        return f"StrategyError: {exc}"


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a == b and dict(a.raw) == dict(b.raw)


@pytest.fixture
def whole_document(monkeypatch):
    """The oracle: every override validates the whole document."""
    def oracle(strategy, overrides):
        monkeypatch.setattr(strategy_loader, "_local_schema", lambda: False)
        try:
            return outcome(strategy, overrides)
        finally:
            monkeypatch.undo()
    return oracle


@pytest.mark.parametrize("path", STRATEGIES, ids=lambda p: p.stem)
def test_one_override_of_every_path_and_value_equals_whole_document_validation(
        path, whole_document):
    strategy = load_strategy(path)
    checked = failed = 0
    for dotted, value in itertools.product(valid_paths(), VALUES):
        fast, full = outcome(strategy, {dotted: value}), whole_document(strategy, {dotted: value})
        assert same(fast, full), (dotted, value, fast, full)
        checked += 1
        failed += isinstance(full, str)
    assert failed > checked // 2 > 0  # the battery reaches both outcomes


@pytest.mark.parametrize("path", STRATEGIES, ids=lambda p: p.stem)
def test_random_sets_of_overrides_equal_whole_document_validation(path, whole_document):
    strategy = load_strategy(path)
    rng = random.Random(11)
    paths = valid_paths()
    for _ in range(400):
        overrides = {p: rng.choice(VALUES) for p in rng.sample(paths, rng.randint(2, 5))}
        fast, full = outcome(strategy, overrides), whole_document(strategy, overrides)
        assert same(fast, full), (overrides, fast, full)


def test_a_value_that_passes_its_node_yet_breaks_a_cross_field_rule_is_refused():
    strategy = load_strategy(ROOT / "strategies" / "sma_cross.yaml")
    message = outcome(strategy, {"analysts.tech.fast_window": 500})
    assert "must be less than `analysts.tech.slow_window`" in message


def test_the_shortcut_is_off_for_a_schema_that_relates_nodes(monkeypatch):
    assert strategy_loader._local_schema()  # the shipped schema: every node on its own
    schema = strategy_loader._schema()
    for keyword in ("if", "oneOf", "$ref", "dependentRequired"):
        strategy_loader._local_schema.cache_clear()
        risk = {**schema["properties"]["risk"], keyword: {}}
        relating = {**schema, "properties": {**schema["properties"], "risk": risk}}
        monkeypatch.setattr(strategy_loader, "_schema", lambda relating=relating: relating)
        assert not strategy_loader._local_schema(), keyword
    monkeypatch.undo()
    strategy_loader._local_schema.cache_clear()
    assert strategy_loader._local_schema()


def test_a_block_an_override_creates_is_checked_whole(monkeypatch):
    """With a schema that requires keys inside `execution`, setting one key of a missing
    `execution` block is refused as the whole document is."""
    caches = [strategy_loader._validator, strategy_loader._node_validator,
              strategy_loader._local_schema, strategy_loader._scalar_fits]
    schema = strategy_loader._schema()
    execution = {**schema["properties"]["execution"], "required": ["fee_bps", "slippage_bps"]}
    strict = {**schema, "properties": {**schema["properties"], "execution": execution}}
    data = strategy_loader.raw_dict(load_strategy(ROOT / "strategies" / "sma_cross.yaml"))
    del data["execution"]
    try:
        monkeypatch.setattr(strategy_loader, "_schema", lambda: strict)
        for cache in caches:
            cache.cache_clear()
        strategy = strategy_loader.strategy_from_mapping(data)
        message = outcome(strategy, {"execution.fee_bps": 5})
        assert message.endswith("missing required key `execution.slippage_bps`"), message
        assert not isinstance(outcome(strategy, {"execution.fee_bps": 5,
                                                 "execution.slippage_bps": 1}), str)
    finally:
        monkeypatch.undo()
        for cache in caches:
            cache.cache_clear()
