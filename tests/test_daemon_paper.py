"""The paper broker: fills at the quoted price, fees from cash, shorts, duplicate client ids
rejected, and its book survives a restart (a new instance on the same database)."""

from __future__ import annotations

import pytest

from otonom_trader.adapters.brokers.base import BrokerRejected, OrderRequest
from otonom_trader.adapters.brokers.paper import PaperBroker
from otonom_trader.adapters.journal import Journal


@pytest.fixture
def journal(tmp_path):
    j = Journal(f"sqlite:///{tmp_path}/j.db")
    yield j
    j.close()


def test_fills_fees_positions_and_restart(journal):
    paper = PaperBroker(journal.engine, "a", 10_000.0, fee_bps=5)
    paper.quote("SPX", 100.0)
    order = paper.submit(OrderRequest("c1", "SPX", "buy", 10.0))
    assert (order.status, order.filled_qty, order.filled_avg_price) == ("filled", 10.0, 100.0)
    assert paper.account().cash == 10_000.0 - (10.0 * 100.0 + 10.0 * 100.0 * 5e-4)
    assert paper.equity_at({"SPX": 110.0}) == paper.account().cash + 10.0 * 110.0
    with pytest.raises(BrokerRejected, match="c1 already exists"):
        paper.submit(OrderRequest("c1", "SPX", "buy", 10.0))
    again = PaperBroker(journal.engine, "a", 99.0, fee_bps=0)  # a restart: the book is kept
    assert [(p.symbol, p.qty, p.avg_entry_price) for p in again.positions()] == [
        ("SPX", 10.0, 100.0)]
    assert again.order_by_client_id("c1").broker_order_id == order.broker_order_id
    assert again.order_by_client_id("nope") is None
    assert PaperBroker(journal.engine, "b", 5.0).positions() == []  # accounts are separate


def test_short_round_trip_and_bad_orders(journal):
    paper = PaperBroker(journal.engine, "s", 1_000.0, fee_bps=0)
    with pytest.raises(BrokerRejected, match="no price for SPX"):
        paper.submit(OrderRequest("x0", "SPX", "sell", 1.0))
    paper.quote("SPX", 50.0)
    with pytest.raises(BrokerRejected, match="qty must be positive"):
        paper.submit(OrderRequest("x1", "SPX", "sell", 0.0))
    paper.submit(OrderRequest("x2", "SPX", "sell", 4.0))
    assert paper.positions()[0].qty == -4.0 and paper.equity_at({"SPX": 40.0}) == 1_040.0
    paper.quote("SPX", 40.0)
    paper.submit(OrderRequest("x3", "SPX", "buy", 4.0))
    assert paper.positions() == [] and paper.account().cash == 1_040.0
    assert [o.client_order_id for o in paper.orders("all")] == ["x2", "x3"]
    assert paper.orders("open") == []
