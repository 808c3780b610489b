"""Confidence sets for ranks that hold for all municipalities at once.

Mogstad, Romano, Shaikh and Wilhelm (2024), "Inference for ranks with applications to
mobility across neighbourhoods and academic achievement across countries", Review of
Economic Studies 91(1): 476-518 (R package csranks). From estimates theta-hat (here log O/E)
with covariance Sigma (Poisson noise plus the correlation the shared expected model
creates):

- all ranks at once (two-sided): the pairwise differences are tested with the max-|t|
  statistic, critical value by simulation from N(0, Sigma), step-down (pairs already
  separated leave the maximum and the critical value is recomputed) until nothing new is
  separated. Unit j's rank lies in [1 + #units surely better, n - #units surely worse]
  for all j jointly with probability >= level (rank 1 = the largest theta = fastest).
- the best tau units ("tau-best", here the top fifth): one-sided step-down on the
  differences theta_k - theta_j; j stays in the set unless at least tau units are surely
  better than j. The set holds every truly top-tau unit with probability >= level. The
  worst tau units likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class RankSets:
    lower: NDArray[np.int64]  # simultaneous rank bounds, rank 1 = best
    upper: NDArray[np.int64]
    top_set: NDArray[np.bool_]  # may be among the best ``n_top`` (contains all of them jointly)
    bottom_set: NDArray[np.bool_]
    critical_two_sided: float
    critical_top: float
    critical_bottom: float


def _sim_max(Z: np.ndarray, pairs_a: np.ndarray, pairs_b: np.ndarray, se: np.ndarray, two_sided: bool) -> np.ndarray:
    """Per draw: max over the given pairs of (Z_a - Z_b) / se (or its absolute value)."""
    out = np.full(Z.shape[0], -np.inf)
    for start in range(0, pairs_a.size, 2_000):
        sl = slice(start, start + 2_000)
        t = (Z[:, pairs_a[sl]] - Z[:, pairs_b[sl]]) / se[sl][None, :]
        if two_sided:
            t = np.abs(t)
        out = np.maximum(out, t.max(axis=1))
    return out


def _step_down(t: np.ndarray, a: np.ndarray, b: np.ndarray, se: np.ndarray, Z: np.ndarray, level: float, two_sided: bool) -> tuple[np.ndarray, float]:
    """Indices of the pairs rejected by the step-down max-t procedure, and the last critical value."""
    active = np.ones(t.size, bool)
    rejected = np.zeros(t.size, bool)
    crit = np.inf
    while active.any():
        crit = float(np.quantile(_sim_max(Z, a[active], b[active], se[active], two_sided), level))
        stat = np.abs(t) if two_sided else t
        new = active & (stat > crit)
        if not new.any():
            break
        rejected |= new
        active &= ~new
    return rejected, crit


def rank_confidence_sets(theta: np.ndarray, cov: np.ndarray, n_top: int, level: float = 0.90,
                         n_sim: int = 4000, seed: int = 0) -> RankSets:
    """Simultaneous rank bounds and the top/bottom ``n_top`` confidence sets (module docstring)."""
    theta = np.asarray(theta, dtype=float)
    n = theta.size
    if n < 3:
        raise ValueError(f"rank_confidence_sets: {n} units are too few")
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (n, n):
        raise ValueError("rank_confidence_sets: cov must be n x n")
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(cov + 1e-12 * np.eye(n))
    Z = rng.standard_normal((n_sim, n)) @ L.T
    var = np.diag(cov)
    # unordered pairs for the two-sided set
    ia, ib = np.triu_indices(n, 1)
    se_u = np.sqrt(np.maximum(var[ia] + var[ib] - 2 * cov[ia, ib], 1e-300))
    t_u = (theta[ia] - theta[ib]) / se_u
    rej_u, crit2 = _step_down(t_u, ia, ib, se_u, Z, level, two_sided=True)
    better = np.zeros((n, n), bool)  # better[k, j]: k surely better than j
    sa, sb = ia[rej_u], ib[rej_u]
    pos = t_u[rej_u] > 0
    better[sa[pos], sb[pos]] = True
    better[sb[~pos], sa[~pos]] = True
    lower = 1 + better.sum(axis=0)
    upper = n - better.sum(axis=1)
    # ordered pairs (k, j), statistic (theta_k - theta_j) / se: "k better than j"
    ka, jb = np.nonzero(~np.eye(n, dtype=bool))
    se_o = np.sqrt(np.maximum(var[ka] + var[jb] - 2 * cov[ka, jb], 1e-300))
    t_o = (theta[ka] - theta[jb]) / se_o
    rej_top, crit_top = _step_down(t_o, ka, jb, se_o, Z, level, two_sided=False)
    n_better = np.bincount(jb[rej_top], minlength=n)
    top_set = n_better < n_top
    # bottom: "j better than k" statistics, the same ordered pairs read the other way
    rej_bot, crit_bot = _step_down(-t_o, ka, jb, se_o, -Z, level, two_sided=False)
    n_worse = np.bincount(jb[rej_bot], minlength=n)
    bottom_set = n_worse < n_top
    return RankSets(lower=lower.astype(np.int64), upper=upper.astype(np.int64), top_set=top_set,
                    bottom_set=bottom_set, critical_two_sided=crit2, critical_top=crit_top,
                    critical_bottom=crit_bot)
