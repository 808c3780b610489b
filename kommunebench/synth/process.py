"""The weekly multi-state process, simulated for one chunk of persons at a time.

A discrete-time semi-Markov model, vectorised over persons with numpy:

- *hazard states* (no support ``NONE``, passive support ``PASSIVE``): each week every
  exit has a hazard ``h_k = base_k(class) * exp(eta_k)``; a person leaves with
  probability ``1 - exp(-sum h)`` to destination k with probability ``h_k / sum h``.
- *timed states* (job, measures, sickness, education, ...): a duration is drawn on
  entry; at its end a destination is drawn (e.g. a job after private wage subsidy with
  probability ``logit^-1(logit(p_base) + eta_job)``); a job can be interrupted by
  sickness or maternity.
- *absorbing states*: emigration (997), death (998), other exit (999); pensions (721,
  early retirement 611, disability pension 711) last until death or emigration.

The job-entry linear predictor is
``eta_job = x_i b + u_job[municipality, target group] + sum_f c_f (z_f[m, year] - centre_f)
+ boost (26 weeks after private/public internship or wage subsidy) + lock-in``,
and the activation (internship / wage subsidy) hazard carries ``u_act[m, g]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kommunebench.synth.calendar import Calendar
from kommunebench.synth.municipalities import Municipalities
from kommunebench.synth.params import (
    G_DESC,
    G_DK,
    G_FAM,
    G_OLDIMM,
    G_OTHERIMM,
    G_REF,
    G_WEST,
    GROUPS,
    Behaviour,
)
from kommunebench.synth.population import NO_DAY, Persons, municipality_weights

# --- simulation states --------------------------------------------------------------
PRE, NONE, JOB, PASSIVE, UPSKILL, DANISH = 0, 1, 2, 3, 4, 5
INTERN_PRIV, INTERN_PUB, WS_PRIV, WS_PUB = 6, 7, 8, 9
SICK, EDU, UI, OTHER, MATERN = 10, 11, 12, 13, 14
EARLYRET, DISAB, PENSION = 15, 16, 17
EMIG, DEAD, GONE = 18, 19, 20
N_SIM_STATES = 21
TIMED = np.zeros(N_SIM_STATES, bool)
TIMED[[JOB, UPSKILL, DANISH, INTERN_PRIV, INTERN_PUB, WS_PRIV, WS_PUB, SICK, EDU, UI, OTHER, MATERN]] = True
#: States in which a person is a client of the municipal job centre (assessed).
CASH_SYSTEM = np.zeros(N_SIM_STATES, bool)
CASH_SYSTEM[[PASSIVE, UPSKILL, DANISH, INTERN_PRIV, INTERN_PUB, WS_PRIV, WS_PUB]] = True

# Hazard classes: the group, or a latent class that overrides it.
CLASSES: tuple[str, ...] = GROUPS + ("weak", "stuck", "home")
C_WEAK, C_STUCK, C_HOME = len(GROUPS), len(GROUPS) + 1, len(GROUPS) + 2
DAYS_PER_YEAR = 365.2425


def _table(d: dict[str, float], default: float = 0.0) -> np.ndarray:
    return np.array([d.get(c, default) for c in CLASSES])


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


@dataclass
class ChunkHistory:
    """What the weekly simulation produced for one chunk."""

    states: np.ndarray  # int8 [week, person]
    hours: np.ndarray  # float32 [person, month]: paid ordinary hours
    kom_year: np.ndarray  # int32 [person, year]: municipality index, -1 if not resident
    kids_year: np.ndarray  # int8 [person, year]
    civst_year: np.ndarray  # int8 [person, year]
    edu_level_year: np.ndarray  # int8 [person, year]
    edu_known_year: np.ndarray  # bool [person, year]


def simulate_chunk(
    p: Persons,
    cal: Calendar,
    munis: Municipalities,
    u_job: np.ndarray,
    u_act: np.ndarray,
    fw_log_hazard: np.ndarray,
    beh: Behaviour,
    rng: np.random.Generator,
    on_week: Callable[[], None] | None = None,
) -> ChunkHistory:
    n, W, Y = p.n, cal.n_weeks, len(cal.years)
    M = len(cal.months)
    states = np.zeros((W, n), np.int8)
    hours = np.zeros((n, M), np.float32)
    kom_year = np.full((n, Y), -1, np.int32)
    kids_year = np.zeros((n, Y), np.int8)
    civst_year = np.zeros((n, Y), np.int8)
    edu_level_year = np.zeros((n, Y), np.int8)
    edu_known_year = np.zeros((n, Y), bool)

    # effect matrices with a zero column for persons outside the target groups
    u_job_x = np.hstack([u_job, np.zeros((u_job.shape[0], 1))])
    u_act_x = np.hstack([u_act, np.zeros((u_act.shape[0], 1))])
    BG = u_job.shape[1]

    group = p.group.astype(np.int64)
    female = p.female
    immig = p.arrival_day != NO_DAY
    arrival_week = np.where(immig, cal.week_of_day(np.where(immig, p.arrival_day, 0)), -1)
    # persons arriving before the grid are present from week 0
    arrival_week = np.where(immig & (p.arrival_day < cal.first_day), -1, arrival_week)
    # persons already in Denmark at the start: arrival_week = -1

    # static part of the job linear predictor
    kids = p.kids0.astype(np.int64).copy()
    civst = p.civst0.astype(np.int64).copy()
    edu_level = p.edu_level.astype(np.int64).copy()
    edu_known = p.edu_known.copy()
    eta_static = (
        beh.beta_female * female
        + beh.beta_education_level * np.maximum(edu_level, 1)
        + beh.beta_health * p.health
        + p.frailty
    )
    sick_mult = np.exp(beh.beta_health_sick * p.health)

    base_class = group.copy()
    base_class[(group == G_OLDIMM) & p.weak] = C_WEAK
    base_class[p.stuck] = C_STUCK
    late_weak = p.weak & np.isin(group, [G_REF, G_FAM])  # weak once 3 years in Denmark
    target = np.full(n, BG, np.int64)
    target[group == G_REF] = 1
    target[group == G_FAM] = 2
    target[(group == G_OLDIMM) & p.weak] = 0

    t_job_support = _table(beh.job_from_support)
    t_job_none = _table(beh.job_from_none)
    t_act = _table(beh.activation)
    t_up = _table(beh.upskill)
    t_off = _table(beh.off_support)
    t_claim = _table(beh.claim)
    t_edu = _table(beh.edu_from_none)
    emig_week = np.array([beh.emigration[g] for g in GROUPS]) / 52.0
    move_year = np.array([beh.moving[g] for g in GROUPS])
    split = np.cumsum(beh.activation_split) / sum(beh.activation_split)
    ja = {k: _logit(v) for k, v in beh.job_after.items()}
    mw = municipality_weights(munis)
    mw_cum = {g: np.cumsum(w) for g, w in mw.items()}

    state = np.full(n, PRE, np.int64)
    rem = np.zeros(n, np.int64)  # weeks left in a timed state
    prev = np.full(n, NONE, np.int64)  # state to return to after sickness / maternity
    boost_until = np.full(n, -1, np.int64)
    boost_val = np.zeros(n)
    job_hours = np.zeros(n, np.float32)
    kom = p.kom0.astype(np.int64).copy()
    edu_spell_len = np.zeros(n, np.int64)
    matern_week = np.full(n, -1, np.int64)
    is_dk_born = group == G_DK
    young_job_median = np.where(np.isin(group, [G_DK, G_WEST, G_DESC]), 250.0, 90.0)

    def draw_job(idx: np.ndarray) -> None:
        m = len(idx)
        u = rng.random(m)
        short_p = np.where(is_dk_born[idx], 0.05, 0.10)
        med_p = np.where(is_dk_born[idx], 0.20, 0.33)
        long_len = np.exp(np.log(young_job_median[idx]) + 0.8 * rng.standard_normal(m))
        rem[idx] = np.where(
            u < short_p,
            rng.integers(1, 3, m),
            np.where(u < short_p + med_p, rng.integers(3, 27, m), np.clip(long_len, 27, 2000)),
        ).astype(np.int64)
        hrs = np.where(is_dk_born[idx], rng.uniform(30, 37, m), 37 * rng.beta(5, 2, m))
        job_hours[idx] = hrs
        state[idx] = JOB

    def enter(idx: np.ndarray, s: int) -> None:
        """Enter a timed or hazard state (jobs go through draw_job)."""
        if len(idx) == 0:
            return
        if s == JOB:
            draw_job(idx)
            return
        m = len(idx)
        state[idx] = s
        if s in (INTERN_PRIV, INTERN_PUB):
            rem[idx] = rng.integers(4, 14, m)
        elif s in (WS_PRIV, WS_PUB):
            rem[idx] = np.clip(np.round(np.exp(np.log(26) + 0.4 * rng.standard_normal(m))), 13, 52)
        elif s == UPSKILL:
            rem[idx] = rng.integers(4, 27, m)
        elif s == DANISH:
            rem[idx] = rng.integers(10, 41, m)
        elif s == SICK:
            rem[idx] = np.clip(np.round(np.exp(np.log(4) + 1.0 * rng.standard_normal(m) - 0.3 * p.health[idx])), 1, 52)
        elif s == EDU:
            young = (group[idx] == G_DK) | (group[idx] == G_DESC)
            rem[idx] = np.where(young, rng.integers(60, 260, m), rng.integers(20, 160, m))
            edu_spell_len[idx] = rem[idx]
        elif s == UI:
            rem[idx] = np.clip(np.round(rng.exponential(18, m)) + 1, 1, 104)
        elif s == OTHER:
            rem[idx] = rng.integers(10, 80, m)
        elif s == MATERN:
            rem[idx] = rng.integers(26, 47, m)
        else:
            rem[idx] = 0

    def enter_activation(idx: np.ndarray) -> None:
        """Enter company internship or wage subsidy (private or public) by the activation split."""
        if len(idx):
            kind = np.searchsorted(split, rng.random(len(idx)))
            for k, s in enumerate((INTERN_PRIV, INTERN_PUB, WS_PRIV, WS_PUB)):
                enter(idx[kind == k], s)

    def initial_state(idx: np.ndarray, age: np.ndarray) -> None:
        """State of persons present at the start of the grid (or arriving)."""
        if len(idx) == 0:
            return
        m = len(idx)
        g = group[idx]
        c = base_class[idx]
        u = rng.random(m)
        weakish = (c == C_WEAK) | (c == C_STUCK)
        # cumulative probabilities: JOB, UI, PASSIVE, SICK, EDU, NONE, rest OTHER/DISAB
        job_p = np.select([weakish, g == G_OLDIMM, g == G_DESC, g == G_DK], [0.04, 0.62, 0.5, 0.76], 0.68)
        ui_p = np.where(p.insured[idx], 0.05, 0.0)
        pas_p = np.select([c == C_STUCK, weakish, g == G_OLDIMM, g == G_DESC], [0.86, 0.78, 0.12, 0.1], 0.03)
        sick_p = np.full(m, 0.025)
        edu_p = np.where(age < 28, 0.35, 0.0)
        cuts = np.cumsum(np.vstack([job_p, ui_p, pas_p, sick_p, edu_p]), axis=0)
        dest = (u[None, :] > cuts).sum(axis=0)
        targets = np.array([JOB, UI, PASSIVE, SICK, EDU, NONE])
        s = targets[np.minimum(dest, 5)]
        s = np.where((dest >= 5) & (rng.random(m) < 0.3) & (age > 40), DISAB, s)
        for st in np.unique(s):
            sub = idx[s == st]
            enter(sub, int(st))
        timed = TIMED[state[idx]]
        rem[idx[timed]] = np.maximum(1, (rem[idx[timed]] * rng.random(int(timed.sum()))).astype(np.int64))
        prev[idx] = np.where(state[idx] == JOB, JOB, PASSIVE)

    def job_end_destination(idx: np.ndarray) -> None:
        if len(idx) == 0:
            return
        m = len(idx)
        g = group[idx]
        u = rng.random(m)
        to_ui = p.insured[idx] & (u < 0.6)
        cash_p = np.select(
            [base_class[idx] >= C_WEAK, g == G_FAM, np.isin(g, [G_REF, G_OLDIMM, G_DESC])],
            [0.85, 0.3, 0.6],
            0.2,
        )
        to_cash = ~to_ui & (rng.random(m) < cash_p)
        enter(idx[to_ui], UI)
        enter(idx[to_cash], PASSIVE)
        state[idx[~to_ui & ~to_cash]] = NONE

    def year_start(yi: int, day: int, age: np.ndarray) -> None:
        """Moves, births, marriages, early retirement at the start of calendar year yi."""
        present = (state != PRE) & (state < EMIG)
        if yi > 0:
            movers = present & (rng.random(n) < move_year[group])
            for g in range(len(GROUPS)):
                mv = np.flatnonzero(movers & (group == g))
                if len(mv):
                    kom[mv] = np.minimum(np.searchsorted(mw_cum[g], rng.random(len(mv))), munis.n - 1)
        fertile = present & (age >= 18) & (age < 44)
        birth_p = np.where(civst == 0, 0.10, 0.025) * np.where(group == G_FAM, 1.4, 1.0)
        births = fertile & (rng.random(n) < birth_p)
        kids[births] = np.minimum(kids[births] + 1, 9)
        matern_week[:] = -1
        mw_idx = np.flatnonzero(births & female)
        matern_week[mw_idx] = cal.first_week_of_year(cal.first_year + yi) + rng.integers(0, 52, len(mw_idx))
        marry = present & (civst == 1) & (age > 20) & (age < 45) & (rng.random(n) < 0.05)
        civst[marry] = 0
        divorce = present & (civst == 0) & (rng.random(n) < 0.012)
        civst[divorce] = 2
        widow = present & (civst == 0) & (age > 60) & (rng.random(n) < 0.01)
        civst[widow] = 3
        early = present & p.insured & (age >= 60) & (age < 65) & np.isin(state, [UI, JOB, NONE]) & (rng.random(n) < 0.2)
        state[early] = EARLYRET
        # immigrants' education gets registered over time
        learn = present & ~edu_known & (rng.random(n) < 0.04)
        edu_known[learn] = True

    year_firsts = {cal.first_week_of_year(y): i for i, y in enumerate(cal.years)}
    year_lasts = {cal.last_week_of_year(y): i for i, y in enumerate(cal.years)}
    in_year = np.zeros(n, bool)

    for t in range(W):
        day = int(cal.week_monday[t])
        yi = int(cal.week_year_idx[t])
        age = (day - p.birth_day) / DAYS_PER_YEAR
        if t == 0:
            present0 = arrival_week < 0
            initial_state(np.flatnonzero(present0), age[present0])
        arriving = np.flatnonzero(arrival_week == t)
        if len(arriving):
            g = group[arriving]
            adult = age[arriving] >= 18
            to_pas = arriving[(g == G_REF) & adult]
            enter(to_pas, PASSIVE)
            state[arriving[(g == G_REF) & ~adult]] = NONE
            state[arriving[g == G_FAM]] = NONE
            oth = arriving[(g == G_OTHERIMM) | (g == G_WEST) | (g == G_OLDIMM) | (g == G_DK) | (g == G_DESC)]
            work = (p.permit_basis[oth] == "9A") | ((group[oth] == G_WEST) & (rng.random(len(oth)) < 0.7))
            draw_job(oth[work & (age[oth] >= 18)])
            state[oth[~(work & (age[oth] >= 18))]] = NONE
        if t in year_firsts:
            year_start(year_firsts[t], day, age)
            in_year[:] = False

        present = (state != PRE) & (state < EMIG)
        ydk = np.where(immig, (day - p.arrival_day) / DAYS_PER_YEAR, 40.0)
        weak_now = late_weak & (ydk >= 3)
        cls = np.where(weak_now, C_WEAK, base_class)
        tgt = np.where(weak_now, 0, target)
        in_prog = (p.intpgm_start_day != NO_DAY) & (day >= p.intpgm_start_day) & (day <= p.intpgm_end_day)

        # 1. death and emigration
        q_death = np.minimum(np.exp(-9.8 + 0.088 * age), 0.5) / 52.0
        u = rng.random(n)
        dies = present & (u < q_death)
        emig = present & ~dies & (u < q_death + emig_week[group])
        state[dies] = DEAD
        gone = emig & (rng.random(n) < 0.1)
        state[emig & ~gone] = EMIG
        state[gone] = GONE
        present &= ~(dies | emig)

        # 2. pension at 65, maternity
        to_pension = present & (age >= 65) & (state != PENSION)
        state[to_pension] = PENSION
        mat = present & (matern_week == t) & np.isin(state, [JOB, UI, SICK])
        prev[mat] = np.where(state[mat] == JOB, JOB, PASSIVE)
        enter(np.flatnonzero(mat), MATERN)

        # 3. the job linear predictor this week
        eta_age = beh.beta_age_per_year_over_35 * np.maximum(age - 35, 0) + beh.beta_age_per_year_under_25 * np.maximum(25 - age, 0)
        eta_ydk = np.where(immig, beh.beta_years_in_dk * (np.log1p(np.clip(ydk, 0, 10)) - np.log1p(10)), 0.0)
        eta_kids = beh.beta_female_per_child * np.minimum(kids, 3) * female
        eta_muni = u_job_x[kom, tgt] + fw_log_hazard[kom, yi]
        boost = np.where(t < boost_until, boost_val, 0.0)
        eta_job = eta_static + eta_age + eta_ydk + eta_kids + eta_muni + boost
        exp_job = np.exp(eta_job)

        # 4. timed states: count down; at the end draw the destination
        timed = present & TIMED[state]
        rem[timed] -= 1
        ended = np.flatnonzero(timed & (rem <= 0))
        if len(ended):
            s_end = state[ended]
            for s in np.unique(s_end):
                idx = ended[s_end == s]
                s = int(s)
                if s == JOB:
                    job_end_destination(idx)
                    continue
                if s in (SICK, MATERN):
                    back_job = (prev[idx] == JOB) & (rng.random(len(idx)) < 0.85)
                    draw_job(idx[back_job])
                    rest = idx[~back_job]
                    enter(rest, PASSIVE)
                    ins = rest[p.insured[rest]]
                    enter(ins, UI)
                    continue
                key = {INTERN_PRIV: "intern_priv", INTERN_PUB: "intern_pub", WS_PRIV: "ws_priv",
                       WS_PUB: "ws_pub", UPSKILL: "upskill", DANISH: "danish", EDU: "edu",
                       UI: "ui", OTHER: "other"}[s]
                pj = 1.0 / (1.0 + np.exp(-(ja[key] + eta_job[idx])))
                got = rng.random(len(idx)) < pj
                draw_job(idx[got])
                rest = idx[~got]
                if s in (INTERN_PRIV, WS_PRIV):
                    boost_until[idx] = t + beh.activation_boost_weeks
                    boost_val[idx] = beh.activation_boost_private
                elif s in (INTERN_PUB, WS_PUB):
                    boost_until[idx] = t + beh.activation_boost_weeks
                    boost_val[idx] = beh.activation_boost_public
                if s == EDU:
                    done = idx[edu_spell_len[idx] >= 100]
                    edu_level[done] = np.maximum(edu_level[done], np.where(np.isin(group[done], [G_DK, G_DESC]), 5, 3))
                    edu_known[done] = True
                    to_none = rest[rng.random(len(rest)) < 0.7]
                    state[to_none] = NONE
                    enter(np.setdiff1d(rest, to_none, assume_unique=True), PASSIVE)
                elif s == UI:
                    enter(rest, PASSIVE)
                else:
                    fam_home = rest[(group[rest] == G_FAM) & (s == DANISH)]
                    state[fam_home] = NONE
                    enter(np.setdiff1d(rest, fam_home, assume_unique=True), PASSIVE)

        # sickness and maternity interrupting a job (not the week it started)
        on_job = np.flatnonzero(present & (state == JOB) & (rem > 0))
        if len(on_job):
            sick = on_job[rng.random(len(on_job)) < beh.sick_from_job * sick_mult[on_job]]
            prev[sick] = JOB
            enter(sick, SICK)

        # 5. hazard state PASSIVE
        idx = np.flatnonzero(present & (state == PASSIVE) & (age >= 18))
        if len(idx):
            c = cls[idx]
            ej = exp_job[idx]
            prog_year = np.where(in_prog[idx], (day - p.intpgm_start_day[idx]) / DAYS_PER_YEAR, 99.0)
            early = np.where(ydk[idx] < 0.5, 0.4, 1.0)
            h_job = t_job_support[c] * ej
            h_act = t_act[c] * np.exp(u_act_x[kom[idx], tgt[idx]]) * early
            h_up = t_up[c] * early
            h_dan = np.where(
                in_prog[idx] & (group[idx] == G_REF),
                beh.danish_course_ref_first_year * beh.danish_course_decay_per_year ** np.floor(prog_year),
                0.0,
            )
            h_sick = beh.sick_from_support * sick_mult[idx]
            h_edu = np.where(age[idx] < 40, beh.edu_from_support, 0.0)
            h_off = t_off[c]
            h_oth = np.full(len(idx), beh.other_from_support)
            h_dis = np.where(age[idx] > 45, beh.disability_from_support_over_45 * (1 + 2 * (c >= C_WEAK)), 0.0)
            calm = np.where(c == C_STUCK, beh.stuck_other_multiplier, 1.0)  # stuck: few interruptions
            H = np.vstack([h_job, h_act, h_up, h_dan, h_sick * calm, h_edu * calm, h_off, h_oth * calm, h_dis * calm])
            dest = _compete(rng, H)
            draw_job(idx[dest == 0])
            enter_activation(idx[dest == 1])
            enter(idx[dest == 2], UPSKILL)
            enter(idx[dest == 3], DANISH)
            sick = idx[dest == 4]
            prev[sick] = PASSIVE
            enter(sick, SICK)
            enter(idx[dest == 5], EDU)
            state[idx[dest == 6]] = NONE
            enter(idx[dest == 7], OTHER)
            state[idx[dest == 8]] = DISAB

        # Danish course and upskilling: a job (with lock-in) or, from the course, activation
        idx = np.flatnonzero(present & ((state == DANISH) | (state == UPSKILL)) & (rem > 0))
        if len(idx):
            c = cls[idx]
            h_job = t_job_support[c] * exp_job[idx] * np.exp(beh.lock_in)
            h_act = np.where(state[idx] == DANISH, t_act[c] * np.exp(u_act_x[kom[idx], tgt[idx]]) * 0.5, 0.0)
            dest = _compete(rng, np.vstack([h_job, h_act]))
            draw_job(idx[dest == 0])
            enter_activation(idx[dest == 1])

        # 6. hazard state NONE
        idx = np.flatnonzero(present & (state == NONE) & (age >= 16))
        if len(idx):
            c = cls[idx]
            cn = np.where(p.home[idx] & (c < C_WEAK), C_HOME, c)
            adult = age[idx] >= 18
            h_job = t_job_none[cn] * exp_job[idx]
            h_claim = np.where(adult, t_claim[cn], 0.0)
            h_edu = np.where(age[idx] < 45, t_edu[cn], 0.0)
            H = np.vstack([h_job, h_claim, h_edu])
            dest = _compete(rng, H)
            draw_job(idx[dest == 0])
            cl = idx[dest == 1]
            enter(cl, PASSIVE)
            enter(idx[dest == 2], EDU)

        # 7. record
        states[t] = state
        mi = int(cal.week_month[t])
        if mi >= 0:
            wk = np.where(state == JOB, job_hours, 0.0)
            side = (state == PASSIVE) & (rng.random(n) < beh.side_job_weekly)
            wk = np.where(side, rng.uniform(4, 15, n), wk)
            hours[:, mi] += wk.astype(np.float32)
        in_year |= present
        if t in year_lasts:
            j = year_lasts[t]
            kom_year[:, j] = np.where(in_year, kom, -1)
            kids_year[:, j] = kids
            civst_year[:, j] = civst
            edu_level_year[:, j] = edu_level
            edu_known_year[:, j] = edu_known
        if on_week is not None:
            on_week()

    return ChunkHistory(
        states=states,
        hours=hours,
        kom_year=kom_year,
        kids_year=kids_year,
        civst_year=civst_year,
        edu_level_year=edu_level_year,
        edu_known_year=edu_known_year,
    )


def _compete(rng: np.random.Generator, H: np.ndarray) -> np.ndarray:
    """Competing weekly hazards H [k, m]: destination index per person, k = stay."""
    tot = H.sum(axis=0)
    p_exit = 1.0 - np.exp(-tot)
    u = rng.random(H.shape[1])
    leave = u < p_exit
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(leave, u / np.where(p_exit > 0, p_exit, 1.0) * tot, 0.0)
    dest = (np.cumsum(H, axis=0) < v[None, :]).sum(axis=0)
    dest = np.minimum(dest, H.shape[0] - 1)
    return np.where(leave, dest, H.shape[0])
