"""The one rule for names that become file names, folders or git branches.

Experiments, strategies, promotions, DVC experiment folders, deployments and rollouts all
use :func:`check_name`; every write under a folder goes through :func:`inside`.
"""

from __future__ import annotations

import re
from pathlib import Path

from otonom_trader.domain.errors import InputError

NAME_RULE = ("letters, digits, `_` or `-`, starting with a letter or digit, at most 64 "
             "characters (e.g. baseline_v2)")
# Also a valid git ref component: no `.`, `..`, `~`, `^`, `:`, `/`, spaces or control
# characters can occur, and it cannot start with `-`. \Z, not $: `$` matches before a newline.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")


def check_name(name: object, what: str) -> str:
    """``name`` if it follows the name rule, else an :class:`InputError` naming ``what``
    (the flag or key the user gave, e.g. ``--name`` or ``strategies/x.yaml: name``)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        shown = name if not isinstance(name, str) or len(name) <= 80 else name[:77] + "..."
        raise InputError(f"{what} {shown!r}: use {NAME_RULE}")
    return name


def inside(root: str | Path, target: str | Path, what: str) -> Path:
    """``target`` resolved (relative to ``root`` when relative), refused unless it stays
    inside ``root``: symlinks and ``..`` cannot lead a write or a read out of its folder."""
    base = Path(root).resolve()
    path = (base / target).resolve()
    if path != base and base not in path.parents:
        raise InputError(f"{what} {str(target)!r}: must stay inside {base}")
    return path
