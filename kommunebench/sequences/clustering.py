"""Clustering of sequences from a distance matrix, in WeightedCluster's vocabulary.

* :func:`pam`: k-medoids with weights (FasterPAM swap, BUILD start). The kmedoids
  package's ``fasterpam`` takes no weights, so the same algorithm is implemented here
  with a weight per distinct sequence; on distinct sequences weighted by their counts
  it minimises the same objective as PAM on all sequences.
* :func:`ward`: Ward's hierarchical clustering with weights. The distances between
  distinct sequences are first scaled to ``sqrt(2 w_i w_j / (w_i + w_j)) d_ij`` (the
  Ward distance between two groups of ``w_i`` and ``w_j`` identical sequences) and the
  Lance-Williams update then uses the group sizes; this reproduces SciPy's Ward on all
  sequences (same partitions, same merge heights above 0). SciPy's ``linkage`` cannot
  be used for this step because it has no way to pass starting sizes.
* :func:`silhouette`: weighted average silhouette width (ASW), equal to the ordinary
  ASW of the data with each distinct sequence repeated by its count.
* :func:`clara`: CLARA for large data: PAM on weighted samples of distinct sequences,
  every distinct sequence assigned to the nearest medoid, the sample with the lowest
  full-data objective kept; the stability of the partition across samples is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster

from kommunebench.sequences import _cluster_kernels as CK
from kommunebench.sequences.data import UniqueSequences
from kommunebench.sequences.distances import (
    CostSpec,
    condensed_rows,
    condensed_to_square,
    cross_distances,
)


def _square(D: np.ndarray) -> np.ndarray:
    a = np.asarray(D)
    if a.ndim == 1:
        n = int(round((1 + np.sqrt(1 + 8 * a.shape[0])) / 2))
        return condensed_to_square(a, n)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"distance matrix must be square or condensed; got shape {a.shape}")
    return a


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum")
    return w


@dataclass(frozen=True)
class PamResult:
    """k-medoids solution: ``medoids`` (indices), ``labels`` (0..k-1, cluster of the
    medoid ``medoids[label]``), ``cost`` = ``sum_i w_i d(i, medoid(i))``."""

    medoids: np.ndarray
    labels: np.ndarray
    cost: float
    n_swaps: int
    n_passes: int


def assign_to_medoids(D_med: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest medoid per column of ``D_med`` (k x n): labels (lowest index on ties)
    and the distance to it."""
    lab = np.argmin(D_med, axis=0)
    return lab.astype(np.int64), D_med[lab, np.arange(D_med.shape[1])].astype(np.float64)


def pam(D: np.ndarray, k: int, weights: np.ndarray | None = None, *,
        max_iter: int = 100, init: np.ndarray | None = None) -> PamResult:
    """Weighted k-medoids (PAM objective, FasterPAM swaps from a weighted BUILD start).

    ``D`` is a square or condensed distance matrix; ``init`` optional starting medoids.
    Deterministic: the same input gives the same medoids.
    """
    Ds = _square(D)
    n = Ds.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n-1 = {n - 1}; got {k}")
    w = _weights(weights, n)
    if init is None:
        med = CK.weighted_build(Ds, w, k)
    else:
        med = np.asarray(init, dtype=np.int64).copy()
        if med.shape != (k,) or len(set(med.tolist())) != k or med.min() < 0 or med.max() >= n:
            raise ValueError(f"init must be {k} distinct indices in 0..{n - 1}")
    med, n_swaps, n_passes = CK.weighted_fasterpam(Ds, w, med, max_iter)
    lab, dist = assign_to_medoids(Ds[med])
    return PamResult(med.copy(), lab, float(np.dot(w, dist)), int(n_swaps), int(n_passes))


