"""Compiled kernels (numba) behind :mod:`kommunebench.sequences.clustering`."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def weighted_build(D, w, k):
    """PAM's BUILD with weights: the first medoid minimises ``sum_o w_o D[o, j]``, each
    next one maximises the weighted decrease ``sum_o w_o max(0, d1_o - D[o, j])``."""
    n = D.shape[0]
    medoids = np.empty(k, dtype=np.int64)
    is_med = np.zeros(n, dtype=np.bool_)
    score = np.empty(n, dtype=np.float64)
    for j in nb.prange(n):
        acc = 0.0
        for o in range(n):
            acc += w[o] * D[j, o]
        score[j] = acc
    best = 0
    for j in range(1, n):
        if score[j] < score[best]:
            best = j
    medoids[0] = best
    is_med[best] = True
    d1 = np.empty(n, dtype=np.float64)
    for o in range(n):
        d1[o] = D[best, o]
    for m in range(1, k):
        for j in nb.prange(n):
            if is_med[j]:
                score[j] = -1.0
                continue
            acc = 0.0
            for o in range(n):
                diff = d1[o] - D[j, o]
                if diff > 0:
                    acc += w[o] * diff
            score[j] = acc
        best = -1
        for j in range(n):
            if not is_med[j] and (best < 0 or score[j] > score[best]):
                best = j
        medoids[m] = best
        is_med[best] = True
        for o in range(n):
            if D[best, o] < d1[o]:
                d1[o] = D[best, o]
    return medoids


@nb.njit(cache=True)
def _nearest_two(D, medoids, n1, d1, d2):
    n = D.shape[0]
    k = medoids.shape[0]
    for o in range(n):
        b1 = -1
        v1 = np.inf
        v2 = np.inf
        for m in range(k):
            v = D[medoids[m], o]
            if v < v1:
                v2 = v1
                v1 = v
                b1 = m
            elif v < v2:
                v2 = v
        n1[o] = b1
        d1[o] = v1
        d2[o] = v2


@nb.njit(cache=True)
def weighted_fasterpam(D, w, medoids, max_iter):
    """FasterPAM (Schubert & Rousseeuw 2021) with a weight per object.

    Eager swaps: for each candidate ``x`` the change of the weighted total deviation
    ``TD = sum_o w_o d(o, nearest medoid)`` is computed for every medoid it could
    replace in one pass over the objects (removal loss + shared gain), and the best
    swap is made at once if it lowers ``TD``. Stops after a full pass without a swap
    or ``max_iter`` passes. Returns ``(medoids, n_swaps, n_passes)``; ``medoids`` is
    modified in place.
    """
    n = D.shape[0]
    k = medoids.shape[0]
    n1 = np.empty(n, dtype=np.int64)
    d1 = np.empty(n, dtype=np.float64)
    d2 = np.empty(n, dtype=np.float64)
    is_med = np.zeros(n, dtype=np.bool_)
    for m in range(k):
        is_med[medoids[m]] = True
    _nearest_two(D, medoids, n1, d1, d2)
    removal = np.zeros(k, dtype=np.float64)
    delta = np.empty(k, dtype=np.float64)
    wsum = 0.0
    for o in range(n):
        removal[n1[o]] += w[o] * (d2[o] - d1[o])
        wsum += w[o]
    # swaps must improve TD by more than rounding noise
    scale = 0.0
    for o in range(n):
        scale += w[o] * d1[o]
    tol = 1e-12 * (scale + wsum)
    last_swap = -1
    n_swaps = 0
    passes = 0
    converged = False
    while passes < max_iter and not converged:
        passes += 1
        swapped = False
        for x in range(n):
            if x == last_swap:
                converged = True
                break
            if is_med[x]:
                continue
            for m in range(k):
                delta[m] = removal[m]
            acc = 0.0
            for o in range(n):
                dox = D[x, o]
                if dox < d1[o]:
                    acc += w[o] * (dox - d1[o])
                    delta[n1[o]] += w[o] * (d1[o] - d2[o])
                elif dox < d2[o]:
                    delta[n1[o]] += w[o] * (dox - d2[o])
            bm = 0
            for m in range(1, k):
                if delta[m] < delta[bm]:
                    bm = m
            if delta[bm] + acc < -tol:
                is_med[medoids[bm]] = False
                medoids[bm] = x
                is_med[x] = True
                _nearest_two(D, medoids, n1, d1, d2)
                for m in range(k):
                    removal[m] = 0.0
                for o in range(n):
                    removal[n1[o]] += w[o] * (d2[o] - d1[o])
                last_swap = x
                n_swaps += 1
                swapped = True
        if not swapped and last_swap < 0:
            converged = True
    return medoids, n_swaps, passes


@nb.njit(parallel=True, cache=True)
def weighted_silhouette(D, labels, w, k):
    """Per-object silhouette with weights: ``a_i = sum_{j in A} w_j d_ij / (W_A - 1)``,
    ``b_i = min_{B != A} sum_{j in B} w_j d_ij / W_B``, ``s_i = (b_i - a_i) / max(a_i, b_i)``
    and ``s_i = 0`` when ``W_A <= 1``. With integer weights this is the ordinary
    silhouette of the data with each object repeated ``w`` times."""
    n = D.shape[0]
    W = np.zeros(k, dtype=np.float64)
    for i in range(n):
        W[labels[i]] += w[i]
    s = np.zeros(n, dtype=np.float64)
    for i in nb.prange(n):
        acc = np.zeros(k, dtype=np.float64)
        for j in range(n):
            acc[labels[j]] += w[j] * D[i, j]
        a_lab = labels[i]
        if W[a_lab] <= 1.0:
            s[i] = 0.0
            continue
        a = acc[a_lab] / (W[a_lab] - 1.0)
        b = np.inf
        for c in range(k):
            if c != a_lab and W[c] > 0:
                v = acc[c] / W[c]
                if v < b:
                    b = v
        if not np.isfinite(b):
            s[i] = 0.0
            continue
        mx = a if a > b else b
        s[i] = (b - a) / mx if mx > 0 else 0.0
    return s


@nb.njit(cache=True)
def ward_nn_chain(D2, size):
    """Ward's hierarchical clustering by the nearest-neighbour chain, in place on the
    matrix ``D2`` of squared initial dissimilarities, with initial cluster sizes ``size``.

    Merge update (Lance-Williams, Ward): ``d2(k, a+b) = ((n_a + n_k) d2(k, a) +
    (n_b + n_k) d2(k, b) - n_k d2(a, b)) / (n_a + n_b + n_k)``. Returns the merges in
    the order found: slots ``(a, b)`` and heights ``sqrt(d2(a, b))``.
    """
    n = D2.shape[0]
    active = np.ones(n, dtype=np.bool_)
    chain = np.empty(n, dtype=np.int64)
    ma = np.empty(n - 1, dtype=np.int64)
    mb = np.empty(n - 1, dtype=np.int64)
    mh = np.empty(n - 1, dtype=np.float64)
    clen = 0
    for step in range(n - 1):
        if clen == 0:
            for i in range(n):
                if active[i]:
                    chain[0] = i
                    clen = 1
                    break
        while True:
            a = chain[clen - 1]
            if clen >= 2:
                b = chain[clen - 2]
                best = D2[a, b]
            else:
                b = -1
                best = np.inf
            for c in range(n):
                if active[c] and c != a and D2[a, c] < best:
                    best = D2[a, c]
                    b = c
            if clen >= 2 and b == chain[clen - 2]:
                break
            chain[clen] = b
            clen += 1
        clen -= 2
        keep = a if a < b else b
        drop = b if a < b else a
        na = size[a]
        nbb = size[b]
        for c in range(n):
            if active[c] and c != a and c != b:
                nc = size[c]
                v = ((na + nc) * D2[a, c] + (nbb + nc) * D2[b, c] - nc * best) / (na + nbb + nc)
                D2[keep, c] = v
                D2[c, keep] = v
        size[keep] = na + nbb
        active[drop] = False
        ma[step] = keep
        mb[step] = drop
        mh[step] = np.sqrt(best) if best > 0 else 0.0
    return ma, mb, mh


@nb.njit(cache=True)
def linkage_from_merges(ma, mb, mh):
    """SciPy linkage matrix from NN-chain merges: sorted by height (stable), cluster
    ids relabelled by union-find; column 3 holds the number of objects merged."""
    n = ma.shape[0] + 1
    order = np.argsort(mh, kind="mergesort")
    parent = np.arange(2 * n - 1)
    csize = np.zeros(2 * n - 1, dtype=np.float64)
    for i in range(n):
        csize[i] = 1.0
    Z = np.empty((n - 1, 4), dtype=np.float64)
    for r in range(n - 1):
        t = order[r]
        x = ma[t]
        while parent[x] != x:
            x = parent[x]
        y = mb[t]
        while parent[y] != y:
            y = parent[y]
        new = n + r
        parent[x] = new
        parent[y] = new
        csize[new] = csize[x] + csize[y]
        Z[r, 0] = min(x, y)
        Z[r, 1] = max(x, y)
        Z[r, 2] = mh[t]
        Z[r, 3] = csize[new]
    return Z


@nb.njit(parallel=True, cache=True)
def weighted_medoids(D, labels, w, k):
    """For each cluster the member minimising ``sum_{j in cluster} w_j d_ij``."""
    n = D.shape[0]
    score = np.full(n, np.inf)
    for i in nb.prange(n):
        acc = 0.0
        li = labels[i]
        for j in range(n):
            if labels[j] == li:
                acc += w[j] * D[i, j]
        score[i] = acc
    med = np.full(k, -1, dtype=np.int64)
    for i in range(n):
        c = labels[i]
        if med[c] < 0 or score[i] < score[med[c]]:
            med[c] = i
    return med
