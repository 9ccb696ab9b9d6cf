"""The Pareto front of runs on several objectives, and its knee.

Values are oriented "higher is better" in every column (the stored, display-scaled metrics
are: max drawdown is stored negative). A row is on the front when no other row is at least as
good in every column and better in one; rows with a non-finite value are never on it, and
equal rows are all on it."""

from __future__ import annotations

import numpy as np

__all__ = ["knee_scores", "pareto_front"]


def pareto_front(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (n, k)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"pareto_front: expected an (n, k) array, got shape {values.shape}")
    finite = np.isfinite(values).all(axis=1)
    index = np.flatnonzero(finite)
    # Best first (lexicographically): a row can only be dominated by one before it.
    order = index[np.lexsort(-values[index].T[::-1])] if len(index) else index
    front: list[int] = []
    for i in order:
        if front:
            kept = values[front]
            if ((kept >= values[i]).all(axis=1) & (kept > values[i]).any(axis=1)).any():
                continue
        front.append(int(i))
    mask = np.zeros(len(values), dtype=bool)
    mask[front] = True
    return mask


def knee_scores(front: np.ndarray) -> np.ndarray:
    """A score per front row (higher = kneeier) with each objective normalised to [0, 1] over
    the front. Two objectives: the distance from the line through the front's two extremes
    (the best row in each objective). More: minus the distance to the utopia point (1, ..., 1).
    One row, or a column constant over the front, counts as normalised to 1 (no trade-off)."""
    front = np.asarray(front, dtype=np.float64)
    low, high = front.min(axis=0), front.max(axis=0)
    span = high - low
    norm = np.ones_like(front)
    np.divide(front - low, span, out=norm, where=span > 0)
    if front.shape[1] != 2:
        return -np.sqrt(((1.0 - norm) ** 2).sum(axis=1))
    a, b = norm[np.argmax(norm[:, 0])], norm[np.argmax(norm[:, 1])]
    line = b - a
    length = float(np.hypot(*line))
    if length == 0.0:
        return np.zeros(len(front))
    rel = norm - a
    return np.abs(line[0] * rel[:, 1] - line[1] * rel[:, 0]) / length
