"""Statistical building blocks of the benchmark: pure numpy/scipy functions, no pandas models.

Names follow the literature: Garwood exact Poisson limits, Kaplan-Meier restricted mean
survival time (RMST, as R's ``survival::survfit`` ``print(rmean=)``), DerSimonian-Laird and
REML between-unit variance (as R's ``metafor::rma``), normal-normal empirical Bayes, the
Benjamini-Hochberg step-up rule (as R's ``p.adjust(method = "BH")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

FloatArray = NDArray[np.float64]


def garwood_interval(observed: ArrayLike, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Exact (Garwood 1936) two-sided interval for a Poisson mean given ``observed`` counts.

    lower = chi2.ppf(a/2, 2 O) / 2 (0 when O = 0), upper = chi2.ppf(1 - a/2, 2 (O + 1)) / 2,
    with a = 1 - level. Divide by the expected count E for the interval of O/E (SMR).
    """
    o = np.asarray(observed, dtype=float)
    if np.any(o < 0) or np.any(~np.isfinite(o)):
        raise ValueError("garwood_interval: observed counts must be finite and >= 0")
    a = 1.0 - level
    with np.errstate(invalid="ignore"):
        lower = np.where(o > 0, stats.chi2.ppf(a / 2, 2 * o) / 2, 0.0)
    upper = stats.chi2.ppf(1 - a / 2, 2 * (o + 1)) / 2
    return lower, upper


@dataclass(frozen=True)
class KaplanMeierRMST:
    """Kaplan-Meier restricted mean to ``horizon`` and its Greenwood-type standard error."""

    rmst: float
    se: float
    survival: FloatArray  # S(k) for k = 0..horizon (S(0) = 1), value after the events of week k


