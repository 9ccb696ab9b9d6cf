#!/usr/bin/env python3
"""Promote an experiment's best run: strategy file, STRATEGY_LOG.md entry, branch
``promote/<name>``, commit, push and pull request. The same command as ``otonom promote``
(same flags, same use case)::

    python tools/promote_experiment_to_strategy.py --experiment-id 3 \\
        --output-name baseline_v2 --base-strategy strategies/baseline_v1.yaml \\
        --expected-impact "+15% CAGR, +0.3 Sharpe on test set" [--select-by sharpe]

Run ``--help`` for every option.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a fresh clone, not installed

from otonom_trader.cli import main

if __name__ == "__main__":
    main(["promote", *sys.argv[1:]])
