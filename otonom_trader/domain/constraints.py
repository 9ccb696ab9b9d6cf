"""Grid constraints: ``<path> <op> <path or number>``, parsed by one regex, never ``eval``.

``analysts.tech.fast_window < analysts.tech.slow_window`` or ``risk.stop_loss_pct >= 1.5``.
A number on the left is moved to the right with the comparison flipped. Evaluation works on
numpy arrays (one element per combination) and on scalars alike.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ORDERING", "Constraint", "parse_constraint"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = rf"{_NAME}(?:\.{_NAME})+"
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_OPERAND = rf"(?:{_PATH}|{_NUMBER})"
_SYNTAX = re.compile(rf"\s*({_OPERAND})\s*(<=|>=|==|!=|<|>)\s*({_OPERAND})\s*")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
ORDERING = frozenset({"<", "<=", ">", ">="})
EXAMPLE = "`analysts.tech.fast_window < analysts.tech.slow_window`"


@dataclass(frozen=True)
class Constraint:
    """``left op right``: ``left`` a dotted path, ``right`` a dotted path or a number."""

    left: str
    op: str
    right: str | int | float

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.left, self.right) if isinstance(self.right, str) else (self.left,)

    def holds(self, values: Mapping[str, Any]) -> Any:
        """Whether the constraint holds; ``values`` maps each path to an array or a scalar.

        Ordering comparisons treat null as NaN, so they are false against it.
        """
        a = values[self.left]
        b = values[self.right] if isinstance(self.right, str) else self.right
        if self.op in ORDERING:
            a, b = _numeric(a), _numeric(b)
        result = _OPS[self.op](a, b)
        return np.asarray(result, dtype=bool) if isinstance(result, np.ndarray) else bool(result)


def _numeric(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype != object:
            return value
        return np.array([np.nan if v is None else v for v in value], dtype=np.float64)
    return np.nan if value is None else value


def _operand(text: str) -> str | int | float:
    if not re.fullmatch(_NUMBER, text):
        return text
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_constraint(text: Any) -> Constraint:
    """Parse one constraint; a ``ValueError`` says what is wrong (without naming the file)."""
    if not isinstance(text, str):
        raise ValueError(f"expected a string such as {EXAMPLE}, got {text!r}")
    match = _SYNTAX.fullmatch(text)
    if match is None:
        raise ValueError(
            "does not parse: write `<dotted path> <op> <dotted path or number>` with one of "
            f"< <= > >= == !=, e.g. {EXAMPLE}"
        )
    left, op, right = _operand(match[1]), match[2], _operand(match[3])
    if not isinstance(left, str):
        if not isinstance(right, str):
            raise ValueError("compares two numbers: one side must be a dotted path")
        left, op, right = right, _FLIPPED[op], left
    return Constraint(left, op, right)
