"""The expected model's Cox fit (the project's Efron fitter, lifelines as a cross-check) and the
Breslow baseline against R's survival::coxph (Efron ties, strata).

Reference values were computed once with R (tests/data/r_coxph/coxph_efron.R, R 4.2.2,
survival 3.5.3) on the committed synthetic data set; R is not needed to run these tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kommunebench.benchmark.model import (
    cox_efron_newton,
    design_matrix,
    design_spec,
    fit_expected_model,
    predict_expected,
)
from kommunebench.benchmark.simulate import CATEGORICAL, FRAMEWORK, NUMERIC
from kommunebench.benchmark.stats import km_restricted_mean

DATA = Path(__file__).parents[1] / "data" / "r_coxph"


@pytest.fixture(scope="module")
def fitted():
    persons = pd.read_csv(DATA / "persons.csv")
    spec = design_spec(persons, NUMERIC + FRAMEWORK, CATEGORICAL)
    X = design_matrix(persons, spec)
    t = persons["duration"].to_numpy()
    e = persons["event"].to_numpy()
    s = persons["cohort_year"].to_numpy()
    model = fit_expected_model(X, spec.terms, t, e, s, horizon=104)
    return persons, spec, X, model


def test_coefficients_and_standard_errors_match_r(fitted):
    """The main fit (default engine) agrees with R's coxph to 1e-6 in every coefficient."""
    _, spec, _, model = fitted
    ref = pd.read_csv(DATA / "coxph_coefficients.csv").set_index("term")
    assert sorted(ref.index) == sorted(spec.terms)
    np.testing.assert_allclose(model.beta, ref.loc[spec.terms, "coef"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.se, ref.loc[spec.terms, "se"], rtol=0, atol=1e-6)


def test_lifelines_cross_check_agrees_with_r_to_its_tolerance(fitted):
    persons, spec, X, model = fitted
    t, e, s = persons["duration"].to_numpy(), persons["event"].to_numpy(), persons["cohort_year"].to_numpy()
    ll = fit_expected_model(X, spec.terms, t, e, s, horizon=104, engine="lifelines")
    ref = pd.read_csv(DATA / "coxph_coefficients.csv").set_index("term")
    np.testing.assert_allclose(ll.beta, ref.loc[spec.terms, "coef"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(ll.beta, model.beta, rtol=0, atol=1e-4)


def test_log_likelihood_and_concordance_match_r(fitted):
    _, _, _, model = fitted
    ref = pd.read_csv(DATA / "coxph_fit.csv").iloc[0]
    assert model.log_likelihood == pytest.approx(ref["loglik"], abs=1e-4)
    assert model.concordance == pytest.approx(ref["concordance"], abs=1e-6)


def test_expected_events_match_r_breslow_baseline(fitted):
    persons, _, X, model = fitted
    pe = predict_expected(model, X, persons["duration"].to_numpy(), persons["cohort_year"].to_numpy())
    ours = pd.Series(pe.cumhaz_at_t).groupby(persons["kom"].to_numpy()).sum()
    ref = pd.read_csv(DATA / "coxph_expected_by_kom.csv").set_index("kom")
    np.testing.assert_allclose(ours.loc[ref.index], ref["expected_breslow"], rtol=1e-4)
    # R's default (Efron-type) baseline differs slightly at tied weeks, Breslow sums to O exactly
    assert ours.sum() == pytest.approx(ref["event"].sum(), rel=1e-10)


def test_km_restricted_mean_matches_r_survfit(fitted):
    persons = fitted[0]
    ref = pd.read_csv(DATA / "km_rmean_by_kom.csv").set_index("kom")
    for kom, grp in persons.groupby("kom"):
        km = km_restricted_mean(grp["duration"].to_numpy(), grp["event"].to_numpy(), 104)
        assert km.rmst == pytest.approx(ref.loc[kom, "rmean"], abs=1e-8)
        assert km.se == pytest.approx(ref.loc[kom, "se_rmean"], abs=1e-8)


def test_numpy_efron_fitter_matches_r_and_lifelines(fitted):
    persons, spec, X, model = fitted
    t = persons["duration"].to_numpy()
    e = persons["event"].to_numpy()
    s = persons["cohort_year"].to_numpy()
    fit = cox_efron_newton(X, t, e, s)
    ref = pd.read_csv(DATA / "coxph_coefficients.csv").set_index("term")
    np.testing.assert_allclose(fit.beta, ref.loc[spec.terms, "coef"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.se, ref.loc[spec.terms, "se"], rtol=0, atol=1e-8)
    assert fit.log_likelihood == pytest.approx(pd.read_csv(DATA / "coxph_fit.csv")["loglik"][0], abs=1e-8)
    np.testing.assert_allclose(fit.beta, model.beta, atol=1e-4)
    # the numpy engine gives the same expected model
    m2 = fit_expected_model(X, spec.terms, t, e, s, 104, engine="numpy", initial_point=model.beta)
    np.testing.assert_allclose(m2.beta, fit.beta, atol=1e-9)
    np.testing.assert_allclose(m2.base_cumhaz, model.base_cumhaz, rtol=1e-4)
