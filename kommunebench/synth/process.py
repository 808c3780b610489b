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
``eta_job = x_i b + u_job[municipality, g] + sum_f c_f (z_f[m, year] - centre_f)
+ boost (26 weeks after private/public internship or wage subsidy) + lock-in``,
and the activation (internship / wage subsidy) hazard carries ``u_act[m, g]``.

The municipality's effort (``u_job``, ``u_act``) acts where a job centre acts: ``g`` is
the person's target group *this week* (``effect_group``):

- refugees and family-reunified spouses during their first three years in Denmark,
  while in the integration programme or on public support: their own group's effect;
- non-western immigrants with at least three years in Denmark, while on public support,
  once the job centre has assessed them as having problems beyond unemployment (match
  group 2-3 to 2013, activity-ready from 2014; the assessment value of the quarter,
  ``assessment_values``): the weakest immigrants' effect, from then on;
- nobody else (Danes, western immigrants, persons off support outside the programme).

So every member of a target group, as the pipeline defines it from the registers,
carries the effect of the group from the week the clock starts, whenever on support.

Random numbers come from ``crng.CounterRNG`` keyed by (person, week, purpose), so a
person simulated again, alone or with the effects switched off from some week on
(``Rows.effect_from``), receives the same numbers: the counterfactual of
``truth.counterfactual_truth`` differs from the delivered world only through the
municipality effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from kommunebench.synth.calendar import Calendar
from kommunebench.synth.crng import CounterRNG
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
from kommunebench.synth.population import NO_DAY, WORK_BASIS, Persons, municipality_weights

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
#: States that are public support (benefit or measure, no exclusion): the job centre's
#: clients plus sickness benefit, unemployment insurance and other support. These are
#: the states whose DREAM codes the pipeline counts as support (``states.SUPPORT_STATES``).
ON_SUPPORT = CASH_SYSTEM.copy()
ON_SUPPORT[[SICK, UI, OTHER]] = True

# Hazard classes: the group, or a latent class that overrides it.
CLASSES: tuple[str, ...] = GROUPS + ("weak", "stuck", "home")
C_WEAK, C_STUCK, C_HOME = len(GROUPS), len(GROUPS) + 1, len(GROUPS) + 2
DAYS_PER_YEAR = 365.2425
REFORM_YEAR = 2014  # match groups (MATCH) until 2013, assessment (VISIT) from 2014
#: Target-group index of the effect matrices (municipalities.TARGET_GROUPS order).
EG_WEAK, EG_REF, EG_FAM = 0, 1, 2


class Slot:
    """Purposes of random draws (``CounterRNG`` slots); each site owns 16 consecutive slots."""

    INIT = 0
    ARRIVE = 16
    YEAR = 32
    DEATH = 48
    MATERN = 64
    JOB_END = 80
    SICK_END = 96
    TIMED_END = 112
    SICK_JOB = 128
    PASSIVE = 144
    COURSE = 160
    NONE = 176
    RECORD = 192


def _table(d: dict[str, float], default: float = 0.0) -> np.ndarray:
    return np.array([d.get(c, default) for c in CLASSES])


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def assessment_values(p: Persons, cal: Calendar, rng: np.random.Generator) -> np.ndarray:
    """The job centre's assessment of each person in each quarter, were they assessed.

    int8 [person, quarter]. Before the 2014 reform a match group (1 job-ready, 2 ready for
    effort, 3 temporarily passive); from 2014 an assessment (1 job-ready, 2 activity-ready,
    3 education-ready, 4 activity-ready for education). Persons with problems beyond
    unemployment (the latent 'weak' class, refugees and spouses of that class from their
    third year) are mostly match group 2-3 / activity-ready. DREAM registers the value only
    in quarters in which the person was a client of the job centre
    (``registers.assessments``); the simulation uses it to know who the job centre treats
    as one of the weakest (``effect_group``).
    """
    n = p.n
    Q = len(cal.quarters)
    personal = np.where(rng.random(n) < 0.5, 2, 3)
    out = np.zeros((n, Q), np.int8)
    late_weak = p.weak & np.isin(p.group, [G_REF, G_FAM])
    from datetime import date

    from kommunebench.synth.calendar import day_number

    for q, (yyyy, qq) in enumerate(cal.quarters):
        day = day_number(date(yyyy, 3 * (qq - 1) + 1, 1))
        ydk = np.where(p.arrival_day != NO_DAY, (day - p.arrival_day) / DAYS_PER_YEAR, 40.0)
        age = (day - p.birth_day) / DAYS_PER_YEAR
        weak = (p.weak & (p.group == G_OLDIMM)) | (late_weak & (ydk >= 3))
        newcomer = (ydk < 3) & ~weak
        u = rng.random(n)
        if yyyy < REFORM_YEAR:
            other23 = np.where(personal == 2, 3, 2)
            v_weak = np.where(u < 0.85, personal, np.where(u < 0.95, other23, 1))
            v_new = np.where(u < 0.45, 1, np.where(u < 0.9, 2, 3))
            v_rest = np.where(u < 0.75, 1, np.where(u < 0.93, 2, 3))
        else:
            v_weak = np.where(u < 0.92, 2, 1)
            v_new = np.where(u < 0.4, 1, np.where(u < 0.95, 2, 3))
            v_rest = np.where(age < 30, np.where(u < 0.5, 1, np.where(u < 0.65, 2, np.where(u < 0.95, 3, 4))),
                              np.where(u < 0.75, 1, np.where(u < 0.95, 2, 4)))
        out[:, q] = np.where(weak, v_weak, np.where(newcomer, v_new, v_rest))
    return out


