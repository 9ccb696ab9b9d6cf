"""The CSCV kernel behind the Probability of Backtest Overfitting, on plain arrays.

Input: every run's per-block sum and sum of squares of per-bar returns, ``sums`` and ``sqs``
of shape (n_runs, n_blocks), and the per-block bar counts ``counts`` (n_blocks,), the same for
every run (every run trades the same bars). A split puts the blocks whose bit is set in its
mask in-sample (IS) and the others out-of-sample (OOS).
``engine.overfitting.pbo_cscv_reference`` is the readable twin; the tests check both agree.

How it is fast enough for a whole grid (160,000 runs × 12,870 splits):

- Ranks within one split only need a monotone function of each run's Sharpe ratio. With c,
  s, q the count, sum and sum of squares of a union of blocks, the per-period Sharpe is
  s·√(c−1)/√(c·(q·c − s²)); c is the same for every run, so the kernel ranks by the key
  ``s·|s| / (q·c − s²)``, the signed square of ``s / √(q·c − s²)`` (no square root).
- The blocks form ``N_GROUPS`` groups of ``GROUP_SIZE``. For a cache-sized chunk of runs the
  kernel tabulates every subset sum of every group (16 per group), so a split's IS union is
  4 additions; its OOS union is the run's total minus the IS union.
- A split and its complement swap IS and OOS: one pass over a "pair" serves both.
- Pass 1 finds each split's IS-best run (and that run's OOS key); pass 2 counts, for each
  split, the runs whose OOS key is below / equal to it. Both passes go chunk by chunk over all
  pairs, in parallel over parts (runs of consecutive chunks), and merge parts in run order.
  The runs may also come in several calls (``CSCV``), e.g. read from the store a part at a
  time: the same logits, with only one part of the runs in memory.

Conventions (the reference follows them too):

- Zero variance (``kernels.enums.ZERO_VARIANCE``, the rule the backtest kernel and
  ``compare`` share): a union with ``q·c − s² ≤ ZERO_VARIANCE·Q·c`` has an undefined Sharpe,
  ranked as −inf: never the IS best unless every run is undefined there, and lowest OOS. Q is
  the run's sum of squares over all blocks rather than the union's: an OOS union is total
  minus IS, so its rounding error scales with Q. A run of zero returns in some blocks hits
  this exactly. Non-finite statistics must be zeroed by the caller (they then count as zero
  variance).
- IS ties: the run with the lowest index wins.
- OOS rank: the mid-rank, rank = (runs strictly below) + (runs equal, the best included,
  + 1) / 2, so rank 1 = worst, N = best, and tied runs share the average of their ranks.
"""

import math

import numba
import numpy as np
from numba import prange

from otonom_trader.kernels.enums import ZERO_VARIANCE
from otonom_trader.kernels.jit import njit

GROUP_SIZE = 4
N_GROUPS = 4
MAX_BLOCKS = GROUP_SIZE * N_GROUPS
N_SUBSETS = 1 << GROUP_SIZE
CHUNK = 512  # runs per chunk: the subset tables take 2·4·16·512·8 B = 512 KiB


@njit(cache=True, error_model="numpy")
def _group_tables_nb(sums, sqs, lo, n, sub_s, sub_q, tot_s, tot_q):
    """``sub_s[g, m, r]``: sum over the blocks of group ``g`` selected by the bits of ``m``
    for run ``lo + r`` (``sub_q`` likewise for sums of squares); ``tot_*`` over all blocks.
    Blocks beyond ``sums.shape[1]`` count as zero."""
    n_blocks = sums.shape[1]
    for g in range(N_GROUPS):
        first = g * GROUP_SIZE
        for r in range(n):
            sub_s[g, 0, r] = 0.0
            sub_q[g, 0, r] = 0.0
        for m in range(1, N_SUBSETS):
            j = 0
            while not (m >> j) & 1:
                j += 1
            prev = m ^ (1 << j)
            if first + j < n_blocks:
                for r in range(n):
                    sub_s[g, m, r] = sub_s[g, prev, r] + sums[lo + r, first + j]
                    sub_q[g, m, r] = sub_q[g, prev, r] + sqs[lo + r, first + j]
            else:
                for r in range(n):
                    sub_s[g, m, r] = sub_s[g, prev, r]
                    sub_q[g, m, r] = sub_q[g, prev, r]
    top = N_SUBSETS - 1
    for r in range(n):
        tot_s[r] = ((sub_s[0, top, r] + sub_s[1, top, r]) + sub_s[2, top, r]) + sub_s[3, top, r]
        tot_q[r] = ((sub_q[0, top, r] + sub_q[1, top, r]) + sub_q[2, top, r]) + sub_q[3, top, r]


