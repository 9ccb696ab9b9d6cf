"""The paper broker: in process, its book in the store's database (``paper_orders``), so it
survives a restart like a real broker would.

A market order fills at once, in full, at the price last given to ``quote`` for its symbol
(the daemon quotes the engine's fill price: the next open with slippage, or a stop level), and
pays ``fee_bps`` of the notional from cash, as the engine does; cash, positions and equity use
the engine's arithmetic, so a shadow replay's equity equals the backtest's to the last bit.
A second order with a known client order id is rejected, as a real broker does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from otonom_trader.adapters.brokers.base import (
    Account,
    BrokerRejected,
    Order,
    OrderRequest,
    Position,
)
from otonom_trader.adapters.journal_models import PAPER_ACCOUNTS, PAPER_ORDERS

__all__ = ["PaperBroker"]


class PaperBroker:
    name = "paper"

    def __init__(self, engine: Engine, account: str, initial_cash: float,
                 fee_bps: float = 0.0) -> None:
        self.engine, self.account_name = engine, account
        with engine.begin() as c:
            row = c.execute(select(PAPER_ACCOUNTS).where(
                PAPER_ACCOUNTS.c.account == account)).first()
            if row is None:
                c.execute(insert(PAPER_ACCOUNTS).values(account=account,
                                                        initial_cash=initial_cash,
                                                        fee_bps=fee_bps))
                row = (account, initial_cash, fee_bps)
        self.initial_cash, self.fee_rate = float(row[1]), float(row[2]) / 1e4
        self._quotes: dict[str, float] = {}

    def quote(self, symbol: str, price: float) -> None:
        """The price a market order on ``symbol`` fills at from now on."""
        self._quotes[symbol] = float(price)

    def _book(self) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(
                select(PAPER_ORDERS).where(PAPER_ORDERS.c.account == self.account_name)
                .order_by(PAPER_ORDERS.c.id))]

    @staticmethod
    def _order(row: dict) -> Order:
        return Order(row["client_order_id"], f"paper-{row['id']}", row["symbol"], row["side"],
                     row["qty"], row["status"], row["qty"], row["price"], row["submitted_at"],
                     row["submitted_at"])

    def submit(self, request: OrderRequest) -> Order:
        price = self._quotes.get(request.symbol)
        if price is None or not price > 0:
            raise BrokerRejected(f"paper broker: no price for {request.symbol}")
        if not request.qty > 0:
            raise BrokerRejected(f"paper broker: qty must be positive, got {request.qty}")
        fee = request.qty * price * self.fee_rate
        try:
            with self.engine.begin() as c:
                c.execute(insert(PAPER_ORDERS).values(
                    account=self.account_name, client_order_id=request.client_order_id,
                    symbol=request.symbol, side=request.side, qty=request.qty, price=price,
                    fee=fee, status="filled", submitted_at=datetime.now()))
        except IntegrityError:
            raise BrokerRejected(f"paper broker: client order id {request.client_order_id} "
                                 "already exists") from None
        found = self.order_by_client_id(request.client_order_id)
        assert found is not None
        return found

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        with self.engine.connect() as c:
            row = c.execute(select(PAPER_ORDERS).where(
                PAPER_ORDERS.c.client_order_id == client_order_id)).first()
        return self._order(dict(row._mapping)) if row else None

    def orders(self, status: Literal["open", "closed", "all"] = "all",
               after: datetime | None = None) -> list[Order]:
        if status == "open":  # paper orders fill at once
            return []
        return [self._order(r) for r in self._book()
                if after is None or r["submitted_at"] > after]

    def _state(self) -> tuple[float, dict[str, tuple[float, float]]]:
        """Cash and {symbol: (signed qty, avg entry price)}, replayed fill by fill."""
        cash, held = self.initial_cash, {}
        for r in self._book():
            qty, px, fee = r["qty"], r["price"], r["fee"]
            q0, avg = held.get(r["symbol"], (0.0, 0.0))
            if r["side"] == "buy":
                cash -= qty * px + fee
                q1 = q0 + qty
            else:
                cash += qty * px - fee
                q1 = q0 - qty
            if q0 == 0 or ((q0 > 0) != (q1 > 0) and q1 != 0):
                avg = px
            elif abs(q1) > abs(q0):
                avg = (abs(q0) * avg + qty * px) / abs(q1)
            held[r["symbol"]] = (q1 if abs(q1) > 1e-12 * max(abs(q0), 1.0) else 0.0, avg)
        return cash, held

    def positions(self) -> list[Position]:
        _, held = self._state()
        return [Position(s, q, a) for s, (q, a) in held.items() if q != 0]

    def equity_at(self, prices: dict[str, float]) -> float:
        """Cash plus the positions marked at ``prices`` (the bar's close)."""
        cash, held = self._state()
        equity = cash
        for symbol, (qty, _) in held.items():
            if qty:
                equity += qty * prices.get(symbol, self._quotes.get(symbol, 0.0))
        return equity

    def account(self) -> Account:
        equity = self.equity_at(self._quotes)
        cash, _ = self._state()
        return Account(cash=cash, equity=equity, buying_power=max(cash, 0.0))