def weak_assessment(values: np.ndarray, cal: Calendar) -> np.ndarray:
    """bool [person, quarter]: the value means problems beyond unemployment (match group
    2-3 before 2014, activity-ready (2) from 2014), as the pipeline's cohort settings."""
    years = np.array([y for y, _ in cal.quarters])
    before = years < REFORM_YEAR
    return np.where(before[None, :], (values == 2) | (values == 3), values == 2)


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
    effect: np.ndarray  # bool [week, person]: a municipality effect acted on the person this week


@dataclass
class Rows:
    """The simulated rows: fixed attributes (gathered from ``Persons``) and weekly state.

    A row is a person; a counterfactual copy of a person is another row with the same
    ``pid`` and an ``effect_from`` week from which no municipality effect acts.
    """

    # fixed
    pid: np.ndarray
    group: np.ndarray
    female: np.ndarray
    immig: np.ndarray
    nonwestern_immigrant: np.ndarray
    arrival_day: np.ndarray
    arrival_ymd: np.ndarray  # year * 10000 + month * 100 + day of the first arrival (0 if none)
    arrival_week: np.ndarray
    birth_day: np.ndarray
    permit_9a: np.ndarray
    insured: np.ndarray
    home: np.ndarray
    health: np.ndarray
    intpgm_start_day: np.ndarray
    intpgm_end_day: np.ndarray
    eta_static: np.ndarray
    sick_mult: np.ndarray
    base_class: np.ndarray
    late_weak: np.ndarray
    weak_q: np.ndarray  # bool [row, quarter]
    effect_from: np.ndarray  # week from which municipality effects are 0
    framework_from: np.ndarray  # week from which the framework conditions no longer act
    # weekly state
    state: np.ndarray
    rem: np.ndarray
    prev: np.ndarray
    boost_until: np.ndarray
    boost_val: np.ndarray
    job_hours: np.ndarray
    kom: np.ndarray
    kids: np.ndarray
    civst: np.ndarray
    edu_level: np.ndarray
    edu_known: np.ndarray
    edu_spell_len: np.ndarray
    matern_week: np.ndarray
    in_year: np.ndarray
    weak_flag: np.ndarray  # assessed as one of the weakest (sticky)
    acting: np.ndarray  # a municipality effect acts this week

    @property
    def n(self) -> int:
        return len(self.pid)

    def take(self, idx: np.ndarray) -> Rows:
        return Rows(**{f.name: getattr(self, f.name)[idx].copy() for f in fields(self)})

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        return Rows(**{f.name: np.concatenate([getattr(r, f.name) for r in parts]) for f in fields(Rows)})


def _ymd(days: np.ndarray) -> np.ndarray:
    """Day numbers as year * 10000 + month * 100 + day."""
    d = np.asarray(days).astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y * 10000 + m * 100 + dd


def full_years(ymd_from: np.ndarray, ymd_to: int) -> np.ndarray:
    """Completed years between two dates as ``_ymd`` numbers (DuckDB's date_sub('year', ...))."""
    return (ymd_to - ymd_from) // 10000


def make_rows(p: Persons, cal: Calendar, beh: Behaviour, weak_q: np.ndarray, nonwestern: np.ndarray) -> Rows:
    """Rows of every person of a chunk at the start of the grid."""
    n = p.n
    group = p.group.astype(np.int64)
    immig = p.arrival_day != NO_DAY
    arrival_week = np.where(immig, cal.week_of_day(np.where(immig, p.arrival_day, 0)), -1)
    arrival_week = np.where(immig & (p.arrival_day < cal.first_day), -1, arrival_week)
    base_class = group.copy()
    base_class[(group == G_OLDIMM) & p.weak] = C_WEAK
    base_class[p.stuck] = C_STUCK
    eta_static = (
        beh.beta_female * p.female
        + beh.beta_education_level * np.maximum(p.edu_level.astype(np.int64), 1)
        + beh.beta_health * p.health
        + p.frailty
    )
    return Rows(
        pid=p.index.astype(np.int64), group=group, female=p.female.copy(), immig=immig,
        nonwestern_immigrant=immig & nonwestern, arrival_day=p.arrival_day.copy(), arrival_ymd=_ymd(np.where(immig, p.arrival_day, 0)),
        arrival_week=arrival_week.astype(np.int64), birth_day=p.birth_day.copy(),
        permit_9a=p.permit_basis == WORK_BASIS, insured=p.insured.copy(), home=p.home.copy(),
        health=p.health.copy(), intpgm_start_day=p.intpgm_start_day.copy(),
        intpgm_end_day=p.intpgm_end_day.copy(), eta_static=eta_static,
        sick_mult=np.exp(beh.beta_health_sick * p.health), base_class=base_class,
        late_weak=p.weak & np.isin(group, [G_REF, G_FAM]), weak_q=weak_q,
        effect_from=np.full(n, np.iinfo(np.int64).max, np.int64),
        framework_from=np.full(n, np.iinfo(np.int64).max, np.int64),
        state=np.full(n, PRE, np.int64), rem=np.zeros(n, np.int64), prev=np.full(n, NONE, np.int64),
        boost_until=np.full(n, -1, np.int64), boost_val=np.zeros(n), job_hours=np.zeros(n, np.float32),
        kom=p.kom0.astype(np.int64).copy(), kids=p.kids0.astype(np.int64).copy(),
        civst=p.civst0.astype(np.int64).copy(), edu_level=p.edu_level.astype(np.int64).copy(),
        edu_known=p.edu_known.copy(), edu_spell_len=np.zeros(n, np.int64),
        matern_week=np.full(n, -1, np.int64), in_year=np.zeros(n, bool), weak_flag=np.zeros(n, bool),
        acting=np.zeros(n, bool),
    )


