"""Realistic aggregate-level report inputs for tests and for previewing the report.

Nothing here is real: the figures are drawn so that they resemble what domain.md §6 says
a full run should show (about 1 in 6 weakest immigrants and 1 in 4 refugees with a job
within the follow-up, over 65 % of the family-reunified; top fifth about 10 % faster and
bottom fifth about 6 % slower than expected; about two-thirds within ±5 %; passive
municipalities succeed least). A few units are deliberately tiny (fewer than 5 persons)
so that disclosure control has cells to suppress.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy import stats

from kommunebench.refdata import municipalities
from kommunebench.report.inputs import MEASURES, TARGET_GROUPS, ReportInputs
from kommunebench.states import ALPHABET

#: Shared job centres pooled into one reporting unit (domain.md §4.6).
POOLED_UNITS: tuple[tuple[int, ...], ...] = ((561, 563), (813, 825), (185, 175), (187, 183))

_FOLLOW_UP = {"svage_indvandrere": 104, "flygtninge": 156, "familiesammenfoerte": 156}
_TOTAL_PERSONS = {"svage_indvandrere": 14000, "flygtninge": 9000, "familiesammenfoerte": 6500}
_SUCCESS_SHARE = {
    ("svage_indvandrere", "success"): 0.17,
    ("flygtninge", "success"): 0.26,
    ("familiesammenfoerte", "success"): 0.66,
    ("svage_indvandrere", "partial_success"): 0.22,
    ("flygtninge", "partial_success"): 0.48,
    ("familiesammenfoerte", "partial_success"): 0.18,
}
#: Units made tiny on purpose: (target_group, kom) -> persons.
_TINY = {("flygtninge", 492): 3, ("flygtninge", 741): 4, ("svage_indvandrere", 741): 2,
         ("familiesammenfoerte", 492): 4, ("familiesammenfoerte", 741): 6}
_MIN_PERSONS = 40
_BIG = {101: 12.0, 751: 6.0, 461: 4.5, 851: 4.0, 147: 2.5, 167: 2.0, 169: 2.0, 630: 2.0}


def _units() -> pd.DataFrame:
    ref = municipalities().to_pandas()
    names = dict(zip(ref["kommunekode"].astype(int), ref["navn"]))
    pooled = {k: grp for grp in POOLED_UNITS for k in grp}
    rows, seen = [], set()
    for kom in sorted(names):
        if kom in seen:
            continue
        grp = pooled.get(kom, (kom,))
        seen.update(grp)
        rows.append({
            "kom": grp[0],
            "unit_name": "-".join(names[k] for k in grp),
            "members": "+".join(str(k) for k in grp),
        })
    return pd.DataFrame(rows)


def _league(rng: np.random.Generator) -> pd.DataFrame:
    units = _units()
    n_units = len(units)
    size_weight = rng.lognormal(0.0, 0.7, n_units)
    for i, kom in enumerate(units["kom"]):
        size_weight[i] *= _BIG.get(int(kom), 1.0)
    # municipality "quality" and activity profile, shared by the groups
    quality = rng.normal(0.0, 1.0, n_units)
    passive_z = -0.6 * quality + rng.normal(0.0, 0.8, n_units)
    active_z = 0.6 * quality + rng.normal(0.0, 0.8, n_units)
    out = []
    for g in TARGET_GROUPS:
        persons = np.maximum(np.round(size_weight / size_weight.sum() * _TOTAL_PERSONS[g]), 12).astype(int)
        for (tg, kom), n in _TINY.items():
            if tg == g:
                persons[units.index[units["kom"] == kom][0]] = n
        horizon = _FOLLOW_UP[g]
        passive = np.clip({"svage_indvandrere": 0.55, "flygtninge": 0.35, "familiesammenfoerte": 0.2}[g]
                          + 0.08 * passive_z, 0.02, 0.95)
        active = np.clip({"svage_indvandrere": 0.25, "flygtninge": 0.5, "familiesammenfoerte": 0.2}[g]
                         + 0.08 * active_z, 0.01, 0.95)
        for m in MEASURES:
            true_effect = 0.045 * quality + rng.normal(0.0, 0.015, n_units)  # fraction faster
            p_exp = np.clip(_SUCCESS_SHARE[(g, m)] * rng.lognormal(0.0, 0.1, n_units), 0.02, 0.95)
            expected = persons * p_exp
            rmst_exp = horizon * (1 - 0.55 * p_exp)
            se = 0.45 * (1 - p_exp) / np.sqrt(persons) + 0.004  # of the indicator, as a fraction
            ind = true_effect + rng.normal(0.0, 1.0, n_units) * se
            # faster than expected <=> more events than expected (plus a little binomial noise)
            p_obs = np.clip(p_exp * (1 + 1.2 * ind), 0.01, 0.99)
            events = np.round(0.7 * persons * p_obs + 0.3 * rng.binomial(persons, p_obs)).astype(int)
            rmst_obs = rmst_exp * (1 - ind)
            ind_pct = 100 * (rmst_exp - rmst_obs) / rmst_exp
            se_pct = 100 * se
            weeks = rmst_exp - rmst_obs
            too_small = persons < _MIN_PERSONS
            # empirical Bayes: shrink toward 0 with between-unit variance tau^2
            tau2 = max(np.var(ind_pct[~too_small]) - np.mean(se_pct[~too_small] ** 2), 1.0)
            shrink = tau2 / (tau2 + se_pct**2)
            eb = shrink * ind_pct
            eb_se = np.sqrt(shrink) * se_pct
            # ranks among rankable units (1 = best) and their bootstrap-like interval
            rankable = np.flatnonzero(~too_small)
            draws = rng.normal(ind_pct[rankable], se_pct[rankable], size=(400, rankable.size))
            draw_rank = (-draws).argsort(axis=1).argsort(axis=1) + 1
            point_rank = (-ind_pct[rankable]).argsort().argsort() + 1
            n_rank = rankable.size
            rank = np.full(n_units, np.nan)
            rank_lo = np.full(n_units, np.nan)
            rank_hi = np.full(n_units, np.nan)
            p_top = np.full(n_units, np.nan)
            fifth = np.full(n_units, np.nan)
            rank[rankable] = point_rank
            rank_lo[rankable] = np.percentile(draw_rank, 2.5, axis=0, method="lower")
            rank_hi[rankable] = np.percentile(draw_rank, 97.5, axis=0, method="higher")
            p_top[rankable] = (draw_rank <= n_rank / 5).mean(axis=0)
            fifth[rankable] = np.ceil(5 * point_rank / n_rank)
            lower, upper = ind_pct - 1.96 * se_pct, ind_pct + 1.96 * se_pct
            cls = np.where(
                too_small, "too_small",
                np.where(lower > 0, "better", np.where(upper < 0, "worse",
                         np.where(np.abs(ind_pct) <= 5, "as_expected", "not_distinguishable"))),
            )
            oe = events / expected
            oe_lo = stats.chi2.ppf(0.025, 2 * events) / 2 / expected
            oe_hi = stats.chi2.ppf(0.975, 2 * events + 2) / 2 / expected
            frame = units.copy()
            frame.insert(0, "measure", m)
            frame.insert(0, "target_group", g)
            frame = frame.assign(
                persons=persons, events_observed=events, events_expected=expected.round(2),
                oe_ratio=oe, oe_lower=np.nan_to_num(oe_lo, nan=0.0), oe_upper=oe_hi,
                rmst_observed=rmst_obs, rmst_expected=rmst_exp,
                indicator_pct=np.where(too_small, np.nan, ind_pct),
                indicator_lower=np.where(too_small, np.nan, lower),
                indicator_upper=np.where(too_small, np.nan, upper),
                weeks_difference=np.where(too_small, np.nan, weeks),
                weeks_lower=np.where(too_small, np.nan, weeks - 1.96 * se * rmst_exp),
                weeks_upper=np.where(too_small, np.nan, weeks + 1.96 * se * rmst_exp),
                indicator_eb=eb, eb_lower=eb - 1.96 * eb_se, eb_upper=eb + 1.96 * eb_se,
                rank=pd.array(rank, dtype="Float64").astype("Int64"),
                rank_lower=pd.array(rank_lo, dtype="Float64").astype("Int64"),
                rank_upper=pd.array(rank_hi, dtype="Float64").astype("Int64"),
                p_top_fifth=p_top, fifth=pd.array(fifth, dtype="Float64").astype("Int64"),
                **{"class": cls}, too_small=too_small,
                funnel_lower=np.maximum(1 - 1.96 / np.sqrt(expected), 0.0),
                funnel_upper=1 + 1.96 / np.sqrt(expected),
                share_weeks_passive=passive, share_wage_subsidy_or_internship=active,
            )
            out.append(frame)
    return pd.concat(out, ignore_index=True)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _chronogram(rng: np.random.Generator) -> pd.DataFrame:
    # log-weight of each state at week 0 and its drift per year, per group
    start = {
        "svage_indvandrere": {"PASSIVE": 3.0, "UPSKILL": 1.6, "INTERN": 0.6, "SICK": 0.3, "OTHER": 0.8,
                              "JOB": -1.2, "WS_PRIV": -0.8, "WS_PUB": -1.0, "EDU": -2.0, "NONE": 0.0},
        "flygtninge": {"PASSIVE": 2.2, "UPSKILL": 2.6, "INTERN": 0.8, "NONE": 0.2, "OTHER": 0.3,
                       "JOB": -1.6, "WS_PRIV": -0.6, "WS_PUB": -0.8, "EDU": -0.5},
        "familiesammenfoerte": {"NONE": 2.6, "PASSIVE": 1.0, "UPSKILL": 1.6, "JOB": 1.2},
    }
    drift = {"JOB": 1.1, "WS_PRIV": 0.6, "INTERN": 0.2, "UPSKILL": -0.9, "PASSIVE": -0.4,
             "EDU": 0.4, "CENS": 1.2, "NONE": 0.1, "WS_PUB": 0.3}
    rows = []
    for g in TARGET_GROUPS:
        total = 1000 * round(_TOTAL_PERSONS[g] / 1000)
        base = np.full(len(ALPHABET), -7.5)
        for s, v in start[g].items():
            base[ALPHABET.index(s)] = v
        if g == "familiesammenfoerte":
            drift_g = {**drift, "JOB": 1.4}
        else:
            drift_g = drift
        slope = np.array([drift_g.get(s, -0.2) for s in ALPHABET])
        for w in range(1, _FOLLOW_UP[g] + 1):
            z = base + slope * (w / 52) + rng.normal(0, 0.03, len(ALPHABET))
            z[ALPHABET.index("CENS")] = -6 + 1.1 * w / 52
            share = _softmax(z)
            n = np.round(share * total).astype(int)
            observed = n.sum()
            for s, k in zip(ALPHABET, n):
                rows.append({"target_group": g, "week": w, "state": s, "share": k / observed, "n": int(k)})
    return pd.DataFrame(rows)


def _runs(runs: list[tuple[str, int]]) -> list[str]:
    return [s for s, k in runs for _ in range(k)]


def _clusters(rng: np.random.Generator) -> pd.DataFrame:
    spec = {
        "svage_indvandrere": [
            ("Long-term passive", 0.42, [("PASSIVE", 104)]),
            ("Activation, then passive", 0.23, [("UPSKILL", 26), ("INTERN", 13), ("PASSIVE", 65)]),
            ("Sickness and other support", 0.17, [("PASSIVE", 20), ("SICK", 40), ("OTHER", 44)]),
            ("Wage subsidy into job", 0.18, [("PASSIVE", 30), ("WS_PRIV", 26), ("JOB", 48)]),
        ],
        "flygtninge": [
            ("Language courses, then job", 0.24, [("UPSKILL", 52), ("JOB", 104)]),
            ("Long-term passive", 0.31, [("PASSIVE", 30), ("UPSKILL", 40), ("PASSIVE", 86)]),
            ("Internship and wage subsidy", 0.27, [("UPSKILL", 26), ("INTERN", 26), ("WS_PRIV", 26), ("JOB", 78)]),
            ("Education", 0.18, [("UPSKILL", 40), ("EDU", 116)]),
            ("Early emigration", None, [("UPSKILL", 10), ("CENS", 146)]),
        ],
        "familiesammenfoerte": [
            ("Quick job", 0.52, [("NONE", 8), ("JOB", 148)]),
            ("Self-supported, no job", 0.24, [("NONE", 156)]),
            ("Upskilling, then job", 0.16, [("UPSKILL", 40), ("JOB", 116)]),
            ("Passive support", 0.08, [("PASSIVE", 156)]),
        ],
    }
    rows = []
    for g, clusters in spec.items():
        total = 1000 * round(_TOTAL_PERSONS[g] / 1000)
        for i, (label, share, runs) in enumerate(clusters, start=1):
            size = 3 if share is None else int(round(share * total))
            rows.append({
                "target_group": g, "cluster": i, "label": label, "size": size,
                "medoid": _runs(runs), "silhouette": round(float(rng.uniform(0.12, 0.48)), 3),
            })
    df = pd.DataFrame(rows)
    df["share"] = df["size"] / df.groupby("target_group")["size"].transform("sum")
    return df[["target_group", "cluster", "label", "size", "share", "medoid", "silhouette"]]


def _coefficients(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, object]]:
    terms = {
        "age_30_39": -0.12, "age_40_49": -0.35, "age_50_64": -0.80, "female": -0.30,
        "origin_middle_east": -0.15, "origin_africa": -0.05, "married": 0.05, "children_0_5": -0.20,
        "education_known": 0.18, "years_in_denmark": 0.04, "prior_employment_weeks": 0.015,
        "prior_sickness_weeks": -0.01, "local_unemployment_pct": -0.06, "jobs_per_resident": 0.9,
        "share_nonwestern_pct": -0.01,
    }
    rows, diagnostics = [], {}
    for g in TARGET_GROUPS:
        for m in MEASURES:
            for t, beta in terms.items():
                coef = beta * rng.uniform(0.7, 1.3)
                se = abs(beta) * rng.uniform(0.12, 0.5) + 0.01
                rows.append({
                    "target_group": g, "measure": m, "term": t, "coef": coef, "se": se, "hr": np.exp(coef),
                    "lower": np.exp(coef - 1.96 * se), "upper": np.exp(coef + 1.96 * se),
                    "p": 2 * stats.norm.sf(abs(coef / se)),
                })
            diagnostics[f"{g}/{m}"] = {
                "model": "Cox proportional hazards (Breslow ties), no municipality effect",
                "persons": _TOTAL_PERSONS[g],
                "concordance": round(float(rng.uniform(0.62, 0.71)), 3),
                "log_likelihood_ratio_test_p": "<0.001",
                "variation_explained_by_framework_pct": round(float(rng.uniform(35, 50)), 1),
            }
    return pd.DataFrame(rows), diagnostics


def _data_quality() -> pd.DataFrame:
    return pd.DataFrame([
        ("raw_dream", "columns_match_register_contract", True, 0),
        ("raw_dream", "pnr_not_null_and_unique", True, 0),
        ("spells", "no_overlapping_spells", True, 0),
        ("spells", "codes_in_codebook", False, 3),
        ("cohorts", "one_row_per_person", True, 0),
        ("cohorts", "municipality_known", False, 120),
        ("outcomes", "event_week_within_follow_up", True, 0),
        ("benchmark", "one_row_per_unit", True, 0),
    ], columns=["asset", "check", "passed", "failing_rows"])


def _checksums(seed: int) -> pd.DataFrame:
    files = [("dream.sas7bdat", 7_200_000), ("bef2014.parquet", 5_700_000), ("ophg.csv", 910_000),
             ("udda2014.parquet", 4_100_000), ("framework_conditions.csv", 98 * 7)]
    return pd.DataFrame([
        {"file": f, "sha256": hashlib.sha256(f"{seed}:{f}".encode()).hexdigest(), "rows": r} for f, r in files
    ])


def build_demo_inputs(seed: int = 2016) -> ReportInputs:
    """Realistic, invented aggregate inputs: 94 reporting units (98 municipalities with
    four shared job centres pooled) x 3 target groups x 2 measures, chronograms,
    cluster typologies, model coefficients, data-quality results, settings, checksums.
    Deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    league = _league(rng)
    coefs, diagnostics = _coefficients(rng)
    return ReportInputs(
        league=league,
        chronogram=_chronogram(rng),
        clusters=_clusters(rng),
        coefficients=coefs,
        diagnostics=diagnostics,
        data_quality=_data_quality(),
        settings={
            "cohort_years": "2012-2014 (pooled)",
            "follow_up_weeks": dict(_FOLLOW_UP),
            "success_run_weeks": 3,
            "small_unit_min_persons": _MIN_PERSONS,
            "pooled_job_centres": ["+".join(map(str, p)) for p in POOLED_UNITS],
            "bootstrap_replicates": 400,
            "as_expected_band_pct": 5,
            "n_clusters": "chosen by average silhouette",
            "disclosure_threshold": 5,
            "demo_data": True,
        },
        code_version=f"demo-{seed}",
        input_checksums=_checksums(seed),
        run_label=f"Demo data (seed {seed}): invented figures for previewing the report",
    )
