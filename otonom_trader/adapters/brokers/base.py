"""The broker interface the daemon talks to, and the records it exchanges.

Every order carries a deterministic ``client_order_id`` chosen by the caller (deployment,
strategy version, bar time and side), so an ambiguous submit (a timeout after the broker may
have accepted it) is resolved by asking ``order_by_client_id``, never by sending again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from otonom_trader.domain.errors import InputError, RunError

Side = Literal["buy", "sell"]
OrderStatus = Literal["new", "accepted", "partially_filled", "filled", "canceled",
                      "rejected", "expired"]
OPEN_STATUSES = ("new", "accepted", "partially_filled")
FINAL_STATUSES = ("filled", "canceled", "rejected", "expired")


@dataclass(frozen=True)
class OrderRequest:
    """A market order to send (``qty`` > 0 in units of the symbol; fractional allowed)."""

    client_order_id: str
    symbol: str
    side: Side
    qty: float
    time_in_force: Literal["day", "gtc", "opg"] = "day"


@dataclass(frozen=True)
class Order:
    """An order as the broker reports it."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    qty: float
    status: OrderStatus
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: float  # signed: > 0 long, < 0 short
    avg_entry_price: float


@dataclass(frozen=True)
class Account:
    cash: float
    equity: float
    buying_power: float


class BrokerError(RunError):
    """A broker call failed (the message names the broker and never holds a key)."""


class BrokerConfigError(BrokerError, InputError):
    """The broker cannot be set up: its optional extra is not installed or a key variable
    is missing (a usage error: exit 2)."""


class BrokerRejected(BrokerError):
    """The broker refused the request (HTTP 4xx, e.g. a duplicate client order id or
    insufficient buying power): not retried."""


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or kept failing (5xx, 429, connection errors) after
    the bounded retries with back-off."""


class BrokerAmbiguous(BrokerError):
    """A submit whose outcome is unknown (a timeout after sending): resolve it with
    ``order_by_client_id``; never send it again."""


class Broker(Protocol):
    """What the daemon needs from a broker."""

    name: str

    def account(self) -> Account: ...

    def positions(self) -> list[Position]: ...

    def submit(self, request: OrderRequest) -> Order:
        """Send one order. Raises ``BrokerRejected``, ``BrokerUnavailable`` or
        ``BrokerAmbiguous``."""
        ...

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        """The order with this client id, or None when the broker never received it."""
        ...

    def orders(self, status: Literal["open", "closed", "all"] = "all",
               after: datetime | None = None) -> list[Order]:
        """Orders in that state (submitted after ``after``), oldest first."""
        ...
