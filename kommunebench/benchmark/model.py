"""The expected model: a stratified Cox model without a municipality effect, and what it predicts.

Model (R: ``coxph(Surv(duration, event) ~ covariates + strata(cohort_year), ties = "efron")``):

    h_i(t) = h0_{s(i)}(t) exp(x_i' beta),   s(i) = cohort year of person i,

fitted with lifelines' ``CoxPHFitter`` (Efron ties, the only ties method lifelines has; within
6e-5 of the exact grouped-time likelihood for weekly data). Categorical covariates enter as
treatment dummies named ``column[level]`` with the most frequent level as reference.

Baseline: the Breslow estimator per stratum at the whole weeks k = 1..horizon,
dH0_s(k) = d_s(k) / sum_{i in s, T_i >= k} exp(eta_i), with eta_i = (x_i - xbar)' beta.
With it, each person's expected cumulative hazard at the observed time is
E_i = H0_s(T_i) exp(eta_i), and sum_i E_i = sum_i event_i exactly within every stratum (the
martingale residuals sum to zero), which makes observed/expected an indirect standardisation.

Expected restricted mean time to success (RMST) to the horizon h, from the predicted survival
S_i(k) = exp(-H0_s(k) exp(eta_i)): RMST_i = sum_{k=0}^{h-1} S_i(k), the same step-function
integral as the Kaplan-Meier restricted mean of ``stats.km_restricted_mean``. Not lifelines'
``predict_expectation`` (it integrates over the observed timeline only) and never medians
(undefined when fewer than half succeed).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class DesignSpec:
    """How covariates are turned into model columns; reused for bootstrap refits."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, tuple[str, ...]]]  # column -> (reference, other levels)

    @property
    def terms(self) -> list[str]:
        out = list(self.numeric)
        for col, (_, levels) in self.categorical.items():
            out += [f"{col}[{lvl}]" for lvl in levels]
        return out


def design_spec(df: pd.DataFrame, numeric: list[str], categorical: list[str]) -> DesignSpec:
    """Check covariates and fix the dummy coding (reference = most frequent level).

    Raises ValueError naming the column when a covariate is missing, has missing values, is not
    numeric (numeric list), is constant, or a categorical column has a single level.
    """
    dup = sorted({c for c in numeric + categorical if (numeric + categorical).count(c) > 1})
    if dup:
        raise ValueError(f"covariates listed twice: {dup}")
    missing = [c for c in numeric + categorical if c not in df.columns]
    if missing:
        raise ValueError(f"covariate columns not in the persons frame: {missing}")
    for c in numeric:
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col):
            raise ValueError(f"numeric covariate {c!r} has dtype {col.dtype}, not numeric")
        if col.isna().any():
            raise ValueError(f"numeric covariate {c!r} has {int(col.isna().sum())} missing values")
        if not np.isfinite(col.to_numpy(dtype=float)).all():
            raise ValueError(f"numeric covariate {c!r} has infinite values")
        if col.nunique() < 2:
            raise ValueError(f"numeric covariate {c!r} is constant ({col.iloc[0]!r}); drop it")
    cats: dict[str, tuple[str, tuple[str, ...]]] = {}
    for c in categorical:
        col = df[c]
        if col.isna().any():
            raise ValueError(f"categorical covariate {c!r} has {int(col.isna().sum())} missing values")
        counts = col.astype(str).value_counts()
        if len(counts) < 2:
            raise ValueError(f"categorical covariate {c!r} has a single level; drop it")
        top = counts.max()
        reference = sorted(counts.index[counts == top])[0]
        cats[c] = (reference, tuple(sorted(lvl for lvl in counts.index if lvl != reference)))
    return DesignSpec(numeric=tuple(numeric), categorical=cats)


def design_matrix(df: pd.DataFrame, spec: DesignSpec) -> FloatArray:
    """Model matrix (float64, persons x ``spec.terms``) for ``df`` under ``spec``."""
    cols: list[np.ndarray] = [df[c].to_numpy(dtype=float) for c in spec.numeric]
    for c, (_, levels) in spec.categorical.items():
        values = df[c].astype(str).to_numpy()
        for lvl in levels:
            cols.append((values == lvl).astype(float))
    if not cols:
        raise ValueError("the model has no covariates")
    return np.column_stack(cols)


