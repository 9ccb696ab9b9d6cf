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


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)  # overlaps the outputs
def cscv_logits_nb(sums, sqs, counts, pair_masks, n_parts, logits_out):
    """CSCV logits for every split pair: ``pair_masks[k]`` is an IS mask over
    ``counts.shape[0]`` ≤ 16 blocks; ``logits_out[k, 0]`` is λ of that split and
    ``logits_out[k, 1]`` λ of its complement. λ = ln(ω̄/(1−ω̄)), ω̄ = rank/(N+1) of the
    IS-best run's OOS Sharpe among all N ≥ 1 runs (rank 1 = worst). The runs are processed
    in ``n_parts`` parallel parts (any number ≥ 1; the result does not depend on it)."""
    n_runs = sums.shape[0]
    n_blocks = counts.shape[0]
    n_pairs = pair_masks.shape[0]
    full = (1 << n_blocks) - 1
    n_chunks = (n_runs + CHUNK - 1) // CHUNK
    per_part = (n_chunks + max(n_parts, 1) - 1) // max(n_parts, 1)
    n_parts = (n_chunks + per_part - 1) // per_part

    c_in = np.empty(n_pairs)
    c_out = np.empty(n_pairs)
    for k in range(n_pairs):
        c_in[k] = _subset_count_nb(counts, pair_masks[k])
        c_out[k] = _subset_count_nb(counts, full ^ pair_masks[k])

    # Pass 1: per part and split, (IS key, run, OOS key) of the IS-best run.
    # Side 0: the split whose IS is the pair mask; side 1: its complement.
    best = np.empty((n_parts, n_pairs, 2, 3))
    best[:, :, :, 1] = -1.0
    for p in prange(n_parts):
        sub_s, sub_q, tot_s, tot_q, key_in, key_out = _scratch_nb()
        for ch in range(p * per_part, min((p + 1) * per_part, n_chunks)):
            lo = ch * CHUNK
            n = min(CHUNK, n_runs - lo)
            _group_tables_nb(sums, sqs, lo, n, sub_s, sub_q, tot_s, tot_q)
            for k in range(n_pairs):
                _pair_keys_nb(sub_s, sub_q, tot_s, tot_q, n, pair_masks[k], c_in[k], c_out[k],
                              key_in, key_out)
                _update_best_nb(key_in, key_out, n, lo, best, p, k, 0)
                _update_best_nb(key_out, key_in, n, lo, best, p, k, 1)

    # Merge the parts in run order: a later part wins only when strictly better.
    target = np.empty((n_pairs, 2))
    for k in range(n_pairs):
        for side in range(2):
            v = best[0, k, side, 0]
            o = best[0, k, side, 2]
            for p in range(1, n_parts):
                if best[p, k, side, 0] > v:
                    v = best[p, k, side, 0]
                    o = best[p, k, side, 2]
            target[k, side] = o

    # Pass 2: per part and split, how many OOS keys are below / equal to the best's.
    below = np.zeros((n_parts, n_pairs, 2), dtype=np.int64)
    equal = np.zeros((n_parts, n_pairs, 2), dtype=np.int64)
    for p in prange(n_parts):
        sub_s, sub_q, tot_s, tot_q, key_in, key_out = _scratch_nb()
        for ch in range(p * per_part, min((p + 1) * per_part, n_chunks)):
            lo = ch * CHUNK
            n = min(CHUNK, n_runs - lo)
            _group_tables_nb(sums, sqs, lo, n, sub_s, sub_q, tot_s, tot_q)
            for k in range(n_pairs):
                _pair_keys_nb(sub_s, sub_q, tot_s, tot_q, n, pair_masks[k], c_in[k], c_out[k],
                              key_in, key_out)
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
                below[p, k, 0] += b0
                equal[p, k, 0] += e0
                below[p, k, 1] += b1
                equal[p, k, 1] += e1

    for k in range(n_pairs):
        for side in range(2):
            b = 0
            e = 0
            for p in range(n_parts):
                b += below[p, k, side]
                e += equal[p, k, side]
            rank = b + (e + 1) / 2.0
            logits_out[k, side] = math.log(rank / (n_runs + 1.0 - rank))


def cscv_logits(sums, sqs, counts, pair_masks):
    """``cscv_logits_nb`` with 4 parts per numba thread; returns the (n_pairs, 2) logits."""
    out = np.empty((pair_masks.shape[0], 2))
    cscv_logits_nb(sums, sqs, counts, pair_masks, 4 * numba.get_num_threads(), out)
    return out
