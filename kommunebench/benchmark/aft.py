"""Sensitivity analysis: a Weibull accelerated-failure-time model with a fixed effect per unit.

Model (R: ``survreg(Surv(duration, event) ~ covariates + factor(cohort_year) + factor(unit),
dist = "weibull")``, lifelines ``WeibullAFTFitter``):

    log T_i = a_{unit(i)} + x_i' b + c_{cohort(i)} + sigma W_i,   W_i standard extreme value,

shape rho = 1 / sigma. exp(a_j) is unit j's time ratio (TR < 1: success comes sooner). The
framework conditions are left out: they vary almost only between units and are absorbed by the
unit effects. Units below the size limit share one dummy (they are not reported). The unit
effects are centred at their person-weighted mean, log TR_j = a_j - sum_k w_k a_k, with standard
errors from the full covariance matrix (c' V c, c = e_j - w). Under a Weibull model proportional
hazards and AFT coincide with HR = TR^(-rho), which is how ``rho`` converts the Cox-based
log(O/E) to the time-ratio scale of the league table.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import WeibullAFTFitter

_TOO_SMALL = "_too_small"


@dataclass(frozen=True)
class AFTResult:
    table: pd.DataFrame  # one row per reported unit
    shape: float  # rho
    shape_se: float
    log_likelihood: float


def fit_weibull_aft(
    X: np.ndarray,
    terms: list[str],
    duration: np.ndarray,
    event: np.ndarray,
    strata: np.ndarray,
    unit_codes: np.ndarray,
    reported_units: list[int],
    level: float,
) -> AFTResult:
    """Fit the Weibull AFT with unit dummies and return centred time ratios per reported unit.

    ``unit_codes`` gives each person's unit code; units not in ``reported_units`` share one
    dummy. The reference dummy is the largest reported unit (its effect is recovered by the
    centring). Raises ValueError when the fit does not converge.
    """
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning
    from scipy.stats import norm

    if len(reported_units) < 2:
        raise ValueError("fit_weibull_aft: fewer than 2 units to compare")
    codes = np.where(np.isin(unit_codes, reported_units), unit_codes, -1)
    sizes = pd.Series(codes[codes >= 0]).value_counts()
    reference = int(sizes.index[0])
    cols: dict[str, np.ndarray] = {t: X[:, i] for i, t in enumerate(terms)}
    years = np.unique(strata)
    for y in years[1:]:
        cols[f"cohort_year[{y}]"] = (strata == y).astype(float)
    unit_terms: dict[int, str] = {}
    for u in sorted(reported_units):
        if u == reference:
            continue
        unit_terms[u] = f"unit[{u}]"
        cols[unit_terms[u]] = (codes == u).astype(float)
    if np.any(codes == -1):
        cols[f"unit[{_TOO_SMALL}]"] = (codes == -1).astype(float)
    frame = pd.DataFrame(cols)
    frame["_T"] = duration.astype(float)
    frame["_E"] = event.astype(int)
    aft = WeibullAFTFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # overflow in exp() during the optimiser's first trial steps; convergence is checked above
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        try:
            aft.fit(frame, duration_col="_T", event_col="_E")
        except (ConvergenceError, ConvergenceWarning) as exc:
            raise ValueError(f"the Weibull AFT sensitivity model did not converge: {exc}") from exc
    params = aft.params_
    cov = aft.variance_matrix_
    units = sorted(reported_units)
    keys = [("lambda_", unit_terms[u]) for u in units if u != reference]
    a_free = params.loc[keys].to_numpy(dtype=float)
    v_free = cov.loc[keys, keys].to_numpy(dtype=float)
    # full vector with the reference at 0
    pos = {u: i for i, u in enumerate([u for u in units if u != reference])}
    k = len(units)
    L = np.zeros((k, len(keys)))  # a_full = L a_free
    for j, u in enumerate(units):
        if u != reference:
            L[j, pos[u]] = 1.0
    w = sizes.reindex(units).to_numpy(dtype=float)
    w = w / w.sum()
    C = np.eye(k) - np.outer(np.ones(k), w)  # centring
    M = C @ L
    log_tr = M @ a_free
    var = np.einsum("ij,jk,ik->i", M, v_free, M)
    se = np.sqrt(np.maximum(var, 0.0))
    z = float(norm.ppf(0.5 + level / 2))
    tr = np.exp(log_tr)
    lo, hi = np.exp(log_tr - z * se), np.exp(log_tr + z * se)
    table = pd.DataFrame(
        {
            "unit": units,
            "persons": sizes.reindex(units).to_numpy(dtype=int),
            "log_time_ratio": log_tr,
            "log_time_ratio_se": se,
            "time_ratio": tr,
            "time_ratio_lo": lo,
            "time_ratio_hi": hi,
            "time_ratio_pct": 100.0 * (1.0 - tr),
            "time_ratio_pct_lo": 100.0 * (1.0 - hi),
            "time_ratio_pct_hi": 100.0 * (1.0 - lo),
        }
    )
    log_rho = float(params.loc[("rho_", "Intercept")])
    log_rho_se = float(np.sqrt(cov.loc[("rho_", "Intercept"), ("rho_", "Intercept")]))
    rho = float(np.exp(log_rho))
    return AFTResult(table=table, shape=rho, shape_se=rho * log_rho_se, log_likelihood=float(aft.log_likelihood_))
