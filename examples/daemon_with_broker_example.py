#!/usr/bin/env python3
"""The seed's daemon example, on otonom's daemon (the same use case as `otonom daemon run`).

    python examples/daemon_with_broker_example.py once        # one tick, then exit
    python examples/daemon_with_broker_example.py loop 3600   # a tick every 3600 seconds

Run from the strategy repository's root: it follows `main`, runs what
deployments/production.yaml lists (shadow: paper fills + the orders a live broker would get)
and journals every order in the store's database (OTONOM_DB, default .otonom/experiments.db).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a fresh clone, not installed

from otonom_trader.cli import main


def argv(args: list[str]) -> list[str]:
    if args[:1] == ["once"] and len(args) == 1:
        return ["daemon", "run", "--once"]
    if args[:1] == ["loop"] and len(args) <= 2:
        return ["daemon", "run", "--interval", args[1] if len(args) == 2 else "3600"]
    print("usage: daemon_with_broker_example.py once | loop [SECONDS]", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main(argv(sys.argv[1:]))