@dataclass(frozen=True)
class ExpectedModel:
    """A fitted expected model: coefficients plus the per-stratum Breslow baseline."""

    terms: list[str]
    beta: FloatArray
    se: FloatArray
    cov: FloatArray  # covariance of beta (inverse observed information)
    centre: FloatArray  # covariate means used in eta
    strata: NDArray[np.int64]  # stratum values, row order of base_cumhaz
    base_cumhaz: FloatArray  # (n_strata, horizon + 1): H0_s(k), k = 0..horizon
    horizon: int
    log_likelihood: float
    concordance: float
    fitter: CoxPHFitter | None  # None after a bootstrap refit (kept light)

    def linear_predictor(self, X: FloatArray) -> FloatArray:
        return (X - self.centre) @ self.beta


def _stratum_index(strata_values: NDArray[np.int64], strata: NDArray[np.int64]) -> NDArray[np.int64]:
    idx = np.searchsorted(strata_values, strata)
    if np.any(idx >= strata_values.size) or np.any(strata_values[np.minimum(idx, strata_values.size - 1)] != strata):
        raise ValueError("stratum values not seen when the model was fitted")
    return idx


def breslow_baseline(
    eta: FloatArray, duration: NDArray[np.int64], event: NDArray[np.int64], strata_idx: NDArray[np.int64], n_strata: int, horizon: int
) -> FloatArray:
    """Breslow cumulative baseline hazard per stratum at weeks 0..horizon (see module docstring)."""
    risk = np.exp(eta)
    out = np.zeros((n_strata, horizon + 1))
    for s in range(n_strata):
        m = strata_idx == s
        t = duration[m]
        d = np.bincount(t, weights=event[m], minlength=horizon + 1)
        leave = np.bincount(t, weights=risk[m], minlength=horizon + 1)
        at_risk = leave[::-1].cumsum()[::-1]  # sum of risk with T >= k
        with np.errstate(divide="ignore", invalid="ignore"):
            dh = np.where(d > 0, d / at_risk, 0.0)
        out[s] = np.cumsum(dh)
    return out


@dataclass(frozen=True)
class EfronFit:
    beta: FloatArray
    se: FloatArray
    cov: FloatArray
    log_likelihood: float
    iterations: int


