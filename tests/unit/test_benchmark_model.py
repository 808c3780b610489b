"""The expected model: design, O/E invariant, restricted means from the baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kommunebench.benchmark.model import (
    ExpectedModel,
    design_matrix,
    design_spec,
    fit_expected_model,
    predict_expected,
)
from kommunebench.benchmark.simulate import simulate_benchmark_data


@pytest.fixture(scope="module")
def sim():
    return simulate_benchmark_data(6000, n_muni=30, seed=11)


def test_sum_expected_equals_sum_observed_per_stratum(sim):
    p = sim.persons
    spec = design_spec(p, sim.numeric + sim.framework, sim.categorical)
    X = design_matrix(p, spec)
    t, e, s = p["duration"].to_numpy(), p["event"].to_numpy(), p["cohort_year"].to_numpy()
    model = fit_expected_model(X, spec.terms, t, e, s, horizon=104)
    pe = predict_expected(model, X, t, s)
    assert pe.cumhaz_at_t.sum() == pytest.approx(e.sum(), rel=1e-10)
    for year in np.unique(s):
        m = s == year
        assert pe.cumhaz_at_t[m].sum() == pytest.approx(e[m].sum(), rel=1e-10)
    # expected restricted means lie within (0, horizon] and fall with the linear predictor
    assert np.all((pe.rmst > 0) & (pe.rmst <= 104))
    same = s == s[0]
    order = np.argsort(pe.eta[same])
    assert np.all(np.diff(pe.rmst[same][order]) <= 1e-9)
    # the true coefficients are recovered roughly
    coef = dict(zip(spec.terms, model.beta))
    assert coef["female"] == pytest.approx(-0.35, abs=0.12)
    assert coef["age"] == pytest.approx(-0.025, abs=0.006)


def test_restricted_mean_from_baseline_by_hand():
    # one stratum, H0(0..2) = 0, 0.1, 0.3; a person with eta = 0 and one with eta = log 2
    model = ExpectedModel(
        terms=["x"], beta=np.array([1.0]), se=np.array([0.1]), cov=np.array([[0.01]]), centre=np.array([0.0]),
        strata=np.array([2015]), base_cumhaz=np.array([[0.0, 0.1, 0.3]]), horizon=2,
        log_likelihood=0.0, concordance=0.5, fitter=None,
    )
    X = np.array([[0.0], [math.log(2.0)]])
    pe = predict_expected(model, X, np.array([2, 1]), np.array([2015, 2015]))
    # RMST = S(0) + S(1) = 1 + exp(-0.1 * exp(eta))
    np.testing.assert_allclose(pe.rmst, [1 + math.exp(-0.1), 1 + math.exp(-0.2)])
    # expected cumulative hazard at the observed time: H0(T) exp(eta)
    np.testing.assert_allclose(pe.cumhaz_at_t, [0.3, 0.2])
    np.testing.assert_allclose(pe.risk_at_horizon, [1 - math.exp(-0.3), 1 - math.exp(-0.6)])
    with pytest.raises(ValueError, match="stratum"):
        predict_expected(model, X, np.array([1, 1]), np.array([2015, 2016]))
    with pytest.raises(ValueError, match="horizon"):
        predict_expected(model, X, np.array([3, 1]), np.array([2015, 2015]))


def test_design_reference_level_is_most_frequent():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "y", "z"]})
    spec = design_spec(df, ["a"], ["c"])
    assert spec.categorical["c"] == ("y", ("x", "z"))
    assert spec.terms == ["a", "c[x]", "c[z]"]
    np.testing.assert_array_equal(design_matrix(df, spec)[:, 1:], [[1, 0], [0, 0], [0, 0], [0, 1]])


@pytest.mark.parametrize(
    ("frame", "numeric", "categorical", "message"),
    [
        (pd.DataFrame({"a": [1.0, 2.0]}), ["b"], [], "not in the persons frame"),
        (pd.DataFrame({"a": [1.0, np.nan]}), ["a"], [], "missing values"),
        (pd.DataFrame({"a": [1.0, 1.0]}), ["a"], [], "constant"),
        (pd.DataFrame({"a": ["u", "v"]}), ["a"], [], "not numeric"),
        (pd.DataFrame({"a": [1.0, 2.0], "c": ["x", "x"]}), ["a"], ["c"], "single level"),
        (pd.DataFrame({"a": [1.0, 2.0]}), ["a"], ["a"], "twice"),
    ],
)
def test_design_rejects_bad_covariates(frame, numeric, categorical, message):
    with pytest.raises(ValueError, match=message):
        design_spec(frame, numeric, categorical)


def test_simulated_data_schema_and_truth(sim):
    p = sim.persons
    expected_cols = {"PNR", "cohort_year", "kom", "duration", "event", *sim.numeric, *sim.framework, *sim.categorical}
    assert expected_cols == set(p.columns)
    assert p["PNR"].is_unique and p["PNR"].map(type).eq(str).all()
    assert p["duration"].between(1, 104).all() and p["event"].isin([0, 1]).all()
    assert 0.25 < p["event"].mean() < 0.40
    assert len(sim.truth) == 30 and sim.truth["persons"].sum() == len(p)
    counts = p["kom"].value_counts()
    assert (sim.truth.set_index("kom")["persons"] == counts.reindex(sim.truth["kom"]).to_numpy()).all()
    again = simulate_benchmark_data(6000, n_muni=30, seed=11)
    pd.testing.assert_frame_equal(again.persons, p)


def test_ph_test_reports_untestable_terms():
    from kommunebench.benchmark.diagnostics import ph_test_table

    rng = np.random.default_rng(1)
    n = 400
    X = np.column_stack([rng.normal(size=n), np.ones(n)])
    t = rng.integers(1, 50, n)
    e = rng.integers(0, 2, n)
    out = ph_test_table(X, ["a", "const"], t, e, np.full(n, 2015), max_persons=300, seed=1)
    assert list(out["term"]) == ["a", "const"]
    assert np.isfinite(out.loc[0, "p"]) and out.loc[0, "note"] == ""
    assert np.isnan(out.loc[1, "p"]) and out.loc[1, "note"] == "constant in the subsample"
    assert (out["n_persons"] == 300).all()