class WeekStepper:
    """One week of the process for a set of rows (``step``)."""

    def __init__(self, cal: Calendar, munis: Municipalities, u_job: np.ndarray, u_act: np.ndarray,
                 fw_log_hazard: np.ndarray, beh: Behaviour, crng: CounterRNG) -> None:
        self.cal, self.munis, self.beh, self.crng = cal, munis, beh, crng
        self.u_job_x = np.hstack([u_job, np.zeros((u_job.shape[0], 1))])
        self.u_act_x = np.hstack([u_act, np.zeros((u_act.shape[0], 1))])
        self.none_group = u_job.shape[1]
        self.fw = fw_log_hazard
        self.t_job_support = _table(beh.job_from_support)
        self.t_job_none = _table(beh.job_from_none)
        self.t_act = _table(beh.activation)
        self.t_up = _table(beh.upskill)
        self.t_off = _table(beh.off_support)
        self.t_claim = _table(beh.claim)
        self.t_edu = _table(beh.edu_from_none)
        self.emig_week = np.array([beh.emigration[g] for g in GROUPS]) / 52.0
        self.move_year = np.array([beh.moving[g] for g in GROUPS])
        self.split = np.cumsum(beh.activation_split) / sum(beh.activation_split)
        self.ja = {k: _logit(v) for k, v in beh.job_after.items()}
        self.mw_cum = {g: np.cumsum(w) for g, w in municipality_weights(munis).items()}
        self.year_firsts = {cal.first_week_of_year(y): i for i, y in enumerate(cal.years)}
        self.monday_ymd = _ymd(cal.week_monday)

    # ---------------------------------------------------------------- draws
    def u(self, r: Rows, idx: np.ndarray, t: int, slot: int) -> np.ndarray:
        return self.crng.uniform(r.pid[idx], t, slot)

    # ---------------------------------------------------------------- entries
    def draw_job(self, r: Rows, idx: np.ndarray, t: int, slot: int) -> None:
        """Enter an ordinary job: duration (short, medium or long) and weekly hours."""
        if len(idx) == 0:
            return
        pid = r.pid[idx]
        u = self.crng.uniform(pid, t, slot)
        dk = r.group[idx] == G_DK
        short_p = np.where(dk, 0.05, 0.10)
        med_p = np.where(dk, 0.20, 0.33)
        median = np.where(np.isin(r.group[idx], [G_DK, G_WEST, G_DESC]), 250.0, 90.0)
        long_len = np.exp(np.log(median) + 0.8 * self.crng.normal(pid, t, slot + 1))
        short_len = self.crng.integers(pid, t, slot + 2, 1, 3)
        med_len = self.crng.integers(pid, t, slot + 2, 3, 27)
        r.rem[idx] = np.where(u < short_p, short_len, np.where(u < short_p + med_p, med_len, np.clip(long_len, 27, 2000))).astype(np.int64)
        hrs = np.where(dk, 30 + 7 * self.crng.uniform(pid, t, slot + 3), 37 * self.crng.beta(pid, t, slot + 3, 5, 2))
        r.job_hours[idx] = hrs
        r.state[idx] = JOB

    def enter(self, r: Rows, idx: np.ndarray, s: int, t: int, slot: int) -> None:
        """Enter a timed or hazard state (jobs go through draw_job); uses slots slot..slot+3."""
        if len(idx) == 0:
            return
        if s == JOB:
            self.draw_job(r, idx, t, slot)
            return
        r.state[idx] = s
        pid = r.pid[idx]
        cr = self.crng
        if s in (INTERN_PRIV, INTERN_PUB):
            r.rem[idx] = cr.integers(pid, t, slot, 4, 14)
        elif s in (WS_PRIV, WS_PUB):
            r.rem[idx] = np.clip(np.round(np.exp(np.log(26) + 0.4 * cr.normal(pid, t, slot))), 13, 52).astype(np.int64)
        elif s == UPSKILL:
            r.rem[idx] = cr.integers(pid, t, slot, 4, 27)
        elif s == DANISH:
            r.rem[idx] = cr.integers(pid, t, slot, 10, 41)
        elif s == SICK:
            z = cr.normal(pid, t, slot)
            r.rem[idx] = np.clip(np.round(np.exp(np.log(4) + 1.0 * z - 0.3 * r.health[idx])), 1, 52).astype(np.int64)
        elif s == EDU:
            young = (r.group[idx] == G_DK) | (r.group[idx] == G_DESC)
            r.rem[idx] = np.where(young, cr.integers(pid, t, slot, 60, 260), cr.integers(pid, t, slot, 20, 160))
            r.edu_spell_len[idx] = r.rem[idx]
        elif s == UI:
            r.rem[idx] = np.clip(np.round(cr.exponential(pid, t, slot, 18.0)) + 1, 1, 104).astype(np.int64)
        elif s == OTHER:
            r.rem[idx] = cr.integers(pid, t, slot, 10, 80)
        elif s == MATERN:
            r.rem[idx] = cr.integers(pid, t, slot, 26, 47)
        else:
            r.rem[idx] = 0

    def enter_activation(self, r: Rows, idx: np.ndarray, t: int, slot: int) -> None:
        """Company internship or wage subsidy (private or public) by the activation split."""
        if len(idx):
            kind = np.searchsorted(self.split, self.u(r, idx, t, slot))
            for k, s in enumerate((INTERN_PRIV, INTERN_PUB, WS_PRIV, WS_PUB)):
                self.enter(r, idx[kind == k], s, t, slot + 1)

    def _compete(self, r: Rows, idx: np.ndarray, H: np.ndarray, t: int, slot: int) -> np.ndarray:
        """Competing weekly hazards H [k, m]: destination index per row, k = stay."""
        tot = H.sum(axis=0)
        p_exit = 1.0 - np.exp(-tot)
        u = self.u(r, idx, t, slot)
        leave = u < p_exit
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(leave, u / np.where(p_exit > 0, p_exit, 1.0) * tot, 0.0)
        dest = (np.cumsum(H, axis=0) < v[None, :]).sum(axis=0)
        dest = np.minimum(dest, H.shape[0] - 1)
        return np.where(leave, dest, H.shape[0])

    # ---------------------------------------------------------------- events of the grid
    def initial_state(self, r: Rows, idx: np.ndarray, age: np.ndarray, t: int) -> None:
        """State of persons present at the start of the grid."""
        if len(idx) == 0:
            return
        m = len(idx)
        g = r.group[idx]
        c = r.base_class[idx]
        u = self.u(r, idx, t, Slot.INIT)
        weakish = (c == C_WEAK) | (c == C_STUCK)
        # cumulative probabilities: JOB, UI, PASSIVE, SICK, EDU, NONE, rest OTHER/DISAB
        job_p = np.select([weakish, g == G_OLDIMM, g == G_DESC, g == G_DK], [0.04, 0.62, 0.5, 0.76], 0.68)
        ui_p = np.where(r.insured[idx], 0.05, 0.0)
        pas_p = np.select([c == C_STUCK, weakish, g == G_OLDIMM, g == G_DESC], [0.86, 0.78, 0.12, 0.1], 0.03)
        sick_p = np.full(m, 0.025)
        edu_p = np.where(age < 28, 0.35, 0.0)
        cuts = np.cumsum(np.vstack([job_p, ui_p, pas_p, sick_p, edu_p]), axis=0)
        dest = (u[None, :] > cuts).sum(axis=0)
        targets = np.array([JOB, UI, PASSIVE, SICK, EDU, NONE])
        s = targets[np.minimum(dest, 5)]
        s = np.where((dest >= 5) & (self.u(r, idx, t, Slot.INIT + 1) < 0.3) & (age > 40), DISAB, s)
        for st in np.unique(s):
            self.enter(r, idx[s == st], int(st), t, Slot.INIT + 2)
        timed = TIMED[r.state[idx]]
        ti = idx[timed]
        r.rem[ti] = np.maximum(1, (r.rem[ti] * self.u(r, ti, t, Slot.INIT + 8)).astype(np.int64))
        r.prev[idx] = np.where(r.state[idx] == JOB, JOB, PASSIVE)

    def arrive(self, r: Rows, arriving: np.ndarray, age: np.ndarray, t: int) -> None:
        g = r.group[arriving]
        adult = age[arriving] >= 18
        self.enter(r, arriving[(g == G_REF) & adult], PASSIVE, t, Slot.ARRIVE)
        r.state[arriving[(g == G_REF) & ~adult]] = NONE
        r.state[arriving[g == G_FAM]] = NONE
        oth = arriving[np.isin(g, [G_OTHERIMM, G_WEST, G_OLDIMM, G_DK, G_DESC])]
        work = r.permit_9a[oth] | ((r.group[oth] == G_WEST) & (self.u(r, oth, t, Slot.ARRIVE + 1) < 0.7))
        grown = age[oth] >= 18
        self.draw_job(r, oth[work & grown], t, Slot.ARRIVE + 2)
        r.state[oth[~(work & grown)]] = NONE

    def year_start(self, r: Rows, yi: int, age: np.ndarray, t: int) -> None:
        """Moves, births, marriages, early retirement at the start of calendar year yi."""
        cal, beh = self.cal, self.beh
        present = (r.state != PRE) & (r.state < EMIG)
        everyone = np.arange(r.n)
        if yi > 0:
            movers = present & (self.u(r, everyone, t, Slot.YEAR) < self.move_year[r.group])
            pick = self.u(r, everyone, t, Slot.YEAR + 1)
            for g in range(len(GROUPS)):
                mv = np.flatnonzero(movers & (r.group == g))
                if len(mv):
                    r.kom[mv] = np.minimum(np.searchsorted(self.mw_cum[g], pick[mv]), self.munis.n - 1)
        fertile = present & (age >= 18) & (age < 44)
        birth_p = np.where(r.civst == 0, 0.10, 0.025) * np.where(r.group == G_FAM, 1.4, 1.0)
        births = fertile & (self.u(r, everyone, t, Slot.YEAR + 2) < birth_p)
        r.kids[births] = np.minimum(r.kids[births] + 1, 9)
        r.matern_week[:] = -1
        mw_idx = np.flatnonzero(births & r.female)
        r.matern_week[mw_idx] = cal.first_week_of_year(cal.first_year + yi) + self.crng.integers(r.pid[mw_idx], t, Slot.YEAR + 3, 0, 52)
        marry = present & (r.civst == 1) & (age > 20) & (age < 45) & (self.u(r, everyone, t, Slot.YEAR + 4) < 0.05)
        r.civst[marry] = 0
        divorce = present & (r.civst == 0) & (self.u(r, everyone, t, Slot.YEAR + 5) < 0.012)
        r.civst[divorce] = 2
        widow = present & (r.civst == 0) & (age > 60) & (self.u(r, everyone, t, Slot.YEAR + 6) < 0.01)
        r.civst[widow] = 3
        early = present & r.insured & (age >= 60) & (age < 65) & np.isin(r.state, [UI, JOB, NONE]) & (
            self.u(r, everyone, t, Slot.YEAR + 7) < 0.2)
        r.state[early] = EARLYRET
        # immigrants' education gets registered over time
        learn = present & ~r.edu_known & (self.u(r, everyone, t, Slot.YEAR + 8) < 0.04)
        r.edu_known[learn] = True

    def newcomer(self, r: Rows, t: int) -> np.ndarray:
        """Fewer than three completed years since the first arrival (as the registers count)."""
        return ~r.immig | (full_years(r.arrival_ymd, self.monday_ymd[t]) < 3)

    def update_weak_flag(self, r: Rows, t: int) -> None:
        """A non-western immigrant with 3+ years in Denmark on support in a quarter in which
        the job centre assesses problems beyond unemployment is one of the weakest from now on."""
        q = int(self.cal.week_quarter[t])
        if q >= 0:
            r.weak_flag |= ON_SUPPORT[r.state] & r.nonwestern_immigrant & ~self.newcomer(r, t) & r.weak_q[:, q]

    def effect_group(self, r: Rows, t: int, in_prog: np.ndarray) -> np.ndarray:
        """Target group whose municipality effect acts on each row this week (see module doc)."""
        on_support = ON_SUPPORT[r.state]
        newcomer = self.newcomer(r, t)
        eg = np.full(r.n, self.none_group, np.int64)
        served = on_support | in_prog
        eg[(r.group == G_REF) & newcomer & served] = EG_REF
        eg[(r.group == G_FAM) & newcomer & served] = EG_FAM
        eg[r.weak_flag & on_support] = EG_WEAK
        eg[t >= r.effect_from] = self.none_group
        return eg

    # ---------------------------------------------------------------- the week
    def step(self, r: Rows, t: int) -> np.ndarray:
        """Advance ``r`` through week ``t`` in place; returns the week's paid hours per row."""
        cal, beh = self.cal, self.beh
        day = int(cal.week_monday[t])
        yi = int(cal.week_year_idx[t])
        age = (day - r.birth_day) / DAYS_PER_YEAR
        if t == 0:
            present0 = np.flatnonzero(r.arrival_week < 0)
            self.initial_state(r, present0, age[present0], t)
        arriving = np.flatnonzero(r.arrival_week == t)
        if len(arriving):
            self.arrive(r, arriving, age, t)
        if t in self.year_firsts:
            self.year_start(r, self.year_firsts[t], age, t)
            r.in_year[:] = False

        present = (r.state != PRE) & (r.state < EMIG)
        ydk = np.where(r.immig, (day - r.arrival_day) / DAYS_PER_YEAR, 40.0)
        weak_now = r.late_weak & (ydk >= 3)
        cls = np.where(weak_now, C_WEAK, r.base_class)
        in_prog = (r.intpgm_start_day != NO_DAY) & (day >= r.intpgm_start_day) & (day <= r.intpgm_end_day)

        # 1. death and emigration
        everyone = np.arange(r.n)
        q_death = np.minimum(np.exp(-9.8 + 0.088 * age), 0.5) / 52.0
        u = self.u(r, everyone, t, Slot.DEATH)
        dies = present & (u < q_death)
        emig = present & ~dies & (u < q_death + self.emig_week[r.group])
        r.state[dies] = DEAD
        gone = emig & (self.u(r, everyone, t, Slot.DEATH + 1) < 0.1)
        r.state[emig & ~gone] = EMIG
        r.state[gone] = GONE
        present &= ~(dies | emig)

        # 2. pension at 65, maternity
        to_pension = present & (age >= 65) & (r.state != PENSION)
        r.state[to_pension] = PENSION
        mat = present & (r.matern_week == t) & np.isin(r.state, [JOB, UI, SICK])
        r.prev[mat] = np.where(r.state[mat] == JOB, JOB, PASSIVE)
        self.enter(r, np.flatnonzero(mat), MATERN, t, Slot.MATERN)

        # 3. the job linear predictor this week, with the municipality effect where it acts
        eg = self.effect_group(r, t, in_prog)
        r.acting = present & (eg != self.none_group)
        eta_age = beh.beta_age_per_year_over_35 * np.maximum(age - 35, 0) + beh.beta_age_per_year_under_25 * np.maximum(25 - age, 0)
        eta_ydk = np.where(r.immig, beh.beta_years_in_dk * (np.log1p(np.clip(ydk, 0, 10)) - np.log1p(10)), 0.0)
        eta_kids = beh.beta_female_per_child * np.minimum(r.kids, 3) * r.female
        eta_muni = self.u_job_x[r.kom, eg] + np.where(t < r.framework_from, self.fw[r.kom, yi], 0.0)
        boost = np.where(t < r.boost_until, r.boost_val, 0.0)
        eta_job = r.eta_static + eta_age + eta_ydk + eta_kids + eta_muni + boost
        exp_job = np.exp(eta_job)
        act_mult = np.exp(self.u_act_x[r.kom, eg])

        # 4. timed states: count down; at the end draw the destination
        timed = present & TIMED[r.state]
        r.rem[timed] -= 1
        ended = np.flatnonzero(timed & (r.rem <= 0))
        if len(ended):
            s_end = r.state[ended]
            for s in np.unique(s_end):
                idx = ended[s_end == s]
                s = int(s)
                if s == JOB:
                    self.job_end_destination(r, idx, t)
                    continue
                if s in (SICK, MATERN):
                    back_job = (r.prev[idx] == JOB) & (self.u(r, idx, t, Slot.SICK_END) < 0.85)
                    self.draw_job(r, idx[back_job], t, Slot.SICK_END + 1)
                    rest = idx[~back_job]
                    self.enter(r, rest, PASSIVE, t, Slot.SICK_END + 5)
                    self.enter(r, rest[r.insured[rest]], UI, t, Slot.SICK_END + 6)
                    continue
                key = {INTERN_PRIV: "intern_priv", INTERN_PUB: "intern_pub", WS_PRIV: "ws_priv",
                       WS_PUB: "ws_pub", UPSKILL: "upskill", DANISH: "danish", EDU: "edu",
                       UI: "ui", OTHER: "other"}[s]
                pj = 1.0 / (1.0 + np.exp(-(self.ja[key] + eta_job[idx])))
                got = self.u(r, idx, t, Slot.TIMED_END) < pj
                self.draw_job(r, idx[got], t, Slot.TIMED_END + 1)
                rest = idx[~got]
                if s in (INTERN_PRIV, WS_PRIV):
                    r.boost_until[idx] = t + beh.activation_boost_weeks
                    r.boost_val[idx] = beh.activation_boost_private
                elif s in (INTERN_PUB, WS_PUB):
                    r.boost_until[idx] = t + beh.activation_boost_weeks
                    r.boost_val[idx] = beh.activation_boost_public
                if s == EDU:
                    done = idx[r.edu_spell_len[idx] >= 100]
                    r.edu_level[done] = np.maximum(r.edu_level[done], np.where(np.isin(r.group[done], [G_DK, G_DESC]), 5, 3))
                    r.edu_known[done] = True
                    to_none = rest[self.u(r, rest, t, Slot.TIMED_END + 5) < 0.7]
                    r.state[to_none] = NONE
                    self.enter(r, np.setdiff1d(rest, to_none, assume_unique=True), PASSIVE, t, Slot.TIMED_END + 6)
                elif s == UI:
                    self.enter(r, rest, PASSIVE, t, Slot.TIMED_END + 6)
                else:
                    fam_home = rest[(r.group[rest] == G_FAM) & (s == DANISH)]
                    r.state[fam_home] = NONE
                    self.enter(r, np.setdiff1d(rest, fam_home, assume_unique=True), PASSIVE, t, Slot.TIMED_END + 6)

        # sickness interrupting a job (not the week it started)
        on_job = np.flatnonzero(present & (r.state == JOB) & (r.rem > 0))
        if len(on_job):
            sick = on_job[self.u(r, on_job, t, Slot.SICK_JOB) < beh.sick_from_job * r.sick_mult[on_job]]
            r.prev[sick] = JOB
            self.enter(r, sick, SICK, t, Slot.SICK_JOB + 1)

        # 5. hazard state PASSIVE
        idx = np.flatnonzero(present & (r.state == PASSIVE) & (age >= 18))
        if len(idx):
            c = cls[idx]
            prog_year = np.where(in_prog[idx], (day - r.intpgm_start_day[idx]) / DAYS_PER_YEAR, 99.0)
            early_w = np.where(ydk[idx] < 0.5, 0.4, 1.0)
            h_job = self.t_job_support[c] * exp_job[idx]
            h_act = self.t_act[c] * act_mult[idx] * early_w
            h_up = self.t_up[c] * early_w
            h_dan = np.where(
                in_prog[idx] & (r.group[idx] == G_REF),
                beh.danish_course_ref_first_year * beh.danish_course_decay_per_year ** np.floor(prog_year),
                0.0,
            )
            h_sick = beh.sick_from_support * r.sick_mult[idx]
            h_edu = np.where(age[idx] < 40, beh.edu_from_support, 0.0)
            h_off = self.t_off[c]
            h_oth = np.full(len(idx), beh.other_from_support)
            h_dis = np.where(age[idx] > 45, beh.disability_from_support_over_45 * (1 + 2 * (c >= C_WEAK)), 0.0)
            calm = np.where(c == C_STUCK, beh.stuck_other_multiplier, 1.0)  # stuck: few interruptions
            H = np.vstack([h_job, h_act, h_up, h_dan, h_sick * calm, h_edu * calm, h_off, h_oth * calm, h_dis * calm])
            dest = self._compete(r, idx, H, t, Slot.PASSIVE)
            self.draw_job(r, idx[dest == 0], t, Slot.PASSIVE + 1)
            self.enter_activation(r, idx[dest == 1], t, Slot.PASSIVE + 5)
            self.enter(r, idx[dest == 2], UPSKILL, t, Slot.PASSIVE + 10)
            self.enter(r, idx[dest == 3], DANISH, t, Slot.PASSIVE + 10)
            sick = idx[dest == 4]
            r.prev[sick] = PASSIVE
            self.enter(r, sick, SICK, t, Slot.PASSIVE + 10)
            self.enter(r, idx[dest == 5], EDU, t, Slot.PASSIVE + 10)
            r.state[idx[dest == 6]] = NONE
            self.enter(r, idx[dest == 7], OTHER, t, Slot.PASSIVE + 10)
            r.state[idx[dest == 8]] = DISAB

        # Danish course and upskilling: a job (with lock-in) or, from the course, activation
        idx = np.flatnonzero(present & ((r.state == DANISH) | (r.state == UPSKILL)) & (r.rem > 0))
        if len(idx):
            c = cls[idx]
            h_job = self.t_job_support[c] * exp_job[idx] * np.exp(beh.lock_in)
            h_act = np.where(r.state[idx] == DANISH, self.t_act[c] * act_mult[idx] * 0.5, 0.0)
            dest = self._compete(r, idx, np.vstack([h_job, h_act]), t, Slot.COURSE)
            self.draw_job(r, idx[dest == 0], t, Slot.COURSE + 1)
            self.enter_activation(r, idx[dest == 1], t, Slot.COURSE + 5)

        # 6. hazard state NONE
        idx = np.flatnonzero(present & (r.state == NONE) & (age >= 16))
        if len(idx):
            c = cls[idx]
            cn = np.where(r.home[idx] & (c < C_WEAK), C_HOME, c)
            adult = age[idx] >= 18
            h_job = self.t_job_none[cn] * exp_job[idx]
            h_claim = np.where(adult, self.t_claim[cn], 0.0)
            h_edu = np.where(age[idx] < 45, self.t_edu[cn], 0.0)
            dest = self._compete(r, idx, np.vstack([h_job, h_claim, h_edu]), t, Slot.NONE)
            self.draw_job(r, idx[dest == 0], t, Slot.NONE + 1)
            self.enter(r, idx[dest == 1], PASSIVE, t, Slot.NONE + 5)
            self.enter(r, idx[dest == 2], EDU, t, Slot.NONE + 5)

        # 7. the job centre's view at the end of the week; this week's paid hours (jobs, and
        # odd hours on passive support)
        self.update_weak_flag(r, t)
        wk = np.where(r.state == JOB, r.job_hours, 0.0)
        side = (r.state == PASSIVE) & (self.u(r, everyone, t, Slot.RECORD) < beh.side_job_weekly)
        wk = np.where(side, 4 + 11 * self.u(r, everyone, t, Slot.RECORD + 1), wk)
        r.in_year |= present
        return wk.astype(np.float32)

    def job_end_destination(self, r: Rows, idx: np.ndarray, t: int) -> None:
        if len(idx) == 0:
            return
        g = r.group[idx]
        u = self.u(r, idx, t, Slot.JOB_END)
        to_ui = r.insured[idx] & (u < 0.6)
        cash_p = np.select(
            [r.base_class[idx] >= C_WEAK, g == G_FAM, np.isin(g, [G_REF, G_OLDIMM, G_DESC])],
            [0.85, 0.3, 0.6],
            0.2,
        )
        to_cash = ~to_ui & (self.u(r, idx, t, Slot.JOB_END + 1) < cash_p)
        self.enter(r, idx[to_ui], UI, t, Slot.JOB_END + 2)
        self.enter(r, idx[to_cash], PASSIVE, t, Slot.JOB_END + 2)
        r.state[idx[~to_ui & ~to_cash]] = NONE


