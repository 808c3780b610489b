"""Confidence sets for ranks that hold for all municipalities at once.

Mogstad, Romano, Shaikh and Wilhelm (2024), "Inference for ranks with applications to
mobility across neighbourhoods and academic achievement across countries", Review of
Economic Studies 91(1): 476-518 (R package csranks). From estimates theta-hat (here log O/E)
with covariance Sigma (Poisson noise plus the correlation the shared expected model
creates):

- all ranks at once: every ordered pair (k, j) is tested one-sidedly ("k better than j")
  with the max-t statistic over the pairs, critical value by simulation from N(0, Sigma),
  step-down (a rejected ordered pair leaves the maximum, its reverse stays, and the critical
  value is recomputed) until nothing new is separated. Unit j's rank lies in
  [1 + #units surely better, n - #units surely worse] for all j jointly with probability
  >= level (rank 1 = the largest theta = fastest).
- the best tau units ("tau-best", here the top fifth): j stays in the set unless at least
  tau units are surely better than j (its lower rank bound <= tau). The set holds every
  truly top-tau unit with probability >= level. The worst tau units likewise.

With step-down, the two-sided bounds and the tau-best and tau-worst sets all come from the
same family of ordered pairs, as in csranks (equal to it on tests/data/csranks).
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
    """Simultaneous rank bounds and the top/bottom ``n_top`` confidence sets (module docstring).

    One step-down over every ordered pair (k, j) of the one-sided hypotheses theta_k <= theta_j,
    statistic (theta_k - theta_j) / se_kj, critical value the ``level`` quantile of the maximum
    over the pairs not yet rejected, from N(0, cov). A rejected pair leaves the family in its own
    direction only: the reverse hypothesis is true and stays in the maximum (so the critical value
    does not fall too fast; csranks does the same). Rejected (k, j) reads "k surely better than j".
    Then lower_j = 1 + #units surely better than j, upper_j = n - #units j is surely better than;
    the top set holds j with lower_j <= n_top, the bottom set j with upper_j >= n - n_top + 1.
    This equals csranks' ``csranks(..., cstype = "two-sided", stepdown = TRUE)``, ``cstaubest`` and
    ``cstauworst`` (tests/data/csranks).
    """
    theta = np.asarray(theta, dtype=float)
    n = theta.size
    if n < 3:
        raise ValueError(f"rank_confidence_sets: {n} units are too few")
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (n, n):
        raise ValueError("rank_confidence_sets: cov must be n x n")
    if not 1 <= n_top < n:
        raise ValueError(f"rank_confidence_sets: n_top = {n_top} must be between 1 and {n - 1}")
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(cov + 1e-12 * np.eye(n))
    Z = rng.standard_normal((n_sim, n)) @ L.T
    var = np.diag(cov)
    ka, jb = np.nonzero(~np.eye(n, dtype=bool))
    se = np.sqrt(np.maximum(var[ka] + var[jb] - 2 * cov[ka, jb], 1e-300))
    t = (theta[ka] - theta[jb]) / se
    rejected, crit = _step_down(t, ka, jb, se, Z, level, two_sided=False)
    n_better_than = np.bincount(jb[rejected], minlength=n)  # units surely better than j
    n_worse_than = np.bincount(ka[rejected], minlength=n)  # units that j is surely better than
    lower = 1 + n_better_than
    upper = n - n_worse_than
    return RankSets(lower=lower.astype(np.int64), upper=upper.astype(np.int64), top_set=lower <= n_top,
                    bottom_set=upper >= n - n_top + 1, critical_two_sided=crit, critical_top=crit,
                    critical_bottom=crit)
