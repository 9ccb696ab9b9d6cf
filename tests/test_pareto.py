"""engine.pareto: the front against a brute-force check, and the knee on known shapes."""

import numpy as np
import pytest

from otonom_trader.engine.pareto import knee_scores, pareto_front


def brute_force(values):
    n = len(values)
    out = np.zeros(n, bool)
    for i in range(n):
        if not np.isfinite(values[i]).all():
            continue
        out[i] = not any(
            np.isfinite(values[j]).all() and (values[j] >= values[i]).all()
            and (values[j] > values[i]).any() for j in range(n) if j != i)
    return out


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_front_equals_brute_force(k, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, size=(80, k)).astype(float)  # many ties and duplicates
    values[rng.random(80) < 0.1, rng.integers(k)] = np.nan
    values[3] = values[4]  # an exact duplicate pair
    np.testing.assert_array_equal(pareto_front(values), brute_force(values))


def test_front_of_continuous_values_and_edge_cases():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(300, 2))
    np.testing.assert_array_equal(pareto_front(values), brute_force(values))
    assert pareto_front(np.empty((0, 2))).shape == (0,)
    assert pareto_front(np.array([[np.nan, 1.0]])).tolist() == [False]
    # one row best in both: the front is that row alone
    assert pareto_front(np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 3.0]])).tolist() == [
        False, True, True]


def test_knee_is_the_corner_of_an_l_shaped_front():
    front = np.array([[0.0, 10.0], [1.0, 9.9], [8.0, 8.0], [9.9, 1.0], [10.0, 0.0]])
    scores = knee_scores(front)
    assert int(np.argmax(scores)) == 2
    assert scores[0] == pytest.approx(0.0) and scores[4] == pytest.approx(0.0)  # extremes
    # scale-free: the same front in other units has the same knee
    assert int(np.argmax(knee_scores(front * [100.0, 0.01]))) == 2


def test_knee_with_three_objectives_is_nearest_to_utopia():
    front = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.6, 0.6]])
    assert int(np.argmax(knee_scores(front))) == 3


def test_knee_of_one_point_and_of_a_flat_front():
    assert knee_scores(np.array([[1.0, 2.0]])).tolist() == [0.0]
    assert knee_scores(np.array([[1.0, 2.0], [1.0, 2.0]])).tolist() == [0.0, 0.0]
