"""Alpaca through ``alpaca-py`` (the optional extra ``otonom-trader[alpaca]``).

Keys come only from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY`` and never leave the client:
every message goes through ``redact``. The paper endpoint is the default; ``url_override``
(or ``APCA_API_BASE_URL``) points the client elsewhere, e.g. at the tests' local stand-in.

Errors map to base's families: HTTP 429 and 5xx, connection failures and timeouts of reads
are retried with bounded exponential back-off (tenacity; a ``Retry-After`` header is
honoured), then ``BrokerUnavailable``; other 4xx are ``BrokerRejected`` at once. A submit
whose request may have reached Alpaca (a read timeout, a connection dropped after sending)
is ``BrokerAmbiguous`` and is never sent again; a retried submit that meets its own earlier
attempt (422 duplicate client order id after a 5xx) returns that order.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from otonom_trader.adapters.brokers.base import (
    Account,
    BrokerAmbiguous,
    BrokerConfigError,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    Order,
    OrderRequest,
    Position,
)
from otonom_trader.domain.redact import redact

try:
    with warnings.catch_warnings():
        # alpaca.trading imports its (unused here) stream module, which imports the
        # deprecated websockets.legacy of websockets >= 14
        warnings.filterwarnings("ignore", message="websockets.legacy is deprecated",
                                category=DeprecationWarning)
        import requests
        import tenacity
        from alpaca.common.enums import Sort
        from alpaca.common.exceptions import APIError
        from alpaca.trading.client import TradingClient
        from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
        from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest
        from pydantic import ValidationError
        from requests.adapters import HTTPAdapter
        from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
except ImportError as exc:  # the extra is not installed
    _MISSING: ImportError | None = exc
    HTTPAdapter = object  # type: ignore[assignment,misc]
else:
    _MISSING = None

__all__ = ["KEY_ENV", "SECRET_ENV", "AlpacaBroker"]

KEY_ENV = "APCA_API_KEY_ID"
SECRET_ENV = "APCA_API_SECRET_KEY"
URL_ENV = "APCA_API_BASE_URL"
RETRY_CODES = (429, 500, 502, 503, 504)
PAGE_LIMIT = 500  # Alpaca's maximum for GET /v2/orders
_DUPLICATE = "client_order_id must be unique"

# Alpaca's order states folded onto base's: still working / done.
_STATUS = {"new": "new", "pending_new": "new", "accepted": "accepted",
           "accepted_for_bidding": "accepted", "pending_review": "accepted",
           "held": "accepted", "stopped": "accepted", "suspended": "accepted",
           "pending_cancel": "accepted", "pending_replace": "accepted",
           "done_for_day": "accepted", "calculated": "accepted",
           "partially_filled": "partially_filled", "filled": "filled",
           "canceled": "canceled", "replaced": "canceled", "rejected": "rejected",
           "expired": "expired"}

T = TypeVar("T")
log = logging.getLogger(__name__)


class _Transient(Exception):
    """One attempt failed in a way worth retrying (429, 5xx, connection, read timeout)."""

    def __init__(self, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request of the SDK's session a (connect, read) timeout: alpaca-py sets
    none of its own."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (self._timeout, self._timeout)
        return super().send(request, **kwargs)


class AlpacaBroker:
    """``base.Broker`` on Alpaca's Trading API v2 (paper by default)."""

    name = "alpaca"

    def __init__(self, *, paper: bool = True, url_override: str | None = None,
                 timeout: float = 10.0, retry_attempts: int = 4,
                 retry_wait_seconds: float = 0.5, max_wait_seconds: float = 30.0,
                 max_retry_seconds: float = 60.0,
                 retry_exception_codes: tuple[int, ...] = RETRY_CODES) -> None:
        if _MISSING is not None:
            raise BrokerConfigError(
                "alpaca: the broker needs the optional extra alpaca-py "
                f"({_MISSING.name or _MISSING}); install it with "
                "pip install 'otonom-trader[alpaca]'")
        key, secret = (os.environ.get(KEY_ENV, ""), os.environ.get(SECRET_ENV, ""))
        for var, value in ((KEY_ENV, key), (SECRET_ENV, secret)):
            if not value.strip():
                raise BrokerConfigError(
                    f"alpaca: environment variable {var} is not set; export your Alpaca "
                    f"{'paper ' if paper else ''}API key pair as {KEY_ENV} and {SECRET_ENV}")
        self._secrets = (key, secret)
        self.url = url_override or os.environ.get(URL_ENV) or None
        self.paper = paper
        self._client = TradingClient(api_key=key, secret_key=secret, paper=paper,
                                     url_override=self.url)
        # alpaca-py's own retry (RESTClient's retry_attempts, which TradingClient does not
        # expose) is a fixed 3 s sleep that ignores Retry-After: switch it off and let the
        # tenacity policy below decide.
        self._client._retry = 0
        adapter = _TimeoutAdapter(timeout)
        self._client._session.mount("https://", adapter)
        self._client._session.mount("http://", adapter)
        self._codes = frozenset(retry_exception_codes)
        self._attempts = retry_attempts + 1
        self._max_retry_seconds = max_retry_seconds
        self._max_wait = max_wait_seconds
        self._backoff = tenacity.wait_exponential(multiplier=retry_wait_seconds,
                                                  max=max_wait_seconds)

    def __repr__(self) -> str:
        return f"AlpacaBroker(url={self.url or ('paper' if self.paper else 'live')!r})"

    # -- base.Broker -------------------------------------------------------------------

    def account(self) -> Account:
        raw = self._call("GET /v2/account", self._client.get_account)
        return Account(cash=_num(raw.cash), equity=_num(raw.equity),
                       buying_power=_num(raw.buying_power))

    def positions(self) -> list[Position]:
        raws = self._call("GET /v2/positions", self._client.get_all_positions)
        out = []
        for raw in raws:
            qty = abs(_num(raw.qty))
            out.append(Position(symbol=raw.symbol,
                                qty=-qty if _value(raw.side) == "short" else qty,
                                avg_entry_price=_num(raw.avg_entry_price)))
        return out

    def submit(self, request: OrderRequest) -> Order:
        what = f"POST /v2/orders ({request.client_order_id})"
        if not request.qty > 0:
            raise BrokerRejected(f"alpaca: {what}: qty must be > 0, got {request.qty}")
        try:
            order = MarketOrderRequest(symbol=request.symbol, qty=request.qty,
                                       side=OrderSide(request.side),
                                       time_in_force=TimeInForce(request.time_in_force),
                                       client_order_id=request.client_order_id)
        except ValueError as exc:  # an unknown side or time in force (pydantic or enum)
            raise BrokerRejected(f"alpaca: {what}: not a market order alpaca-py can send: "
                                 f"{_short(exc)}") from None
        state = {"maybe_sent": False}

        def once() -> Any:
            try:
                return self._client.submit_order(order)
            except APIError as exc:
                if exc.status_code in self._codes and exc.status_code != 429:
                    state["maybe_sent"] = True  # a 5xx may come after Alpaca took it
                if (exc.status_code == 422 and state["maybe_sent"]
                        and _DUPLICATE in _api_message(exc)):
                    return _OWN_EARLIER
                raise
            except requests.RequestException as exc:
                if _before_sending(exc):
                    raise
                raise BrokerAmbiguous(self._say(
                    f"alpaca: {what}: no answer ({type(exc).__name__}): the order may have "
                    "been accepted; resolve it with order_by_client_id, do not resend"))\
                    from None
            except (ValidationError, ValueError) as exc:
                raise BrokerAmbiguous(self._say(
                    f"alpaca: {what}: unreadable answer ({_short(exc)}): the order may have "
                    "been accepted; resolve it with order_by_client_id")) from None

        try:
            raw = self._call(what, once)
        except BrokerUnavailable:
            if not state["maybe_sent"]:
                raise
            found = self._earlier_attempt(request, what)
            if found is None:
                raise
            return found
        if raw is _OWN_EARLIER:
            found = self._earlier_attempt(request, what)
            if found is None:
                raise BrokerAmbiguous(self._say(
                    f"alpaca: {what}: Alpaca calls the client order id a duplicate after a "
                    "failed attempt but does not return it; resolve it with "
                    "order_by_client_id"))
            return found
        return _order(raw)

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        what = f"GET /v2/orders:by_client_order_id ({client_order_id})"

        def once() -> Any:
            try:
                return self._client.get_order_by_client_id(client_order_id)
            except APIError as exc:
                if exc.status_code == 404:
                    return None
                raise

        raw = self._call(what, once)
        return None if raw is None else _order(raw)

    def orders(self, status: Literal["open", "closed", "all"] = "all",
               after: datetime | None = None) -> list[Order]:
        """All pages of ``GET /v2/orders`` oldest first (``after`` exclusive, as Alpaca)."""
        seen: dict[str, Order] = {}
        cursor = after
        while True:
            query = GetOrdersRequest(status=QueryOrderStatus(status), limit=PAGE_LIMIT,
                                     after=cursor, direction=Sort.ASC)
            page = self._call("GET /v2/orders",
                              lambda q=query: self._client.get_orders(filter=q))
            fresh = [o for o in map(_order, page) if o.broker_order_id not in seen]
            seen.update((o.broker_order_id, o) for o in fresh)
            if len(page) < PAGE_LIMIT or not fresh or fresh[-1].submitted_at is None:
                break
            # the next page starts just before the last time seen (orders submitted in the
            # same instant are kept once through ``seen``)
            cursor = fresh[-1].submitted_at - timedelta(microseconds=1)
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(seen.values(), key=lambda o: (o.submitted_at or oldest,
                                                    o.broker_order_id))

    # -- one call with the retry policy --------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            try:
                return fn()
            except APIError as exc:
                status = exc.status_code
                if status in self._codes:
                    raise _Transient(f"HTTP {status}: {_api_message(exc)}", status,
                                     _retry_after(exc)) from None
                raise BrokerRejected(self._say(
                    f"alpaca: {what} refused (HTTP {status}): {_api_message(exc)}")) from None
            except requests.RequestException as exc:
                raise _Transient(f"{type(exc).__name__}: {_short(exc)}") from None
            except ValidationError as exc:
                raise BrokerError(self._say(
                    f"alpaca: {what}: the answer does not have Alpaca's shape: "
                    f"{_short(exc)}")) from None

        retrying = tenacity.Retrying(
            stop=(tenacity.stop_after_attempt(self._attempts)
                  | tenacity.stop_after_delay(self._max_retry_seconds)),
            wait=self._wait, retry=tenacity.retry_if_exception_type(_Transient),
            before_sleep=lambda state: self._log_retry(what, state), reraise=True)
        try:
            return retrying(attempt)
        except _Transient as exc:
            tries = retrying.statistics.get("attempt_number", self._attempts)
            raise BrokerUnavailable(self._say(
                f"alpaca: {what} failed after {tries} attempt(s), last: {exc}")) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_wait)
        return self._backoff(state)

    def _log_retry(self, what: str, state: tenacity.RetryCallState) -> None:
        pause = state.next_action.sleep if state.next_action else 0.0
        log.warning(self._say(f"alpaca: {what}: {state.outcome.exception()}; attempt "
                              f"{state.attempt_number + 1} in {pause:.2f} s"))

    def _earlier_attempt(self, request: OrderRequest, what: str) -> Order | None:
        """The order an earlier attempt of this submit placed, if Alpaca has it."""
        try:
            found = self.order_by_client_id(request.client_order_id)
        except BrokerError:
            raise BrokerAmbiguous(self._say(
                f"alpaca: {what}: failed after an attempt Alpaca may have taken, and the "
                "order cannot be looked up; resolve it with order_by_client_id")) from None
        if found is not None and (found.symbol, found.side) != (request.symbol, request.side):
            raise BrokerRejected(self._say(
                f"alpaca: {what}: the client order id belongs to another order "
                f"({found.side} {found.symbol})"))
        return found

    def _say(self, message: str) -> str:
        return redact(message, *self._secrets)