def cox_efron_newton(
    X: FloatArray,
    duration: NDArray[np.int64],
    event: NDArray[np.int64],
    strata: NDArray[np.int64],
    initial_point: FloatArray | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int = 50,
) -> EfronFit:
    """Stratified Cox partial likelihood with Efron ties, maximised by Newton-Raphson (numpy).

    The same likelihood as lifelines ``CoxPHFitter`` and R ``coxph(ties = "efron")``, computed
    on sums per (stratum, week), which makes it fast for weekly data with heavy ties. For a
    tied week with d events, risk-set sums S0, S1, S2 (of w, w x, w x x', w = exp(x'beta)) and
    the events' sums D0, D1, D2, with c_l = l / d and den_l = S0 - c_l D0 (l = 0..d-1):

        loglik   = sum_events x'beta - sum_l log den_l
        gradient = sum_events x - [S1 sum_l 1/den_l - D1 sum_l c_l/den_l]
        -hessian = S2 a1 - D2 b1 - [S1 S1' a2 - (S1 D1' + D1 S1') b2 + D1 D1' c2]

    summed over weeks and strata, with a1 = sum 1/den, b1 = sum c/den, a2 = sum 1/den^2,
    b2 = sum c/den^2, c2 = sum c^2/den^2. Steps are halved when the log-likelihood falls;
    iteration stops when the largest step is below ``tol``, or when the log-likelihood has not
    moved (relative 1e-10) for three iterations in a row (a nearly separating covariate). The
    main fit of the expected model; tests check it against lifelines and R.
    """
    n, p = X.shape
    centre = X.mean(axis=0)
    Xc = X - centre
    sv, sidx = np.unique(strata, return_inverse=True)
    tmax = int(duration.max())
    key = sidx * (tmax + 1) + duration  # groups ordered by stratum, then week
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    Xs = Xc[order]
    ev = event[order].astype(bool)
    groups, starts = np.unique(key_s, return_index=True)
    g_of = np.repeat(np.arange(groups.size), np.diff(np.append(starts, n)))
    g_stratum = groups // (tmax + 1)
    # events per group and their covariate sums
    d = np.bincount(g_of, weights=ev, minlength=groups.size)
    x_dead_sum = Xs[ev].sum(axis=0)
    dead_groups = np.flatnonzero(d > 0)
    # slots l = 0..d-1 of every event group (Efron)
    d_int = d[dead_groups].astype(np.int64)
    slot_group = np.repeat(dead_groups, d_int)
    slot_c = (np.arange(slot_group.size) - np.repeat(np.cumsum(d_int) - d_int, d_int)) / np.repeat(d_int, d_int)
    Xd = Xs[ev]
    g_dead = g_of[ev]  # sorted, like g_of
    dead_starts = np.flatnonzero(np.r_[True, np.diff(g_dead) > 0])

    def rev_cumsum_by_stratum(a: np.ndarray) -> np.ndarray:
        # risk-set sums: persons in the same stratum with duration >= this group's week
        out = np.empty_like(a)
        for s_ in range(sv.size):
            m = g_stratum == s_
            out[m] = a[m][::-1].cumsum(axis=0)[::-1]
        return out

    def evaluate(beta: np.ndarray, need_hessian: bool = True):
        eta = Xs @ beta
        w = np.exp(eta)
        wx = Xs * w[:, None]
        a0 = np.bincount(g_of, weights=w, minlength=groups.size)
        a1 = np.add.reduceat(wx, starts, axis=0)
        S0 = rev_cumsum_by_stratum(a0)
        S1 = rev_cumsum_by_stratum(a1)
        wd = w[ev]
        D0 = np.bincount(g_dead, weights=wd, minlength=groups.size)
        D1 = np.zeros((groups.size, p))
        D1[dead_groups] = np.add.reduceat(Xd * wd[:, None], dead_starts, axis=0)
        den = S0[slot_group] - slot_c * D0[slot_group]
        if np.any(den <= 0):
            raise ValueError("cox_efron_newton: non-positive risk-set sum (check the data)")
        ll = float(eta[ev].sum() - np.log(den).sum())
        A1 = np.bincount(slot_group, weights=1 / den, minlength=groups.size)
        B1 = np.bincount(slot_group, weights=slot_c / den, minlength=groups.size)
        grad = x_dead_sum - (S1 * A1[:, None]).sum(axis=0) + (D1 * B1[:, None]).sum(axis=0)
        if not need_hessian:
            return ll, grad, None
        A2 = np.bincount(slot_group, weights=1 / den**2, minlength=groups.size)
        B2 = np.bincount(slot_group, weights=slot_c / den**2, minlength=groups.size)
        C2 = np.bincount(slot_group, weights=slot_c**2 / den**2, minlength=groups.size)
        # S2 and D2 only enter through sums weighted by A1 and B1: sum_g A1_g S2_g is a sum over
        # persons of w x x' times the A1 of every event group whose risk set holds the person.
        cumA1 = _risk_weight(A1, g_of, g_stratum, sv.size)
        info = (Xs * (w * cumA1)[:, None]).T @ Xs
        info -= (Xd * (wd * B1[g_dead])[:, None]).T @ Xd
        S1d, D1d = S1[dead_groups], D1[dead_groups]
        info -= (S1d * A2[dead_groups, None]).T @ S1d
        cross = (S1d * B2[dead_groups, None]).T @ D1d
        info += cross + cross.T
        info -= (D1d * C2[dead_groups, None]).T @ D1d
        return ll, grad, info

    beta = np.zeros(p) if initial_point is None else np.asarray(initial_point, dtype=float).copy()
    ll, grad, info = evaluate(beta)
    it = 0
    flat = 0  # iterations in a row in which the log-likelihood no longer moved
    for it in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError as exc:
            raise ValueError(f"cox_efron_newton: singular information matrix ({exc})") from exc
        new_ll, _, _ = evaluate(beta + step, need_hessian=False)
        halvings = 0
        while not np.isfinite(new_ll) or new_ll < ll - 1e-12:
            step /= 2
            halvings += 1
            if halvings > 30:
                raise ValueError("cox_efron_newton: step halving failed")
            new_ll, _, _ = evaluate(beta + step, need_hessian=False)
        beta = beta + step
        prev_ll = ll
        ll, grad, info = evaluate(beta)
        if np.max(np.abs(step)) < tol:
            break
        # a flat likelihood (a covariate that nearly separates events) converges in the
        # log-likelihood long before the coefficients settle: stop when it no longer moves
        flat = flat + 1 if abs(ll - prev_ll) <= 1e-10 * max(1.0, abs(ll)) else 0
        if flat >= 3:
            break
    else:
        raise ValueError(f"cox_efron_newton: no convergence in {max_iter} iterations")
    cov = np.linalg.inv(info)
    return EfronFit(beta=beta, se=np.sqrt(np.diag(cov)), cov=cov, log_likelihood=ll, iterations=it)