def km_restricted_mean(duration: ArrayLike, event: ArrayLike, horizon: int) -> KaplanMeierRMST:
    """Kaplan-Meier restricted mean survival time to ``horizon`` for whole-week durations.

    Time is in whole weeks: an event at week k happens during week k, so S is constant on
    [k, k+1) and RMST = sum_{k=0}^{horizon-1} S(k), with S(0) = 1 and
    S(k) = prod_{j<=k} (1 - d_j / n_j). Durations beyond ``horizon`` are censored at it.
    Variance (Klein & Moeschberger 4.5): sum_k A_k^2 d_k / (n_k (n_k - d_k)) over event weeks
    k < horizon with n_k > d_k, where A_k = sum_{m=k}^{horizon-1} S(m) is the area under S from
    k to the horizon. This is what R's ``survfit`` prints as ``rmean`` and ``se(rmean)`` with
    ``rmean = horizon``.
    """
    t = np.asarray(duration)
    d = np.asarray(event)
    if t.shape != d.shape or t.ndim != 1:
        raise ValueError("km_restricted_mean: duration and event must be 1-d arrays of one length")
    if t.size == 0:
        raise ValueError("km_restricted_mean: no persons")
    if np.any(t < 1) or np.any(t != np.floor(t)):
        raise ValueError("km_restricted_mean: durations must be whole weeks >= 1")
    if not np.isin(d, (0, 1)).all():
        raise ValueError("km_restricted_mean: event must be 0/1")
    t = t.astype(np.int64)
    d = d.astype(np.int64)
    over = t > horizon
    d = np.where(over, 0, d)
    t = np.minimum(t, horizon)
    deaths = np.bincount(t, weights=d, minlength=horizon + 1)
    leaving = np.bincount(t, minlength=horizon + 1).astype(float)
    at_risk = t.size - np.concatenate(([0.0], np.cumsum(leaving)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, deaths / at_risk, 0.0)
    surv = np.cumprod(1.0 - hazard)  # index k = S(k); surv[0] = 1 because no one leaves at 0
    rmst = float(surv[:horizon].sum())
    # A_k = area from k to horizon = sum_{m=k}^{horizon-1} S(m)
    area = np.concatenate((np.cumsum(surv[:horizon][::-1])[::-1], [0.0]))
    k = np.arange(horizon + 1)
    use = (deaths > 0) & (at_risk > deaths) & (k < horizon)
    var = float(np.sum(area[use] ** 2 * deaths[use] / (at_risk[use] * (at_risk[use] - deaths[use]))))
    return KaplanMeierRMST(rmst=rmst, se=float(np.sqrt(var)), survival=surv)


@dataclass(frozen=True)
class RandomEffectsFit:
    """Random-effects (meta-)regression y_j ~ N(X_j beta, v_j + tau2)."""

    tau2: float
    beta: FloatArray
    beta_se: FloatArray
    method: str
    k: int


def random_effects(
    y: ArrayLike, v: ArrayLike, X: ArrayLike | None = None, method: str = "REML"
) -> RandomEffectsFit:
    """Between-unit variance tau^2 of estimates ``y`` with sampling variances ``v``.

    ``X`` (k x p, default a column of ones) gives a meta-regression. "DL" is the
    method-of-moments estimator of DerSimonian & Laird (1986), generalised to regression:
    tau2 = max(0, (Q_E - (k - p)) / (sum w - tr((X'WX)^-1 X'W^2X))), w = 1 / v, Q_E the
    weighted residual sum of squares. "REML" maximises the restricted log-likelihood
    -1/2 [sum log(v + tau2) + log det(X'W*X) + r'W*r], W* = diag(1 / (v + tau2)), over
    tau2 >= 0 (as ``metafor::rma(method = "REML")``). beta is the weighted least-squares fit at
    the estimated tau2.
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    if y.ndim != 1 or y.shape != v.shape:
        raise ValueError("random_effects: y and v must be 1-d arrays of one length")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("random_effects: y must be finite and v finite and > 0")
    k = y.size
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float).reshape(k, -1)
    p = X.shape[1]
    if k <= p + 1:
        raise ValueError(f"random_effects: {k} estimates are too few for {p} coefficients")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("random_effects: the moderator matrix X is rank deficient")

    def wls(tau2: float) -> tuple[FloatArray, FloatArray, FloatArray]:
        w = 1.0 / (v + tau2)
        xtwx = X.T @ (w[:, None] * X)
        beta = np.linalg.solve(xtwx, X.T @ (w * y))
        return beta, xtwx, w

    if method == "DL":
        beta0, xtwx0, w0 = wls(0.0)
        resid = y - X @ beta0
        q = float(np.sum(w0 * resid**2))
        trace = float(np.sum(w0) - np.trace(np.linalg.solve(xtwx0, X.T @ ((w0**2)[:, None] * X))))
        tau2 = max(0.0, (q - (k - p)) / trace)
    elif method == "REML":

        def neg_rll(tau2: float) -> float:
            beta, xtwx, w = wls(tau2)
            r = y - X @ beta
            _, logdet = np.linalg.slogdet(xtwx)
            return 0.5 * float(np.sum(np.log(v + tau2)) + logdet + np.sum(w * r**2))

        upper = max(10.0 * float(np.var(y)), 1e-8) + 10.0 * float(np.max(v))
        res = optimize.minimize_scalar(
            neg_rll, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-12}
        )
        tau2 = float(res.x)
        if neg_rll(0.0) <= res.fun:
            tau2 = 0.0
    else:
        raise ValueError(f"random_effects: method {method!r} is not 'REML' or 'DL'")
    beta, xtwx, _ = wls(tau2)
    se = np.sqrt(np.diag(np.linalg.inv(xtwx)))
    return RandomEffectsFit(tau2=float(tau2), beta=beta, beta_se=se, method=method, k=k)


def eb_shrink(
    r: ArrayLike, s: ArrayLike, tau2: float, k: int | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Normal-normal empirical Bayes towards 0 (= as expected).

    Prior theta_j ~ N(0, tau2), r_j | theta_j ~ N(theta_j, s_j^2). Returns
    (B_j, posterior mean B_j r_j, posterior sd) with B_j = tau2 / (tau2 + s_j^2).
    Without ``k`` the posterior sd is the plug-in sqrt(B_j) s_j (tau2 = 0 shrinks every
    estimate to 0 with sd 0). With ``k`` (the number of units tau2 was estimated from) the
    variance adds a Morris (1983)-type term for the uncertainty in tau2,
    s_j^2 B_j + 2 / (k - 2) (1 - B_j)^2 r_j^2: the plug-in intervals under-cover when tau2 is
    underestimated (bench/benchmark/RESULTS.md).
    """
    r = np.asarray(r, dtype=float)
    s = np.asarray(s, dtype=float)
    if tau2 < 0:
        raise ValueError("eb_shrink: tau2 must be >= 0")
    b = tau2 / (tau2 + s**2)
    var = b * s**2
    if k is not None:
        if k < 3:
            raise ValueError("eb_shrink: k must be >= 3 for the tau2-uncertainty term")
        var = var + 2.0 / (k - 2) * (1.0 - b) ** 2 * r**2
    return b, b * r, np.sqrt(var)


def benjamini_hochberg(p: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(p, "BH")``); NaN stays NaN.

    q_(i) = min_{j >= i} min(1, m p_(j) / j) over the m non-missing p-values sorted ascending.
    Reject at FDR level alpha where q <= alpha.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.minimum(q, 1.0)
    res = np.empty(m)
    res[order] = q
    out[ok] = res
    return out


@dataclass(frozen=True)
class RankSimulation:
    """Ranks from parametric simulation; rank 1 = best (largest value)."""

    rank: NDArray[np.int64]  # rank of the point estimates
    rank_lower: NDArray[np.int64]
    rank_upper: NDArray[np.int64]
    rank_mean: FloatArray
    p_top_fifth: FloatArray
    p_bottom_fifth: FloatArray


def rank_of(values: ArrayLike) -> NDArray[np.int64]:
    """Rank 1 = largest value; exactly equal values share the best of their ranks
    (competition ranking 1, 2, 2, 4), so no unit is ranked above another by the order of
    the rows (with tau^2 = 0 every shrunken estimate is 0 and every unit ties)."""
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=float)
    return rankdata(-v, method="min").astype(np.int64)


