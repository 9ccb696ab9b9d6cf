"""The daemon's desired state: capital, stage, rollout steps, since, broker, halt."""

from __future__ import annotations

from datetime import date

import pytest

from otonom_trader.domain.deployment import parse_deployment
from otonom_trader.domain.errors import InputError


def entry(**kw):
    return {"name": "a", "path": "strategies/a.yaml", "stage": "live", "capital_pct": 10, **kw}


def test_full_entry_parses_with_defaults_and_dates():
    dep = parse_deployment({"capital": 50_000, "strategies": [
        entry(since=date(2026, 1, 15), broker="alpaca", halt=True),
        entry(name="b", stage="shadow", capital_pct=0, since="2026-02-01")]})
    a, b = dep.entries
    assert dep.capital == 50_000.0
    assert (a.stage, a.capital_pct, a.since, a.broker, a.halt) == (
        "live", 10.0, date(2026, 1, 15), "alpaca", True)
    assert (b.broker, b.halt, b.since) == ("paper", False, date(2026, 2, 1))
    assert parse_deployment({"strategies": [entry()]}).capital == 10_000.0


@pytest.mark.parametrize("data, needle", [
    ({"strategies": [entry(capital_pct=25)]}, "rollout step, 10, 50 or 100; got 25"),
    ({"strategies": [entry(capital_pct=100), entry(name="b", capital_pct=10)]},
     "adds up to 110%, more than 100%"),
    ({"strategies": [entry(stage="prod")]}, "stage: expected one of shadow, paper, live"),
    ({"strategies": [entry(broker="ibkr")]}, "broker: expected one of paper, alpaca"),
    ({"strategies": [entry(halt="yes")]}, "halt: expected true or false"),
    ({"strategies": [entry(since="15/01/2026")]}, "since: expected a date YYYY-MM-DD"),
    ({"capital": -5, "strategies": [entry()]}, "`capital`: expected a positive amount"),
    ({"capital": True, "strategies": [entry()]}, "`capital`: expected a positive amount"),
    ({"capitol": 5, "strategies": [entry()]}, "unknown key `capitol`"),
    ({"strategies": [entry(stagee="live")]}, "unknown key `stagee`"),
])
def test_bad_desired_state_is_one_line(data, needle):
    with pytest.raises(InputError) as err:
        parse_deployment(data, "deployments/production.yaml: ")
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("deployments/production.yaml: ")


def test_shadow_and_paper_take_any_share():
    dep = parse_deployment({"strategies": [entry(stage="shadow", capital_pct=0),
                                           entry(name="b", stage="paper", capital_pct=33)]})
    assert [e.capital_pct for e in dep.entries] == [0.0, 33.0]
