"""Compiled kernels (numba) behind :mod:`kommunebench.sequences.distances`.

Internal module: the public functions validate their input and call these.

Optimal matching (OM) is computed 64 pairs at a time: one sequence ``x`` is aligned
against 64 sequences ``y_0..y_63`` side by side, so that every dynamic-programming cell
update is the same instruction over 64 SIMD lanes. Three things let the compiler
vectorise it: the lane count is a compile-time constant (``LANES``), the left
neighbour of the current cell is carried in its own 64-wide array, and the
substitution costs are read from a table laid out per block of 64 columns
(``cost[s, j, lane] = sub[s, y_lane[j]]``), so the inner loop needs no gather. The
table is built once per (column block, group of rows) task and reused for every row.

Sequences of different lengths are padded at the end with a *void* state (code ``K``
= alphabet size) whose insertion/deletion cost is 0, whose substitution with itself
costs 0 and with any real state costs ``VOID_COST``. An optimal alignment of the padded
sequences deletes/inserts the voids for free and never substitutes them, so it costs
exactly the OM distance of the unpadded sequences.

The arithmetic type follows the dtype of ``sub`` (float32 fast path, float64 exact path).
"""

from __future__ import annotations

import numba as nb
import numpy as np

LANES = 64
VOID_COST = 1.0e9


@nb.njit(cache=True, inline="always")
def _om_lane_block(x, lx, dele, cost, ins, ins_prefix, row, diag, left, res):
    """OM distances from ``x[:lx]`` to the 64 lane sequences of one column block.

    Recurrence (Needleman-Wunsch with costs): ``F[i, j] = min(F[i-1, j] + del(x_i),
    F[i, j-1] + ins(y_j), F[i-1, j-1] + sub(x_i, y_j))``, ``F[0, j] = sum ins(y_1..y_j)``,
    ``F[i, 0] = sum del(x_1..x_i)``; the distance is ``F[lx, ly]``. One row of ``F`` is
    kept per lane (``row[j, lane]``).
    """
    ly = cost.shape[1]
    for jj in range(ly + 1):
        for p in range(LANES):
            row[jj, p] = ins_prefix[jj, p]
    for ii in range(lx):
        s = x[ii]
        dl = dele[s]
        for p in range(LANES):
            d0 = row[0, p]
            diag[p] = d0
            v = d0 + dl
            row[0, p] = v
            left[p] = v
        for jj in range(1, ly + 1):
            for p in range(LANES):
                up = row[jj, p]
                a = up + dl
                b = left[p] + ins[jj - 1, p]
                c = diag[p] + cost[s, jj - 1, p]
                m = a if a < b else b
                m = c if c < m else m
                diag[p] = up
                row[jj, p] = m
                left[p] = m
    for p in range(LANES):
        res[p] = row[ly, p]


@nb.njit(cache=True, inline="always")
def _prepare_lanes(Y, c0, sub, indel, cost, ins, ins_prefix):
    """Fill the lane tables for columns ``c0 .. c0+63`` of ``Y`` (past the end: column 0)."""
    ny, ly = Y.shape
    nstate = sub.shape[0]
    for p in range(LANES):
        c = c0 + p
        if c >= ny:
            c = 0
        acc = 0.0
        ins_prefix[0, p] = 0.0
        for j in range(ly):
            t = Y[c, j]
            for s in range(nstate):
                cost[s, j, p] = sub[s, t]
            ins[j, p] = indel[t]
            acc += indel[t]
            ins_prefix[j + 1, p] = acc


@nb.njit(cache=True)
def _row_length(x, void):
    n = x.shape[0]
    while n > 0 and x[n - 1] == void:
        n -= 1
    return n


