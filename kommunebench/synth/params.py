"""Behavioural parameters of the synthetic register world (all in one place).

Time unit: one week. Hazards are weekly probabilities on the log scale's baseline
(``h = base * exp(linear predictor)``, then ``p = 1 - exp(-h)``). Every value here is
a modelling choice made to resemble the published figures of domain.md section 6; none
is an estimate from real data. ``generate`` writes them to ``truth/truth.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Internal person groups, in the order used for the integer ``group`` codes.
GROUPS: tuple[str, ...] = ("dk", "west", "desc", "oldimm", "otherimm", "ref", "fam")
G_DK, G_WEST, G_DESC, G_OLDIMM, G_OTHERIMM, G_REF, G_FAM = range(len(GROUPS))

#: Share of persons per group. Background (Danes, western immigrants, descendants, new
#: immigrants on work/study/child permits) is a minority, so the cohort filters matter.
GROUP_SHARES: dict[str, float] = {
    "dk": 0.04,
    "west": 0.03,
    "desc": 0.02,
    "oldimm": 0.315,  # about 23,000 weakest immigrants 2011-2015 at national size (SIZES.md: 4,500-6,000 new spells a year)
    "otherimm": 0.03,
    "ref": 0.26,
    "fam": 0.305,
}

#: Relative number of new residence permits per calendar year (years not listed: the
#: ``default`` entry), proportional to the yearly national targets of
#: ``bench/calibration/SIZES.md``: refugees aged 18-64 = asylum permits (Statistics Denmark /
#: Udlændingestyrelsen; 2,585 in 2012, 3,889 in 2013, 6,110 in 2014, 10,849 in 2015, 7,493
#: in 2016, 2,750 in 2017, 1,652 in 2018) x 0.7 adults; 2008-2010 not found, set near 2011.
#: Spouses: spouse permits (3,225 in 2018; about 60-70 % of all family-reunification permits
#: in other years) x 0.85 non-western.
ARRIVAL_WEIGHTS: dict[str, dict[int | str, float]] = {
    "ref": {2008: 1.25, 2009: 1.3, 2010: 1.45, 2011: 1.6, 2012: 1.8, 2013: 2.7, 2014: 4.3,
            2015: 7.6, 2016: 5.2, 2017: 1.9, 2018: 0.7, "default": 1.2},
    "fam": {2008: 2.8, 2009: 2.8, 2010: 2.8, 2011: 2.7, 2012: 2.6, 2013: 3.6, 2014: 3.2,
            2015: 5.0, 2016: 5.0, 2017: 3.8, 2018: 2.7, "default": 2.8},
    "otherimm": {"default": 1.0},
}


@dataclass(frozen=True)
class Behaviour:
    # --- municipality truth -------------------------------------------------------
    # per target group (svage_indvandrere, flygtninge, familiesammenfoerte); chosen so that
    # the truth on the benchmark's scale (synth.truth) has a between-municipality sd of
    # about 0.15 / 0.17 / 0.12 on the log rate ratio: at the published spread (about 0.05) the
    # data of a country this size could not tell municipalities apart at all
    # (bench/calibration/RESULTS.md, VARIANCE_SEEDS.md)
    job_effect_sd: tuple[float, float, float] = (0.19, 0.14, 0.22)
    activation_effect_sd: tuple[float, float, float] = (0.25, 0.20, 0.25)
    rho_groups: float = 0.5  # correlation of a municipality's effects across target groups
    rho_job_activation: float = 0.5
    effect_law: str = "normal"  # municipalities.EFFECT_LAWS: normal, t3, mixture

    # --- individual covariates on the log job hazard ---------------------------------
    beta_age_per_year_over_35: float = -0.03
    beta_age_per_year_under_25: float = -0.02
    beta_female: float = -0.30
    beta_female_per_child: float = -0.12  # per child up to 3, women only
    beta_education_level: float = 0.10  # per level 1-6 (0 unknown counts as 1)
    beta_health: float = 0.25  # latent health (sd 1); prior sickness is its proxy
    beta_years_in_dk: float = 0.35  # per log(1 + years in Denmark), newcomers
    frailty_sd: float = 0.5  # unobserved heterogeneity
    activation_boost_private: float = 0.40  # log-hazard after private internship/wage subsidy
    activation_boost_public: float = 0.15
    activation_boost_weeks: int = 26
    lock_in: float = -0.7  # log-hazard while in Danish course or upskilling
    beta_health_sick: float = -0.6  # latent health on the sickness hazard

    # --- weekly baseline hazards by group (job entry) ---------------------------------
    job_from_support: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.045, "west": 0.035, "desc": 0.025, "oldimm": 0.006, "otherimm": 0.03,
        "ref": 0.0031, "fam": 0.012, "weak": 0.0033, "stuck": 0.0002,
    })
    job_from_none: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.05, "west": 0.05, "desc": 0.03, "oldimm": 0.012, "otherimm": 0.05,
        "ref": 0.006, "fam": 0.045, "weak": 0.010, "stuck": 0.0005, "home": 0.0003,
    })
    # entering company internship or wage subsidy from passive support / courses
    activation: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.01, "west": 0.01, "desc": 0.01, "oldimm": 0.008, "otherimm": 0.01,
        "ref": 0.0083, "fam": 0.008, "weak": 0.0045, "stuck": 0.00025,
    })
    # split of activation entries: internship private/public, wage subsidy private/public
    activation_split: tuple[float, float, float, float] = (0.38, 0.27, 0.17, 0.18)
    upskill: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.01, "west": 0.01, "desc": 0.01, "oldimm": 0.008, "otherimm": 0.01,
        "ref": 0.006, "fam": 0.008, "weak": 0.004, "stuck": 0.0004,
    })
    # leaving support to no support (sanctions, travel, partner's income)
    off_support: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.01, "west": 0.02, "desc": 0.01, "oldimm": 0.008, "otherimm": 0.02,
        "ref": 0.0015, "fam": 0.01, "weak": 0.009, "stuck": 0.0045,
    })
    # claiming support from no support
    claim: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.002, "west": 0.002, "desc": 0.004, "oldimm": 0.004, "otherimm": 0.001,
        "ref": 0.02, "fam": 0.0010, "weak": 0.15, "stuck": 0.2, "home": 0.00008,
    })
    edu_from_none: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.004, "west": 0.001, "desc": 0.006, "oldimm": 0.0005, "otherimm": 0.002,
        "ref": 0.0008, "fam": 0.0004, "weak": 0.0002, "stuck": 0.0, "home": 0.0001,
    })
    edu_from_support: float = 0.0015
    sick_from_support: float = 0.0015
    sick_from_job: float = 0.0025
    other_from_support: float = 0.0012
    disability_from_support_over_45: float = 0.0006
    danish_course_ref_first_year: float = 0.09  # refugees in the programme, year 1
    danish_course_decay_per_year: float = 0.45  # multiplier per programme year

    # --- probabilities of a job at the end of a measure (logit scale base) -----------
    job_after: dict[str, float] = field(default_factory=lambda: {
        "intern_priv": 0.20, "intern_pub": 0.07, "ws_priv": 0.35, "ws_pub": 0.12,
        "upskill": 0.04, "danish": 0.02, "edu": 0.40, "ui": 0.65, "other": 0.15,
    })

    # --- yearly emigration probability by group ---------------------------------------
    emigration: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.003, "west": 0.08, "desc": 0.01, "oldimm": 0.008, "otherimm": 0.15,
        "ref": 0.012, "fam": 0.012,
    })
    moving: dict[str, float] = field(default_factory=lambda: {
        "dk": 0.04, "west": 0.06, "desc": 0.05, "oldimm": 0.03, "otherimm": 0.06,
        "ref": 0.05, "fam": 0.04,
    })

    # --- latent classes -----------------------------------------------------------------
    weak_share_oldimm: float = 0.62  # established immigrants with problems beyond unemployment
    stuck_share_weak: float = 0.65  # of whom almost never activated or employed
    stuck_other_multiplier: float = 0.3  # their hazards of sickness, education, other support
    weak_share_ref: float = 0.30  # refugees still on support after 3 years become "weak"
    weak_share_fam: float = 0.10
    home_share_fam: float = 0.19  # family-reunified who stay home (partner supports)
    home_share_ref_women: float = 0.10
    integration_act_share: float = 0.95  # adults covered by the integration act
    side_job_weekly: float = 0.02  # odd hours while on passive support
