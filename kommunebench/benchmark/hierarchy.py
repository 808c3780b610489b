"""The municipality effects as a Poisson log-normal hierarchy, integrated numerically.

Model, per ranked unit j with observed events O_j and expected events E_j (indirect
standardisation from the expected model):

    O_j | theta_j ~ Poisson(E_j exp(theta_j)),   theta_j | tau ~ N(0, tau^2),   tau ~ U(0, tau_max)

theta_j is the log rate ratio: how much faster (theta > 0) or slower the unit's persons reach
the event than the same persons would in an average municipality with the same framework
conditions. The centre is 0 by construction (expected events sum to observed events).

- Marginal likelihood L(tau) = prod_j int Poisson(O_j | E_j e^theta) N(theta; 0, tau^2) d theta,
  by adaptive Gauss-Hermite quadrature (centred at each integrand's mode, as lme4's nAGQ);
  at tau = 0 it is prod_j Poisson(O_j | E_j).
- tau-hat maximises L; the likelihood-ratio statistic 2 log L(tau-hat)/L(0) tests tau = 0,
  and the likelihood interval {tau : 2 log L(tau-hat)/L(tau) <= chi2_1(level)} is the
  interval of tau. Municipalities can be told apart when that interval excludes 0.
- Posterior draws: tau from its posterior on a grid (uniform prior on [0, tau_max], so the
  uncertainty in tau enters every interval, unlike a plug-in empirical Bayes that shrinks
  everything to 0 when tau-hat = 0), then theta_j | tau, O_j from its exact conditional
  posterior on a fine grid (inverse CDF). Units are independent given tau.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

FloatArray = NDArray[np.float64]
_GH_X, _GH_W = np.polynomial.hermite.hermgauss(30)


def _log_poisson(o: FloatArray, mu_log: FloatArray) -> FloatArray:
    """log Poisson(o | exp(mu_log))."""
    return o * mu_log - np.exp(mu_log) - special.gammaln(o + 1)


def _mode(o: FloatArray, e: FloatArray, tau: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mode and curvature sd of f(theta) = o theta - e e^theta - theta^2 / (2 tau^2), tau > 0."""
    prec = 1.0 / tau**2
    theta = np.log((o + 0.5) / e) * (o / (o + prec))  # a start between the MLE and 0
    for _ in range(50):
        g = o - e * np.exp(theta) - theta * prec
        h = -e * np.exp(theta) - prec
        step = g / h
        theta = theta - step
        if np.max(np.abs(step)) < 1e-12:
            break
    sd = 1.0 / np.sqrt(e * np.exp(theta) + prec)
    return theta, sd


def log_marginal(o: FloatArray, e: FloatArray, tau: float) -> FloatArray:
    """log int Poisson(o | e e^theta) N(theta; 0, tau^2) d theta, per unit (AGHQ, 30 nodes)."""
    o = np.asarray(o, dtype=float)
    e = np.asarray(e, dtype=float)
    if tau <= 0:
        return _log_poisson(o, np.log(e))
    t = np.full(o.shape, float(tau))
    mode, sd = _mode(o, e, t)
    nodes = mode[:, None] + np.sqrt(2.0) * sd[:, None] * _GH_X[None, :]
    log_f = _log_poisson(o[:, None], np.log(e)[:, None] + nodes) + stats.norm.logpdf(nodes, 0.0, tau)
    # int f = sqrt(2) sd sum_k w_k exp(x_k^2) f(node_k)
    log_terms = log_f + _GH_X[None, :] ** 2 + np.log(_GH_W)[None, :]
    return np.log(np.sqrt(2.0) * sd) + special.logsumexp(log_terms, axis=1)


@dataclass(frozen=True)
class Heterogeneity:
    """What the data say about the spread of the municipality effects."""

    tau: float  # maximum-likelihood estimate
    tau_lo: float  # likelihood interval at ``level``
    tau_hi: float
    lr_statistic: float  # 2 log L(tau-hat) / L(0)
    p_value: float  # of tau = 0 (boundary: half chi2_1 tail)
    distinguishable: bool  # the interval of tau excludes 0
    level: float
    grid: FloatArray  # tau grid of the posterior
    posterior: FloatArray  # posterior probability of each grid point


