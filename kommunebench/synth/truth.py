"""The planted truth on the benchmark's own scale, by counterfactual simulation.

The generator plants conditional log-hazard effects (``municipality_effects.parquet``).
The benchmark estimates something else: how much faster or slower a municipality's
persons reach the event than the same persons would with the same framework conditions
in an average municipality. This module computes that, for the delivered world, by
simulating each target-group member a second time with the same random numbers and with
every municipality effect set to 0 from the week its clock starts (``process.
simulate_counterfactual``), and comparing the two worlds per municipality of entry:

- ``log_rate_ratio`` theta_j = log(O1_j / L1_j) - log(O0_j / L0_j): O = persons reaching
  the event within the follow-up, L = sum over the persons of H_s(T_i), the cumulative
  hazard of the counterfactual world in the person's stratum (target group x cohort year,
  Nelson-Aalen) at the person's observed time T_i. theta is the log of the ratio between
  the rate at which the persons reach the event and the rate at which they would reach it
  without the municipality's effect: the quantity that observed/expected estimates.
- ``pct_faster`` = 100 sign(theta) (1 - exp(-|theta|)), the benchmark's headline scale
  (``kommunebench.benchmark.headline_pct``).
- ``weeks_faster``: Kaplan-Meier restricted mean time to the event within the follow-up,
  counterfactual minus delivered (positive = reached sooner).
- ``gap_persons`` = O1_j - O0_j: how many more persons reached the event within the
  follow-up because of the municipality.

Members are found with the pipeline's own rules (``sql/cohorts``), read off the simulated
registers: refugees and family-reunified by their first permit of the group's legal basis
in the cohort year, non-western origin, integration programme, aged 18-64; the weakest
immigrants by a new spell on public support in the cohort year while assessed as having
problems beyond unemployment, non-western immigrants aged 16-64 with at least three years
in Denmark; a person counts once per group, in the first cohort year of the window.
Outcomes follow ``sql/outcomes/outcomes_stage.sql``: success is the first week of the
first run of ``run_length`` job weeks (a blank DREAM week in a month with GRAD > 0),
partial success the first week in private company internship or wage subsidy; codes
997-999, education and excluded benefits censor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from kommunebench import refdata
from kommunebench.scales import headline_pct
from kommunebench.states import SUPPORT_STATES
from kommunebench.synth.calendar import Calendar, day_number
from kommunebench.synth.population import NO_DAY, Persons
from kommunebench.synth.process import EMIG, N_SIM_STATES, PRE, REFORM_YEAR, ChunkHistory, ForkWindows

TARGET_GROUPS: tuple[str, ...] = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")
MEASURES: tuple[str, ...] = ("success", "partial_success")
FULL_TIME_HOURS = 160.33


@dataclass(frozen=True)
class TruthSettings:
    """The pipeline's cohort and outcome settings the truth follows (defaults = the pipeline's)."""

    cohort_years: tuple[int, ...] = (2011, 2012, 2013, 2014, 2015)
    followup_weakest: int = 104
    followup_permit: int = 156
    age_min_weakest: int = 16
    age_min_permit: int = 18
    age_max: int = 64
    min_years_in_dk: int = 3
    match_groups: tuple[int, ...] = (2, 3)
    visit_codes: tuple[int, ...] = (2,)
    run_length: int = 3
    partial_states: tuple[str, ...] = ("INTERN", "WS_PRIV")

    def followup(self, group: int) -> int:
        return self.followup_weakest if group == 0 else self.followup_permit

    @property
    def window(self) -> int:
        """Weeks simulated after a fork: follow-up, the run look-ahead, and the rest of the month."""
        return max(self.followup_weakest, self.followup_permit) + self.run_length - 1 + 5


@dataclass(frozen=True)
class StateLUT:
    """What the pipeline reads off each simulation state (through the DREAM code written)."""

    blank: np.ndarray  # bool [sim state]: blank code (a job week when GRAD > 0)
    support: np.ndarray  # on public support (pipeline SUPPORT_STATES, no exclusion)
    cens: np.ndarray
    edu: np.ndarray
    excluded: np.ndarray
    partial: np.ndarray


def state_lut(state_codes: dict[int, set[str]], settings: TruthSettings) -> StateLUT:
    """Codebook attributes per simulation state, from the codes the generator writes for it.

    Raises ValueError when two codes written for one simulation state differ in what the
    pipeline reads from them (analysis state, exclusion, private employer).
    """
    cb = refdata.codebook()
    info = {row["code"]: (row["state"], bool(row["exclusion"]), bool(row["private_employer"]))
            for row in cb.iter_rows(named=True)}
    arrays = {k: np.zeros(N_SIM_STATES, bool) for k in ("blank", "support", "cens", "edu", "excluded", "partial")}
    for s, codes in state_codes.items():
        seen = {info[c] for c in codes}
        if len(seen) != 1:
            raise ValueError(f"dream_codebook.csv: codes {sorted(codes)} written for one simulation state differ in state, exclusion or employer: {seen}")
        state, excl, private = seen.pop()
        blank = codes == {""}
        arrays["blank"][s] = blank
        arrays["support"][s] = (not blank) and state in SUPPORT_STATES and not excl
        arrays["cens"][s] = state == "CENS"
        arrays["edu"][s] = state == "EDU"
        arrays["excluded"][s] = excl
        arrays["partial"][s] = private and state in settings.partial_states
    return StateLUT(**arrays)


@dataclass
class Members:
    """Target-group members of one chunk, one row per person and group (first cohort year)."""

    row: np.ndarray
    group: np.ndarray  # index into TARGET_GROUPS
    cohort_year: np.ndarray
    start_week: np.ndarray  # week index of the clock start
    kom: np.ndarray  # municipality index at entry

    def __len__(self) -> int:
        return len(self.row)


def _full_years(start_day: np.ndarray, end_day: np.ndarray) -> np.ndarray:
    """DuckDB ``date_sub('year', start, end)``: completed years between two day numbers."""
    a = start_day.astype("datetime64[D]")
    b = end_day.astype("datetime64[D]")
    ya = a.astype("datetime64[Y]").astype(int)
    yb = b.astype("datetime64[Y]").astype(int)
    ma = (a - a.astype("datetime64[Y]")).astype(int)  # day of year is not enough: compare month/day
    mb = (b - b.astype("datetime64[Y]")).astype(int)
    md_a = a.astype("datetime64[M]").astype(int) % 12 * 100 + (a - a.astype("datetime64[M]")).astype(int)
    md_b = b.astype("datetime64[M]").astype(int) % 12 * 100 + (b - b.astype("datetime64[M]")).astype(int)
    del ma, mb
    years = yb - ya - (md_b < md_a)
    return np.where(end_day >= start_day, years, -(_full_years(end_day, start_day) if False else 0) - 1)


def find_members(
    p: Persons,
    hist: ChunkHistory,
    cal: Calendar,
    assess: np.ndarray,
    lut: StateLUT,
    nonwestern: np.ndarray,
    settings: TruthSettings,
) -> Members:
    """Members of the three target groups by the pipeline's rules (module docstring)."""
    bases = refdata.ophg_grundlag()
    base_group = {b: g for b, g in zip(bases["GRUNDLAG"].to_list(), bases["target_group"].to_list()) if g}
    lo = day_number(date(1997, 1, 1))
    start_prog = np.where(p.intpgm_start_day <= cal.last_day, p.intpgm_start_day, NO_DAY)
    rows_out, grp_out, year_out, week_out = [], [], [], []

    def resident_end_of(year: int, rows: np.ndarray) -> np.ndarray:
        s = hist.states[cal.last_week_of_year(year), rows]
        return (s != PRE) & (s < EMIG)

    # refugees and family-reunified: the first permit of the group's basis
    for gi, gname in ((1, "flygtninge"), (2, "familiesammenfoerte")):
        first = np.full(p.n, NO_DAY, np.int64)
        for day, basis in ((p.permit_day, p.permit_basis), (p.second_permit_day, p.second_permit_basis)):
            ok = (day != NO_DAY) & (day >= lo) & (day <= cal.last_day)
            ok &= np.array([base_group.get(b) == gname for b in basis])
            upd = ok & ((first == NO_DAY) | (day < first))
            first[upd] = day[upd]
        has = first != NO_DAY
        pyear = np.where(has, first.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970, 0)
        for c in settings.cohort_years:
            rows = np.flatnonzero(has & (pyear == c) & nonwestern & (start_prog != NO_DAY))
            if len(rows) == 0:
                continue
            rows = rows[resident_end_of(c, rows)]
            age = _full_years(p.birth_day[rows].astype(np.int64), first[rows])
            rows = rows[(age >= settings.age_min_permit) & (age <= settings.age_max)]
            wk = cal.week_of_day(first[rows])
            inside = (wk >= 0) & (wk < cal.n_weeks)
            rows_out.append(rows[inside])
            grp_out.append(np.full(int(inside.sum()), gi))
            year_out.append(np.full(int(inside.sum()), c))
            week_out.append(wk[inside])

    # the weakest immigrants: a new support spell while assessed weak
    support = lut.support[hist.states]  # [week, person]
    years_q = np.array([y for y, _ in cal.quarters])
    weak_reg = np.where(
        years_q[None, :] < REFORM_YEAR,
        np.isin(assess, settings.match_groups),
        np.isin(assess, settings.visit_codes),
    )  # [person, quarter]
    immigrant = (p.ie_type == 2) & nonwestern & (p.arrival_day != NO_DAY)
    for c in settings.cohort_years:
        if c - 1 < cal.first_year or c > cal.last_year:
            continue
        weeks = np.flatnonzero(cal.week_year == c)
        prev_ok = weeks - 1 >= cal.first_week_of_year(c - 1)
        start = support[weeks] & ~np.where(prev_ok[:, None], support[weeks - 1], False)
        q = cal.week_quarter[weeks]
        qual = start & np.where((q >= 0)[:, None], weak_reg[:, np.maximum(q, 0)].T, False)
        any_q = qual.any(axis=0)
        rows = np.flatnonzero(any_q & immigrant)
        if len(rows) == 0:
            continue
        first_t = weeks[np.argmax(qual[:, rows], axis=0)]
        keep = resident_end_of(c, rows)
        rows, first_t = rows[keep], first_t[keep]
        monday = cal.week_monday[first_t].astype(np.int64)
        age = _full_years(p.birth_day[rows].astype(np.int64), monday)
        ydk = _full_years(p.arrival_day[rows].astype(np.int64), monday)
        keep = (age >= settings.age_min_weakest) & (age <= settings.age_max) & (ydk >= settings.min_years_in_dk)
        rows_out.append(rows[keep])
        grp_out.append(np.zeros(int(keep.sum()), np.int64))
        year_out.append(np.full(int(keep.sum()), c))
        week_out.append(first_t[keep])

    if not rows_out:
        e = np.zeros(0, np.int64)
        return Members(e, e, e, e, e)
    row = np.concatenate(rows_out).astype(np.int64)
    grp = np.concatenate(grp_out).astype(np.int64)
    year = np.concatenate(year_out).astype(np.int64)
    week = np.concatenate(week_out).astype(np.int64)
    # once per person and group: the first cohort year of the window
    order = np.lexsort((year, grp, row))
    row, grp, year, week = row[order], grp[order], year[order], week[order]
    first = np.ones(len(row), bool)
    first[1:] = (row[1:] != row[:-1]) | (grp[1:] != grp[:-1])
    row, grp, year, week = row[first], grp[first], year[first], week[first]
    # municipality at entry: NYKOM of the start week's ISO year, else BEF's of the cohort year
    iso_year_idx = cal.week_year_idx[week]
    kom = hist.kom_year[row, iso_year_idx]
    kom = np.where(kom >= 0, kom, hist.kom_year[row, year - cal.first_year])
    ok = kom >= 0
    return Members(row=row[ok], group=grp[ok], cohort_year=year[ok], start_week=week[ok], kom=kom[ok].astype(np.int64))


