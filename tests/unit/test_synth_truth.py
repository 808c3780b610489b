"""The planted truth on the benchmark's scale: counterfactual copies, effect laws, coverage.

A hand-sized world (a few thousand persons) is generated with the effects as planted and,
with the same seed, with every municipality effect 0. The counterfactual copies of the
first world must then reproduce the second world exactly wherever the effect could not
have acted before the clock started (refugees and family-reunified: they arrive at the
permit), and the truth must be exactly 0 when there is no effect at all.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

from kommunebench import refdata
from kommunebench.scales import headline_pct, theta_of_pct
from kommunebench.synth import generate
from kommunebench.synth.calendar import make_calendar
from kommunebench.synth.crng import CounterRNG
from kommunebench.synth.municipalities import (
    EFFECT_LAWS,
    framework_conditions,
    framework_log_hazard,
    load_municipalities,
    municipality_effects,
    standard_draws,
)
from kommunebench.synth.params import Behaviour
from kommunebench.synth.population import make_persons
from kommunebench.synth.process import (
    EG_FAM,
    EG_REF,
    EG_WEAK,
    NONE,
    PASSIVE,
    JOB,
    WeekStepper,
    assessment_values,
    make_rows,
    simulate_chunk,
    simulate_counterfactual,
    weak_assessment,
)
from kommunebench.synth.registers import assessments, sim_state_codes
from kommunebench.synth.truth import (
    TruthSettings,
    counterfactual_windows,
    delivered_windows,
    find_members,
    outcomes,
    state_lut,
)

SEED = 11


class World:
    """One chunk simulated with the generator's own pieces (as ``generate`` does)."""

    def __init__(self, n: int, beh: Behaviour, seed: int = SEED) -> None:
        self.cal = make_calendar(2008, 2018)
        self.munis = load_municipalities()
        rng_m = np.random.default_rng([seed, 1])
        fw = framework_conditions(self.munis, self.cal.years, rng_m)
        self.fw_lh = framework_log_hazard(fw)
        self.u_job, self.u_act = municipality_effects(
            self.munis.n, rng_m, job_sd=beh.job_effect_sd, activation_sd=beh.activation_effect_sd,
            rho_groups=beh.rho_groups, rho_job_activation=beh.rho_job_activation, law=beh.effect_law,
        )
        self.beh = beh
        self.p = make_persons(0, n, self.cal, self.munis, beh, np.random.default_rng([seed, 2, 0]), seed)
        values = assessment_values(self.p, self.cal, np.random.default_rng([seed, 4, 0]))
        self.weak_q = weak_assessment(values, self.cal)
        western = dict(zip(refdata.countries()["OPR_LAND"].to_list(), refdata.countries()["western"].to_list()))
        self.nonwestern = ~np.array([bool(western[int(c)]) for c in self.p.country])
        self.crng = CounterRNG(seed, 3)
        self.hist = simulate_chunk(self.p, self.cal, self.munis, self.u_job, self.u_act, self.fw_lh, beh,
                                   self.crng, self.weak_q, self.nonwestern)
        self.assess = assessments(values, self.hist, self.cal)
        self.ts = TruthSettings()
        self.lut = state_lut(sim_state_codes(), self.ts)
        self.members = find_members(self.p, self.hist, self.cal, self.assess, self.lut, self.nonwestern, self.ts)
        self.follow = np.array([self.ts.followup(int(g)) for g in self.members.group], np.int64)

    def delivered(self):
        s, j, v = delivered_windows(self.hist, self.cal, self.members, self.ts.window, self.lut)
        return outcomes(s, j, v, self.follow, self.lut, self.ts.run_length)

    def counterfactual(self, replicates: int = 1):
        fw = simulate_counterfactual(
            self.p, self.members.row, self.members.start_week, self.ts.window, self.cal, self.munis,
            self.u_job, self.u_act, self.fw_lh, self.beh, self.crng, self.weak_q, self.nonwestern,
            replicates=replicates, check_states=self.hist.states, redraw_fork_week=self.members.group != 0,
        )
        s, j, v = counterfactual_windows(fw, self.cal, self.lut)
        return fw, outcomes(s, j, v, self.follow[fw.member], self.lut, self.ts.run_length)


