"""The daemon: parity with `otonom backtest`, following git, halts, stalls and bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from otonom_trader.adapters.journal import Journal
from otonom_trader.app.production.daemon import Daemon, DaemonConfig
from otonom_trader.app.production.parity import parity_check
from otonom_trader.app.production.run import run_daemon
from otonom_trader.cli import main
from otonom_trader.engine.backtest import backtest
from otonom_trader.engine.data import load_bars

REPO = Path(__file__).resolve().parents[1]
FEED = "replay:SPX:2016-01-01:2016-06-30"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout.strip()


def production(**entry) -> str:
    item = {"name": "baseline_v1", "path": "strategies/baseline_v1.yaml", "stage": "shadow",
            "capital_pct": 50, **entry}
    return yaml.safe_dump({"capital": 20_000, "strategies": [item]})


@pytest.fixture
def prod_repo(tmp_path):
    return make_prod_repo(tmp_path)


def make_prod_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A strategy repository on main with a bare origin; returns (clone, a second clone)."""
    bare, repo = tmp_path / "origin.git", tmp_path / "repo"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    (repo / "deployments").mkdir(parents=True)
    shutil.copytree(REPO / "strategies", repo / "strategies")
    (repo / "deployments" / "production.yaml").write_text(production())
    git(repo, "init", "-q", "-b", "main")
    for k, v in (("user.name", "T"), ("user.email", "t@e.x")):
        git(repo, "config", k, v)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    for k, v in (("user.name", "T"), ("user.email", "t@e.x")):
        git(other, "config", k, v)
    return repo, other


def publish(clone: Path, message: str) -> None:
    """Commit every change in ``clone`` and push it to the repository the daemon follows."""
    git(clone, "commit", "-qam", message)
    git(clone, "push", "-q", "origin", "main")


def holding_a_position(repo: Path, tmp_path: Path) -> Daemon:
    """A daemon on a 2016 replay, ticked until its first fill (an entry)."""
    daemon = Daemon(config(repo, tmp_path, "replay:SPX:2016-03-01:2016-06-30"))
    daemon.start()
    while not daemon.journal.fills():
        daemon.tick()
    return daemon


def config(repo: Path, tmp_path: Path, feed: str = FEED) -> DaemonConfig:
    return DaemonConfig(root=repo, feed=feed, journal_url=f"sqlite:///{tmp_path}/j.db",
                        fetch_every=0.0)


def test_shadow_replay_equals_the_backtest(prod_repo, tmp_path):
    repo, _ = prod_repo
    n = run_daemon(config(repo, tmp_path, "replay:SPX:2016-03-01:2016-06-20"), speed=0)
    strategy_bars = load_bars("SPX")
    from otonom_trader.domain.strategy_loader import load_strategy

    strategy = load_strategy(repo / "strategies" / "baseline_v1.yaml")
    ref = backtest(strategy, strategy_bars, symbol="SPX", start="2016-03-01",
                   end="2016-06-20", initial_capital=10_000)  # 50% of 20,000
    journal = Journal(f"sqlite:///{tmp_path}/j.db")
    fills = journal.fills("baseline_v1")
    assert n == len(ref.equity) == 78
    expected = []
    for t in ref.trades.itertuples():
        expected.append((t.entry_time, "buy", t.units, t.entry_price))
        if not pd.isna(t.exit_time):
            expected.append((t.exit_time, "sell", t.units, t.exit_price))
    assert len(expected) >= 4
    assert [(pd.Timestamp(f["bar_time"]), f["side"], f["qty"], f["price"])
            for f in fills] == expected
    equity = journal.equity("baseline_v1")
    assert [e["equity"] for e in equity] == ref.equity.tolist()  # bar by bar, to the bit
    orders = journal.orders("baseline_v1")
    assert {o["stage"] for o in orders} == {"shadow"} and {o["status"] for o in orders} == {
        "filled"}
    ok, message = parity_check(journal, "baseline_v1", strategy, strategy_bars, "SPX",
                               "2016-03-01", 10_000)
    assert ok and message.startswith("same: 4 fills")
    journal.close()


