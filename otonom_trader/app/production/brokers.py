"""The broker a strategy's orders go to: the paper broker (shadow and paper stages, and live
with ``broker: paper``) or a live broker adapter imported lazily by name."""

from __future__ import annotations

import importlib

from otonom_trader.adapters.brokers.paper import PaperBroker
from otonom_trader.domain.errors import InputError

LIVE = {"alpaca": ("otonom_trader.adapters.brokers.alpaca", "otonom-trader[alpaca]")}


def paper_for(engine, deployment: str, book: float, fee_bps: float) -> PaperBroker:
    return PaperBroker(engine, deployment, book, fee_bps)


def live_broker(name: str):
    """The live broker ``name`` (one ``InputError`` line when its extra or keys are
    missing)."""
    module_name, extra = LIVE[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"broker {name}: its adapter cannot be imported ({exc}); install it "
                         f"with pip install '{extra}'") from None
    factory = getattr(module, "from_env", None) or getattr(module, "AlpacaBroker", None)
    if factory is None:
        raise InputError(f"broker {name}: {module_name} has no from_env() or AlpacaBroker")
    return factory()