@pytest.fixture(scope="module")
def worlds():
    planted = Behaviour(job_effect_sd=(0.6, 0.6, 0.6), activation_effect_sd=(0.6, 0.6, 0.6))
    none = dataclasses.replace(planted, job_effect_sd=(0.0, 0.0, 0.0), activation_effect_sd=(0.0, 0.0, 0.0))
    return World(4000, planted), World(4000, none)


def test_every_group_has_members(worlds):
    w, _ = worlds
    counts = np.bincount(w.members.group, minlength=3)
    assert (counts > 50).all(), counts


def test_counterfactual_equals_a_world_without_effects_for_permit_groups(worlds):
    """Refugees and spouses meet the municipality at their permit, so their counterfactual
    copy is the same person simulated in a world whose effects are all 0."""
    w, w0 = worlds
    fw, cf = w.counterfactual()
    direct = w0.delivered()
    # the members of the effect-free world are the same persons only up to the fork; compare
    # the permit groups, whose membership does not depend on the effects
    key = lambda m: {(int(r), int(g)): i for i, (r, g) in enumerate(zip(m.row, m.group)) if g in (1, 2)}  # noqa: E731
    a, b = key(w.members), key(w0.members)
    common = sorted(set(a) & set(b))
    assert len(common) > 100 and len(common) == len(a) == len(b)
    ia = np.array([a[k] for k in common])
    ib = np.array([b[k] for k in common])
    for f in ("success_weeks", "success_event", "partial_weeks", "partial_event"):
        np.testing.assert_array_equal(getattr(cf, f)[ia], getattr(direct, f)[ib], err_msg=f)
    # and the planted effects did change some outcomes (the test could fail)
    one = w.delivered()
    assert (one.success_weeks[ia] != cf.success_weeks[ia]).mean() > 0.05


def test_without_effects_the_worlds_coincide_and_the_truth_is_zero(worlds):
    _, w0 = worlds
    fw, cf = w0.counterfactual(replicates=3)
    one = w0.delivered()
    zero0 = np.flatnonzero(fw.replicate == 0)
    np.testing.assert_array_equal(cf.success_weeks[zero0], one.success_weeks[fw.member[zero0]])
    for r in (1, 2):
        a = np.flatnonzero((fw.replicate == r) & (fw.world == 1))
        b = np.flatnonzero((fw.replicate == r) & (fw.world == 0))
        np.testing.assert_array_equal(cf.success_weeks[a], cf.success_weeks[b])
        np.testing.assert_array_equal(cf.partial_event[a], cf.partial_event[b])
        # fresh random numbers: the replicate differs from the delivered world
        assert (cf.success_weeks[a] != one.success_weeks[fw.member[a]]).any()


def test_generated_truth_is_deterministic_and_zero_without_effects(tmp_path):
    none = Behaviour(job_effect_sd=(0.0, 0.0, 0.0), activation_effect_sd=(0.0, 0.0, 0.0))
    generate(tmp_path / "a" / "landing", n_persons=2500, seed=5, progress=False, behaviour=none)
    t0 = pl.read_parquet(tmp_path / "a" / "truth" / "benchmark_truth.parquet")
    finite = t0.filter(pl.col("log_rate_ratio").is_finite())
    assert finite.height > 20
    assert finite["log_rate_ratio"].abs().max() < 1e-12
    assert finite["gap_persons"].abs().max() == 0 and finite["weeks_faster"].abs().max() < 1e-9

    generate(tmp_path / "b" / "landing", n_persons=2500, seed=5, progress=False)
    generate(tmp_path / "c" / "landing", n_persons=2500, seed=5, progress=False)
    tb = (tmp_path / "b" / "truth" / "benchmark_truth.parquet").read_bytes()
    assert tb == (tmp_path / "c" / "truth" / "benchmark_truth.parquet").read_bytes()
    generate(tmp_path / "d" / "landing", n_persons=2500, seed=6, progress=False)
    assert tb != (tmp_path / "d" / "truth" / "benchmark_truth.parquet").read_bytes()
    doc = json.loads((tmp_path / "b" / "truth" / "truth.json").read_text())
    assert doc["behaviour"]["effect_law"] == "normal"
    assert doc["benchmark_truth"]["replicates"] == 2
    reps = pl.read_parquet(tmp_path / "b" / "truth" / "benchmark_truth_replicates.parquet")
    assert set(reps["replicate"].to_list()) == {0, 1}
    one = reps.group_by(["KOM", "target_group", "measure"]).agg(pl.col("events").first().alias("e0"))
    tb_df = pl.read_parquet(tmp_path / "b" / "truth" / "benchmark_truth.parquet")
    joined = tb_df.join(one, on=["KOM", "target_group", "measure"])
    assert (joined["events_delivered"] == joined["e0"]).all()
    assert (tmp_path / "b" / "truth" / "framework_truth.parquet").is_file()
    # the oracle's expected count: the delivered exposure at the counterfactual rate of the fresh
    # replicates only (replicate 0's counterfactual shares the delivered world's random numbers)
    r = reps.to_pandas()
    r0 = r[r["replicate"] == 0].set_index(["KOM", "target_group", "measure"])
    r1 = r[r["replicate"] >= 1].groupby(["KOM", "target_group", "measure"])[["events_counterfactual", "exposure_counterfactual"]].sum()
    want = (r0["exposure"] * r1["events_counterfactual"] / r1["exposure_counterfactual"]).rename("want")
    got = tb_df.to_pandas().set_index(["KOM", "target_group", "measure"]).join(want)
    ok = np.isfinite(got["want"])
    assert ok.sum() > 20
    np.testing.assert_allclose(got.loc[ok, "expected_events_true"], got.loc[ok, "want"], rtol=1e-12)