def three_ticks_then_status(repo: Path, journal_url: str, capsys) -> dict:
    """`otonom daemon run --once` three times on FEED, then `daemon status --json`: the
    first strategy's status."""
    import json

    for _ in range(3):
        with pytest.raises(SystemExit) as exc:
            main(["daemon", "run", "--once", "--feed", FEED, "--journal", journal_url,
                  "--repo", str(repo)])
        assert exc.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["daemon", "status", "--json", "--journal", journal_url])
    return json.loads(capsys.readouterr().out)["strategies"][0]


def test_each_once_advances_one_bar_and_status_shows_it(prod_repo, tmp_path, capsys):
    repo, _ = prod_repo
    s = three_ticks_then_status(repo, f"sqlite:///{tmp_path}/j.db", capsys)
    assert s["last_bar"].startswith("2016-01-06") and s["stage"] == "shadow"
    assert s["commit"] == git(repo, "rev-parse", "HEAD") and s["equity"] == 10_000
    assert any(e["kind"] == "version_switch" for e in s["events"])


def test_new_version_is_picked_up_broken_one_refused_dirty_tree_reported(prod_repo, tmp_path):
    repo, other = prod_repo
    daemon = Daemon(config(repo, tmp_path))
    daemon.start()
    daemon.tick()
    first = daemon.state.strategies[0].version
    path = other / "strategies" / "baseline_v1.yaml"
    path.write_text(path.read_text().replace("entry_threshold: 0.2", "entry_threshold: 0.25"))
    publish(other, "tune")
    daemon.tick()
    head = git(other, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD") == head  # fast-forwarded
    assert daemon.state.commit == head and daemon.state.strategies[0].version != first
    good = daemon.state.strategies[0].version

    path.write_text(path.read_text().replace("entry_threshold: 0.25", "entry_threshold: 7"))
    publish(other, "broken")
    report = daemon.tick()
    assert daemon.state.commit == head and daemon.state.strategies[0].version == good
    assert any("refusing" in n and "entry_threshold" in n for n in report.notes)

    (repo / "deployments" / "production.yaml").write_text(production(halt=True))
    (other / "deployments" / "production.yaml").write_text(production(capital_pct=10))
    publish(other, "more")
    report = daemon.tick()
    assert any("local changes" in n for n in report.notes)
    assert daemon.state.commit == head
    kinds = [e["kind"] for e in daemon.journal.events(limit=20)]
    assert {"version_switch", "refused", "dirty_tree"} <= set(kinds)
    daemon.close()


def test_halt_sends_no_entry(prod_repo, tmp_path):
    repo, _ = prod_repo
    (repo / "deployments" / "production.yaml").write_text(production(halt=True))
    git(repo, "commit", "-qam", "halt")
    run_daemon(config(repo, tmp_path, "replay:SPX:2016-03-01:2016-03-15"), speed=0)
    journal = Journal(f"sqlite:///{tmp_path}/j.db")
    assert journal.orders() == [] and journal.fills() == []
    assert journal.events(kind="halted", limit=10)
    journal.close()


def test_stalled_file_feed_warns_and_recovers(prod_repo, tmp_path):
    repo, _ = prod_repo
    bars = load_bars("SPX").loc["2015-01-01":"2016-01-31"]
    csv = tmp_path / "SPX.csv"
    bars.iloc[:-5].to_csv(csv, index_label="Date")
    daemon = Daemon(DaemonConfig(root=repo, feed=f"file:{csv}",
                                 journal_url=f"sqlite:///{tmp_path}/j.db", stall_after=2))
    daemon.start()
    assert daemon.tick().bars == 1
    assert daemon.tick().bars == 0
    assert any("no new SPX bar for 2 ticks" in n for n in daemon.tick().notes + [
        e["message"] for e in daemon.journal.events(kind="feed_stalled")])
    bars.iloc[:-3].to_csv(csv, index_label="Date")
    assert daemon.tick().bars == 2
    assert daemon.journal.events(kind="feed_recovered")
    daemon.close()


@pytest.mark.parametrize("setup, argv, needle", [
    (lambda r: None, ["--feed", "replay:NOPE"], "--feed replay:NOPE: unknown symbol 'NOPE'"),
    (lambda r: None, ["--feed", "ftp:x"], "--feed 'ftp:x': expected replay:SYMBOL"),
    (lambda r: None, ["--feed", "replay:SPX:1800-01-01:1800-02-01"], "no SPX bars"),
    (lambda r: (r / "deployments" / "production.yaml").write_text(
        production(stage="live", capital_pct=25)), [], "rollout step, 10, 50 or 100; got 25"),
    (lambda r: (r / "deployments" / "production.yaml").write_text(
        production(stage="live", capital_pct=10, broker="alpaca")), [], "alpaca"),
    (lambda r: (r / "deployments" / "production.yaml").write_text(
        production(path="strategies/nope.yaml")), [], "no such strategy file"),
    (lambda r: None, ["--journal", "nosuchdb://x"], "cannot use experiment store"),
    (lambda r: None, ["--branch", "prod"], "--branch prod: no such branch"),
])
def test_bad_input_is_one_line_exit_2(prod_repo, tmp_path, capsys, setup, argv, needle,
                                      monkeypatch):
    repo, _ = prod_repo
    setup(repo)
    git(repo, "commit", "-qam", "change", "--allow-empty")
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    argv = ["daemon", "run", "--once", "--repo", str(repo), "--feed", FEED,
            "--journal", f"sqlite:///{tmp_path}/j.db", *argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert needle in err.lower() if needle == "alpaca" else needle in err, err
    assert err.count("\n") == 1, err


def test_a_new_version_closes_the_position_the_old_one_left(prod_repo, tmp_path):
    repo, other = prod_repo
    daemon = holding_a_position(repo, tmp_path)
    assert daemon.journal.fills()[0]["side"] == "buy"
    path = other / "strategies" / "baseline_v1.yaml"
    path.write_text(path.read_text().replace("fee_bps: 5", "fee_bps: 6"))
    publish(other, "fees")
    daemon.tick()
    last = daemon.journal.fills()[-1]
    assert last["side"] == "sell" and last["qty"] == daemon.journal.fills()[0]["qty"]
    assert daemon.journal.orders()[-1]["reason"] == "version_switch"
    assert daemon.journal.last_position("baseline_v1")["qty"] == 0.0
    daemon.close()


def test_a_new_capital_share_restarts_flat_at_its_size(prod_repo, tmp_path):
    repo, other = prod_repo
    daemon = holding_a_position(repo, tmp_path)
    entry = daemon.journal.fills()[0]
    (other / "deployments" / "production.yaml").write_text(production(capital_pct=100))
    publish(other, "shadow at the whole capital")
    daemon.tick()
    fills = daemon.journal.fills()
    assert len(fills) == 2 and fills[1]["side"] == "sell" and fills[1]["qty"] == entry["qty"]
    while len(daemon.journal.fills()) < 3 and not daemon.exhausted():
        daemon.tick()
    third = daemon.journal.fills()[2]  # the next entry is sized on 20,000, not 10,000
    assert third["qty"] * third["price"] > 1.5 * entry["qty"] * entry["price"]
    daemon.close()


def test_the_seed_example_runs_once_in_a_clone(prod_repo, tmp_path):
    import os
    import sys

    repo, _ = prod_repo
    env = {**os.environ, "OTONOM_DB": f"sqlite:///{tmp_path}/j.db"}
    script = REPO / "examples" / "daemon_with_broker_example.py"
    out = subprocess.run([sys.executable, str(script), "once"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "tick 1: 1 bar(s) decided" in out.stdout
    bad = subprocess.run([sys.executable, str(script), "lopp"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "usage: daemon_with_broker_example.py once" in bad.stderr
