"""Hand-computable cases for the benchmark's statistical building blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from kommunebench.benchmark.stats import (
    benjamini_hochberg,
    eb_shrink,
    fifth_of,
    garwood_interval,
    km_restricted_mean,
    random_effects,
    rank_of,
    simulate_ranks,
)


def test_garwood_matches_chi2_formula_and_poisson_tails():
    o = np.array([0, 1, 5, 37, 400])
    lo, hi = garwood_interval(o, level=0.90)
    a = 0.10
    assert lo[0] == 0.0
    np.testing.assert_allclose(lo[1:], stats.chi2.ppf(a / 2, 2 * o[1:]) / 2)
    np.testing.assert_allclose(hi, stats.chi2.ppf(1 - a / 2, 2 * (o + 1)) / 2)
    # defining property: P(X >= O | lower) = a/2 and P(X <= O | upper) = a/2
    np.testing.assert_allclose(stats.poisson.sf(o[1:] - 1, lo[1:]), a / 2, rtol=1e-8)
    np.testing.assert_allclose(stats.poisson.cdf(o, hi), a / 2, rtol=1e-8)
    # O = 0: upper = -log(a/2)
    assert hi[0] == pytest.approx(-math.log(a / 2))


def test_garwood_rejects_negative_counts():
    with pytest.raises(ValueError, match="observed"):
        garwood_interval([3, -1])


def test_km_restricted_mean_by_hand():
    # weeks: 1 event (n=5); 2 event + 1 censored (n=4); 3 event (n=2); 4 censored (n=1)
    t = np.array([1, 2, 2, 3, 4])
    e = np.array([1, 1, 0, 1, 0])
    km = km_restricted_mean(t, e, horizon=4)
    # S(0)=1, S(1)=0.8, S(2)=0.6, S(3)=0.3 -> RMST = 2.7
    np.testing.assert_allclose(km.survival[:4], [1.0, 0.8, 0.6, 0.3])
    assert km.rmst == pytest.approx(2.7)
    # A_1 = 1.7, A_2 = 0.9, A_3 = 0.3; var = 1.7^2/(5*4) + 0.9^2/(4*3) + 0.3^2/(2*1)
    assert km.se == pytest.approx(math.sqrt(2.89 / 20 + 0.81 / 12 + 0.09 / 2))
    # restricting to 2 weeks: S(0) + S(1)
    assert km_restricted_mean(t, e, horizon=2).rmst == pytest.approx(1.8)


def test_km_censors_at_the_horizon():
    t = np.array([1, 10, 10])
    e = np.array([1, 1, 1])  # events after the horizon count as censored at it
    km = km_restricted_mean(t, e, horizon=5)
    assert km.rmst == pytest.approx(1 + 4 * 2 / 3)


def test_km_rejects_bad_input():
    with pytest.raises(ValueError, match="whole weeks"):
        km_restricted_mean(np.array([0, 2]), np.array([1, 0]), 4)
    with pytest.raises(ValueError, match="0/1"):
        km_restricted_mean(np.array([1, 2]), np.array([2, 0]), 4)


def test_tau2_dl_and_reml_by_hand():
    y = np.array([0.0, 2.0, 4.0])
    v = np.ones(3)
    # DL: Q = 8, k - 1 = 2, sum w - sum w^2 / sum w = 3 - 1 = 2 -> tau2 = 3
    assert random_effects(y, v, method="DL").tau2 == pytest.approx(3.0)
    # REML with equal v: tau2 = sample variance - v = 4 - 1 = 3
    fit = random_effects(y, v, method="REML")
    assert fit.tau2 == pytest.approx(3.0, abs=1e-6)
    assert fit.beta[0] == pytest.approx(2.0)
    assert fit.beta_se[0] == pytest.approx(math.sqrt(4.0 / 3.0), rel=1e-5)


def test_tau2_zero_when_estimates_agree_more_than_chance():
    y = np.array([0.1, -0.1, 0.05, -0.05])
    v = np.full(4, 0.5)
    assert random_effects(y, v, method="DL").tau2 == 0.0
    assert random_effects(y, v, method="REML").tau2 == 0.0


def test_meta_regression_moderator_removes_tau2():
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    v = np.full(60, 0.01)
    y = 0.3 * x + rng.normal(0, 0.1, 60)  # sampling sd 0.1: no residual heterogeneity
    without = random_effects(y, v)
    with_x = random_effects(y, v, np.column_stack([np.ones(60), x]))
    assert without.tau2 > 0.05
    assert with_x.tau2 < 0.01
    assert with_x.beta[1] == pytest.approx(0.3, abs=0.05)


def test_eb_shrinkage_formula():
    r = np.array([0.4, 0.4, -0.2])
    s = np.array([0.1, 0.3, 0.2])
    b, post, sd = eb_shrink(r, s, tau2=0.01)
    np.testing.assert_allclose(b, [0.5, 0.1, 0.2])
    np.testing.assert_allclose(post, [0.2, 0.04, -0.04])
    np.testing.assert_allclose(sd, np.sqrt([0.5 * 0.01, 0.1 * 0.09, 0.2 * 0.04]))
    b0, post0, sd0 = eb_shrink(r, s, tau2=0.0)
    assert np.all(post0 == 0) and np.all(sd0 == 0) and np.all(b0 == 0)
    # with the tau2-uncertainty term: var = B s^2 + 2/(k-2) (1-B)^2 r^2
    _, post_k, sd_k = eb_shrink(r, s, tau2=0.01, k=12)
    np.testing.assert_allclose(post_k, post)
    np.testing.assert_allclose(sd_k**2, sd**2 + 0.2 * np.array([0.25, 0.81, 0.64]) * r**2)
    with pytest.raises(ValueError, match="k must be"):
        eb_shrink(r, s, 0.01, k=2)


def test_benjamini_hochberg_as_r_p_adjust():
    # p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])
    q2 = benjamini_hochberg([0.5, np.nan, 0.9])
    assert np.isnan(q2[1]) and q2[0] == pytest.approx(0.9) and q2[2] == pytest.approx(0.9)


def test_rank_and_fifth():
    np.testing.assert_array_equal(rank_of([0.1, 0.5, -0.2, 0.3]), [3, 1, 4, 2])
    np.testing.assert_array_equal(fifth_of([1, 2, 3, 10], 10), [1, 1, 2, 5])


def test_rank_simulation_separated_units_have_certain_ranks():
    mean = np.linspace(1.0, -1.0, 10)  # unit 0 best
    sim = simulate_ranks(mean, np.full(10, 1e-4), n_sim=500, level=0.9, seed=1)
    np.testing.assert_array_equal(sim.rank, np.arange(1, 11))
    np.testing.assert_array_equal(sim.rank_lower, np.arange(1, 11))
    np.testing.assert_array_equal(sim.rank_upper, np.arange(1, 11))
    np.testing.assert_allclose(sim.p_top_fifth, [1, 1] + [0] * 8)
    np.testing.assert_allclose(sim.p_bottom_fifth, [0] * 8 + [1, 1])


def test_rank_simulation_exchangeable_units_are_uniform():
    n = 20
    sim = simulate_ranks(np.zeros(n), np.ones(n), n_sim=20_000, level=0.9, seed=2)
    np.testing.assert_allclose(sim.p_top_fifth, 0.2, atol=0.02)
    np.testing.assert_allclose(sim.rank_mean, (n + 1) / 2, atol=0.3)
    assert np.all(sim.rank_lower <= 2) and np.all(sim.rank_upper >= n - 1)
    assert sim.p_top_fifth.sum() == pytest.approx(n // 5)


def test_rank_simulation_interval_widens_with_uncertainty():
    mean = np.linspace(0.5, -0.5, 30)
    narrow = simulate_ranks(mean, np.full(30, 0.02), 2000, 0.9, 3)
    wide = simulate_ranks(mean, np.full(30, 0.3), 2000, 0.9, 3)
    assert np.all((wide.rank_upper - wide.rank_lower) >= (narrow.rank_upper - narrow.rank_lower))
    assert np.all((narrow.rank_lower <= narrow.rank) & (narrow.rank <= narrow.rank_upper))


def test_ties_share_a_rank_and_are_broken_at_random_in_simulation():
    np.testing.assert_array_equal(rank_of([0.0, 0.0, 0.0, 0.0, 0.0]), [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(rank_of([0.3, 0.1, 0.1, 0.0]), [1, 2, 2, 4])
    # every unit equal and certain: each is in the top fifth one time in five, whatever its row
    sim = simulate_ranks(np.zeros(10), np.zeros(10), n_sim=20_000, level=0.9, seed=4)
    np.testing.assert_allclose(sim.p_top_fifth, 0.2, atol=0.02)