@njit(cache=True, error_model="numpy")
def _pair_keys_nb(sub_s, sub_q, tot_s, tot_q, n, mask, c_in, c_out, key_in, key_out):
    """``key_in[r]``/``key_out[r]``: rank keys of run r on the blocks in ``mask`` / the rest."""
    a0 = mask & 15
    a1 = (mask >> 4) & 15
    a2 = (mask >> 8) & 15
    a3 = (mask >> 12) & 15
    tol_in = ZERO_VARIANCE * c_in
    tol_out = ZERO_VARIANCE * c_out
    for r in range(n):
        s = ((sub_s[0, a0, r] + sub_s[1, a1, r]) + sub_s[2, a2, r]) + sub_s[3, a3, r]
        q = ((sub_q[0, a0, r] + sub_q[1, a1, r]) + sub_q[2, a2, r]) + sub_q[3, a3, r]
        d = q * c_in - s * s
        key_in[r] = s * abs(s) / d if d > tol_in * tot_q[r] else -np.inf
        s = tot_s[r] - s
        q = tot_q[r] - q
        d = q * c_out - s * s
        key_out[r] = s * abs(s) / d if d > tol_out * tot_q[r] else -np.inf


@njit(cache=True, error_model="numpy")
def _count_above_nb(keys, n, value):
    k = 0
    for r in range(n):
        k += keys[r] > value
    return k


@njit(cache=True)
def _subset_count_nb(counts, mask):
    c = 0.0
    for b in range(counts.shape[0]):
        if (mask >> b) & 1:
            c += counts[b]
    return c


@njit(cache=True)
def _update_best_nb(keys, other, n, lo, best, p, k, side):
    """Fold the chunk's keys into ``best[p, k, side] = (IS key, run, OOS key)``: the first
    run with the highest key wins (runs come in increasing order)."""
    if best[p, k, side, 1] < 0:
        best[p, k, side, 0] = keys[0]
        best[p, k, side, 1] = lo
        best[p, k, side, 2] = other[0]
    v = best[p, k, side, 0]
    if _count_above_nb(keys, n, v) == 0:  # the common case: nothing better in this chunk
        return
    for r in range(n):
        if keys[r] > v:
            v = keys[r]
            best[p, k, side, 0] = v
            best[p, k, side, 1] = lo + r
            best[p, k, side, 2] = other[r]


@njit(cache=True)
def _scratch_nb():
    """Per-part work arrays: group subset sums and squares, run totals, IS/OOS keys."""
    return (np.empty((N_GROUPS, N_SUBSETS, CHUNK)), np.empty((N_GROUPS, N_SUBSETS, CHUNK)),
            np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK), np.empty(CHUNK))


@njit(cache=True)
def split_counts_nb(counts, pair_masks):
    """Bars in the IS union (column 0) and the OOS union (column 1) of each split pair."""
    full = (1 << counts.shape[0]) - 1
    out = np.empty((pair_masks.shape[0], 2))
    for k in range(pair_masks.shape[0]):
        out[k, 0] = _subset_count_nb(counts, pair_masks[k])
        out[k, 1] = _subset_count_nb(counts, full ^ pair_masks[k])
    return out