def test_every_member_carries_the_effect_while_on_support(worlds):
    """Every week a member begins on public support within the follow-up, a municipality
    effect acts (the weeks in which the person leaves the country, dies, retires or goes on
    maternity leave are left out: those happen before any hazard acts)."""
    w, _ = worlds
    from kommunebench.synth.process import DEAD, EMIG, GONE, MATERN, PENSION

    m, L = w.members, w.ts.window
    weeks = m.start_week[:, None] + np.arange(1, L)[None, :]
    inside = (weeks < w.cal.n_weeks) & (np.arange(2, L + 1)[None, :] <= w.follow[:, None])
    wk = np.minimum(weeks, w.cal.n_weeks - 1)
    s = w.hist.states[np.minimum(m.start_week[:, None] + np.arange(L)[None, :], w.cal.n_weeks - 1), m.row[:, None]]
    support = w.lut.support[s[:, :-1]] & inside & ~np.isin(s[:, 1:], (EMIG, DEAD, GONE, PENSION, MATERN))
    acting = w.hist.effect[wk, m.row[:, None]]
    for g in range(3):
        sel = m.group == g
        assert support[sel].sum() > 1000
        missing = int((support[sel] & ~acting[sel]).sum())
        assert missing == 0, (g, missing)


def test_effect_group_rule():
    """Unit test of who carries which group's effect in a week."""
    beh = Behaviour()
    cal = make_calendar(2008, 2018)
    munis = load_municipalities()
    p = make_persons(0, 400, cal, munis, beh, np.random.default_rng(3), 3)
    q = cal.n_weeks // 2
    weak_q = np.ones((p.n, len(cal.quarters)), bool)
    rows = make_rows(p, cal, beh, weak_q, np.ones(p.n, bool))
    stepper = WeekStepper(cal, munis, np.zeros((munis.n, 3)), np.zeros((munis.n, 3)), np.zeros((munis.n, 11)), beh, CounterRNG(1))
    t = q
    day = int(cal.week_monday[t])
    rows.immig[:] = True
    rows.nonwestern_immigrant[:] = True
    rows.group[:] = 5  # refugees
    rows.arrival_ymd[:] = 0
    # arrived a year ago, on passive support: the refugees' effect
    from kommunebench.synth.process import _ymd

    rows.arrival_ymd[:] = _ymd(np.full(p.n, day - 365))
    rows.state[:] = PASSIVE
    in_prog = np.zeros(p.n, bool)
    assert (stepper.effect_group(rows, t, in_prog) == EG_REF).all()
    # not on support and not in the programme: no effect; in the programme: the effect
    rows.state[:] = NONE
    assert (stepper.effect_group(rows, t, in_prog) == stepper.none_group).all()
    assert (stepper.effect_group(rows, t, np.ones(p.n, bool)) == EG_REF).all()
    rows.group[:] = 6
    assert (stepper.effect_group(rows, t, np.ones(p.n, bool)) == EG_FAM).all()
    # five years in Denmark, assessed weak while on support: the weakest immigrants' effect
    rows.arrival_ymd[:] = _ymd(np.full(p.n, day - 5 * 366))
    rows.state[:] = PASSIVE
    stepper.update_weak_flag(rows, t)
    assert (stepper.effect_group(rows, t, in_prog) == EG_WEAK).all()
    # in a job: no effect; after the fork week of a counterfactual copy: no effect
    rows.state[:] = JOB
    assert (stepper.effect_group(rows, t, in_prog) == stepper.none_group).all()
    rows.state[:] = PASSIVE
    rows.effect_from[:] = t
    assert (stepper.effect_group(rows, t, in_prog) == stepper.none_group).all()


