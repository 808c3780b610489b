"""run_benchmark end to end on simulated data with planted municipality effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kommunebench.benchmark import (
    CLASSES,
    JOB_CENTRE_POOLS,
    BenchmarkSettings,
    headline_pct,
    run_benchmark,
    simulate_benchmark_data,
    unit_map,
)
from kommunebench.benchmark.bootstrap import BootstrapData, one_replicate

N = 20_000
SEED = 5
FAST = dict(n_draws=1000, n_rank_sim=1000)


def _planted():
    base = simulate_benchmark_data(N, seed=SEED)
    big = base.truth.sort_values("persons", ascending=False)["kom"].tolist()
    # strong effects in the two largest units, a null effect in the third
    return {big[0]: 0.6, big[1]: -0.6, big[2]: 0.0}


@pytest.fixture(scope="module")
def planted():
    return _planted()


@pytest.fixture(scope="module")
def sim(planted):
    s = simulate_benchmark_data(N, seed=SEED, planted=planted)
    p = s.persons
    # make one municipality too small to rank: keep 8 of its persons
    small = s.truth.sort_values("persons")["kom"].iloc[40]
    drop = p.index[p["kom"] == small][8:]
    return s, p.drop(index=drop).reset_index(drop=True), small


@pytest.fixture(scope="module")
def result(sim):
    s, persons, _ = sim
    return run_benchmark(persons, s.numeric, s.categorical, s.framework, BenchmarkSettings(**FAST))


def _row(league, kom):
    return league.set_index("kom").loc[kom]


def test_league_table_invariants(result, sim):
    L = result.league_table
    s, persons, _ = sim
    assert len(L) == persons["kom"].nunique() == 98
    assert L["persons"].sum() == len(persons) == result.n
    assert L["events_observed"].sum() == persons["event"].sum() == result.events
    assert L["events_expected"].sum() == pytest.approx(L["events_observed"].sum(), rel=1e-9)
    assert set(L["class"]) <= set(CLASSES)
    np.testing.assert_allclose(L["oe_ratio"], L["events_observed"] / L["events_expected"])
    assert (L["oe_lo"] <= L["oe_ratio"]).all() and (L["oe_ratio"] <= L["oe_hi"]).all()
    # one headline scale: the bounded, symmetric reading of log(O/E)
    np.testing.assert_allclose(L["indicator_pct"], headline_pct(np.log(L["oe_ratio"].to_numpy())))
    assert (np.sign(L["hazard_pct"]) == np.sign(L["indicator_pct"])).all()
    for c in [c for c in L.columns if c.startswith(("indicator_pct", "vs_peers_pct"))]:
        assert (L[c].dropna().abs() <= 100).all(), c
    np.testing.assert_allclose(L["weeks_difference"], L["rmst_expected"] - L["rmst_observed"])
    np.testing.assert_allclose(L["rmst_pct"], 100 * L["weeks_difference"] / L["rmst_expected"])
    # weeks and persons move with the estimate through the expected model
    assert (np.sign(L["weeks_faster"]) == np.sign(L["log_oe"])).all()
    assert (np.sign(L["gap_persons"]) == np.sign(L["log_oe"])).all()
    ranked = L[~L["too_small"]]
    # shrinkage pulls towards 0, more for small units
    assert (ranked["log_oe_shrunken"].abs() <= ranked["log_oe"].abs() + 0.05).all()
    pull = 1 - ranked["log_oe_shrunken"] / ranked["log_oe"]
    assert np.corrcoef(pull.clip(-1, 2), ranked["events_observed"])[0, 1] < -0.3
    assert (ranked["indicator_pct_shrunken_lo"] <= ranked["indicator_pct_shrunken"]).all()
    assert (ranked["indicator_pct_shrunken"] <= ranked["indicator_pct_shrunken_hi"]).all()
    # fifths: 1..5 of about equal size among ranked units
    assert result.distinguishable
    counts = ranked["fifth"].value_counts().sort_index()
    assert list(counts.index) == [1, 2, 3, 4, 5] and counts.max() - counts.min() <= 1
    assert (ranked["rank_lo"] <= ranked["rank_hi"]).all()
    assert (ranked["rank_sim_lo"] <= ranked["rank_sim_hi"]).all()
    assert ranked["p_top_fifth"].sum() == pytest.approx(len(ranked) // 5)
    # classes follow their rules
    band = 100 * 0.05
    for _, r in ranked.iterrows():
        if r["class"] == "better":
            assert r["q_value"] <= 0.10 and r["log_oe"] > 0 and r["indicator_pct_lo"] > 0
        elif r["class"] == "worse":
            assert r["q_value"] <= 0.10 and r["log_oe"] < 0 and r["indicator_pct_hi"] < 0
        elif r["class"] == "as_expected":
            assert -band <= r["indicator_pct_lo"] and r["indicator_pct_hi"] <= band
        else:
            assert r["class"] == "not_distinguishable"
    # funnel limits widen with overdispersion
    assert (L["funnel_hi"] > np.exp(3.09 / np.sqrt(L["events_expected"])) - 1e-12).all()
    # the group's headline figures, on the posterior draws
    sm = result.summary
    assert sm["best_fifth_pct_lo"] <= sm["best_fifth_pct"] <= sm["best_fifth_pct_hi"]
    assert sm["worst_fifth_pct"] < 0 < sm["best_fifth_pct"]
    assert sm["n_better"] + sm["n_worse"] + sm["n_as_expected"] + sm["n_not_distinguishable"] == len(ranked)


def test_planted_strong_effects_are_found(result, planted):
    L = result.league_table
    best, worst, null = planted
    assert _row(L, best)["class"] == "better"
    assert _row(L, best)["fifth"] == 1 and bool(_row(L, best)["in_top_fifth_set"])
    assert _row(L, worst)["class"] == "worse"
    assert _row(L, worst)["fifth"] == 5 and bool(_row(L, worst)["in_bottom_fifth_set"])
    assert _row(L, null)["class"] in ("as_expected", "not_distinguishable")
    # at sd 0.10 with 20,000 persons almost every unit is indistinguishable (notes: 99 %)
    assert (L["class"] == "not_distinguishable").mean() > 0.6


def test_too_small_units_are_never_ranked(result, sim):
    L = result.league_table
    small = sim[2]
    row = _row(L, small)
    assert row["persons"] == 8 and bool(row["too_small"]) and row["class"] == "too_small"
    tiny = L[L["persons"] < 20]
    assert len(tiny) >= 1
    assert tiny["too_small"].all() and (tiny["class"] == "too_small").all()
    for col in ("rank", "rank_lo", "rank_hi", "rank_sim_lo", "rank_sim_hi", "fifth", "in_top_fifth_set"):
        assert tiny[col].isna().all()
    assert tiny["p_top_fifth"].isna().all() and tiny["q_value"].isna().all()
    assert L.loc[~L["too_small"], "rank"].notna().all()
    assert sorted(L["rank"].dropna().astype(int)) == list(range(1, int((~L["too_small"]).sum()) + 1))


def test_diagnostics(result, sim):
    coef = result.coefficients
    assert {"term", "coef", "se", "hr", "hr_lo", "hr_hi", "p"} <= set(coef.columns)
    assert (coef["hr_lo"] < coef["hr"]).all() and (coef["hr"] < coef["hr_hi"]).all()
    female = coef.set_index("term").loc["female"]
    assert female["hr_lo"] < np.exp(-0.35) < female["hr_hi"]
    cal = result.calibration
    assert len(cal) == 10 and cal["persons"].sum() == result.n
    assert cal["events_expected"].sum() == pytest.approx(result.events, rel=1e-9)
    assert cal["mean_predicted_risk"].is_monotonic_increasing
    assert (cal["oe_ratio"].between(0.8, 1.2)).all()
    assert set(result.ph_test.columns) >= {"term", "test_statistic", "p"}
    assert len(result.ph_test) == len(coef)
    assert 0.6 < result.concordance < 0.7
    aft = result.aft
    assert len(aft) == (~result.league_table["too_small"]).sum()
    assert 0.8 < result.weibull_shape < 1.05  # simulated shape 0.9
    merged = result.league_table.merge(aft[["kom", "log_time_ratio_net"]], on="kom")
    assert np.corrcoef(merged["log_oe"], -merged["log_time_ratio_net"])[0, 1] > 0.9
    assert 0.0 <= result.framework_share_explained <= 1.0
    assert result.tau2_with_framework <= result.tau2_without_framework
    fe = result.framework_effects.set_index("term")
    assert fe.loc["ledighed_pendling", "coef"] < 0  # planted -0.06 per point
    funnel = result.funnel
    assert (funnel["lower_outer_od"] < funnel["lower_outer"]).all()
    assert (funnel["upper_95"] < funnel["upper_outer"]).all()
    pe = result.person_expected
    assert len(pe) == result.n and pe["expected_cumhaz"].sum() == pytest.approx(result.events)


def test_pooling_job_centres(sim):
    s, persons, _ = sim
    res = run_benchmark(
        persons, s.numeric, s.categorical, s.framework,
        BenchmarkSettings(pool_job_centres=True, weibull_aft=False, **FAST),
    )
    L = res.league_table.set_index("kom")
    assert len(L) == 98 - 4
    for unit, members in JOB_CENTRE_POOLS.items():
        assert L.loc[unit, "members"] == ",".join(map(str, members))
        assert L.loc[unit, "persons"] == persons["kom"].isin(members).sum()
        assert all(m not in L.index for m in members if m != unit)
    assert L.loc[561, "unit_name"] == "Esbjerg-Fanø"
    assert L.loc[187, "unit_name"] == "Vallensbæk-Ishøj"
    np.testing.assert_array_equal(unit_map(np.array([563, 101, 183]), True), [561, 101, 187])
    np.testing.assert_array_equal(unit_map(np.array([563, 101]), False), [563, 101])


def test_partial_success_uses_the_same_machinery(sim):
    s, persons, _ = sim
    rng = np.random.default_rng(3)
    partial = persons.rename(columns={"duration": "duration_partial", "event": "event_partial"})
    # a different outcome: success recorded earlier for a random half
    partial["duration_partial"] = np.maximum(1, partial["duration_partial"] - rng.integers(0, 20, len(partial)))
    st = BenchmarkSettings(duration_col="duration_partial", event_col="event_partial", weibull_aft=False, **FAST)
    res = run_benchmark(partial, s.numeric, s.categorical, s.framework, st)
    L = res.league_table
    assert L["events_observed"].sum() == partial["event_partial"].sum()
    assert L["events_expected"].sum() == pytest.approx(L["events_observed"].sum(), rel=1e-9)
    np.testing.assert_allclose(L["hazard_pct"], 100 * (L["oe_ratio"] - 1))
    assert res.settings["event_col"] == "event_partial"
    with pytest.raises(ValueError, match="lacks columns"):
        run_benchmark(partial, s.numeric, s.categorical, s.framework, BenchmarkSettings())


def test_bad_input_is_named(sim):
    s, persons, _ = sim
    bad = persons.copy()
    bad.loc[0, "event"] = 2
    with pytest.raises(ValueError, match="event"):
        run_benchmark(bad, s.numeric, s.categorical, s.framework)
    dup = pd.concat([persons.iloc[:3], persons]).reset_index(drop=True)
    with pytest.raises(ValueError, match="one row per person"):
        run_benchmark(dup, s.numeric, s.categorical, s.framework)
    unknown = persons.copy()
    unknown.loc[0, "kom"] = 999
    with pytest.raises(ValueError, match="unknown municipality codes"):
        run_benchmark(unknown, s.numeric, s.categorical, s.framework)
    with pytest.raises(ValueError, match="band"):
        BenchmarkSettings(band=5)
    with pytest.raises(ValueError, match="n_draws"):
        BenchmarkSettings(n_draws=10)


def test_bootstrap_replicate_is_deterministic_and_resamples_within_units(sim, result):
    s, persons, _ = sim
    from kommunebench.benchmark.model import design_matrix, design_spec

    spec = design_spec(persons, s.numeric + s.framework, s.categorical)
    X = design_matrix(persons, spec)
    units = np.sort(persons["kom"].unique())
    data = BootstrapData(
        X=X, terms=spec.terms, duration=persons["duration"].to_numpy(), event=persons["event"].to_numpy(),
        strata=persons["cohort_year"].to_numpy(), unit_index=np.searchsorted(units, persons["kom"].to_numpy()),
        n_units=units.size, horizon=104, beta=result.coefficients["coef"].to_numpy(),
    )
    a = one_replicate(data, 7)
    b = one_replicate(data, 7)
    c = one_replicate(data, 8)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    L = result.league_table
    big = L["persons"].to_numpy() > 500
    # replicate log(O/E) scatter around the estimate with about its standard error
    dev = (a[0] - L["log_oe"].to_numpy())[big] / L["log_oe_se"].to_numpy()[big]
    assert np.abs(dev).max() < 5


def test_bootstrap_on_dask_local_cluster():
    s = simulate_benchmark_data(2000, n_muni=10, seed=9)
    st = BenchmarkSettings(bootstrap_replicates=20, dask_workers=1, weibull_aft=False, min_persons=10, **FAST)
    res = run_benchmark(s.persons, s.numeric, s.categorical, s.framework, st)
    L = res.league_table
    assert (L["bootstrap_replicates"] == 20).all() and res.bootstrap_workers == 1
    assert (L["indicator_pct_boot_lo"] <= L["indicator_pct_boot_hi"]).all()
    inside = (L["indicator_pct_boot_lo"] <= L["indicator_pct"]) & (L["indicator_pct"] <= L["indicator_pct_boot_hi"])
    assert inside.mean() >= 0.8


def test_dask_bootstrap_equals_serial_replicates():
    from kommunebench.benchmark.bootstrap import run_bootstrap
    from kommunebench.benchmark.model import design_matrix, design_spec, fit_expected_model

    s = simulate_benchmark_data(1500, n_muni=8, seed=4)
    p = s.persons
    spec = design_spec(p, s.numeric, s.categorical)
    X = design_matrix(p, spec)
    t, e, st = p["duration"].to_numpy(), p["event"].to_numpy(), p["cohort_year"].to_numpy()
    model = fit_expected_model(X, spec.terms, t, e, st, 104, engine="numpy")
    units = np.sort(p["kom"].unique())
    data = BootstrapData(
        X=X, terms=spec.terms, duration=t, event=e, strata=st,
        unit_index=np.searchsorted(units, p["kom"].to_numpy()), n_units=units.size, horizon=104, beta=model.beta,
    )
    boot = run_bootstrap(data, replicates=6, seed=11, workers=1)
    seeds = [int(q.generate_state(1)[0]) for q in np.random.SeedSequence(11).spawn(6)]
    for j in (0, 3, 5):
        log_oe, rmst_obs, rmst_exp = one_replicate(data, seeds[j])
        np.testing.assert_allclose(boot.log_oe[j], log_oe)
        np.testing.assert_allclose(boot.rmst_observed[j], rmst_obs)
    assert boot.log_oe.shape == (6, 8) and boot.workers == 1
    assert 0 < boot.startup_seconds <= boot.seconds


def test_zero_variance_produces_no_ranks_and_says_so():
    """No municipality effect at all: the interval of tau reaches 0, so there are no ranks, no
    fifths and no rank sets, only the statement that the units cannot be told apart."""
    s = simulate_benchmark_data(6000, sd_effect=0.0, seed=21)
    res = run_benchmark(s.persons, s.numeric, s.categorical, s.framework, BenchmarkSettings(weibull_aft=False, **FAST))
    L = res.league_table
    assert not res.distinguishable and res.tau_lo == 0.0
    assert not res.summary["distinguishable"]
    assert (~L["distinguishable"]).all()
    for col in ("rank", "rank_lo", "rank_hi", "rank_sim_lo", "rank_sim_hi", "fifth", "in_top_fifth_set", "in_bottom_fifth_set"):
        assert L[col].isna().all(), col
    # estimates and intervals are still there, and bounded
    ranked = L[~L["too_small"]]
    assert ranked["indicator_pct_shrunken_lo"].notna().all()
    assert (ranked["indicator_pct_lo"] >= -100).all()


def test_too_few_units_to_compare_is_reported_not_raised():
    """Fewer than five units pass the size limits: every unit is too small, nothing is ranked,
    and the summary says so instead of the run failing."""
    s = simulate_benchmark_data(800, n_muni=6, seed=2)
    res = run_benchmark(s.persons, s.numeric, s.categorical, s.framework,
                        BenchmarkSettings(min_persons=150, weibull_aft=False, **FAST))
    L = res.league_table
    assert L["too_small"].all() and (L["class"] == "too_small").all()
    assert L["rank"].isna().all() and not res.distinguishable
    assert res.summary["units_ranked"] < 5 and res.summary["n_too_small"] == len(L)
    assert L["indicator_pct"].notna().all()  # the units' own estimates stay