def _risk_weight(A: np.ndarray, g_of: np.ndarray, g_stratum: np.ndarray, n_strata: int) -> np.ndarray:
    """Per person: sum of A over the groups of the same stratum at or before the person's week
    (the event weeks whose risk set contains the person)."""
    cum = np.empty_like(A)
    for s_ in range(n_strata):
        m = g_stratum == s_
        cum[m] = A[m].cumsum()
    return cum[g_of]


def stratified_concordance(duration: NDArray[np.int64], eta: FloatArray, event: NDArray[np.int64], strata: NDArray[np.int64]) -> float:
    """Harrell's C of the linear predictor with pairs compared only within a stratum, as R's
    ``coxph`` and lifelines report it for a stratified model (lifelines' pair counter)."""
    from lifelines.utils.concordance import _concordance_summary_statistics

    correct = tied = pairs = 0.0
    for s in np.unique(strata):
        m = strata == s
        if m.sum() < 2:
            continue
        c, t, p = _concordance_summary_statistics(duration[m], -eta[m], event[m])
        correct, tied, pairs = correct + c, tied + t, pairs + p
    return float((correct + tied / 2) / pairs) if pairs else float("nan")


def fit_expected_model(
    X: FloatArray,
    terms: list[str],
    duration: NDArray[np.int64],
    event: NDArray[np.int64],
    strata: NDArray[np.int64],
    horizon: int,
    *,
    initial_point: FloatArray | None = None,  # coefficients on the original scale
    keep_fitter: bool = True,
    engine: str = "numpy",
) -> ExpectedModel:
    """Fit the stratified Efron Cox model and the Breslow baseline per stratum.

    ``engine="numpy"`` (default) uses ``cox_efron_newton``: Newton-Raphson to a step below
    1e-12, which agrees with R's ``coxph(ties = "efron")`` to about 1e-10 in the coefficients
    (``tests/data/r_coxph``); with ``keep_fitter`` the concordance index is computed
    (``stratified_concordance``).
    ``engine="lifelines"`` uses ``CoxPHFitter`` (its default convergence left coefficients
    about 1e-5 from R's) and is kept as a cross-check. Raises
    ValueError when the fit does not converge (typically a covariate that separates events
    perfectly, or collinear covariates), naming the terms.
    """
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    strata_values = np.unique(strata)
    sidx = _stratum_index(strata_values, strata)
    centre = X.mean(axis=0)
    if engine == "numpy":
        try:
            fit = cox_efron_newton(X, duration, event, strata, initial_point)
        except ValueError as exc:
            raise ValueError(f"the Cox model of {len(terms)} terms {terms} did not converge: {exc}") from exc
        beta, se, cov, ll, cph = fit.beta, fit.se, fit.cov, fit.log_likelihood, None
        concordance = stratified_concordance(duration, X @ beta, event, strata) if keep_fitter else float("nan")
    elif engine == "lifelines":
        frame = pd.DataFrame(X, columns=terms)
        frame["_T"] = duration
        frame["_E"] = event
        frame["_S"] = strata
        init = None
        if initial_point is not None:
            # lifelines iterates on standardised covariates and updates the start vector in
            # place: pass a fresh copy on that scale.
            init = np.asarray(initial_point, dtype=float) * X.std(axis=0, ddof=1)
        cph = CoxPHFitter()
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                cph.fit(frame, duration_col="_T", event_col="_E", strata=["_S"], initial_point=init)
            except (ConvergenceError, ConvergenceWarning) as exc:
                raise ValueError(
                    f"the Cox model of {len(terms)} terms {terms} did not converge: {exc}"
                ) from exc
        beta = cph.params_.reindex(terms).to_numpy(dtype=float)
        se = cph.standard_errors_.reindex(terms).to_numpy(dtype=float)
        cov = cph.variance_matrix_.reindex(index=terms, columns=terms).to_numpy(dtype=float)
        ll = float(cph.log_likelihood_)
        concordance = float(cph.concordance_index_) if keep_fitter else float("nan")
        cph = cph if keep_fitter else None
    else:
        raise ValueError(f"fit_expected_model: engine {engine!r} is not 'lifelines' or 'numpy'")
    eta = (X - centre) @ beta
    base = breslow_baseline(eta, duration, event, sidx, strata_values.size, horizon)
    return ExpectedModel(
        terms=list(terms),
        beta=beta,
        se=se,
        cov=cov,
        centre=centre,
        strata=strata_values,
        base_cumhaz=base,
        horizon=horizon,
        log_likelihood=ll,
        concordance=concordance,
        fitter=cph,
    )


