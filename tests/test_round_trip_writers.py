"""The round-trip writers (a promoted strategy file, production.yaml) write by YAML 1.2's
rules, where `yes`, `on` or `1:30` are plain text; the reader follows YAML 1.1, where they are
true, true and 90. Every string they write must read back as the same string."""

from __future__ import annotations

from pathlib import Path

import pytest

from otonom_trader.app.repository.deployment_file import with_entry_changes, with_shadow_entry
from otonom_trader.app.repository.strategy_file import render_strategy
from otonom_trader.domain.safe_yaml import parse_yaml

ROOT = Path(__file__).resolve().parents[1]
AMBIGUOUS = ["yes", "No", "on", "OFF", "1:30", "0b101", "0x1f", "1_000", "010", "~", "null",
             "", "2016-01-01", "1.5", "-.inf", ".nan", "=", "<<", "true"]


def test_a_promoted_strategy_reads_back_every_string_it_was_given():
    base = (ROOT / "strategies" / "sma_cross.yaml").read_text()
    metadata = {"notes": {text: text for text in AMBIGUOUS if text not in ("", "<<")},
                "list": AMBIGUOUS, "plain": "sma"}
    text = render_strategy(base, {"analysts.tech.ma_type": "ema"}, "yes", metadata)
    doc = parse_yaml(text, "promoted")
    assert doc["name"] == "yes"
    assert doc["metadata"] == metadata
    assert doc["analysts"]["tech"]["ma_type"] == "ema"
    assert "plain: sma" in text  # a string read as a string is not quoted


def test_untouched_lines_keep_their_text_and_meaning():
    base = "name: b\nrisk:\n  allow_short: yes   # 1.1: true\n  stop_loss_pct: 2\n"
    text = render_strategy(base, {"risk.stop_loss_pct": 3}, "c", None)
    assert "allow_short: yes   # 1.1: true" in text
    assert parse_yaml(text, "x")["risk"] == {"allow_short": True, "stop_loss_pct": 3}


@pytest.mark.parametrize("name", ["on", "no", "yes"])
def test_production_yaml_reads_back_the_names_and_values_it_was_given(name):
    existing = "strategies: []\n"
    text = with_shadow_entry(existing, name, f"strategies/{name}.yaml")
    entry = parse_yaml(text, "production.yaml")["strategies"][0]
    assert entry["name"] == name and entry["path"] == f"strategies/{name}.yaml"
    text = with_entry_changes(text, name, stage="paper")
    assert parse_yaml(text, "production.yaml")["strategies"][0]["stage"] == "paper"