def simulate_chunk(
    p: Persons,
    cal: Calendar,
    munis: Municipalities,
    u_job: np.ndarray,
    u_act: np.ndarray,
    fw_log_hazard: np.ndarray,
    beh: Behaviour,
    crng: CounterRNG,
    weak_q: np.ndarray,
    nonwestern: np.ndarray,
    on_week: Callable[[], None] | None = None,
) -> ChunkHistory:
    """Simulate every person of the chunk over the whole grid (the delivered world)."""
    n, W, Y = p.n, cal.n_weeks, len(cal.years)
    M = len(cal.months)
    r = make_rows(p, cal, beh, weak_q, nonwestern)
    stepper = WeekStepper(cal, munis, u_job, u_act, fw_log_hazard, beh, crng)
    states = np.zeros((W, n), np.int8)
    hours = np.zeros((n, M), np.float32)
    kom_year = np.full((n, Y), -1, np.int32)
    kids_year = np.zeros((n, Y), np.int8)
    civst_year = np.zeros((n, Y), np.int8)
    edu_level_year = np.zeros((n, Y), np.int8)
    edu_known_year = np.zeros((n, Y), bool)
    effect = np.zeros((W, n), bool)
    year_lasts = {cal.last_week_of_year(y): i for i, y in enumerate(cal.years)}
    for t in range(W):
        wk = stepper.step(r, t)
        states[t] = r.state
        effect[t] = r.acting
        mi = int(cal.week_month[t])
        if mi >= 0:
            hours[:, mi] += wk
        if t in year_lasts:
            j = year_lasts[t]
            kom_year[:, j] = np.where(r.in_year, r.kom, -1)
            kids_year[:, j] = r.kids
            civst_year[:, j] = r.civst
            edu_level_year[:, j] = r.edu_level
            edu_known_year[:, j] = r.edu_known
        if on_week is not None:
            on_week()
    return ChunkHistory(
        states=states, hours=hours, kom_year=kom_year, kids_year=kids_year, civst_year=civst_year,
        edu_level_year=edu_level_year, edu_known_year=edu_known_year, effect=effect,
    )