@pytest.mark.parametrize("law", EFFECT_LAWS)
def test_effect_laws_moments(law):
    x = standard_draws(law, (200_000,), np.random.default_rng(1))
    assert abs(x.mean()) < 0.01
    assert abs(x.var() - 1) < 0.05
    kurt = float(np.mean(x**4) / x.var() ** 2)
    tail = float(np.mean(np.abs(x) > 2.0))  # normal: 4.6 %
    if law == "normal":
        assert abs(kurt - 3) < 0.1 and abs(tail - 0.0455) < 0.003
    elif law == "t3":
        assert kurt > 6
    else:  # 8 % clear outliers at about +-2.5 sd
        assert 0.07 < tail < 0.1 and kurt > 4
    u_job, _ = municipality_effects(98, np.random.default_rng(2), job_sd=(0.1, 0.2, 0.3), activation_sd=0.3,
                                    rho_groups=0.5, rho_job_activation=0.5, law=law)
    np.testing.assert_allclose(u_job.std(axis=0), [0.1, 0.2, 0.3])
    np.testing.assert_allclose(u_job.mean(axis=0), 0, atol=1e-12)


def test_unknown_law_is_refused():
    with pytest.raises(ValueError, match="effect law 'cauchy'"):
        standard_draws("cauchy", (3,), np.random.default_rng(1))


def test_headline_scale_is_symmetric_and_bounded():
    th = np.array([-50.0, -np.log(2), -0.05, 0.0, 0.05, np.log(2), 50.0])
    pct = headline_pct(th)
    np.testing.assert_allclose(pct, -pct[::-1])
    assert pct[3] == 0 and abs(pct[-1] - 100) < 1e-9 and abs(pct[5] - 50) < 1e-9
    assert (np.diff(pct) > 0).all()
    np.testing.assert_allclose(theta_of_pct(pct[1:-1]), th[1:-1])


def test_counter_rng_is_keyed_by_person_week_and_slot():
    r = CounterRNG(7)
    a = r.uniform(np.array([1, 2, 3]), 10, 5)
    np.testing.assert_array_equal(a[[1]], r.uniform(np.array([2]), 10, 5))
    assert not np.allclose(a, r.uniform(np.array([1, 2, 3]), 11, 5))
    assert not np.allclose(a, r.uniform(np.array([1, 2, 3]), 10, 6))
    assert not np.allclose(a, CounterRNG(8).uniform(np.array([1, 2, 3]), 10, 5))
    u = r.uniform(np.arange(200_000), 3, 1)
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.001


def test_framework_copy_without_framework_effect_equals_the_delivered_world():
    """A world whose framework conditions do not act: the framework-free copies reproduce the
    delivered outcomes exactly (the copy differs only through the framework conditions)."""
    beh = Behaviour()
    w = World(1500, beh, seed=4)
    w.fw_lh = np.zeros_like(w.fw_lh)
    w.hist = simulate_chunk(w.p, w.cal, w.munis, w.u_job, w.u_act, w.fw_lh, beh, w.crng, w.weak_q, w.nonwestern)
    fw = simulate_counterfactual(
        w.p, w.members.row, w.members.start_week, w.ts.window, w.cal, w.munis, w.u_job, w.u_act, w.fw_lh, beh,
        w.crng, w.weak_q, w.nonwestern, replicates=1, check_states=w.hist.states, framework_copy=True,
        redraw_fork_week=w.members.group != 0,
    )
    assert set(fw.world.tolist()) == {0, 2}
    np.testing.assert_array_equal(fw.states[fw.world == 2][:, : w.ts.window], w.hist.states[
        np.minimum(w.members.start_week[:, None] + np.arange(w.ts.window)[None, :], w.cal.n_weeks - 1),
        w.members.row[:, None]][: (fw.world == 2).sum()] * (w.members.start_week[:, None] + np.arange(w.ts.window)[None, :] < w.cal.n_weeks))