def silhouette(D: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Weighted average silhouette width and the per-object silhouettes.

    ``a_i = sum_{j in A} w_j d_ij / (W_A - 1)``, ``b_i = min_B sum_{j in B} w_j d_ij / W_B``,
    ``s_i = (b_i - a_i) / max(a_i, b_i)`` (0 in a cluster of weight <= 1);
    ASW = ``sum_i w_i s_i / sum_i w_i`` (WeightedCluster's ASWw).
    """
    Ds = _square(D)
    n = Ds.shape[0]
    w = _weights(weights, n)
    lab = np.asarray(labels, dtype=np.int64)
    if lab.shape != (n,) or lab.min() < 0:
        raise ValueError(f"labels must be {n} non-negative integers")
    k = int(lab.max()) + 1
    s = CK.weighted_silhouette(Ds, lab, w, k)
    return float(np.dot(w, s) / w.sum()), s


def ward(D: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted Ward linkage in SciPy's format (column 3: number of distinct objects).

    ``D`` holds distances between distinct objects with weights ``w``; the result
    equals ``scipy.cluster.hierarchy.linkage(D_all, "ward")`` on the data with each
    object repeated ``w`` times, minus its zero-height merges of identical copies.
    Memory: an ``n x n`` float64 matrix.
    """
    Ds = _square(D)
    n = Ds.shape[0]
    if n < 2:
        raise ValueError("Ward needs at least 2 objects")
    w = _weights(weights, n)
    if np.any(w <= 0):
        raise ValueError("Ward needs positive weights")
    D2 = np.square(Ds.astype(np.float64))
    D2 *= 2.0 * np.outer(w, w) / (w[:, None] + w[None, :])
    ma, mb, mh = CK.ward_nn_chain(D2, w.copy())
    return CK.linkage_from_merges(ma, mb, mh)


def cut_tree(Z: np.ndarray, k: int) -> np.ndarray:
    """Labels 0..k-1 of the ``k``-cluster cut of a linkage (numbered by first appearance)."""
    lab = fcluster(Z, k, criterion="maxclust")
    _, first = np.unique(lab, return_index=True)
    order = np.argsort(first)
    remap = np.empty(lab.max() + 1, dtype=np.int64)
    remap[np.unique(lab)[order]] = np.arange(order.size)
    return remap[lab]


def medoids_of(D: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted medoid of each cluster (member with the least weighted distance sum)."""
    Ds = _square(D)
    w = _weights(weights, Ds.shape[0])
    lab = np.asarray(labels, dtype=np.int64)
    return CK.weighted_medoids(Ds, lab, w, int(lab.max()) + 1)


def adjusted_rand(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Adjusted Rand index between two partitions, objects counted with weights
    (with integer counts: the ARI over the repeated data)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    w = _weights(weights, a.shape[0])
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), w)
    n = w.sum()

    def c2(x: np.ndarray | float) -> np.ndarray | float:
        return x * (x - 1.0) / 2.0

    s_ij = c2(table).sum()
    s_a = c2(table.sum(axis=1)).sum()
    s_b = c2(table.sum(axis=0)).sum()
    expected = s_a * s_b / c2(n)
    max_index = (s_a + s_b) / 2.0
    if max_index == expected:
        return 1.0
    return float((s_ij - expected) / (max_index - expected))


@dataclass
class Partition:
    """A clustering of the distinct sequences for one ``k``: labels, medoid indices,
    objective ``sum_u w_u d(u, medoid(u))``, weighted ASW and ``dist`` = ``d(u, medoid(u))``."""

    k: int
    labels: np.ndarray
    medoids: np.ndarray
    objective: float
    asw: float
    dist: np.ndarray


@dataclass
class ClusterRangeResult:
    """Solutions over a range of ``k`` and the one chosen by the highest ASW."""

    method: str
    quality: pd.DataFrame
    partitions: dict[int, Partition]
    best_k: int
    linkage: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def best(self) -> Partition:
        return self.partitions[self.best_k]


def _check_ks(ks: Sequence[int], n: int) -> list[int]:
    out = sorted(set(int(k) for k in ks))
    if not out or out[0] < 2:
        raise ValueError(f"the k range must hold integers >= 2; got {list(ks)}")
    if out[-1] >= n:
        raise ValueError(f"k={out[-1]} needs more than {n} distinct sequences")
    return out


def cluster_range(D: np.ndarray, ks: Sequence[int] = range(2, 11), weights: np.ndarray | None = None,
                  *, method: str = "pam", max_iter: int = 100) -> ClusterRangeResult:
    """PAM or Ward solutions for every ``k`` in ``ks`` with their weighted ASW; the
    chosen ``k`` has the highest ASW (the smaller ``k`` on a tie)."""
    Ds = _square(D)
    n = Ds.shape[0]
    w = _weights(weights, n)
    kk = _check_ks(ks, n)
    parts: dict[int, Partition] = {}
    Z = None
    if method == "pam":
        for k in kk:
            r = pam(Ds, k, w, max_iter=max_iter)
            asw, _ = silhouette(Ds, r.labels, w)
            dist = Ds[r.medoids[r.labels], np.arange(n)].astype(np.float64)
            parts[k] = Partition(k, r.labels, r.medoids, r.cost, asw, dist)
    elif method == "ward":
        Z = ward(Ds, w)
        for k in kk:
            lab = cut_tree(Z, k)
            med = medoids_of(Ds, lab, w)
            dist = Ds[med[lab], np.arange(n)].astype(np.float64)
            asw, _ = silhouette(Ds, lab, w)
            parts[k] = Partition(k, lab, med, float(np.dot(w, dist)), asw, dist)
    else:
        raise ValueError(f"method must be 'pam' or 'ward'; got {method!r}")
    quality = pd.DataFrame({"k": kk, "asw": [parts[k].asw for k in kk],
                            "objective": [parts[k].objective for k in kk]})
    best_k = int(quality.loc[quality["asw"].idxmax(), "k"])
    return ClusterRangeResult(method, quality, parts, best_k, Z)


def clara(useq: UniqueSequences, costs: CostSpec, ks: Sequence[int] = range(2, 11), *,
          sample_size: int = 2000, n_samples: int = 5, seed: int = 0,
          dtype: np.dtype = np.float32, max_iter: int = 100) -> ClusterRangeResult:
    """CLARA over a range of ``k`` for data too large for a full distance matrix.

    For each of ``n_samples`` samples: ``sample_size`` persons are drawn with
    replacement with probability proportional to the weights (``numpy`` generator
    seeded by ``seed``), their distinct sequences form the sample with the draw counts
    as weights, and the sample's distances use the *given* ``costs`` (estimated once
    on all data). For each ``k``: weighted PAM on each sample; every distinct sequence
    of the data is assigned to the nearest of the sample's medoids; the objective is
    ``sum_u w_u d(u, medoid(u))`` over all data and the sample with the lowest one is
    kept. Quality per ``k``: ``asw`` the weighted ASW on the kept sample,
    ``medoid_silhouette`` the weighted mean over all data of ``1 - d1/d2`` (nearest and
    second nearest medoid), ``ari_runner_up`` the adjusted Rand index between the kept
    partition and the second best, ``ari_mean`` the mean over the other samples.
    """
    ks_ = _check_ks(ks, useq.n_unique)
    if n_samples < 1 or sample_size < 2:
        raise ValueError("CLARA needs n_samples >= 1 and sample_size >= 2")
    rng = np.random.default_rng(seed)
    W = useq.weights
    p = W / W.sum()
    samples = []
    for _ in range(n_samples):
        draw = rng.multinomial(sample_size, p)
        idx = np.flatnonzero(draw)
        if idx.size <= ks_[-1]:
            raise ValueError(f"a sample holds only {idx.size} distinct sequences; raise sample_size above {sample_size}")
        Dsamp = condensed_to_square(condensed_rows(useq.sequences[idx], 0, idx.size, costs, dtype), idx.size)
        samples.append((idx, draw[idx].astype(np.float64), Dsamp))
    rows: dict[int, np.ndarray] = {}

    def med_rows(meds: np.ndarray) -> np.ndarray:
        new = [m for m in meds.tolist() if m not in rows]
        if new:
            block = cross_distances(useq.sequences[np.array(new)], useq.sequences, costs, dtype)
            for m, r in zip(new, block):
                rows[m] = r
        return np.stack([rows[m] for m in meds.tolist()])

    parts: dict[int, Partition] = {}
    qrows = []
    for k in ks_:
        sols = []
        for s, (idx, sw, Dsamp) in enumerate(samples):
            r = pam(Dsamp, k, sw, max_iter=max_iter)
            meds = idx[r.medoids]
            Dm = med_rows(meds)
            lab, dist = assign_to_medoids(Dm)
            sols.append((float(np.dot(W, dist)), s, meds, lab, Dm, r))
        sols.sort(key=lambda t: (t[0], t[1]))
        obj, s_best, meds, lab, Dm, r = sols[0]
        dist = Dm[lab, np.arange(lab.size)].astype(np.float64)
        idx, sw, Dsamp = samples[s_best]
        asw, _ = silhouette(Dsamp, r.labels, sw)
        srt = np.sort(Dm, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ms = np.where(srt[1] > 0, 1.0 - srt[0] / srt[1], 0.0)
        others = [adjusted_rand(lab, t[3], W) for t in sols[1:]]
        qrows.append({"k": k, "asw": asw, "objective": obj,
                      "medoid_silhouette": float(np.dot(W, ms) / W.sum()),
                      "ari_runner_up": others[0] if others else np.nan,
                      "ari_mean": float(np.mean(others)) if others else np.nan,
                      "best_sample": s_best})
        parts[k] = Partition(k, lab, meds, obj, asw, dist)
    quality = pd.DataFrame(qrows)
    best_k = int(quality.loc[quality["asw"].idxmax(), "k"])
    info = {"sample_size": sample_size, "n_samples": n_samples, "seed": seed,
            "sample_distinct": [int(s[0].size) for s in samples]}
    return ClusterRangeResult("clara", quality, parts, best_k, None, info)