@dataclass
class Outcome:
    """Per member: the benchmark's duration and event for both measures."""

    success_weeks: np.ndarray
    success_event: np.ndarray
    partial_weeks: np.ndarray
    partial_event: np.ndarray


def outcomes(states: np.ndarray, job: np.ndarray, valid: np.ndarray, followup: np.ndarray,
             lut: StateLUT, run_length: int) -> Outcome:
    """Outcomes from windows starting at the clock start (window week 0 = t = 1).

    ``states`` int [member, window week] simulation states, ``job`` bool job weeks (blank
    code and GRAD > 0), ``valid`` bool weeks with register data. As
    ``sql/outcomes/outcomes_stage.sql``: the event at t (t <= follow-up) gives duration t; a
    censoring exit (997-999, education, excluded benefit) at t gives t - 1; otherwise the
    last week with data within the follow-up.
    """
    m, L = states.shape
    t = np.arange(1, L + 1)[None, :]
    within = valid & (t <= followup[:, None])
    job = job & valid
    # a run of run_length job weeks starting at t, all with data
    run = job.copy()
    for k in range(1, run_length):
        shifted = np.zeros_like(job)
        shifted[:, : L - k] = job[:, k:]
        run &= shifted
    big = L + 10

    def first(mask: np.ndarray) -> np.ndarray:
        return np.where(mask.any(axis=1), np.argmax(mask, axis=1) + 1, big)

    t_success = first(run & within)
    t_partial = first(lut.partial[states] & within)
    t_exit = first((lut.cens[states] | lut.edu[states] | lut.excluded[states]) & within)
    t_last = np.where(within.any(axis=1), L - np.argmax(within[:, ::-1], axis=1), 0)

    def resolve(t_event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        event = (t_event < big) & (t_event < t_exit)
        weeks = np.where(event, t_event, np.where(t_exit < big, t_exit - 1, t_last))
        return weeks.astype(np.int64), event

    sw, se = resolve(t_success)
    pw, pe = resolve(t_partial)
    return Outcome(sw, se, pw, pe)


def _job_weeks(states: np.ndarray, month_hours: np.ndarray, lut: StateLUT) -> np.ndarray:
    grad = np.round(month_hours.astype(np.float64) / FULL_TIME_HOURS, 2)
    return lut.blank[states] & (grad > 0)


def delivered_windows(hist: ChunkHistory, cal: Calendar, members: Members, L: int, lut: StateLUT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(states, job, valid) windows of the delivered world from each member's start week."""
    weeks = members.start_week[:, None] + np.arange(L)[None, :]
    valid = weeks < cal.n_weeks
    w = np.minimum(weeks, cal.n_weeks - 1)
    states = hist.states[w, members.row[:, None]].astype(np.int64)
    mi = cal.week_month[w]
    mh = np.where(mi >= 0, hist.hours[members.row[:, None], np.maximum(mi, 0)], 0.0)
    return states, _job_weeks(states, mh, lut) & (mi >= 0), valid


def counterfactual_windows(fw: ForkWindows, cal: Calendar, lut: StateLUT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(states, job, valid) windows of the counterfactual copies (same layout)."""
    k, L = fw.states.shape
    weeks = fw.fork_week[:, None] + np.arange(L)[None, :]
    valid = weeks < cal.n_weeks
    w = np.minimum(weeks, cal.n_weeks - 1)
    mi = np.where(valid, cal.week_month[w], -1)
    # month totals in the order DREAM accumulates them: hours of the fork month before the
    # fork week, then the copy's weeks in order (float32, as the delivered world)
    base_mi = mi[:, :1]
    rel_month = np.where(mi >= 0, mi - base_mi, -1)
    n_m = int(rel_month.max()) + 1 if k else 0
    tot = np.zeros((k, max(n_m, 1)), np.float32)
    tot[:, 0] = fw.month_hours_before
    rows = np.repeat(np.arange(k), L)
    cols = rel_month.ravel()
    ok = cols >= 0
    np.add.at(tot, (rows[ok], cols[ok]), fw.hours.ravel()[ok])
    mh = np.where(rel_month >= 0, tot[np.arange(k)[:, None], np.maximum(rel_month, 0)], 0.0)
    states = fw.states.astype(np.int64)
    return states, _job_weeks(states, mh, lut) & (mi >= 0), valid


def take_outcome(o: Outcome, idx: np.ndarray) -> Outcome:
    return Outcome(o.success_weeks[idx], o.success_event[idx], o.partial_weeks[idx], o.partial_event[idx])


def concat_outcomes(parts: list[Outcome]) -> Outcome:
    return Outcome(*(np.concatenate([getattr(o, f) for o in parts]) for f in
                     ("success_weeks", "success_event", "partial_weeks", "partial_event")))


@dataclass
class Pairs:
    """Outcomes of every member in R replicate pairs (world 1 = effects as planted, world 0 =
    set to 0 from the clock start), stacked replicate-major: element r * k + i is member i
    in replicate r; replicate 0's world 1 is the delivered world."""

    one: Outcome
    zero: Outcome
    replicates: int


def pair_outcomes(delivered: Outcome, copies: Outcome, fw: ForkWindows) -> Pairs:
    k = len(delivered.success_weeks)
    R = int(fw.replicate.max()) + 1 if len(fw.replicate) else 1
    ones, zeros = [delivered], []
    for r in range(R):
        zeros.append(take_outcome(copies, np.flatnonzero((fw.replicate == r) & (fw.world == 0))))
        if r > 0:
            ones.append(take_outcome(copies, np.flatnonzero((fw.replicate == r) & (fw.world == 1))))
    for o in ones + zeros:
        assert len(o.success_weeks) == k
    return Pairs(concat_outcomes(ones), concat_outcomes(zeros), R)


def nelson_aalen(weeks: np.ndarray, event: np.ndarray, horizon: int) -> np.ndarray:
    """Cumulative hazard H(k), k = 0..horizon, of whole-week durations."""
    d = np.bincount(weeks, weights=event, minlength=horizon + 1)[: horizon + 1]
    leave = np.bincount(weeks, minlength=horizon + 1)[: horizon + 1].astype(float)
    at_risk = len(weeks) - np.concatenate(([0.0], np.cumsum(leave)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        dh = np.where(at_risk > 0, d / at_risk, 0.0)
    return np.cumsum(dh)


def truth_table(members: Members, pairs: Pairs, kom_codes: np.ndarray, settings: TruthSettings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per municipality of entry, target group and measure: the truth on the benchmark's scale.

    Pooled over the R replicate pairs (``Pairs``): theta_j = log(sum_r O1 / sum_r L1) -
    log(sum_r O0 / sum_r L0), with the Nelson-Aalen H of the counterfactual world per stratum
    (target group x cohort year) over all replicates; ``log_rate_ratio_mc_se`` is the Monte
    Carlo standard error of theta_j, a jackknife over the replicate pairs (R >= 2; NaN when
    leaving a pair out leaves no event). Also returns the per-replicate sums (events and
    summed cumulative hazard of both worlds per unit), so that the truth's precision can be
    re-examined without the persons. Only members with at least one week of follow-up count (the
    benchmark drops the others: decided on the delivered world), durations are cut at the
    follow-up. ``persons`` and ``events_delivered`` are the delivered world's: the same as
    the pipeline's ``persons`` and ``events_observed``.
    """
    from kommunebench.benchmark.stats import km_restricted_mean

    R = pairs.replicates
    k = len(members)
    frames = []
    rep_rows: list[pl.DataFrame] = []
    for gi, gname in enumerate(TARGET_GROUPS):
        horizon = settings.followup(gi)
        for measure in MEASURES:
            key = "success" if measure == "success" else "partial"
            w1 = getattr(pairs.one, f"{key}_weeks").reshape(R, k)
            e1 = getattr(pairs.one, f"{key}_event").reshape(R, k)
            w0 = getattr(pairs.zero, f"{key}_weeks").reshape(R, k)
            e0 = getattr(pairs.zero, f"{key}_event").reshape(R, k)
            use = (members.group == gi) & (w1[0] >= 1)
            if not use.any():
                continue
            W1 = np.clip(w1[:, use], 0, horizon)
            E1 = e1[:, use] & (w1[:, use] <= horizon)
            W0 = np.clip(w0[:, use], 0, horizon)
            E0 = e0[:, use] & (w0[:, use] <= horizon)
            years = members.cohort_year[use]
            L1 = np.zeros(W1.shape)
            L0 = np.zeros(W1.shape)
            for c in np.unique(years):
                s_ = years == c
                H = nelson_aalen(W0[:, s_].ravel(), E0[:, s_].ravel().astype(float), horizon)
                L1[:, s_] = H[W1[:, s_]]
                L0[:, s_] = H[W0[:, s_]]
            kom = members.kom[use]
            for j in np.unique(kom):
                s_ = kom == j
                o1, o0 = E1[:, s_].sum(axis=1), E0[:, s_].sum(axis=1)
                l1, l0 = L1[:, s_].sum(axis=1), L0[:, s_].sum(axis=1)
                theta = _pooled_theta(o1.sum(), l1.sum(), o0.sum(), l0.sum())
                mc_se = _jackknife_se(o1, l1, o0, l0)
                rep_rows.append(pl.DataFrame({
                    "KOM": [int(kom_codes[j])] * R, "target_group": [gname] * R, "measure": [measure] * R,
                    "replicate": list(range(R)), "events": o1.astype(int), "exposure": l1,
                    "events_counterfactual": o0.astype(int), "exposure_counterfactual": l0,
                }))
                km1 = km_restricted_mean(np.maximum(W1[:, s_].ravel(), 1), E1[:, s_].ravel().astype(int), horizon).rmst
                km0 = km_restricted_mean(np.maximum(W0[:, s_].ravel(), 1), E0[:, s_].ravel().astype(int), horizon).rmst
                frames.append({
                    "KOM": int(kom_codes[j]), "target_group": gname, "measure": measure,
                    "persons": int(s_.sum()), "events_delivered": int(o1[0]), "replicates": R,
                    "events_per_replicate": float(o1.mean()), "events_counterfactual_per_replicate": float(o0.mean()),
                    "log_rate_ratio": theta, "log_rate_ratio_mc_se": mc_se,
                    "pct_faster": float(headline_pct(theta)),
                    "rmst": float(km1), "rmst_counterfactual": float(km0),
                    "weeks_faster": float(km0 - km1), "gap_persons": float((o1 - o0).mean()),
                    # the delivered world's exposure at the unit's counterfactual rate: what a perfect
                    # expected model (one that knew each person's rate without the municipality) expects.
                    # The rate comes from the replicates drawn afresh from the clock start (r >= 1) only:
                    # replicate 0's counterfactual shares the delivered world's random numbers, so it
                    # would let the "oracle" see the delivered world's own noise. NaN with one replicate.
                    "expected_events_true": _oracle_expected(l1, o0, l0),
                })
    return (pl.DataFrame(frames).sort(["target_group", "measure", "KOM"]),
            pl.concat(rep_rows).sort(["target_group", "measure", "KOM", "replicate"]))


def _oracle_expected(l1: np.ndarray, o0: np.ndarray, l0: np.ndarray) -> float:
    """Delivered exposure (replicate 0) times the counterfactual rate of the fresh replicates."""
    if len(o0) < 2 or l0[1:].sum() <= 0:
        return float("nan")
    return float(l1[0] * o0[1:].sum() / l0[1:].sum())


def _pooled_theta(o1: float, l1: float, o0: float, l0: float) -> float:
    if min(o1, o0) <= 0 or min(l1, l0) <= 0:
        return float("nan")
    return float(np.log(o1 / l1) - np.log(o0 / l0))


def _jackknife_se(o1: np.ndarray, l1: np.ndarray, o0: np.ndarray, l0: np.ndarray) -> float:
    """Monte Carlo standard error of the pooled theta: jackknife over the replicate pairs."""
    R = len(o1)
    if R < 2:
        return float("nan")
    loo = np.array([_pooled_theta(o1.sum() - o1[r], l1.sum() - l1[r], o0.sum() - o0[r], l0.sum() - l0[r]) for r in range(R)])
    if not np.isfinite(loo).all():
        return float("nan")
    return float(np.sqrt((R - 1) / R * np.sum((loo - loo.mean()) ** 2)))


def framework_truth(members: Members, delivered: Outcome, no_framework: Outcome, fw_values: np.ndarray,
                    fw_names: list[str], settings: TruthSettings) -> pl.DataFrame:
    """The framework conditions' effect on the benchmark's scale, per target group and measure.

    Per municipality of entry: theta_fw_j = log(O1/L1) - log(Of/Lf), the delivered world against
    the same persons and random numbers with the framework conditions no longer acting from
    the clock start (L: summed cumulative hazard of the framework-free world, Nelson-Aalen per
    cohort year). Regressed (weighted by events) on the units' person-weighted mean framework
    conditions at entry, the slopes are the framework coefficients the benchmark's second
    stage estimates; ``fw_values`` [member, condition] holds each member's conditions in the
    municipality and year of entry.
    """
    rows = []
    for gi, gname in enumerate(TARGET_GROUPS):
        horizon = settings.followup(gi)
        for measure in MEASURES:
            key = "success" if measure == "success" else "partial"
            w1 = getattr(delivered, f"{key}_weeks")
            e1 = getattr(delivered, f"{key}_event")
            wf = getattr(no_framework, f"{key}_weeks")
            ef = getattr(no_framework, f"{key}_event")
            use = (members.group == gi) & (w1 >= 1)
            if use.sum() < 50:
                continue
            W1, E1 = np.clip(w1[use], 0, horizon), e1[use] & (w1[use] <= horizon)
            Wf, Ef = np.clip(wf[use], 0, horizon), ef[use] & (wf[use] <= horizon)
            years = members.cohort_year[use]
            L1, Lf = np.zeros(W1.size), np.zeros(W1.size)
            for c in np.unique(years):
                s_ = years == c
                H = nelson_aalen(Wf[s_], Ef[s_].astype(float), horizon)
                L1[s_], Lf[s_] = H[W1[s_]], H[Wf[s_]]
            kom = members.kom[use]
            Z = fw_values[use]
            units = np.unique(kom)
            th, wt, zm = [], [], []
            for j in units:
                s_ = kom == j
                o1, of = E1[s_].sum(), Ef[s_].sum()
                if min(o1, of) < 5:
                    continue
                th.append(np.log(o1 / L1[s_].sum()) - np.log(of / Lf[s_].sum()))
                wt.append(of)
                zm.append(Z[s_].mean(axis=0))
            th, wt, zm = np.array(th), np.array(wt, float), np.array(zm)
            if len(th) < 3 * len(fw_names):
                continue  # too few units with events for the slopes
            X = np.column_stack([np.ones(len(th)), zm - np.average(zm, axis=0, weights=wt)])
            W = np.diag(wt)
            beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ th)
            resid = th - X @ beta
            sigma2 = float(resid @ W @ resid / max(len(th) - X.shape[1], 1) / wt.mean())
            cov = np.linalg.inv(X.T @ W @ X) * sigma2 * wt.mean()
            for f, name in enumerate(fw_names):
                rows.append({"target_group": gname, "measure": measure, "term": name.lower(),
                             "coef_true": float(beta[f + 1]), "coef_true_mc_se": float(np.sqrt(cov[f + 1, f + 1])),
                             "units": len(th)})
    return pl.DataFrame(rows)