@nb.njit(parallel=True, cache=True)
def om_condensed(X, sub, indel, task_block, task_r0, task_r1, out, out_offset):
    """Upper triangle of the OM distance matrix of ``X`` into condensed ``out``.

    ``out[n*i - i*(i+1)//2 + j - i - 1 - out_offset] = OM(X[i], X[j])`` for ``i < j``
    (``out_offset`` lets a block of rows fill its own slice of the condensed vector).
    Task ``t`` covers column block ``task_block[t]`` (columns ``64*b .. 64*b+63``) and
    rows ``task_r0[t] .. task_r1[t]-1``.
    """
    n, L = X.shape
    nstate = sub.shape[0]
    void = nstate - 1
    ntask = task_block.shape[0]
    for t in nb.prange(ntask):
        cost = np.empty((nstate, L, LANES), dtype=sub.dtype)
        ins = np.empty((L, LANES), dtype=sub.dtype)
        ins_prefix = np.empty((L + 1, LANES), dtype=sub.dtype)
        row = np.empty((L + 1, LANES), dtype=sub.dtype)
        diag = np.empty(LANES, dtype=sub.dtype)
        left = np.empty(LANES, dtype=sub.dtype)
        res = np.empty(LANES, dtype=sub.dtype)
        c0 = task_block[t] * LANES
        _prepare_lanes(X, c0, sub, indel, cost, ins, ins_prefix)
        for i in range(task_r0[t], task_r1[t]):
            x = X[i]
            _om_lane_block(x, _row_length(x, void), indel, cost, ins, ins_prefix,
                           row, diag, left, res)
            base = n * i - (i * (i + 1)) // 2 - i - 1 - out_offset
            for p in range(LANES):
                j = c0 + p
                if j > i and j < n:
                    out[base + j] = res[p]


@nb.njit(parallel=True, cache=True)
def om_cross(X, Y, sub, indel, task_block, task_r0, task_r1, out):
    """Rectangular OM distances ``out[i, j] = OM(X[i], Y[j])`` (tasks as in ``om_condensed``)."""
    ny, L = Y.shape
    nstate = sub.shape[0]
    void = nstate - 1
    ntask = task_block.shape[0]
    for t in nb.prange(ntask):
        cost = np.empty((nstate, L, LANES), dtype=sub.dtype)
        ins = np.empty((L, LANES), dtype=sub.dtype)
        ins_prefix = np.empty((L + 1, LANES), dtype=sub.dtype)
        row = np.empty((L + 1, LANES), dtype=sub.dtype)
        diag = np.empty(LANES, dtype=sub.dtype)
        left = np.empty(LANES, dtype=sub.dtype)
        res = np.empty(LANES, dtype=sub.dtype)
        c0 = task_block[t] * LANES
        _prepare_lanes(Y, c0, sub, indel, cost, ins, ins_prefix)
        for i in range(task_r0[t], task_r1[t]):
            x = X[i]
            _om_lane_block(x, _row_length(x, void), indel, cost, ins, ins_prefix,
                           row, diag, left, res)
            for p in range(LANES):
                j = c0 + p
                if j < ny:
                    out[i, j] = res[p]


@nb.njit(parallel=True, cache=True)
def tv_hamming_condensed(X, costs, i0, i1, out, out_offset):
    """Position-wise distance ``sum_t costs[t, x_t, y_t]`` for pairs ``i < j``, rows
    ``i0 <= i < i1``, into condensed ``out`` (index shifted by ``out_offset``).

    Hamming uses the same cost matrix at every ``t``; dynamic Hamming (DHD) a cost
    matrix per position.
    """
    n, L = X.shape
    for i in nb.prange(i0, i1):
        base = n * i - (i * (i + 1)) // 2 - i - 1 - out_offset
        for j in range(i + 1, n):
            acc = 0.0
            for t in range(L):
                acc += costs[t, X[i, t], X[j, t]]
            out[base + j] = acc


@nb.njit(parallel=True, cache=True)
def tv_hamming_cross(X, Y, costs, out):
    """Rectangular position-wise distances ``out[i, j] = sum_t costs[t, X[i,t], Y[j,t]]``."""
    nx, L = X.shape
    ny = Y.shape[0]
    for j in nb.prange(ny):
        for i in range(nx):
            acc = 0.0
            for t in range(L):
                acc += costs[t, X[i, t], Y[j, t]]
            out[i, j] = acc


@nb.njit(parallel=True, cache=True)
def normalise_condensed(out, lens, i0, i1, out_offset, mode, indel, maxscost):
    """Normalise condensed distances in place, as TraMineR's ``normalizeDistance``.

    ``mode`` 1 ("maxlength"): ``d / max(l_i, l_j)``; mode 3 ("maxdist", OM):
    ``d / (|l_i - l_j| * indel + maxscost * min(l_i, l_j))``. A zero distance stays 0.
    """
    n = lens.shape[0]
    for i in nb.prange(i0, i1):
        base = n * i - (i * (i + 1)) // 2 - i - 1 - out_offset
        li = lens[i]
        for j in range(i + 1, n):
            d = out[base + j]
            if d == 0:
                continue
            lj = lens[j]
            if mode == 1:
                den = li if li > lj else lj
            else:
                den = abs(li - lj) * indel + maxscost * (li if li < lj else lj)
            out[base + j] = d / den if den > 0 else 1.0
