"""Combinatorial purged cross-validation (``engine.cpcv``, ``otonom experiments cpcv``):
split and path counts, a run best everywhere, a plain-loop twin, the block-level embargo and
bad input."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pytest

from otonom_trader.domain.errors import InputError
from otonom_trader.engine.cpcv import cpcv
from tests.helpers import mini_project, run_cli


def block_stats(returns: np.ndarray) -> np.ndarray:
    """(runs, blocks, bars per block) returns → (runs, blocks, 3) count, sum, sum of squares."""
    counts = np.full(returns.shape[:2], float(returns.shape[2]))
    return np.stack([counts, returns.sum(axis=2), (returns * returns).sum(axis=2)], axis=2)


def random_stats(n_runs=30, seed=0, bars=25):
    rng = np.random.default_rng(seed)
    return block_stats(rng.normal(0.0005, 0.01, (n_runs, 16, bars))), rng


def sharpe(r: np.ndarray) -> float:
    return float(r.mean() / r.std(ddof=1))


@pytest.mark.parametrize(("folds", "k"), [(2, 1), (4, 1), (4, 2), (8, 2), (8, 3), (16, 2),
                                          (16, 8)])
def test_split_and_path_counts(folds, k):
    stats, _ = random_stats(n_runs=5)
    result = cpcv(stats, folds, k)
    assert result.n_splits == math.comb(folds, k)
    assert result.n_paths == math.comb(folds - 1, k - 1)
    assert result.path_runs.shape == (result.n_paths, folds)
    # path j uses, in group g, the selection of the j-th split (in split order) testing g
    for g in range(folds):
        testing = [i for i, groups in enumerate(result.test_groups) if g in groups]
        assert result.path_runs[:, g].tolist() == result.selected[testing].tolist()


@pytest.mark.parametrize(("folds", "k", "embargo"), [(8, 2, 0), (16, 3, 0), (4, 1, 4),
                                                     (8, 2, 2)])
def test_a_run_best_on_every_block_is_every_paths_run(folds, k, embargo):
    """Every run is the same noise plus its own drift, so on any union of blocks all have the
    same standard deviation and run 2, with the largest drift, the best Sharpe: every split
    selects it and every path is run 2 over the whole period."""
    rng = np.random.default_rng(folds + k + embargo)
    noise = rng.normal(0, 0.01, (1, 16, 25))
    drift = np.array([0.0, 0.001, 0.004, -0.002, 0.003, 0.0005])[:, None, None]
    stats = block_stats(noise + drift)
    result = cpcv(stats, folds, k, embargo, periods_per_year=252)
    assert (result.selected == 2).all() and (result.path_runs == 2).all()
    c, s, q = stats[2].sum(axis=0)
    own = s * math.sqrt(c - 1) / math.sqrt(c * (q * c - s * s)) * math.sqrt(252)
    np.testing.assert_allclose(result.path_sharpe, own, rtol=1e-12)
    summary = result.summary()
    assert summary["mean"] == pytest.approx(own) and summary["share_below_zero"] == 0
    if result.n_paths > 1:
        assert summary["std"] == pytest.approx(0, abs=1e-12)
    else:  # one path: no spread to estimate
        assert math.isnan(summary["std"])


@pytest.mark.parametrize(("folds", "k", "embargo"), [(4, 2, 0), (8, 2, 1), (16, 3, 1),
                                                     (16, 4, 1)])
def test_matches_a_plain_loop_over_bars(folds, k, embargo):
    rng = np.random.default_rng(folds * 100 + k * 10 + embargo)
    returns = rng.normal(0.0003, 0.01, (12, 16, 10)) + rng.normal(0, 0.003, (12, 16, 1))
    result = cpcv(block_stats(returns), folds, k, embargo)
    size = 16 // folds
    grouped = returns.reshape(12, folds, size * 10)
    drop = -(-embargo // size)
    splits = list(combinations(range(folds), k))
    occurrence = {g: [] for g in range(folds)}
    for i, test in enumerate(splits):
        train = [g for g in range(folds) if min(abs(g - t) for t in test) > drop]
        best = int(np.argmax([sharpe(grouped[r, train].ravel()) for r in range(12)]))
        assert result.selected[i] == best
        assert result.split_sharpe[i] == pytest.approx(sharpe(grouped[best, list(test)].ravel()))
        for g in test:
            occurrence[g].append(best)
    for j in range(math.comb(folds - 1, k - 1)):
        path = np.concatenate([grouped[occurrence[g][j], g] for g in range(folds)])
        assert result.path_sharpe[j] == pytest.approx(sharpe(path), rel=1e-9)


def test_the_embargo_drops_neighbouring_groups_from_training():
    """Run 1 shines only in group 1; run 0 is steady. Testing group 0 with group 1 in training
    selects run 1; an embargo of one group (2 blocks at 8 folds) drops group 1 and selects 0."""
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.01, (2, 16, 20))
    returns[0] += 0.002
    returns[1, 2:4] += 0.03  # group 1 of 8
    stats = block_stats(returns)
    first = next(i for i, t in enumerate(cpcv(stats, 8, 1).test_groups) if list(t) == [0])
    assert cpcv(stats, 8, 1, 0).selected[first] == 1
    for embargo in (1, 2):  # part of a group already drops the whole group
        result = cpcv(stats, 8, 1, embargo)
        assert result.embargo_groups == 1 and result.selected[first] == 0


@pytest.mark.parametrize(("args", "needle"), [
    ((16, 16, 0), "--test-folds 16"), ((8, 0, 0), "--test-folds 0"),
    ((8, 9, 0), "--test-folds 9"), ((6, 2, 0), "--folds 6"), ((1, 1, 0), "--test-folds 1"),
    ((32, 2, 0), "--folds 32"), ((4, 3, 4), "--embargo-blocks 4"),
    ((8, 2, -1), "--embargo-blocks -1"),
])
def test_bad_input_is_refused(args, needle):
    stats, _ = random_stats(n_runs=3)
    with pytest.raises(InputError, match=needle.replace("-", r"\-")):
        cpcv(stats, *args)
    with pytest.raises(InputError, match="at least 1 done run"):
        cpcv(np.empty((0, 16, 3)), 8, 2)


# -- the command -----------------------------------------------------------------------------

SPLIT = ("split: {train_start: 2001-01-01, train_end: 2003-12-31, test_start: 2004-01-01, "
         "test_end: 2006-12-31}\n")
DB = "sqlite:///store.db"


def test_cpcv_command_json_text_and_bad_input(tmp_path, monkeypatch, capsys):
    mini_project(tmp_path)
    (tmp_path / "grid.yaml").write_text("params:\n  analysts.tech.fast_window: [2, 5, 8, 12]\n"
                                        "  risk.stop_loss_pct: [2.0, 6.0]\n" + SPLIT)
    (tmp_path / "cold.yaml").write_text("analysts.tech.slow_window: [3000, 4000]\n" + SPLIT)
    monkeypatch.chdir(tmp_path)
    for name, grid in (("warm", "grid.yaml"), ("cold", "cold.yaml")):
        run_cli(["experiments", "grid-search", "--name", name, "--strategy-path",
                 "strategy.yaml", "--grid-path", grid, "--db", DB], capsys)

    code, out, err = run_cli(["experiments", "cpcv", "1", "--json", "--db", DB], capsys)
    assert code in (None, 0), err
    data = json.loads(out)
    assert (data["folds"], data["test_folds"], data["n_splits"], data["n_paths"]) == (8, 2, 28, 7)
    assert data["n_runs"] == 8 and len(data["path_sharpe"]) == 7
    defined = [s for s in data["path_sharpe"] if s is not None]
    assert data["mean"] == pytest.approx(np.mean(defined))
    assert data["share_below_zero"] == pytest.approx(np.mean(np.array(defined) < 0))

    code, out, err = run_cli(["experiments", "cpcv", "1", "--folds", "4", "--test-folds", "1",
                              "--embargo-blocks", "4", "--db", DB], capsys)
    assert code in (None, 0), err
    assert "4 splits, 1 backtest paths" in out and "embargo 4 block(s) (1 fold(s)" in out

    for argv, needle in [(["1", "--folds", "8", "--test-folds", "8"], "--test-folds 8"),
                         (["1", "--folds", "5"], "--folds 5"),
                         (["1", "--folds", "2", "--test-folds", "1", "--embargo-blocks", "8"],
                          "--embargo-blocks 8"),
                         (["1", "--test-folds", "0"], "--test-folds"),
                         (["2"], "no done runs"), (["9"], "no experiment with ID 9")]:
        code, _, err = run_cli(["experiments", "cpcv", *argv, "--db", DB], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, (argv, err)
