"""The broker a strategy's orders go to: the paper broker (shadow and paper stages, and live
with ``broker: paper``) or a live broker adapter imported lazily by name."""

from __future__ import annotations

import importlib

from otonom_trader.adapters.brokers.paper import PaperBroker
from otonom_trader.domain.errors import InputError

# name -> (module, class, extra); the class reads its keys from the environment.
LIVE = {"alpaca": ("otonom_trader.adapters.brokers.alpaca", "AlpacaBroker",
                   "otonom-trader[alpaca]")}


def paper_for(engine, deployment: str, book: float, fee_bps: float) -> PaperBroker:
    return PaperBroker(engine, deployment, book, fee_bps)


def live_broker(name: str):
    """The live broker ``name`` (one ``InputError`` line when its extra or keys are
    missing)."""
    module_name, class_name, extra = LIVE[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"broker {name}: its adapter cannot be imported ({exc}); install it "
                         f"with pip install '{extra}'") from None
    return getattr(module, class_name)()  # BrokerConfigError (exit 2): no extra or keys