def fifth_of(rank: ArrayLike, n: int) -> NDArray[np.int64]:
    """Fifth 1 (best) .. 5 (worst) of a rank among n: ceil(5 rank / n)."""
    r = np.asarray(rank, dtype=np.int64)
    return np.ceil(5 * r / n).astype(np.int64)


def simulate_ranks(
    mean: ArrayLike, sd: ArrayLike, n_sim: int, level: float, seed: int
) -> RankSimulation:
    """Rank intervals and P(top/bottom fifth) from theta_j ~ N(mean_j, sd_j^2), independent.

    Each of ``n_sim`` draws ranks all units (1 = largest); the rank interval is the
    ((1 - level)/2, (1 + level)/2) quantile of a unit's simulated ranks, P(top fifth) the share
    of draws with rank <= floor(n / 5) (= fifth 1 under ``fifth_of``).
    """
    m = np.asarray(mean, dtype=float)
    s = np.asarray(sd, dtype=float)
    n = m.size
    if n < 5:
        raise ValueError(f"simulate_ranks: {n} units are too few to rank in fifths")
    if s.shape != m.shape or np.any(s < 0) or not np.all(np.isfinite(m)):
        raise ValueError("simulate_ranks: mean must be finite and sd >= 0 of the same length")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_sim, 2_000_000 // n))
    counts = np.zeros((n, n), dtype=np.int64)  # counts[j, r-1]
    done = 0
    while done < n_sim:
        b = min(chunk, n_sim - done)
        draws = m + s * rng.standard_normal((b, n))
        # ties (units with sd 0 and equal means) are broken at random, not by row order
        order = np.lexsort((rng.random((b, n)), -draws), axis=1)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(n)[None, :].repeat(b, 0), axis=1)
        flat = (np.arange(n)[None, :] * n + ranks).ravel()
        counts += np.bincount(flat, minlength=n * n).reshape(n, n)
        done += b
    cdf = np.cumsum(counts, axis=1) / n_sim
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    # inverted-cdf quantiles: smallest rank whose cumulative share reaches q
    lower = np.argmax(cdf >= lo_q - 1e-12, axis=1) + 1
    upper = np.argmax(cdf >= hi_q - 1e-12, axis=1) + 1
    top = n // 5
    ranks_1 = np.arange(1, n + 1)
    return RankSimulation(
        rank=rank_of(m),
        rank_lower=lower.astype(np.int64),
        rank_upper=upper.astype(np.int64),
        rank_mean=(counts @ ranks_1) / n_sim,
        p_top_fifth=counts[:, :top].sum(axis=1) / n_sim,
        p_bottom_fifth=counts[:, n - top :].sum(axis=1) / n_sim,
    )