@dataclass(frozen=True)
class PersonExpected:
    """Per-person predictions of an expected model."""

    eta: FloatArray  # linear predictor (centred covariates)
    cumhaz_at_t: FloatArray  # E_i = H0_s(T_i) exp(eta_i): expected events, for O/E
    rmst: FloatArray  # expected restricted mean time to success to the horizon
    risk_at_horizon: FloatArray  # 1 - S_i(horizon): predicted probability of success


def predict_expected(
    model: ExpectedModel, X: FloatArray, duration: NDArray[np.int64], strata: NDArray[np.int64], chunk: int = 50_000
) -> PersonExpected:
    """Expected cumulative hazard at the observed time and expected RMST per person."""
    sidx = _stratum_index(model.strata, strata)
    if np.any(duration > model.horizon) or np.any(duration < 1):
        raise ValueError("durations must lie in 1..horizon (censor at the horizon first)")
    eta = model.linear_predictor(X)
    risk = np.exp(eta)
    h = model.horizon
    cum_t = model.base_cumhaz[sidx, duration] * risk
    rmst = np.empty(eta.size)
    for start in range(0, eta.size, chunk):
        sl = slice(start, start + chunk)
        base = model.base_cumhaz[sidx[sl], :h]  # H0 at k = 0..h-1
        rmst[sl] = np.exp(-base * risk[sl, None]).sum(axis=1)
    risk_h = 1.0 - np.exp(-model.base_cumhaz[sidx, h] * risk)
    return PersonExpected(eta=eta, cumhaz_at_t=cum_t, rmst=rmst, risk_at_horizon=risk_h)


def log_expected_jacobian(
    model: ExpectedModel, X: FloatArray, duration: NDArray[np.int64], event: NDArray[np.int64],
    strata: NDArray[np.int64], unit_index: NDArray[np.int64], n_units: int, step: float = 1e-5,
) -> FloatArray:
    """d log E_j / d beta [unit, term], by central differences through the Breslow baseline.

    E_j = sum over the unit's persons of H0_s(T_i; beta) exp(x_i' beta): both the baseline and
    the linear predictor move with beta, and every unit's E moves with the same beta, which is
    why the units' estimates are correlated (``J cov(beta) J'``).
    """
    sidx = _stratum_index(model.strata, strata)
    Xc = X - model.centre
    out = np.zeros((n_units, model.beta.size))
    for k in range(model.beta.size):
        vals = []
        for sign in (1.0, -1.0):
            b = model.beta.copy()
            b[k] += sign * step
            eta = Xc @ b
            base = breslow_baseline(eta, duration, event, sidx, model.strata.size, model.horizon)
            e_i = base[sidx, duration] * np.exp(eta)
            vals.append(np.log(np.bincount(unit_index, weights=e_i, minlength=n_units)))
        out[:, k] = (vals[0] - vals[1]) / (2 * step)
    return out
