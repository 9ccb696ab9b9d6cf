"""The Alpaca broker (alpaca-py) against a local stand-in of Alpaca's Trading API v2
(tests/alpaca_standin.py): the order state machine, timeouts, 5xx, 429, rejections and keys
that never leave the client."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import traceback
from datetime import datetime

import pytest
import requests

pytest.importorskip("alpaca")

from otonom_trader.adapters.brokers.alpaca import AlpacaBroker
from otonom_trader.adapters.brokers.base import (
    BrokerAmbiguous,
    BrokerConfigError,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    OrderRequest,
)
from tests.alpaca_standin import AlpacaStandin

KEY = "PKOTONOMFAKEKEYID4242"
SECRET = "otonomFakeSecret+9x/Zq7WvTT3pLm0NbVc2Ax8Hk"

# Field names of the responses alpaca-py's own tests record for these endpoints
# (alpacahq/alpaca-py tests/trading/trading_client/test_{order,position,account}_routes.py).
RECORDED_ORDER = {
    "id", "client_order_id", "created_at", "updated_at", "submitted_at", "filled_at",
    "expired_at", "canceled_at", "failed_at", "replaced_at", "replaced_by", "replaces",
    "asset_id", "symbol", "asset_class", "notional", "qty", "filled_qty", "filled_avg_price",
    "order_class", "order_type", "type", "side", "time_in_force", "limit_price", "stop_price",
    "status", "extended_hours", "legs", "trail_percent", "trail_price", "hwm"}
RECORDED_POSITION = {
    "asset_id", "symbol", "exchange", "asset_class", "avg_entry_price", "qty", "side",
    "market_value", "cost_basis", "unrealized_pl", "unrealized_plpc",
    "unrealized_intraday_pl", "unrealized_intraday_plpc", "current_price", "lastday_price",
    "change_today"}
RECORDED_ACCOUNT = {
    "account_blocked", "accrued_fees", "account_number", "buying_power", "cash", "created_at",
    "currency", "equity", "id", "initial_margin", "last_equity", "last_maintenance_margin",
    "non_marginable_buying_power", "long_market_value", "maintenance_margin", "multiplier",
    "pattern_day_trader", "portfolio_value", "regt_buying_power", "short_market_value",
    "shorting_enabled", "sma", "status", "trade_suspended_by_user", "trading_blocked",
    "transfers_blocked"}


@pytest.fixture
def standin(monkeypatch):
    server = AlpacaStandin(prices={"SPY": 500.0, "QQQ": 400.0}, key_id=KEY,
                           secret_key=SECRET).start()
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    monkeypatch.delenv("APCA_API_BASE_URL", raising=False)
    try:
        yield server
    finally:
        server.stop()
    assert not server.errors, server.errors


def make(standin: AlpacaStandin, **kw) -> AlpacaBroker:
    opts = {"timeout": 0.4, "retry_attempts": 3, "retry_wait_seconds": 0.01,
            "max_wait_seconds": 0.5, "max_retry_seconds": 5.0} | kw
    return AlpacaBroker(url_override=standin.url, **opts)


def order(cid: str, symbol: str = "SPY", side: str = "buy", qty: float = 10.0) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, qty=qty)


def raw(standin: AlpacaStandin, path: str, **params) -> object:
    answer = requests.get(standin.url + path, params=params, timeout=2,
                          headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- shapes -----------------------------------------------------------------------------


def test_standin_answers_have_the_fields_alpaca_py_reads(standin):
    # imported after the broker module, which silences alpaca.trading's deprecation noise
    from alpaca.trading.models import Order as AlpacaOrder
    from alpaca.trading.models import Position as AlpacaPosition
    from alpaca.trading.models import TradeAccount

    broker = make(standin)
    broker.submit(order("shape-1", qty=2))
    standin.fill("shape-1", 2, 501.0)
    broker.submit(order("shape-2", "QQQ", "sell", 1))
    standin.fill("shape-2", 1, 399.0)
    answers = [
        (TradeAccount, RECORDED_ACCOUNT, [raw(standin, "/v2/account")]),
        (AlpacaPosition, RECORDED_POSITION, raw(standin, "/v2/positions")),
        (AlpacaOrder, RECORDED_ORDER, [
            *raw(standin, "/v2/orders", status="all"),
            raw(standin, "/v2/orders:by_client_order_id", client_order_id="shape-1")]),
    ]
    for model, recorded, payloads in answers:
        fields = set(model.model_fields)
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        assert len(payloads) >= 1
        for payload in payloads:
            keys = set(payload)
            assert keys <= fields, (model.__name__, keys - fields)  # no invented field
            assert required <= keys, (model.__name__, required - keys)
            assert recorded - {"daytrade_count", "daytrading_buying_power"} <= keys, (
                model.__name__, recorded - keys)
            model(**payload)  # alpaca-py accepts it
    short = next(p for p in raw(standin, "/v2/positions") if p["symbol"] == "QQQ")
    assert (short["qty"], short["side"]) == ("-1", "short")  # Alpaca signs short quantities


def test_paper_endpoint_is_the_default(standin):
    from alpaca.common.enums import BaseURL

    assert AlpacaBroker()._client._base_url == BaseURL.TRADING_PAPER
    assert AlpacaBroker(paper=False)._client._base_url == BaseURL.TRADING_LIVE


# -- the order state machine ----------------------------------------------------------------


def test_happy_path_two_partial_fills_update_positions(standin):
    broker = make(standin)
    start = broker.account()
    assert (start.cash, start.equity, start.buying_power) == (100_000.0, 100_000.0, 100_000.0)
    placed = broker.submit(order("happy-1", qty=10.5))
    assert (placed.status, placed.qty, placed.filled_qty, placed.symbol, placed.side) == (
        "accepted", 10.5, 0.0, "SPY", "buy")
    assert placed.is_open and placed.broker_order_id == standin.order("happy-1")["id"]
    assert broker.positions() == []

    standin.fill("happy-1", 4, 500.0)
    part = broker.order_by_client_id("happy-1")
    assert (part.status, part.filled_qty, part.filled_avg_price) == ("partially_filled", 4, 500)
    assert [(p.symbol, p.qty, p.avg_entry_price) for p in broker.positions()] == [
        ("SPY", 4.0, 500.0)]

    standin.fill("happy-1", 6.5, 502.0)
    done = broker.order_by_client_id("happy-1")
    assert done.status == "filled" and not done.is_open
    assert done.filled_qty == 10.5
    assert done.filled_avg_price == pytest.approx((4 * 500 + 6.5 * 502) / 10.5)
    [spy] = broker.positions()
    assert (spy.symbol, spy.qty) == ("SPY", 10.5)
    assert spy.avg_entry_price == pytest.approx(done.filled_avg_price, abs=1e-6)
    after = broker.account()
    assert after.cash == pytest.approx(100_000 - 4 * 500 - 6.5 * 502)
    assert after.equity == pytest.approx(after.cash + 10.5 * 502)
    assert broker.orders("open") == [] and [o.client_order_id for o in broker.orders(
        "closed")] == ["happy-1"]
    assert len(standin.calls("POST", "/v2/orders")) == 1


def test_short_positions_are_negative_and_flips_follow(standin):
    broker = make(standin)
    broker.submit(order("short-1", "QQQ", "sell", 3))
    standin.fill("short-1", 3, 400.0)
    assert [(p.symbol, p.qty, p.avg_entry_price) for p in broker.positions()] == [
        ("QQQ", -3.0, 400.0)]
    broker.submit(order("short-2", "QQQ", "buy", 5))
    standin.fill("short-2", 5, 390.0)
    assert [(p.symbol, p.qty, p.avg_entry_price) for p in broker.positions()] == [
        ("QQQ", 2.0, 390.0)]


def test_states_new_accepted_canceled_rejected_and_listing(standin):
    broker = make(standin)
    for cid in ("s-cancel", "s-reject", "s-open", "s-fill"):
        broker.submit(order(cid, qty=1))
    standin.cancel("s-cancel")
    standin.reject("s-reject")
    standin.fill("s-fill", 1, 500.0)
    with pytest.raises(AssertionError, match="illegal transition"):
        standin.advance("s-fill", "accepted")  # a filled order does not reopen
    with pytest.raises(AssertionError, match="illegal transition"):
        standin.cancel("s-reject")
    states = {o.client_order_id: o.status for o in broker.orders("all")}
    assert states == {"s-cancel": "canceled", "s-reject": "rejected", "s-open": "accepted",
                      "s-fill": "filled"}
    assert [o.client_order_id for o in broker.orders("open")] == ["s-open"]
    assert [o.client_order_id for o in broker.orders("all")] == [
        "s-cancel", "s-reject", "s-open", "s-fill"]  # oldest first
    second = broker.order_by_client_id("s-reject").submitted_at
    assert [o.client_order_id for o in broker.orders("all", after=second)] == [
        "s-open", "s-fill"]
    assert broker.order_by_client_id("never-sent") is None
    query = standin.calls("GET", "/v2/orders")[-1].query
    assert (query["status"], query["direction"], query["limit"]) == ("all", "asc", "500")
    assert datetime.fromisoformat(query["after"]) == second


def test_new_then_accepted(standin):
    broker = make(standin)
    broker.submit(order("n-1", qty=1))
    standin.order("n-1")["status"] = "new"  # Alpaca may answer a fresh order as new
    assert broker.order_by_client_id("n-1").status == "new"
    standin.advance("n-1", "accepted")
    assert broker.order_by_client_id("n-1").status == "accepted"


def test_orders_reads_every_page(standin):
    broker = make(standin)
    with standin._lock:
        for i in range(503):
            standin._create_order({"symbol": "SPY", "qty": "0.01", "side": "buy",
                                   "type": "market", "time_in_force": "day",
                                   "client_order_id": f"page-{i:04d}"})
    listed = broker.orders("open")
    assert [o.client_order_id for o in listed] == [f"page-{i:04d}" for i in range(503)]
    assert len(standin.calls("GET", "/v2/orders")) == 2


# -- faults --------------------------------------------------------------------------------


def test_timeout_after_accept_is_ambiguous_and_resolved_by_client_id(standin):
    broker = make(standin, timeout=0.3)
    standin.stall("POST", "/v2/orders", 3.0)
    t0 = time.monotonic()
    with pytest.raises(BrokerAmbiguous, match="order_by_client_id") as caught:
        broker.submit(order("amb-1"))
    assert time.monotonic() - t0 < 1.5  # not retried: one timeout
    assert "amb-1" in str(caught.value)
    found = broker.order_by_client_id("amb-1")
    assert found is not None and (found.status, found.qty) == ("accepted", 10.0)
    assert len(standin.calls("POST", "/v2/orders")) == 1  # never sent twice
    assert len(standin.orders) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_then_success_is_retried(standin, status, caplog):
    broker = make(standin)
    standin.fail("POST", "/v2/orders", status)
    standin.fail("GET", "/v2/account", status)
    placed = broker.submit(order(f"retry-{status}"))
    assert placed.status == "accepted"
    assert broker.account().cash == 100_000.0
    assert len(standin.calls("POST", "/v2/orders")) == 2
    assert len(standin.calls("GET", "/v2/account")) == 2
    assert len(standin.orders) == 1
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 2 and f"HTTP {status}" in retries[0] and "attempt 2" in retries[0]


def test_a_5xx_after_alpaca_took_the_order_returns_that_order(standin):
    broker = make(standin)
    standin.fail("POST", "/v2/orders", 500, processed=True)
    placed = broker.submit(order("lost-answer"))
    assert (placed.client_order_id, placed.status) == ("lost-answer", "accepted")
    assert placed.broker_order_id == standin.order("lost-answer")["id"]
    assert len(standin.orders) == 1  # the retry met a duplicate and found its own order


@pytest.mark.parametrize(("method", "path", "call"), [
    ("GET", "/v2/positions", lambda b: b.positions()),
    ("POST", "/v2/orders", lambda b: b.submit(order("rl-1"))),
])
def test_a_429_waits_retry_after_then_succeeds(standin, method, path, call):
    broker = make(standin)
    standin.fail(method, path, 429, retry_after=0.3)
    call(broker)
    first, second = standin.calls(method, path)
    assert second.at - first.at >= 0.28  # Retry-After honoured, not the 0.01 s back-off
    assert len(standin.orders) == (1 if method == "POST" else 0)


@pytest.mark.parametrize(("method", "path", "call"), [
    ("GET", "/v2/account", lambda b: b.account()),
    ("GET", "/v2/positions", lambda b: b.positions()),
    ("GET", "/v2/orders", lambda b: b.orders()),
    ("GET", "/v2/orders:by_client_order_id", lambda b: b.order_by_client_id("x")),
    ("POST", "/v2/orders", lambda b: b.submit(order("down-1"))),
])
def test_repeated_5xx_gives_unavailable_in_bounded_time(standin, method, path, call):
    broker = make(standin, retry_attempts=3)
    standin.fail(method, path, 503, times=50)
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"after 4 attempt\(s\), last: HTTP 503"):
        call(broker)
    assert time.monotonic() - t0 < 2.0
    assert len(standin.calls(method, path)) == 4
    assert standin.orders == []


def test_an_endless_retry_after_is_capped_by_the_retry_budget(standin):
    broker = make(standin, retry_attempts=10, max_wait_seconds=0.2, max_retry_seconds=0.5)
    standin.fail("GET", "/v2/account", 429, times=50, retry_after=60)
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="HTTP 429"):
        broker.account()
    assert time.monotonic() - t0 < 1.5


def test_unreachable_broker_is_unavailable(standin):
    broker = make(standin, retry_attempts=2)
    standin.stop()
    with pytest.raises(BrokerUnavailable, match="ConnectionError"):
        broker.account()
    with pytest.raises(BrokerUnavailable):  # never sent, so not ambiguous
        broker.submit(order("nowhere"))


def test_duplicate_client_order_id_is_rejected_once(standin):
    broker = make(standin)
    broker.submit(order("dup-1"))
    with pytest.raises(BrokerRejected, match=r"HTTP 422\): client_order_id must be unique"):
        broker.submit(order("dup-1"))
    assert len(standin.calls("POST", "/v2/orders")) == 2  # the 422 is not retried
    assert len(standin.orders) == 1


def test_insufficient_buying_power_is_rejected_once(standin):
    broker = make(standin)
    with pytest.raises(BrokerRejected, match=r"HTTP 403\): insufficient buying power"):
        broker.submit(order("rich-1", qty=1000))
    assert len(standin.calls("POST", "/v2/orders")) == 1
    assert standin.orders == []


def test_other_client_errors_are_rejected_not_retried(standin):
    broker = make(standin)
    with pytest.raises(BrokerRejected, match='asset "NOPE" not found'):
        broker.submit(order("nope-1", symbol="NOPE"))
    with pytest.raises(BrokerRejected, match="qty must be > 0"):
        broker.submit(order("zero-1", qty=0))
    with pytest.raises(BrokerRejected, match="not a market order"):
        broker.submit(OrderRequest("tif-1", "SPY", "buy", 1.0, "forever"))
    with pytest.raises(BrokerRejected, match="not a market order"):
        broker.submit(OrderRequest("side-1", "SPY", "hold", 1.0))
    assert len(standin.calls("POST", "/v2/orders")) == 1


# -- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["APCA_API_KEY_ID", "APCA_API_SECRET_KEY"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_keys_name_the_variable(standin, monkeypatch, missing, value):
    if value is None:
        monkeypatch.delenv(missing)
    else:
        monkeypatch.setenv(missing, value)
    with pytest.raises(BrokerConfigError) as caught:
        make(standin)
    message = str(caught.value)
    assert f"{missing} is not set" in message
    assert KEY not in message and SECRET not in message
    assert caught.value.exit_code == 2 and isinstance(caught.value, BrokerError)
    assert standin.requests == []


def test_missing_extra_says_how_to_install(monkeypatch):
    script = (
        "import sys; sys.modules['alpaca'] = None\n"  # as if alpaca-py were not installed
        "from otonom_trader.adapters.brokers.alpaca import AlpacaBroker\n"
        "from otonom_trader.adapters.brokers.base import BrokerConfigError\n"
        "try:\n    AlpacaBroker()\n"
        "except BrokerConfigError as exc:\n    print(exc.exit_code, exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.startswith("2 alpaca: the broker needs the optional extra alpaca-py")
    assert "pip install 'otonom-trader[alpaca]'" in done.stdout


def test_keys_never_appear_in_output_errors_or_logs(standin, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    broker = make(standin, retry_attempts=1)
    texts: list[str] = []

    def expect_failure(call) -> None:
        try:
            call()
        except BrokerError as exc:
            texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])
        else:
            pytest.fail("expected a broker error")

    broker.submit(order("k-1"))
    standin.fill("k-1", 10, 500.0)
    texts += [repr(broker.account()), repr(broker.positions()), repr(broker.orders())]
    standin.fail("GET", "/v2/account", 500, echo=True, times=5)
    expect_failure(broker.account)  # 5xx whose body repeats the key headers
    standin.fail("POST", "/v2/orders", 422, echo=True)
    expect_failure(lambda: broker.submit(order("k-2")))  # 4xx whose body repeats them
    standin.stall("POST", "/v2/orders", 2.0)
    expect_failure(lambda: broker.submit(order("k-3")))  # timeout
    expect_failure(lambda: broker.submit(order("k-1")))  # duplicate
    standin.secret_key = "rotated"  # the stand-in no longer knows the pair: 401
    expect_failure(broker.positions)
    standin.stop()
    expect_failure(broker.account)  # connection refused
    out = capsys.readouterr()
    everything = "\n".join([*texts, out.out, out.err, caplog.text, repr(broker)])
    assert "request headers" in everything and "***" in everything  # the echo was masked
    assert "HTTP 401" in everything
    for secret in (KEY, SECRET):
        assert secret not in everything