_OWN_EARLIER = object()  # a retried submit met the order its own earlier attempt placed


def _order(raw: Any) -> Order:
    filled = _num(raw.filled_qty or 0)
    status = _STATUS.get(_value(raw.status), "accepted")
    if status == "accepted" and filled > 0:
        status = "partially_filled"
    price = raw.filled_avg_price
    return Order(client_order_id=raw.client_order_id, broker_order_id=str(raw.id),
                 symbol=raw.symbol, side=_value(raw.side), qty=_num(raw.qty or 0),
                 status=status, filled_qty=filled,
                 filled_avg_price=None if price in (None, "") or not filled else _num(price),
                 submitted_at=raw.submitted_at, updated_at=raw.updated_at)


def _value(enum_or_str: Any) -> str:
    return getattr(enum_or_str, "value", enum_or_str)


def _num(value: Any) -> float:
    return float(value) if value not in (None, "") else 0.0


def _api_message(exc: Any) -> str:
    """Alpaca's ``message`` of an error body, or the start of a body that is not JSON."""
    try:
        body = json.loads(str(exc))
    except ValueError:
        return _short(exc)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return _short(exc)


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to the back-off


def _before_sending(exc: Exception) -> bool:
    """True when the request never left (connection refused, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    inner = exc.args[0] if exc.args else None
    return isinstance(inner, MaxRetryError) and isinstance(inner.reason, ConnectTimeoutError)


def _short(exc: object, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."
