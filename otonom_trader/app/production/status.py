"""Use case: what ``otonom daemon status`` shows, read from the journal only."""

from __future__ import annotations

from otonom_trader.adapters.journal import Journal


def _iso(value) -> str | None:
    return value.isoformat(sep=" ") if value is not None else None


def daemon_status(journal_url: str | None = None) -> dict:
    """Per strategy: stage, capital, commit, last tick and bar, position, equity, open
    orders, latest events and the last parity check (an ``event`` of kind ``parity``)."""
    journal = Journal(journal_url)
    try:
        out = []
        for name in journal.deployments():
            tick = journal.last_tick(name) or {}
            pos = journal.last_position(name) or {}
            equity = journal.equity(name)
            orders = journal.orders(name)
            last = orders[-1] if orders else {}
            parity = journal.events(name, limit=1, kind="parity")
            out.append({
                "strategy": name,
                "stage": tick.get("stage"),
                "broker": last.get("broker"),
                "commit": tick.get("commit_sha"),
                "version": tick.get("strategy_hash"),
                "last_tick": _iso(tick.get("tick_at")),
                "last_bar": _iso(tick.get("bar_time")),
                "position": {"symbol": pos.get("symbol"), "qty": pos.get("qty", 0.0),
                             "avg_price": pos.get("avg_price")},
                "equity": equity[-1]["equity"] if equity else None,
                "start_equity": equity[0]["equity"] if equity else None,
                "orders": len(orders),
                "open_orders": [o["client_order_id"] for o in journal.unsettled()
                                if o["deployment"] == name],
                "events": [{"at": _iso(e["at"]), "kind": e["kind"], "level": e["level"],
                            "message": e["message"]} for e in journal.events(name, 5)],
                "parity": parity[0]["message"] if parity else None,
            })
        return {"journal": journal.url, "strategies": out}
    finally:
        journal.close()
