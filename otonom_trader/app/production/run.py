"""Use case: run the daemon for one tick or in a loop (the CLI and the example call this)."""

from __future__ import annotations

import time
from collections.abc import Callable

from otonom_trader.app.production.daemon import Daemon, DaemonConfig, TickReport


def run_daemon(config: DaemonConfig, *, once: bool = False, interval: float = 3600.0,
               speed: float | None = None, max_ticks: int | None = None,
               on_tick: Callable[[int, TickReport], None] | None = None,
               on_start: Callable[[list[str]], None] | None = None) -> int:
    """Start (reconcile first), then tick; returns the number of ticks run. A replay with
    ``speed`` (bars per second; 0 = as fast as possible) paces ticks by it and stops when
    the replay is over; otherwise ticks come every ``interval`` seconds."""
    daemon = Daemon(config)
    try:
        found = daemon.start()
        if on_start:
            on_start(found)
        n = 0
        while True:
            began = time.monotonic()
            report = daemon.tick()
            n += 1
            if on_tick:
                on_tick(n, report)
            if once or (max_ticks is not None and n >= max_ticks):
                return n
            if speed is not None and daemon.exhausted():
                return n
            pause = (1.0 / speed if speed else 0.0) if speed is not None else interval
            time.sleep(max(0.0, pause - (time.monotonic() - began)))
    finally:
        daemon.close()
