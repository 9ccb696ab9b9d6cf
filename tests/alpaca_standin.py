"""A local stand-in for the Alpaca Trading API v2 endpoints otonom uses, for offline tests.

Use the ``alpaca_standin`` fixture of tests/test_broker_alpaca.py, or::

    standin = AlpacaStandin(prices={"SPY": 500.0}).start()
    monkeypatch.setenv("APCA_API_KEY_ID", standin.key_id)
    monkeypatch.setenv("APCA_API_SECRET_KEY", standin.secret_key)
    broker = AlpacaBroker(url_override=standin.url, timeout=0.5)
    ...
    standin.stop()

What it serves on ``http://127.0.0.1:<port>`` (``.url`` is the API root, like
``https://paper-api.alpaca.markets``), with the JSON fields and status codes of Alpaca's
Trading API v2 (checked against alpaca-py's models in tests/test_broker_alpaca.py):

- ``GET /v2/account``; ``GET /v2/positions`` (``qty`` signed, ``side`` long/short);
- ``POST /v2/orders`` (market orders: ``symbol``, ``qty``, ``side``, ``type``,
  ``time_in_force``, ``client_order_id``): 200 and the order, status ``accepted``; 422
  ``client_order_id must be unique`` for a client id already used; 403
  ``insufficient buying power`` when a buy costs more than the buying power; 422 for a body
  Alpaca would refuse;
- ``GET /v2/orders:by_client_order_id?client_order_id=...`` (404 when unknown);
- ``GET /v2/orders`` with ``status`` (open, closed, all; default open), ``after`` and
  ``until`` (exclusive, on ``submitted_at``), ``limit`` (default 50, at most 500) and
  ``direction`` (asc, desc; default desc).

Every request needs the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` headers of the stand-in's
key pair (else 401). Requests are recorded in ``.requests`` (``Request``: method, path, query,
json, authorized; never the keys). Bodies Alpaca would refuse are also appended to
``.errors``.

The order state machine is driven by the test: ``advance(cid, "new" | "accepted")``,
``fill(cid, qty, price)`` (partially_filled, then filled at the full quantity; positions,
cash and equity follow), ``cancel(cid)``, ``reject(cid)``; an illegal transition raises
``AssertionError``.

Faults: ``fail(method, path, status, times=1, retry_after=None, processed=False,
echo=False)`` answers the next matching requests with that status and Alpaca's error body;
``stall(method, path, seconds)`` handles
the next matching request (a POST is accepted and recorded) and then holds the answer back
for ``seconds`` (past the client's timeout).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.standin_server import LocalServer, Request, read_request

__all__ = ["AlpacaStandin", "Request"]

_T0 = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
_NEXT = {"new": {"accepted", "partially_filled", "filled", "canceled", "rejected"},
         "accepted": {"partially_filled", "filled", "canceled", "rejected"},
         "partially_filled": {"partially_filled", "filled", "canceled"}}
_CLOSED = {"filled", "canceled", "expired", "rejected", "replaced", "done_for_day"}
_ERRORS = {401: 40110000, 403: 40310000, 404: 40410000, 422: 40010001, 429: 42910000,
           500: 50010000, 502: 50010000, 503: 50010000, 504: 50010000}
_MESSAGES = {401: "request is not authorized", 429: "rate limit exceeded",
             500: "internal server error", 502: "bad gateway", 503: "service unavailable",
             504: "gateway timeout"}


@dataclass
class _Fault:
    method: str
    path: str
    status: int = 500
    retry_after: float | None = None
    stall: float = 0.0
    processed: bool = False
    echo: bool = False


@dataclass
class AlpacaStandin(LocalServer):
    prices: dict[str, float] = field(default_factory=lambda: {"SPY": 500.0})
    cash: float = 100_000.0
    key_id: str = "PKSTANDIN0000000000"
    secret_key: str = "standin-secret-0000000000000000000000000"
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    holdings: dict[str, list[float]] = field(default_factory=dict)  # symbol -> [qty, avg]
    _faults: list[_Fault] = field(default_factory=list)
    _clock: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    # -- faults and the state machine, for tests -------------------------------------------

    def fail(self, method: str, path: str, status: int = 500, *, times: int = 1,
             retry_after: float | None = None, processed: bool = False,
             echo: bool = False) -> None:
        """The next ``times`` matching requests are answered ``status`` with Alpaca's error
        body (``Retry-After`` if given); ``processed``: the request takes effect first (an
        order is placed, then the answer is lost in a 5xx); ``echo``: the error message
        repeats the request's headers, keys included (a hostile or broken proxy)."""
        for _ in range(times):
            self._faults.append(_Fault(method.upper(), path, status, retry_after,
                                       processed=processed, echo=echo))

    def stall(self, method: str, path: str, seconds: float) -> None:
        self._faults.append(_Fault(method.upper(), path, 0, stall=seconds))

    def calls(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def order(self, client_order_id: str) -> dict:
        found = next((o for o in self.orders if o["client_order_id"] == client_order_id),
                     None)
        assert found is not None, f"no order {client_order_id}"
        return found

    def advance(self, client_order_id: str, status: str) -> dict:
        with self._lock:
            return self._move(self.order(client_order_id), status)

    def fill(self, client_order_id: str, qty: float, price: float) -> dict:
        """Fill ``qty`` more units at ``price``: partially_filled, or filled at the full
        quantity; the position, cash and the symbol's price follow."""
        with self._lock:
            order = self.order(client_order_id)
            done, total = float(order["filled_qty"]), float(order["qty"])
            assert 0 < qty <= total - done + 1e-12, f"fill of {qty} exceeds the order"
            filled = done + qty
            avg = ((float(order["filled_avg_price"] or 0) * done) + price * qty) / filled
            full = abs(filled - total) < 1e-9
            self._move(order, "filled" if full else "partially_filled")
            order["filled_qty"] = _dec(filled)
            order["filled_avg_price"] = _dec(avg)
            if full:
                order["filled_at"] = order["updated_at"]
            signed = qty if order["side"] == "buy" else -qty
            self._book(order["symbol"], signed, price)
            return dict(order)

    def cancel(self, client_order_id: str) -> dict:
        with self._lock:
            order = self._move(self.order(client_order_id), "canceled")
            order["canceled_at"] = order["updated_at"]
            return dict(order)

    def reject(self, client_order_id: str) -> dict:
        with self._lock:
            order = self._move(self.order(client_order_id), "rejected")
            order["failed_at"] = order["updated_at"]
            return dict(order)

    # -- state (under the lock) -----------------------------------------------------------

    def _now(self) -> str:
        self._clock += 1
        return _stamp(_T0 + timedelta(seconds=self._clock))

    def _move(self, order: dict, status: str) -> dict:
        assert status in _NEXT.get(order["status"], set()), \
            f"illegal transition {order['status']} -> {status}"
        order["status"] = status
        order["updated_at"] = self._now()
        return order

    def _book(self, symbol: str, signed_qty: float, price: float) -> None:
        qty, avg = self.holdings.get(symbol, [0.0, 0.0])
        new = qty + signed_qty
        if abs(new) < 1e-12:
            self.holdings.pop(symbol, None)
        elif qty == 0 or (qty > 0) != (new > 0):
            self.holdings[symbol] = [new, price]  # opened or flipped at this price
        elif abs(new) > abs(qty):
            self.holdings[symbol] = [new, (abs(qty) * avg + abs(signed_qty) * price) / abs(new)]
        else:
            self.holdings[symbol] = [new, avg]  # reduced: the entry price stays
        self.cash -= signed_qty * price
        self.prices[symbol] = price

    def _equity(self) -> float:
        return self.cash + sum(q * self.prices[s] for s, (q, _) in self.holdings.items())

    def _account_json(self) -> dict:
        equity = self._equity()
        long_value = sum(q * self.prices[s] for s, (q, _) in self.holdings.items() if q > 0)
        short_value = sum(q * self.prices[s] for s, (q, _) in self.holdings.items() if q < 0)
        return {"id": "e6fe16f3-64a4-4921-8928-cadf02f92f98", "account_number": "PA3STANDIN",
                "status": "ACTIVE", "crypto_status": "ACTIVE", "currency": "USD",
                "buying_power": _dec(max(self.cash, 0.0)),
                "regt_buying_power": _dec(max(self.cash, 0.0)),
                "non_marginable_buying_power": _dec(max(self.cash, 0.0)),
                "cash": _dec(self.cash), "accrued_fees": "0", "pending_transfer_in": "0",
                "portfolio_value": _dec(equity), "pattern_day_trader": False,
                "trading_blocked": False, "transfers_blocked": False,
                "account_blocked": False, "created_at": "2026-01-05T15:02:11.12345Z",
                "trade_suspended_by_user": False, "multiplier": "1",
                "shorting_enabled": True, "equity": _dec(equity),
                "last_equity": _dec(equity), "long_market_value": _dec(long_value),
                "short_market_value": _dec(short_value), "initial_margin": "0",
                "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": "0",
                "options_buying_power": _dec(max(self.cash, 0.0)),
                "options_approved_level": 0, "options_trading_level": 0}

    def _position_json(self, symbol: str) -> dict:
        qty, avg = self.holdings[symbol]
        price = self.prices[symbol]
        cost = qty * avg
        value = qty * price
        return {"asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "symbol": symbol,
                "exchange": "ARCA", "asset_class": "us_equity", "asset_marginable": True,
                "avg_entry_price": _dec(avg), "qty": _dec(qty),
                "side": "long" if qty > 0 else "short", "market_value": _dec(value),
                "cost_basis": _dec(cost), "unrealized_pl": _dec(value - cost),
                "unrealized_plpc": _dec((value - cost) / abs(cost)),
                "unrealized_intraday_pl": _dec(value - cost),
                "unrealized_intraday_plpc": _dec((value - cost) / abs(cost)),
                "current_price": _dec(price), "lastday_price": _dec(price),
                "change_today": "0", "qty_available": _dec(qty)}

    def _create_order(self, body: dict) -> tuple[int, dict]:
        problems = [k for k in ("symbol", "side", "type", "time_in_force", "client_order_id")
                    if not isinstance(body.get(k), str) or not body[k]]
        try:
            qty = float(body.get("qty"))
        except (TypeError, ValueError):
            problems.append("qty")
            qty = 0.0
        if problems or qty <= 0:
            self.errors.append(f"POST /v2/orders: bad {', '.join(problems) or 'qty'}")
            return 422, _error(422, f"invalid order: {', '.join(problems) or 'qty'}")
        if body["type"] != "market" or body["side"] not in ("buy", "sell") or \
                body["time_in_force"] not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            self.errors.append(f"POST /v2/orders: unexpected {body}")
            return 422, _error(422, "invalid order type, side or time_in_force")
        if body["symbol"] not in self.prices:
            return 422, _error(422, f"asset \"{body['symbol']}\" not found")
        if any(o["client_order_id"] == body["client_order_id"] for o in self.orders):
            return 422, _error(422, "client_order_id must be unique")
        cost = qty * self.prices[body["symbol"]]
        if body["side"] == "buy" and cost > max(self.cash, 0.0):
            return 403, {"buying_power": _dec(max(self.cash, 0.0)), "code": 40310000,
                         "cost_basis": _dec(cost), "message": "insufficient buying power"}
        now = self._now()
        order = {"id": str(uuid.uuid4()), "client_order_id": body["client_order_id"],
                 "created_at": now, "updated_at": now, "submitted_at": now,
                 "filled_at": None, "expired_at": None, "canceled_at": None,
                 "failed_at": None, "replaced_at": None, "replaced_by": None,
                 "replaces": None,
                 "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, body["symbol"])),
                 "symbol": body["symbol"], "asset_class": "us_equity", "notional": None,
                 "qty": _dec(qty), "filled_qty": "0", "filled_avg_price": None,
                 "order_class": "", "order_type": "market", "type": "market",
                 "side": body["side"], "position_intent": (
                     "buy_to_open" if body["side"] == "buy" else "sell_to_close"),
                 "time_in_force": body["time_in_force"], "limit_price": None,
                 "stop_price": None, "status": "accepted", "extended_hours": False,
                 "legs": None, "trail_percent": None, "trail_price": None, "hwm": None,
                 "expires_at": None}
        self.orders.append(order)
        return 200, dict(order)

    def _list_orders(self, query: dict[str, str]) -> tuple[int, Any]:
        status = query.get("status", "open")
        direction = query.get("direction", "desc")
        try:
            limit = int(query.get("limit", 50))
            after = _parse(query["after"]) if "after" in query else None
            until = _parse(query["until"]) if "until" in query else None
        except ValueError as exc:
            return 422, _error(422, f"invalid query: {exc}")
        if status not in ("open", "closed", "all") or direction not in ("asc", "desc") or \
                not 0 < limit <= 500:
            return 422, _error(422, "invalid status, direction or limit")
        chosen = [o for o in self.orders
                  if (status == "all" or (status == "closed") == (o["status"] in _CLOSED))
                  and (after is None or _parse(o["submitted_at"]) > after)
                  and (until is None or _parse(o["submitted_at"]) < until)]
        chosen.sort(key=lambda o: o["submitted_at"], reverse=direction == "desc")
        return 200, [dict(o) for o in chosen[:limit]]


class _Handler(BaseHTTPRequestHandler):
    standin: AlpacaStandin
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stall)
            self.close_connection = True

    def _handle(self) -> None:
        s = self.standin
        path, query, body = read_request(self)
        authorized = (self.headers.get("APCA-API-KEY-ID") == s.key_id
                      and self.headers.get("APCA-API-SECRET-KEY") == s.secret_key)
        stall = 0.0
        with s._lock:
            s.requests.append(Request(self.command, path, query, body, authorized))
            fault = next((f for f in s._faults
                          if f.method == self.command and f.path == path), None)
            if fault is not None:
                s._faults.remove(fault)
        if not authorized:
            return self._send(401, _error(401))
        if fault is not None and not fault.stall:
            if fault.processed:
                with s._lock:
                    self._route(path, query, body)
            headers = ({"Retry-After": f"{fault.retry_after:g}"}
                       if fault.retry_after is not None else {})
            message = (f"upstream error; request headers: {dict(self.headers.items())}"
                       if fault.echo else None)
            return self._send(fault.status, _error(fault.status, message), headers)
        if fault is not None:
            stall = fault.stall
        with s._lock:
            status, payload = self._route(path, query, body)
        if stall and s._stopping.wait(stall):
            self.close_connection = True
            return None  # stopped while stalling: no answer
        return self._send(status, payload)

    def _route(self, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        s = self.standin
        method = self.command
        if method == "GET" and path == "/v2/account":
            return 200, s._account_json()
        if method == "GET" and path == "/v2/positions":
            return 200, [s._position_json(sym) for sym in sorted(s.holdings)]
        if method == "POST" and path == "/v2/orders":
            if not isinstance(body, dict):
                s.errors.append("POST /v2/orders: the body is not a JSON object")
                return 422, _error(422, "request body format is invalid")
            return s._create_order(body)
        if method == "GET" and path == "/v2/orders:by_client_order_id":
            cid = query.get("client_order_id", "")
            order = next((o for o in s.orders if o["client_order_id"] == cid), None)
            if order is None:
                return 404, _error(404, "order not found")
            return 200, dict(order)
        if method == "GET" and path == "/v2/orders":
            return s._list_orders(query)
        s.errors.append(f"{method} {path}: not an endpoint the stand-in serves")
        return 404, {"code": 40410000, "message": "endpoint not found"}

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()


def _error(status: int, message: str | None = None) -> dict:
    return {"code": _ERRORS.get(status, status * 100000),
            "message": message or _MESSAGES.get(status, "error")}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _dec(value: float) -> str:
    """A decimal string as Alpaca writes amounts ("10", "-2.5", "500.125")."""
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


AlpacaStandin.handler = _Handler
