"""Reconciliation with the broker, at startup and for orders left unsettled by a tick.

An order the journal intended but the broker never received is sent (its client id makes a
second copy impossible); one the broker has is recorded as the broker reports it; an order
the broker has and the journal does not know is journaled as external and reported. The
broker's positions win over the journal's. When the two cannot be reconciled (the broker
cannot be asked, or has lost an order the journal saw filled) the daemon refuses to start.
"""

from __future__ import annotations

from collections import defaultdict

from otonom_trader.adapters.brokers.base import BrokerError, Order, OrderRequest
from otonom_trader.adapters.journal import Journal
from otonom_trader.domain.errors import RunError

RECHECK_FILLS = 50  # the journal's latest fills are looked up at the broker on startup


def record(journal: Journal, row: dict, order: Order) -> None:
    """The broker's view of one journaled order (and its fill, once)."""
    journal.set_status(row["client_order_id"], order.status, order.broker_order_id)
    if order.status == "filled" and order.filled_qty > 0:
        journal.fill(row, order.filled_qty, float(order.filled_avg_price))


def send(journal: Journal, broker, row: dict) -> None:
    """Send a journaled intent (the paper broker fills at the journaled engine price)."""
    if hasattr(broker, "quote") and row["ref_price"]:
        broker.quote(row["symbol"], row["ref_price"])
    order = broker.submit(OrderRequest(row["client_order_id"], row["symbol"], row["side"],
                                       row["qty"]))
    record(journal, row, order)


def settle(journal: Journal, brokers: dict[str, object]) -> None:
    """Resolve every unsettled order by asking its broker by client id (never resending an
    order the broker has)."""
    for row in journal.unsettled():
        broker = brokers.get(row["deployment"])
        if broker is None:
            continue
        order = broker.order_by_client_id(row["client_order_id"])
        if order is None:
            send(journal, broker, row)
        else:
            record(journal, row, order)


def startup(journal: Journal, brokers: dict[str, object]) -> list[str]:
    """Reconcile before the first tick; returns what was found (also journaled as events).
    Raises ``RunError`` when the daemon must not start."""
    found: list[str] = []
    try:
        settle(journal, brokers)
        by_broker: dict[int, list[str]] = defaultdict(list)
        for name, broker in brokers.items():
            by_broker[id(broker)].append(name)
        for names in by_broker.values():
            broker = brokers[names[0]]
            known = {r["client_order_id"] for n in names for r in journal.orders(n)}
            for order in broker.orders("all"):
                if order.client_order_id not in known:
                    journal.external(names[0], order)
                    msg = (f"broker {broker.name} has order {order.client_order_id} "
                           f"({order.side} {order.qty:g} {order.symbol}) the journal does not "
                           "know: recorded as external")
                    journal.event("external_order", msg, deployment=names[0])
                    found.append(msg)
            _check_fills(journal, broker, names)
            found += _positions(journal, broker, names)
    except BrokerError as exc:
        raise RunError(f"cannot reconcile with the broker before starting ({exc}): the "
                       "daemon refuses to start; check the broker and run it again") from None
    return found


def _check_fills(journal: Journal, broker, names: list[str]) -> None:
    fills = [f for n in names for f in journal.fills(n)][-RECHECK_FILLS:]
    for f in fills:
        if broker.order_by_client_id(f["client_order_id"]) is None:
            raise RunError(f"the journal has a fill for order {f['client_order_id']} "
                           f"({f['deployment']}, {f['side']} {f['qty']:g} {f['symbol']}) that "
                           f"broker {broker.name} does not know: the journal and the broker "
                           "disagree; the daemon refuses to start (check the journal "
                           "database and the broker account)")


def _positions(journal: Journal, broker, names: list[str]) -> list[str]:
    mine: dict[str, float] = defaultdict(float)
    for n in names:
        for f in journal.fills(n):
            mine[f["symbol"]] += f["qty"] if f["side"] == "buy" else -f["qty"]
    theirs = {p.symbol: p.qty for p in broker.positions()}
    out = []
    for symbol in sorted(set(mine) | set(theirs)):
        a, b = mine.get(symbol, 0.0), theirs.get(symbol, 0.0)
        if abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)):
            msg = (f"broker {broker.name} holds {b:g} {symbol}, the journal's fills say {a:g}: "
                   "the broker's position wins")
            journal.event("position_mismatch", msg, deployment=names[0])
            out.append(msg)
    return out
