"""The daemon's journal in the store's database (tables in ``journal_models``).

Opened through ``ExperimentStore`` so it gets the same URL rules, migrations and one-line
errors. An order's intent is inserted (and committed) before it is sent; inserting the same
client order id twice is a no-op, so a restarted daemon never journals an order twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from otonom_trader.adapters.journal_models import EQUITY, EVENTS, FILLS, ORDERS, POSITIONS, TICKS
from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.domain.errors import InputError

__all__ = ["Intent", "Journal", "now"]


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Intent:
    """An order the daemon means to send (what a live broker would receive)."""

    client_order_id: str
    deployment: str
    strategy_hash: str
    commit_sha: str | None
    bar_time: datetime
    symbol: str
    side: str
    qty: float
    ref_price: float
    reason: str
    stage: str
    broker: str


class Journal:
    def __init__(self, url: str | None = None) -> None:
        try:
            self.store = ExperimentStore(url)
        except InputError as exc:
            raise InputError(f"journal (--journal, else OTONOM_DB): {exc}") from None
        self.engine = self.store.engine
        self.url = self.store.url

    def close(self) -> None:
        self.store.close()

    # -- writes ----------------------------------------------------------------------

    def tick(self, deployment: str, bar_time: datetime | None, commit: str | None,
             strategy_hash: str | None, stage: str) -> None:
        with self.engine.begin() as c:
            c.execute(insert(TICKS).values(deployment=deployment, tick_at=now(),
                                           bar_time=bar_time, commit_sha=commit,
                                           strategy_hash=strategy_hash, stage=stage))

    def intend(self, intent: Intent) -> bool:
        """Commit the intent; False when that client order id is already journaled."""
        at = now()
        try:
            with self.engine.begin() as c:
                c.execute(insert(ORDERS).values(**intent.__dict__, status="intent",
                                                external=False, created_at=at, updated_at=at))
        except IntegrityError:
            return False
        return True

    def external(self, deployment: str, order: Any) -> None:
        """An order the broker has and the journal did not know: recorded, tagged external."""
        at = now()
        with self.engine.begin() as c:
            c.execute(insert(ORDERS).values(
                client_order_id=order.client_order_id, deployment=deployment, strategy_hash="",
                commit_sha=None, bar_time=None, symbol=order.symbol, side=order.side,
                qty=order.qty, ref_price=order.filled_avg_price, reason="external",
                stage="", broker="", status=order.status, broker_order_id=order.broker_order_id,
                external=True, created_at=at, updated_at=at))

    def set_status(self, client_order_id: str, status: str,
                   broker_order_id: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": now()}
        if broker_order_id:
            values["broker_order_id"] = broker_order_id
        with self.engine.begin() as c:
            c.execute(update(ORDERS).where(ORDERS.c.client_order_id == client_order_id)
                      .values(**values))

    def fill(self, intent_row: dict, qty: float, price: float) -> bool:
        """Record the fill of an order once; False when it is already recorded."""
        try:
            with self.engine.begin() as c:
                c.execute(insert(FILLS).values(
                    client_order_id=intent_row["client_order_id"],
                    deployment=intent_row["deployment"], bar_time=intent_row["bar_time"],
                    symbol=intent_row["symbol"], side=intent_row["side"], qty=qty, price=price,
                    recorded_at=now()))
        except IntegrityError:
            return False
        return True

    def mark(self, deployment: str, bar_time: datetime, equity: float,
             symbol: str, qty: float, avg_price: float) -> None:
        """Equity at the bar's close and the position after it (once per bar)."""
        try:
            with self.engine.begin() as c:
                c.execute(insert(EQUITY).values(deployment=deployment, bar_time=bar_time,
                                                equity=equity))
                c.execute(insert(POSITIONS).values(deployment=deployment, bar_time=bar_time,
                                                   symbol=symbol, qty=qty, avg_price=avg_price))
        except IntegrityError:
            pass

    def event(self, kind: str, message: str, *, level: str = "warning",
              deployment: str | None = None, commit: str | None = None) -> None:
        with self.engine.begin() as c:
            c.execute(insert(EVENTS).values(at=now(), deployment=deployment, kind=kind,
                                            level=level, message=message, commit_sha=commit))

    # -- reads -----------------------------------------------------------------------

    def _rows(self, stmt: Any) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(stmt)]

    def orders(self, deployment: str | None = None, status: str | None = None) -> list[dict]:
        stmt = select(ORDERS).order_by(ORDERS.c.id)
        if deployment is not None:
            stmt = stmt.where(ORDERS.c.deployment == deployment)
        if status is not None:
            stmt = stmt.where(ORDERS.c.status == status)
        return self._rows(stmt)

    def unsettled(self) -> list[dict]:
        """Orders whose outcome the journal does not have yet (intent or open at the broker)."""
        return self._rows(select(ORDERS).where(ORDERS.c.status.in_(
            ("intent", "new", "accepted", "partially_filled", "ambiguous")))
            .order_by(ORDERS.c.id))

    def fills(self, deployment: str | None = None) -> list[dict]:
        stmt = select(FILLS).order_by(FILLS.c.id)
        if deployment is not None:
            stmt = stmt.where(FILLS.c.deployment == deployment)
        return self._rows(stmt)

    def known_ids(self, deployment: str) -> set[str]:
        with self.engine.connect() as c:
            return set(c.execute(select(ORDERS.c.client_order_id)
                                 .where(ORDERS.c.deployment == deployment)).scalars())

    def last_bar(self, deployment: str) -> datetime | None:
        with self.engine.connect() as c:
            return c.execute(select(func.max(EQUITY.c.bar_time))
                             .where(EQUITY.c.deployment == deployment)).scalar()

    def first_bar(self, deployment: str, strategy_hash: str) -> datetime | None:
        """The first bar this version of the strategy decided on (its trading start)."""
        with self.engine.connect() as c:
            return c.execute(select(func.min(TICKS.c.bar_time)).where(
                TICKS.c.deployment == deployment, TICKS.c.strategy_hash == strategy_hash)
                ).scalar()

    def equity(self, deployment: str) -> list[dict]:
        return self._rows(select(EQUITY).where(EQUITY.c.deployment == deployment)
                          .order_by(EQUITY.c.bar_time))

    def last_tick(self, deployment: str) -> dict | None:
        rows = self._rows(select(TICKS).where(TICKS.c.deployment == deployment)
                          .order_by(TICKS.c.id.desc()).limit(1))
        return rows[0] if rows else None

    def last_position(self, deployment: str) -> dict | None:
        rows = self._rows(select(POSITIONS).where(POSITIONS.c.deployment == deployment)
                          .order_by(POSITIONS.c.id.desc()).limit(1))
        return rows[0] if rows else None

    def events(self, deployment: str | None = None, limit: int = 5,
               kind: str | None = None) -> list[dict]:
        stmt = select(EVENTS).order_by(EVENTS.c.id.desc()).limit(limit)
        if deployment is not None:
            stmt = stmt.where((EVENTS.c.deployment == deployment)
                              | EVENTS.c.deployment.is_(None))
        if kind is not None:
            stmt = stmt.where(EVENTS.c.kind == kind)
        return self._rows(stmt)

    def last_event(self, deployment: str, kinds: Sequence[str]) -> dict | None:
        """The newest event of one of ``kinds`` for ``deployment`` itself, or None."""
        rows = self._rows(select(EVENTS).where(EVENTS.c.deployment == deployment,
                                               EVENTS.c.kind.in_(list(kinds)))
                          .order_by(EVENTS.c.id.desc()).limit(1))
        return rows[0] if rows else None

    def deployments(self) -> list[str]:
        with self.engine.connect() as c:
            return sorted(set(c.execute(select(TICKS.c.deployment).distinct()).scalars()))