@njit(cache=True)
def _layout_nb(n_runs, n_parts):
    """(chunks, chunks per part, parts): at most ``n_parts`` parts, none of them empty."""
    n_chunks = (n_runs + CHUNK - 1) // CHUNK
    per_part = (n_chunks + max(n_parts, 1) - 1) // max(n_parts, 1)
    return n_chunks, per_part, (n_chunks + per_part - 1) // per_part if n_chunks else 0


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)  # overlaps the outputs
def cscv_best_nb(sums, sqs, c_split, pair_masks, n_parts, offset, best):
    """Pass 1 over runs ``offset`` .. ``offset + len(sums)``: fold each split's IS-best run
    into ``best[k, side] = (IS key, run, OOS key)`` (run −1: none yet). Side 0 is the split
    whose IS is the pair mask, side 1 its complement. Runs come in increasing order across
    calls, so a run wins only when its key is strictly higher than every earlier run's."""
    n_runs = sums.shape[0]
    n_pairs = pair_masks.shape[0]
    n_chunks, per_part, n_parts = _layout_nb(n_runs, n_parts)
    found = np.empty((n_parts, n_pairs, 2, 3))
    found[:, :, :, 1] = -1.0
    for p in prange(n_parts):
        sub_s, sub_q, tot_s, tot_q, key_in, key_out = _scratch_nb()
        for ch in range(p * per_part, min((p + 1) * per_part, n_chunks)):
            lo = ch * CHUNK
            n = min(CHUNK, n_runs - lo)
            _group_tables_nb(sums, sqs, lo, n, sub_s, sub_q, tot_s, tot_q)
            for k in range(n_pairs):
                _pair_keys_nb(sub_s, sub_q, tot_s, tot_q, n, pair_masks[k], c_split[k, 0],
                              c_split[k, 1], key_in, key_out)
                _update_best_nb(key_in, key_out, n, offset + lo, found, p, k, 0)
                _update_best_nb(key_out, key_in, n, offset + lo, found, p, k, 1)
    for k in range(n_pairs):  # the parts in run order, after the earlier calls' runs
        for side in range(2):
            for p in range(n_parts):
                if best[k, side, 1] < 0 or found[p, k, side, 0] > best[k, side, 0]:
                    best[k, side, 0] = found[p, k, side, 0]
                    best[k, side, 1] = found[p, k, side, 1]
                    best[k, side, 2] = found[p, k, side, 2]


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def cscv_count_nb(sums, sqs, c_split, pair_masks, target, n_parts, below, equal):
    """Pass 2: add to ``below[k, side]`` / ``equal[k, side]`` the runs whose OOS key is
    below / equal to ``target[k, side]``, the IS-best run's OOS key."""
    n_runs = sums.shape[0]
    n_pairs = pair_masks.shape[0]
    n_chunks, per_part, n_parts = _layout_nb(n_runs, n_parts)
    part_below = np.zeros((n_parts, n_pairs, 2), dtype=np.int64)
    part_equal = np.zeros((n_parts, n_pairs, 2), dtype=np.int64)
    for p in prange(n_parts):
        sub_s, sub_q, tot_s, tot_q, key_in, key_out = _scratch_nb()
        for ch in range(p * per_part, min((p + 1) * per_part, n_chunks)):
            lo = ch * CHUNK
            n = min(CHUNK, n_runs - lo)
            _group_tables_nb(sums, sqs, lo, n, sub_s, sub_q, tot_s, tot_q)
            for k in range(n_pairs):
                _pair_keys_nb(sub_s, sub_q, tot_s, tot_q, n, pair_masks[k], c_split[k, 0],
                              c_split[k, 1], key_in, key_out)
                t0 = target[k, 0]  # split k's OOS keys are key_out
                t1 = target[k, 1]  # the complement's OOS keys are key_in
                b0 = 0
                e0 = 0
                b1 = 0
                e1 = 0
                for r in range(n):
                    b0 += key_out[r] < t0
                    e0 += key_out[r] == t0
                    b1 += key_in[r] < t1
                    e1 += key_in[r] == t1
                part_below[p, k, 0] += b0
                part_equal[p, k, 0] += e0
                part_below[p, k, 1] += b1
                part_equal[p, k, 1] += e1
    for k in range(n_pairs):
        for side in range(2):
            for p in range(n_parts):
                below[k, side] += part_below[p, k, side]
                equal[k, side] += part_equal[p, k, side]


@njit(cache=True)
def logits_nb(below, equal, n_runs):
    """λ = ln(ω̄/(1−ω̄)), ω̄ = rank/(N+1), rank = below + (equal + 1)/2, per split pair."""
    out = np.empty(below.shape)
    for k in range(below.shape[0]):
        for side in range(2):
            rank = below[k, side] + (equal[k, side] + 1) / 2.0
            out[k, side] = math.log(rank / (n_runs + 1.0 - rank))
    return out


class CSCV:
    """The CSCV logits of runs given in parts, in run order, each part twice: first every
    part to ``best`` (pass 1), then every part to ``count`` (pass 2); then ``logits``. A part
    is (sums, sqs), each (runs, blocks), contiguous float64. One part or many, the same
    logits: parts only bound the memory a long search's runs take at once."""

    def __init__(self, counts, pair_masks):
        self.pair_masks = pair_masks
        self.c_split = split_counts_nb(counts, pair_masks)
        self.best = np.empty((pair_masks.shape[0], 2, 3))
        self.best[:, :, 1] = -1.0
        self.below = np.zeros((pair_masks.shape[0], 2), dtype=np.int64)
        self.equal = np.zeros((pair_masks.shape[0], 2), dtype=np.int64)
        self.n_runs = 0
        self.parts = 4 * numba.get_num_threads()

    def best_of(self, sums, sqs):
        cscv_best_nb(sums, sqs, self.c_split, self.pair_masks, self.parts, self.n_runs,
                     self.best)
        self.n_runs += sums.shape[0]

    def count(self, sums, sqs):
        target = np.ascontiguousarray(self.best[:, :, 2])
        cscv_count_nb(sums, sqs, self.c_split, self.pair_masks, target, self.parts,
                      self.below, self.equal)

    def logits(self):
        """(n_pairs, 2): λ of each pair's split (column 0) and of its complement."""
        return logits_nb(self.below, self.equal, self.n_runs)

