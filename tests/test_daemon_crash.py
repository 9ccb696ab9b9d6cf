"""Crash safety: SIGKILL at random points of a replay, restart, and the journal equals an
uninterrupted run's: the same orders and fills, none twice, none lost."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otonom_trader.adapters.brokers.base import Order
from otonom_trader.adapters.journal import Journal
from otonom_trader.app.production import reconcile
from otonom_trader.app.production.daemon import Daemon
from otonom_trader.domain.errors import RunError
from tests.helpers import otonom_here
from tests.test_daemon import config, make_prod_repo

FEED = "replay:SPX:2015-07-01:2016-08-31"  # 296 bars, 8 orders


@pytest.fixture
def prod_repo(tmp_path):
    return make_prod_repo(tmp_path)


def daemon_cmd(repo: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "otonom_trader.cli", "daemon", "run", "--speed", "0",
            "--feed", FEED, "--journal", f"sqlite:///{db}", "--repo", str(repo)]


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as c:
        try:
            return c.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []


ORDERS = ("SELECT client_order_id, bar_time, side, qty, ref_price, reason, status "
          "FROM journal_orders ORDER BY bar_time, client_order_id")
FILLS = "SELECT client_order_id, bar_time, side, qty, price FROM journal_fills ORDER BY bar_time"
EQUITY = "SELECT bar_time, equity FROM journal_equity ORDER BY bar_time"


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart_loses_and_duplicates_nothing(prod_repo,
                                                                            tmp_path):
    repo, _ = prod_repo
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    clean = tmp_path / "clean.db"  # the reference, never killed: in this process
    done = otonom_here(tmp_path, *daemon_cmd(repo, clean)[3:], env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    killed = tmp_path / "killed.db"
    rng = random.Random(12)
    kills = 0
    deadline = time.monotonic() + 240
    # Four kills at random tick counts, two the moment a new order intent appears.
    targets = [("ticks", t) for t in sorted(rng.sample(range(20, 290), 4))]
    targets[1:1] = [("orders", 1), ("orders", 3)]
    for what, target in targets:
        proc = subprocess.Popen(daemon_cmd(repo, killed), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        table = "journal_ticks" if what == "ticks" else "journal_orders"
        while proc.poll() is None and time.monotonic() < deadline:
            n = len(rows(killed, f"SELECT id FROM {table}"))
            if n >= target:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
    final = subprocess.run(daemon_cmd(repo, killed), env=env, capture_output=True, text=True,
                           timeout=300)
    assert final.returncode == 0, final.stderr
    assert kills >= 4
    clean_orders = rows(clean, ORDERS)
    assert len(clean_orders) >= 6
    assert rows(killed, ORDERS) == clean_orders
    assert rows(killed, FILLS) == rows(clean, FILLS)
    assert rows(killed, EQUITY) == rows(clean, EQUITY)
    paper = "SELECT client_order_id, qty, price FROM paper_orders ORDER BY client_order_id"
    assert rows(killed, paper) == rows(clean, paper)  # the broker got each order once


def test_intent_without_broker_order_is_sent_once_on_restart(prod_repo, tmp_path):
    """Killed after the intent was committed, before it was sent: startup sends it; a
    second startup finds it at the broker and sends nothing."""
    repo, _ = prod_repo
    daemon = Daemon(config(repo, tmp_path))
    daemon.start()
    broker = daemon.brokers["baseline_v1"]
    from otonom_trader.adapters.journal import Intent

    daemon.journal.intend(Intent("otn-test-1", "baseline_v1", "v", None,
                                 __import__("datetime").datetime(2016, 1, 4), "SPX", "buy",
                                 2.0, 2000.0, "entry", "shadow", "paper"))
    daemon.close()
    for _ in range(2):
        again = Daemon(config(repo, tmp_path))
        again.start()
        again.close()
    journal = Journal(f"sqlite:///{tmp_path}/j.db")
    assert [(f["client_order_id"], f["price"]) for f in journal.fills()] == [
        ("otn-test-1", 2000.0)]
    assert len(broker.orders()) == 1
    journal.close()


def test_unknown_broker_order_is_external_and_a_lost_fill_refuses_start(prod_repo, tmp_path):
    repo, _ = prod_repo
    daemon = Daemon(config(repo, tmp_path))
    daemon.start()
    broker = daemon.brokers["baseline_v1"]
    broker.quote("SPX", 2000.0)
    from otonom_trader.adapters.brokers.base import OrderRequest

    broker.submit(OrderRequest("manual-1", "SPX", "buy", 1.0))  # placed by hand
    found = reconcile.startup(daemon.journal, daemon.brokers)
    assert any("manual-1" in m and "external" in m for m in found)
    assert any("holds 1 SPX, the journal's fills say 0" in m for m in found)
    assert daemon.journal.orders(status="filled")[0]["external"] is True

    # The journal saw a fill the broker does not know: refuse to start.
    row = {"client_order_id": "otn-ghost", "deployment": "baseline_v1", "bar_time": None,
           "symbol": "SPX", "side": "buy"}
    daemon.journal.fill(row, 1.0, 2000.0)
    with pytest.raises(RunError, match=r"otn-ghost.*refuses to start"):
        reconcile.startup(daemon.journal, daemon.brokers)
    daemon.close()


class TimeoutThenAskBroker:
    """A broker whose submit times out after accepting the order (the ambiguous case)."""

    name = "flaky"

    def __init__(self, inner):
        self.inner, self.submits = inner, 0

    def submit(self, request):
        from otonom_trader.adapters.brokers.base import BrokerAmbiguous

        self.submits += 1
        self.inner.submit(request)
        raise BrokerAmbiguous("flaky: timeout after sending")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_ambiguous_submit_is_resolved_by_client_id_never_resent(prod_repo, tmp_path):
    repo, _ = prod_repo
    daemon = Daemon(config(repo, tmp_path, "replay:SPX:2016-03-01:2016-06-30"))
    daemon.start()
    flaky = TimeoutThenAskBroker(daemon.brokers["baseline_v1"])
    daemon.brokers["baseline_v1"] = flaky
    while not daemon.journal.orders():
        daemon.tick()
    assert daemon.journal.orders()[0]["status"] == "ambiguous"
    assert daemon.journal.events(kind="broker_ambiguous")
    daemon.tick()  # settles it by asking the broker
    order = daemon.journal.orders()[0]
    assert order["status"] == "filled" and flaky.submits == 1
    assert isinstance(flaky.order_by_client_id(order["client_order_id"]), Order)
    assert len(daemon.journal.fills()) == 1
    daemon.close()