def heterogeneity(o: FloatArray, e: FloatArray, level: float = 0.90, tau_max: float = 1.0, points: int = 241) -> Heterogeneity:
    """Estimate tau, its likelihood interval and posterior (uniform prior on [0, tau_max])."""
    o = np.asarray(o, dtype=float)
    e = np.asarray(e, dtype=float)
    if o.size < 3:
        raise ValueError(f"heterogeneity: {o.size} units are too few")
    if np.any(e <= 0) or np.any(o < 0):
        raise ValueError("heterogeneity: expected events must be > 0 and observed >= 0")

    def ll(tau: float) -> float:
        return float(log_marginal(o, e, tau).sum())

    grid = np.linspace(0.0, tau_max, points)
    lls = np.array([ll(t) for t in grid])
    i = int(np.argmax(lls))
    lo_b, hi_b = grid[max(i - 1, 0)], grid[min(i + 1, points - 1)]
    if hi_b > lo_b and i > 0:
        res = optimize.minimize_scalar(lambda t: -ll(t), bounds=(lo_b, hi_b), method="bounded", options={"xatol": 1e-7})
        tau_hat, ll_hat = float(res.x), -float(res.fun)
        if lls[i] > ll_hat:
            tau_hat, ll_hat = float(grid[i]), float(lls[i])
    else:
        tau_hat, ll_hat = float(grid[i]), float(lls[i])
    ll0 = float(lls[0])
    lr = max(0.0, 2.0 * (ll_hat - ll0))
    crit = float(stats.chi2.ppf(level, 1))

    def edge(a: float, b: float) -> float:
        f = lambda t: 2.0 * (ll_hat - ll(t)) - crit  # noqa: E731
        return float(optimize.brentq(f, a, b, xtol=1e-7)) if f(a) * f(b) < 0 else a

    tau_lo = 0.0 if lr <= crit else edge(0.0, tau_hat)
    tau_hi = edge(tau_max, tau_hat) if 2.0 * (ll_hat - lls[-1]) > crit else tau_max
    w = np.exp(lls - lls.max())
    w[[0, -1]] *= 0.5  # trapezoid
    post = w / w.sum()
    p = 0.5 * float(stats.chi2.sf(lr, 1)) if lr > 0 else 1.0
    return Heterogeneity(tau=tau_hat, tau_lo=tau_lo, tau_hi=tau_hi, lr_statistic=lr, p_value=p,
                         distinguishable=lr > crit, level=level, grid=grid, posterior=post)


def posterior_draws(o: FloatArray, e: FloatArray, het: Heterogeneity, n_draws: int, seed: int, cells: int = 400) -> tuple[FloatArray, FloatArray]:
    """Draws of (theta [draw, unit], tau [draw]) from the posterior of the hierarchy.

    tau is drawn from its grid posterior (the grid's points); theta_j | tau from its
    conditional posterior tabulated on ``cells`` points over mode +- 8 sd (inverse CDF with
    linear interpolation). tau = 0 gives theta = 0.
    """
    o = np.asarray(o, dtype=float)
    e = np.asarray(e, dtype=float)
    rng = np.random.default_rng(seed)
    g = het.grid
    idx = rng.choice(g.size, size=n_draws, p=het.posterior)
    tau = g[idx]
    theta = np.zeros((n_draws, o.size))
    u = rng.random((n_draws, o.size))
    for gi in np.unique(idx):
        t = g[gi]
        rows = np.flatnonzero(idx == gi)
        if t <= 0:
            continue
        tt = np.full(o.size, t)
        mode, sd = _mode(o, e, tt)
        z = np.linspace(-8.0, 8.0, cells)
        th = mode[:, None] + sd[:, None] * z[None, :]
        logf = _log_poisson(o[:, None], np.log(e)[:, None] + th) + stats.norm.logpdf(th, 0.0, t)
        f = np.exp(logf - logf.max(axis=1, keepdims=True))
        cdf = np.concatenate([np.zeros((o.size, 1)), np.cumsum((f[:, 1:] + f[:, :-1]) / 2, axis=1)], axis=1)
        cdf /= cdf[:, -1:]
        for j in range(o.size):
            theta[rows, j] = np.interp(u[rows, j], cdf[j], th[j])
    return theta, tau


def shrinkage_weight(o: FloatArray, tau: FloatArray) -> FloatArray:
    """tau^2 / (tau^2 + 1/O): how far a shift of log E moves the posterior (normal approximation)."""
    t2 = np.asarray(tau, dtype=float)[:, None] ** 2
    v = 1.0 / np.maximum(np.asarray(o, dtype=float), 0.5)[None, :]
    return t2 / (t2 + v)
