"""Model diagnostics of the expected model: coefficients, calibration, proportional hazards."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from scipy.stats import norm

from kommunebench.benchmark.model import ExpectedModel, PersonExpected
from kommunebench.benchmark.stats import km_restricted_mean


def coefficient_table(model: ExpectedModel, level: float = 0.95) -> pd.DataFrame:
    """term, coef, se, hr = exp(coef), hr_lo/hr_hi = exp(coef -/+ z se), z = coef/se, p (Wald).

    The layout of R's ``summary(coxph)``; ``level`` is stored in ``ci_level``.
    """
    z = float(norm.ppf(0.5 + level / 2))
    wald = model.beta / model.se
    return pd.DataFrame(
        {
            "term": model.terms,
            "coef": model.beta,
            "se": model.se,
            "hr": np.exp(model.beta),
            "hr_lo": np.exp(model.beta - z * model.se),
            "hr_hi": np.exp(model.beta + z * model.se),
            "z": wald,
            "p": 2 * norm.sf(np.abs(wald)),
            "ci_level": level,
        }
    )


def calibration_table(
    duration: np.ndarray, event: np.ndarray, expected: PersonExpected, horizon: int, groups: int = 10
) -> pd.DataFrame:
    """Expected against observed events by group (decile) of predicted risk of success.

    Groups are quantiles of the predicted probability of success by the horizon,
    1 - S_i(horizon). Per group: persons, events_observed, events_expected (sum of E_i),
    oe_ratio, mean_predicted_risk and observed_risk = 1 - Kaplan-Meier S(horizon) of the group.
    A well calibrated model has oe_ratio near 1 and observed_risk near mean_predicted_risk in
    every group.
    """
    risk = expected.risk_at_horizon
    grp = pd.qcut(pd.Series(risk).rank(method="first"), groups, labels=False).to_numpy()
    rows = []
    for g in range(groups):
        m = grp == g
        km = km_restricted_mean(duration[m], event[m], horizon)
        o = float(event[m].sum())
        e = float(expected.cumhaz_at_t[m].sum())
        rows.append(
            {
                "risk_group": g + 1,
                "persons": int(m.sum()),
                "events_observed": o,
                "events_expected": e,
                "oe_ratio": o / e if e > 0 else np.nan,
                "mean_predicted_risk": float(risk[m].mean()),
                "observed_risk": float(1.0 - km.survival[horizon]),
            }
        )
    return pd.DataFrame(rows)


def ph_test_table(
    X: np.ndarray,
    terms: list[str],
    duration: np.ndarray,
    event: np.ndarray,
    strata: np.ndarray,
    max_persons: int,
    seed: int,
) -> pd.DataFrame:
    """Schoenfeld-residual test of proportional hazards per term (lifelines
    ``proportional_hazard_test``, rank time transform) on a random subsample of at most
    ``max_persons`` persons, refitted there (the test needs the fit on its own data).
    Columns: term, test_statistic (chi-square, 1 df), p, n_persons, note. A term that is
    constant in the subsample cannot be tested: its row has NaN and says so in ``note``.
    """
    from lifelines.statistics import proportional_hazard_test

    n = X.shape[0]
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, min(n, max_persons), replace=False))
    frame = pd.DataFrame(X[idx], columns=terms)
    frame["_T"] = duration[idx]
    frame["_E"] = event[idx]
    frame["_S"] = strata[idx]
    keep = [t for t in terms if frame[t].nunique() > 1]
    frame = frame[keep + ["_T", "_E", "_S"]]
    from lifelines.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # lifelines' advice printouts on the test are noise here; a failed fit must still show
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", ConvergenceWarning)
        cph = CoxPHFitter().fit(frame, duration_col="_T", event_col="_E", strata=["_S"])
        res = proportional_hazard_test(cph, frame, time_transform="rank")
    summary = res.summary.reset_index()
    first = summary.columns[0]
    out = pd.DataFrame(
        {
            "term": summary[first].astype(str).to_numpy(),
            "test_statistic": summary["test_statistic"].to_numpy(dtype=float),
            "p": summary["p"].to_numpy(dtype=float),
        }
    )
    out["note"] = ""
    dropped = [t for t in terms if t not in keep]
    if dropped:
        out = pd.concat(
            [out, pd.DataFrame({"term": dropped, "test_statistic": np.nan, "p": np.nan, "note": "constant in the subsample"})],
            ignore_index=True,
        )
    out["n_persons"] = idx.size
    return out
