"""The fail-safe's local halt outlives a daemon restart (it lived in memory before): a
restarted daemon keeps new entries stopped while production.yaml's entry is the one the
halt was made under, and lifts it when that entry changed while it was down."""

from __future__ import annotations

import pytest

from otonom_trader.app.production.daemon import Daemon
from tests.test_daemon import config, git
from tests.test_rollout import _params, _repo

FEED = "replay:SPX:2016-02-01:2016-06-10"
NAME = "baseline_v1"


def halted_daemon(tmp_path, monkeypatch):
    """A live strategy on a strict floor, run until the fail-safe halts it, then closed."""
    repo = _repo(tmp_path, monkeypatch, _params(rollback_psr=0.9), stage="live",
                 capital_pct=50)
    cfg = config(repo, tmp_path, FEED)
    cfg.fetch_every = 3600.0
    cfg.failsafe_prs = True  # a replay stands in for a live feed here
    d = Daemon(cfg)
    try:
        d.start()
        while not d.exhausted() and NAME not in d._failsafe:
            d.tick()
        assert NAME in d._failsafe
        halted_at = d._last_bar[NAME]
    finally:
        d.close()
    return repo, cfg, halted_at


def kinds(d: Daemon) -> list[str]:
    return [e["kind"] for e in d.journal.events(NAME, limit=500)]


@pytest.mark.slow
def test_a_restarted_daemon_keeps_the_halt_and_sends_no_new_entry(tmp_path, monkeypatch):
    _, cfg, halted_at = halted_daemon(tmp_path, monkeypatch)
    d = Daemon(cfg)
    try:
        notes = d.start()
        assert NAME in d._failsafe, kinds(d)
        restored = d.journal.last_event(NAME, ["failsafe_restored"])
        assert restored and "holds after the restart" in restored["message"], notes
        while not d.exhausted():
            d.tick()
        later = [o["reason"] for o in d.journal.orders(NAME)
                 if o["bar_time"] > halted_at.to_pydatetime()]
        assert later == ["take_profit"], later  # the exit is sent, the 2016-06-03 entry not
        assert any("the fail-safe's local halt (reduce-only): entry on 2016-06-03" in
                   e["message"] for e in d.journal.events(NAME, limit=500))
        # a second restart, still the same entry: still halted (nothing cleared it)
    finally:
        d.close()
    again = Daemon(cfg)
    try:
        again.start()
        assert NAME in again._failsafe
    finally:
        again.close()


@pytest.mark.slow
def test_an_entry_changed_while_down_lifts_the_halt_at_restart(tmp_path, monkeypatch):
    repo, cfg, _ = halted_daemon(tmp_path, monkeypatch)
    git(repo, "merge", "-q", "origin/rollout/baseline_v1-rollback-live10")  # the rollback PR
    git(repo, "push", "-q", "origin", "main")
    d = Daemon(cfg)
    try:
        d.start()
        assert NAME not in d._failsafe
        cleared = d.journal.last_event(NAME, ["failsafe_halt", "failsafe_cleared"])
        assert cleared["kind"] == "failsafe_cleared", cleared
        assert "changed for it since the fail-safe halted it" in cleared["message"]
    finally:
        d.close()
    again = Daemon(cfg)  # the cleared halt stays cleared
    try:
        again.start()
        assert NAME not in again._failsafe
        assert "failsafe_restored" not in kinds(again)
    finally:
        again.close()
