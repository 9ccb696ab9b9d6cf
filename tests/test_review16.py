"""Review of reading runs back in parts: the run table and the PBO must not depend on how
many parts the store's rows come in, nor on runs written between CSCV's two passes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update

from otonom_trader.adapters import store as store_module
from otonom_trader.adapters.store import ExperimentStore
from otonom_trader.domain.errors import OtonomError, RunError
from otonom_trader.engine.overfitting import pbo_cscv, pbo_cscv_parts, pbo_with_notes

from .test_store import batch, create


@pytest.fixture
def store(any_db):
    with ExperimentStore(any_db) as s:
        yield s


PARAMS = {  # runs 0-1 are the first part, 2-3 the second, 4-5 the third
    "a key only in later parts": [{"a": 1}, {"a": 2}, {"a": 1, "b": 2}, {"a": 4, "b": 3},
                                  {"a": 5, "b": 0}, {"a": 6}],
    "a key only in the first part": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 1},
                                     {"a": 4}, {"a": 5}, {"a": 6}],
    "nested mappings from the second part": [{"a": 1}, {"a": 2}, {"a": {"x": 1}},
                                             {"a": {"x": 3}}, {"a": 5}, {"a": {"x": 6}}],
    "a choice missing in a whole part": [{"a": "x", "c": True}, {"a": "y", "c": False},
                                         {"c": True}, {"c": False}, {"a": "z", "c": True},
                                         {"a": "x", "c": False}],
    "an int then None then float": [{"a": 1}, {"a": 2}, {"a": None}, {"a": None}, {"a": 0.5},
                                    {"a": 3}],
}


@pytest.mark.parametrize("kind", list(PARAMS))
def test_runs_frame_in_parts_equals_one_part(store, kind, monkeypatch):
    """Runs whose parameters differ in keys or kinds between parts (a refined or resumed
    search): the same columns, dtypes and values as when every row comes in one part."""
    params = PARAMS[kind]
    exp = create(store, total_runs=len(params))
    status = ["done", "done", "failed", "done", "done", "failed"]
    store.write_runs(exp, dataclasses.replace(batch(range(len(params)), status=status),
                                              params=params))
    whole = store.runs_frame(exp)
    monkeypatch.setattr(store_module, "READ_ROWS", 2)
    pd.testing.assert_frame_equal(store.runs_frame(exp), whole)


def _stats(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    stats = np.empty((n, 4, 3))
    stats[:, :, 0] = 10
    stats[:, :, 1] = rng.normal(size=(n, 4))
    stats[:, :, 2] = 5 + rng.random((n, 4))
    return stats


def test_runs_added_between_the_two_passes_are_not_counted():
    """An export of a search that another process is still writing: the second pass sees
    more runs than the first. The PBO must not be computed from two different run sets
    (a rank above N + 1: a division by zero, or a silently wrong PBO)."""
    stats = _stats(20)
    calls = []

    def parts():
        calls.append(1)
        return iter([stats] if len(calls) == 1 else [stats, _stats(6, seed=1)])

    with pytest.raises(RunError, match="the runs changed while the PBO was computed"):
        pbo_cscv_parts(parts)
    calls.clear()  # an error, not a PBO note kept in metrics.json and the store's snapshot
    with pytest.raises(RunError, match="the runs changed while the PBO was computed"):
        pbo_with_notes(parts)


@pytest.mark.parametrize("where", ["first", "last", "both"])
def test_an_empty_part_without_blocks_changes_nothing(where):
    """A part with no runs (the store's empty array is (0, 0, 3)) carries no block count:
    the PBO is the whole array's, not an error about differing bar counts."""
    stats, empty = _stats(20), np.empty((0, 0, 3))
    parts = {"first": [empty, stats], "last": [stats, empty],
             "both": [empty, stats[:9], empty, stats[9:], empty]}[where]
    expected = pbo_cscv(stats)
    result, notes = pbo_with_notes(lambda: iter(parts))
    assert notes == [] and result.pbo == expected.pbo
    assert result.logits.tobytes() == expected.logits.tobytes()
    assert (result.n_runs, result.n_blocks, result.n_splits) == (20, 4, 6)


@pytest.mark.parametrize("done_runs", [-3, 0, 1, 1000])
def test_block_stats_whatever_the_done_counter_says(store, done_runs, monkeypatch):
    """The done-run counter only sizes the array (a store edited by hand, an old store):
    behind, ahead or below zero, the block statistics are the rows'."""
    monkeypatch.setattr(store_module, "READ_ROWS", 3)
    exp = create(store, total_runs=8)
    store.write_runs(exp, batch(range(8), status=["done", "failed"] * 4))
    numbers, blocks = store.block_stats(exp)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE experiments SET done_runs = {done_runs} WHERE id = {exp}")
    edited_numbers, edited = store.block_stats(exp)
    assert edited_numbers.tolist() == numbers.tolist() == [0, 2, 4, 6]
    assert edited.tobytes() == blocks.tobytes() and edited.shape == (4, 16, 3)


@pytest.mark.parametrize("bad_count", [-1.0, np.nan, np.inf])
def test_a_bad_bar_count_after_differing_counts_is_named_as_in_one_array(bad_count):
    """Counts that differ between parts, then a negative or non-finite count in a later
    part: the message is the one array's (the bad count), whatever the parts."""
    stats = _stats(12)
    stats[5:, :, 0] = 11  # differs from the first runs' 10
    stats[9, 2, 0] = bad_count
    with pytest.raises(OtonomError) as whole:
        pbo_cscv(stats)
    assert "finite and ≥ 0" in str(whole.value)
    for cuts in ([5], [5, 9], [3, 7, 10]):
        parts = np.split(stats, cuts)
        with pytest.raises(OtonomError) as split:
            pbo_cscv_parts(lambda parts=parts: iter(parts))
        assert str(split.value) == str(whole.value), cuts


def test_damaged_block_statistics_in_the_store_are_an_error_not_a_pbo_note(store):
    """One run's stored block statistics cut short (a damaged store): reading them back
    for the PBO fails as ``block_stats`` does, instead of exporting outputs whose PBO
    says "not computed" while a --cv search's export fails on the same store."""
    exp = create(store, total_runs=6)
    store.write_runs(exp, batch(range(6)))
    runs = store_module.RUNS
    row = (runs.c.experiment_id == exp) & (runs.c.run_number == 4)
    with store.engine.begin() as conn:
        blob = conn.execute(select(runs.c.block_stats).where(row)).scalar_one()
        conn.execute(update(runs).where(row).values(block_stats=bytes(blob)[:-24]))
    with pytest.raises(RunError, match="stored block statistics differ in size"):
        store.block_stats(exp)
    with pytest.raises(RunError, match="stored block statistics differ in size"):
        pbo_with_notes(lambda: (part for _, part in store.block_parts(exp)))


def test_a_reader_that_stops_after_one_part_leaves_no_cursor_open(store, monkeypatch):
    """The PBO stops reading on a bad part; on PostgreSQL the rows come from a server-side
    cursor, which must be closed then, not left to the garbage collector (a ResourceWarning
    printed at exit, an error under the tests' warning filter)."""
    monkeypatch.setattr(store_module, "READ_ROWS", 2)
    exp = create(store, total_runs=6)
    store.write_runs(exp, batch(range(6)))
    parts = store.block_parts(exp)
    numbers, _ = next(parts)
    parts.close()
    assert numbers.tolist() == [0, 1]
    frame_rows = store.runs_frame(exp)
    assert len(frame_rows) == 6


def test_an_empty_first_blob_is_named_as_damage_in_every_part(store, monkeypatch):
    """The first part's statistics stored empty (damage), the others whole, read in parts:
    the same RunError as when they are read in one part, not a numpy broadcast error."""
    monkeypatch.setattr(store_module, "READ_ROWS", 2)
    exp = create(store, total_runs=6)
    store.write_runs(exp, batch(range(6)))
    runs = store_module.RUNS
    with store.engine.begin() as conn:
        conn.execute(update(runs).where((runs.c.experiment_id == exp) & (runs.c.run_number < 2))
                     .values(block_stats=b""))
    with pytest.raises(RunError, match="stored block statistics differ in size"):
        store.block_stats(exp)
