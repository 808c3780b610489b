"""Synthetic benchmark input with planted municipality effects, for tests and bench/.

The data follow the schema of ``run_benchmark``'s input (one row per person of one target group,
pooled over cohort years). Times are drawn from a proportional-hazards Weibull model and grouped
to weeks:

    h_i(t) = h0(t) exp(eta_i),  H0(t) = (t / lambda)^shape,
    eta_i = x_i' beta + f_{kom, year}' gamma + cohort_year effect + u_kom,  u_kom ~ N(0, sd_effect^2)

lambda is calibrated so that a share ``success_share`` would succeed within ``horizon`` without
censoring; competing exits (emigration, education) censor at a constant weekly rate
``dropout_per_year``. duration = first week of success, censoring week, or the horizon.
The framework conditions (``ledighed_pendling`` etc.) vary by municipality and cohort year and
are independent of u, so the framework share of the between-municipality variance of
u + f'gamma is known (``true_framework_share``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from kommunebench.refdata import municipalities

NUMERIC = [
    "age",
    "female",
    "children",
    "years_in_dk",
    "prior_employment_weeks",
    "prior_benefit_weeks",
    "prior_sick_weeks",
]
FRAMEWORK = ["ledighed_pendling", "job_pr_indb", "andel_ikkevestlig", "andel_industri"]
CATEGORICAL = ["origin_region", "civil_status", "education_level"]

_TRUE_BETA = {
    "age": -0.025,  # per year, centred at 40
    "female": -0.35,
    "children": -0.06,
    "years_in_dk": 0.03,
    "prior_employment_weeks": 0.006,
    "prior_benefit_weeks": -0.002,
    "prior_sick_weeks": -0.012,
}
_TRUE_GAMMA = {  # framework conditions, per unit, centred at their national means
    "ledighed_pendling": -0.06,  # per percentage point of commuting-area unemployment
    "job_pr_indb": 0.40,  # per job per inhabitant
    "andel_ikkevestlig": -0.004,
    "andel_industri": 0.002,
}
_LEVELS = {
    "origin_region": (["middle_east", "africa", "asia", "eastern_europe", "other"], [0.45, 0.25, 0.15, 0.10, 0.05], [0.0, -0.15, 0.10, 0.20, 0.05]),
    "civil_status": (["married", "single", "divorced_widowed"], [0.55, 0.35, 0.10], [0.0, 0.10, -0.10]),
    "education_level": (["none_unknown", "primary", "upper_secondary", "higher"], [0.40, 0.30, 0.20, 0.10], [0.0, 0.10, 0.25, 0.35]),
}


@dataclass(frozen=True)
class SimulatedBenchmark:
    """Synthetic persons, the planted truth per municipality, and the covariate lists."""

    persons: pd.DataFrame
    truth: pd.DataFrame  # kom, unit_name, persons, true_log_hr, framework_lp
    numeric: list[str]
    categorical: list[str]
    framework: list[str]
    true_framework_share: float  # var(framework_lp) / (var(framework_lp) + sd_effect^2)
    shape: float


def simulate_benchmark_data(
    n_persons: int,
    n_muni: int = 98,
    sd_effect: float = 0.10,
    seed: int = 0,
    *,
    horizon: int = 104,
    success_share: float = 0.36,
    shape: float = 0.9,
    n_cohorts: int = 4,
    first_cohort: int = 2012,
    size_sd: float = 1.1,
    dropout_per_year: float = 0.05,
    planted: dict[int, float] | None = None,
    size_weights: dict[int, float] | None = None,
) -> SimulatedBenchmark:
    """Simulate persons with known municipality log-hazard effects (see module docstring).

    ``n_muni`` municipalities are taken from the reference table in code order; their sizes are
    multinomial with lognormal(0, ``size_sd``) weights (about 1:150 between smallest and
    largest). ``planted`` overrides the drawn effect u of given municipality codes (e.g. a
    strong effect for a test). ``size_weights`` (code -> weight, e.g. population) replaces the
    lognormal weights; every municipality gets at least 5 persons.
    """
    if n_persons < 10 * n_muni:
        raise ValueError(f"simulate_benchmark_data: n_persons={n_persons} < 10 per municipality")
    if not 5 <= n_muni <= 98:
        raise ValueError(f"simulate_benchmark_data: n_muni={n_muni} must be within 5..98")
    rng = np.random.default_rng(seed)
    ref = municipalities().to_pandas().sort_values("kommunekode").reset_index(drop=True)
    ref = ref.iloc[:n_muni]
    codes = ref["kommunekode"].to_numpy().astype(int)
    u = rng.normal(0.0, sd_effect, n_muni)
    if planted:
        unknown = set(planted) - set(codes.tolist())
        if unknown:
            raise ValueError(f"simulate_benchmark_data: planted codes {sorted(unknown)} not simulated")
        for code, value in planted.items():
            u[codes == code] = value
    weights = np.exp(rng.normal(0.0, size_sd, n_muni))
    if size_weights is not None:
        missing = sorted(set(codes.tolist()) - set(size_weights))
        if missing:
            raise ValueError(f"simulate_benchmark_data: size_weights lacks codes {missing[:10]}")
        weights = np.array([float(size_weights[c]) for c in codes])
        if np.any(weights <= 0):
            raise ValueError("simulate_benchmark_data: size_weights must be > 0")
    sizes = rng.multinomial(n_persons - 5 * n_muni, weights / weights.sum()) + 5
    muni_idx = np.repeat(np.arange(n_muni), sizes)
    n = n_persons
    years = first_cohort + np.arange(n_cohorts)
    cohort = rng.choice(years, n)
    year_effect = dict(zip(years.tolist(), rng.normal(0.0, 0.08, n_cohorts)))

    # framework conditions by municipality x cohort year
    base = {
        "ledighed_pendling": rng.normal(5.5, 1.5, n_muni).clip(2.0, 11.0),
        "job_pr_indb": rng.normal(0.45, 0.08, n_muni).clip(0.25, 0.75),
        "andel_ikkevestlig": rng.normal(6.0, 3.0, n_muni).clip(1.0, 20.0),
        "andel_industri": rng.normal(14.0, 5.0, n_muni).clip(3.0, 30.0),
    }
    year_shift = {
        "ledighed_pendling": rng.normal(0.0, 0.4, n_cohorts),
        "job_pr_indb": rng.normal(0.0, 0.01, n_cohorts),
        "andel_ikkevestlig": np.linspace(0.0, 0.6, n_cohorts),
        "andel_industri": np.linspace(0.0, -0.6, n_cohorts),
    }
    centre = {k: float(v.mean()) for k, v in base.items()}
    yi = cohort - first_cohort
    fw = {k: base[k][muni_idx] + year_shift[k][yi] for k in FRAMEWORK}

    df = pd.DataFrame()
    df["PNR"] = np.char.mod("%010d", rng.choice(10**9, n, replace=False))
    df["cohort_year"] = cohort.astype(int)
    df["kom"] = codes[muni_idx]
    df["age"] = rng.integers(18, 65, n)
    df["female"] = rng.binomial(1, 0.45, n)
    df["children"] = rng.poisson(1.2, n)
    df["years_in_dk"] = np.floor(rng.exponential(2.0, n)).astype(int)
    df["prior_employment_weeks"] = rng.binomial(1, 0.3, n) * rng.integers(0, 150, n)
    df["prior_benefit_weeks"] = rng.integers(0, 200, n)
    df["prior_sick_weeks"] = rng.binomial(1, 0.15, n) * rng.integers(0, 50, n)
    for k in FRAMEWORK:
        df[k] = np.round(fw[k], 4)
    eta = np.zeros(n)
    for k, b in _TRUE_BETA.items():
        x = df[k].to_numpy(dtype=float) - (40.0 if k == "age" else 0.0)
        eta += b * x
    for k, (levels, probs, effects) in _LEVELS.items():
        pick = rng.choice(len(levels), n, p=probs)
        df[k] = np.asarray(levels, dtype=object)[pick]
        eta += np.asarray(effects)[pick]
    fw_lp = np.zeros(n)
    for k, g in _TRUE_GAMMA.items():
        fw_lp += g * (fw[k] - centre[k])
    eta += fw_lp + np.array([year_effect[y] for y in years])[yi] + u[muni_idx]

    # calibrate lambda: mean P(T <= horizon) = success_share, with H0(t) = (t / lambda)^shape
    risk = np.exp(eta)

    def gap(log_lam: float) -> float:
        h = (horizon / np.exp(log_lam)) ** shape
        return float(np.mean(1.0 - np.exp(-h * risk)) - success_share)

    log_lam = optimize.brentq(gap, -5.0, 30.0)
    lam = np.exp(log_lam)
    t_event = lam * (rng.exponential(1.0, n) / risk) ** (1.0 / shape)
    rate = -np.log(1.0 - dropout_per_year) / 52.0
    t_cens = rng.exponential(1.0 / rate, n)
    wk_event = np.ceil(t_event).astype(np.int64).clip(1)
    wk_cens = np.ceil(t_cens).astype(np.int64).clip(1)
    event = (wk_event <= np.minimum(wk_cens, horizon)).astype(int)
    duration = np.where(event == 1, wk_event, np.minimum(wk_cens, horizon))
    df["duration"] = duration.astype(int)
    df["event"] = event
    df = df.iloc[rng.permutation(n)].reset_index(drop=True)

    unit_fw = pd.Series(fw_lp).groupby(muni_idx).mean()
    truth = pd.DataFrame(
        {
            "kom": codes,
            "unit_name": ref["navn"].to_numpy(),
            "persons": sizes,
            "true_log_hr": u,
            "framework_lp": unit_fw.reindex(np.arange(n_muni)).to_numpy(),
        }
    )
    var_fw = float(np.var(truth["framework_lp"]))
    share = var_fw / (var_fw + sd_effect**2) if (var_fw + sd_effect**2) > 0 else float("nan")
    return SimulatedBenchmark(
        persons=df,
        truth=truth,
        numeric=list(NUMERIC),
        categorical=list(CATEGORICAL),
        framework=list(FRAMEWORK),
        true_framework_share=share,
        shape=shape,
    )