#: Replicate streams shift the random-number key of a copy (person numbers stay below 2^40).
STREAM_SHIFT = 1 << 40


@dataclass
class ForkWindows:
    """Copies of the members from their fork week on: weekly states and hours.

    Copy ``c`` belongs to member ``member[c]``, replicate ``replicate[c]`` (0 = the delivered
    world's random numbers) and ``world[c]`` (1 = municipality effects as planted, 0 = set to
    0 from the week after the fork, 2 = effects as planted but the framework conditions no
    longer acting from the week after the fork). Replicate 0 has no world-1 copy: that is
    the delivered world itself.
    """

    member: np.ndarray
    replicate: np.ndarray
    world: np.ndarray
    fork_week: np.ndarray
    states: np.ndarray  # int8 [copy, window week]
    hours: np.ndarray  # float32 [copy, window week]
    month_hours_before: np.ndarray  # float32 [copy]: hours of the fork month up to the fork week


def simulate_counterfactual(
    p: Persons,
    rows: np.ndarray,
    fork_week: np.ndarray,
    window: int,
    cal: Calendar,
    munis: Municipalities,
    u_job: np.ndarray,
    u_act: np.ndarray,
    fw_log_hazard: np.ndarray,
    beh: Behaviour,
    crng: CounterRNG,
    weak_q: np.ndarray,
    nonwestern: np.ndarray,
    replicates: int = 1,
    check_states: np.ndarray | None = None,
    framework_copy: bool = False,
    redraw_fork_week: np.ndarray | None = None,
) -> ForkWindows:
    """Counterfactual copies of the members ``rows`` (one row per member).

    Each member is simulated again with the same random numbers up to ``fork_week`` (the
    week its clock starts), where it is copied: for replicate 0 one copy in which no
    municipality effect acts (the delivered world is its pair); for each further replicate r
    a pair of copies with fresh random numbers (stream r) from the fork on, one with the
    effects as planted and one without. Every copy runs ``window`` weeks from the fork week.
    With ``framework_copy`` each member also gets one copy (replicate 0's random numbers) in
    which the framework conditions stop acting: the counterfactual of the framework effect.

    Where the fork week starts, per member (``redraw_fork_week``, default all True):

    - True (refugees, family-reunified: the clock starts at the permit, and the effect already
      acts in the week of arrival): the copy starts from the state before the fork week, and
      the fork week itself is simulated again, without the effect in world 0 (and without the
      framework conditions in world 2), with fresh random numbers in replicates r >= 1.
    - False (the weakest: the clock starts with the week's entry into a spell on support,
      in which no effect acts yet, as it acts on persons already on support): the fork week
      is the original's, and the effects stop from the next week on, so every copy starts
      the same spell.

    ``check_states`` ([week, row] of the delivered world) asserts that the replay equals the
    delivered world up to each fork: the common random numbers at work.
    """
    uniq = np.unique(rows)
    sub = p.take(uniq)
    pos = np.searchsorted(uniq, rows)
    orig = make_rows(sub, cal, beh, weak_q[uniq], nonwestern[uniq])
    stepper = WeekStepper(cal, munis, u_job, u_act, fw_log_hazard, beh, crng)
    W = cal.n_weeks
    k = len(rows)
    # copy layout: member-major; per member 1 + 2 (replicates - 1) copies
    reps_one = [0] + [r for r in range(1, replicates) for _ in (0, 1)] + ([0] if framework_copy else [])
    worlds_one = [0] + [w for _ in range(1, replicates) for w in (1, 0)] + ([2] if framework_copy else [])
    per = len(reps_one)
    member = np.repeat(np.arange(k), per)
    rep = np.tile(np.array(reps_one, np.int64), k)
    world = np.tile(np.array(worlds_one, np.int64), k)
    n_copies = k * per
    out_states = np.zeros((n_copies, window), np.int8)
    out_hours = np.zeros((n_copies, window), np.float32)
    before = np.zeros(n_copies, np.float32)
    month_acc = np.zeros(len(uniq), np.float32)  # the originals' hours of the current month
    last_needed = int(fork_week.max()) + window if k else 0
    last_fork = int(fork_week.max()) if k else -1
    copies: Rows | None = None
    copy_ids = np.zeros(0, np.int64)
    redraw = np.ones(k, bool) if redraw_fork_week is None else np.asarray(redraw_fork_week, bool)
    if redraw.shape != (k,):
        raise ValueError("redraw_fork_week must hold one flag per member")
    by_week: dict[int, list[int]] = {}
    for i, w in enumerate(fork_week.tolist()):
        by_week.setdefault(int(w), []).append(i)
    no_effect = np.iinfo(np.int64).max

    def fork(ids: np.ndarray, t: int, effect_from: int, acc: np.ndarray | None) -> None:
        nonlocal copies, copy_ids
        cid = (ids[:, None] * per + np.arange(per)[None, :]).ravel()
        new = orig.take(np.repeat(pos[ids], per))
        new.pid = new.pid + rep[cid] * STREAM_SHIFT
        new.effect_from = np.where(world[cid] == 0, effect_from, no_effect)
        new.framework_from = np.where(world[cid] == 2, effect_from, no_effect)
        before[cid] = np.repeat(acc[pos[ids]], per) if acc is not None else 0.0
        copies = new if copies is None or copies.n == 0 else Rows.concat([copies, new])
        copy_ids = np.concatenate([copy_ids, cid])

    for t in range(min(W, last_needed)):
        mi = int(cal.week_month[t])
        if t <= last_fork:
            if mi >= 0 and t > 0 and int(cal.week_month[t - 1]) != mi:
                month_acc[:] = 0
            acc_before = month_acc.copy() if t in by_week else None
            if t in by_week:  # copies that simulate the fork week again start before its step
                ids_t = np.array(by_week[t], np.int64)
                pre = ids_t[redraw[ids_t]]
                if pre.size:
                    fork(pre, t, t, acc_before if mi >= 0 else None)
            wk = stepper.step(orig, t)
            if mi >= 0:
                month_acc += wk
            if check_states is not None and not np.array_equal(orig.state.astype(np.int8), check_states[t, uniq]):
                raise AssertionError(f"counterfactual replay differs from the delivered world in week {t}")
        if copies is not None and copies.n:
            wk_c = stepper.step(copies, t)
            rel = t - fork_week[member[copy_ids]]
            live = rel < window
            out_states[copy_ids[live], rel[live]] = copies.state[live].astype(np.int8)
            out_hours[copy_ids[live], rel[live]] = wk_c[live]
            if not live.all():
                copies = copies.take(np.flatnonzero(live))
                copy_ids = copy_ids[live]
        if t in by_week:  # copies that keep the original's fork week start after its step
            ids_t = np.array(by_week[t], np.int64)
            post = ids_t[~redraw[ids_t]]
            if post.size:
                cid = (post[:, None] * per + np.arange(per)[None, :]).ravel()
                out_states[cid, 0] = orig.state[np.repeat(pos[post], per)].astype(np.int8)
                out_hours[cid, 0] = np.repeat(wk[pos[post]], per)
                fork(post, t, t + 1, acc_before if mi >= 0 else None)
    return ForkWindows(member=member, replicate=rep, world=world, fork_week=np.repeat(fork_week, per),
                       states=out_states, hours=out_hours, month_hours_before=before)
