"""THE JSON writer for what otonom prints or saves: NaN and infinities become ``null``
(``json.dumps`` would write ``NaN``/``Infinity``, which is not JSON), numpy scalars become
Python numbers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps", "finite"]


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by None."""
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, indent: int | None = 2, **kwargs: Any) -> str:
    """Strict JSON text of ``value`` (see ``finite``); ``kwargs`` go to ``json.dumps``."""
    return json.dumps(finite(value), indent=indent, allow_nan=False, **kwargs)
