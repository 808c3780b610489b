"""Municipality-level inputs of the synthetic world: sizes, framework conditions, truth.

Sizes: ``municipality_sizes.csv`` beside this file holds approximate 2015 populations
(rounded; from Statistics Denmark's table FOLK1A as remembered, good for relative sizes
only: København about 580,000, Læsø about 1,800) and an approximate share of
non-western residents (%) used as the level of ``ANDEL_IKKEVESTLIG`` and for where
immigrants settle. Both are illustrative, not official figures.

Framework conditions (``RAMMEVILKAAR``) are simulated: a national business cycle per
year, a persistent municipality level (regional pattern plus noise) and an AR(1)
deviation across years, so they are correlated across years and vary between
municipalities. They act on the job hazard through ``FRAMEWORK_COEFFICIENTS``.

Planted truth: per municipality and target group a log-hazard effect on job finding
(``job_effect``) and on entering company internship or wage subsidy
(``activation_effect``), each centred (unweighted mean 0 over the municipalities),
correlated across target groups (one job centre serves all) and with each other
(municipalities that use internship and wage subsidy more also do better directly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from kommunebench import refdata

SIZES_PATH = Path(__file__).parent / "municipality_sizes.csv"

TARGET_GROUPS: tuple[str, ...] = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")

#: National unemployment rate (%) by year, approximate Danish gross unemployment.
NATIONAL_UNEMPLOYMENT: dict[int, float] = {
    2008: 2.4, 2009: 4.6, 2010: 5.9, 2011: 5.9, 2012: 6.0, 2013: 5.6,
    2014: 4.9, 2015: 4.5, 2016: 4.2, 2017: 4.3, 2018: 3.9,
}

#: Effect of each framework condition on the log job hazard, per unit, applied to the
#: deviation from ``FRAMEWORK_CENTRES``.
FRAMEWORK_COEFFICIENTS: dict[str, float] = {
    "LEDIGHED_PENDLING": -0.10,
    "JOB_PR_INDB": 0.60,
    "ANDEL_IKKEVESTLIG": -0.010,
    "ANDEL_INDUSTRI": 0.008,
}
FRAMEWORK_CENTRES: dict[str, float] = {
    "LEDIGHED_PENDLING": 4.8,
    "JOB_PR_INDB": 0.80,
    "ANDEL_IKKEVESTLIG": 6.0,
    "ANDEL_INDUSTRI": 14.0,
}

# Commuting areas with known high unemployment (Lolland-Falster, the islands) and low
# (North Zealand): offsets to the municipality level of LEDIGHED_PENDLING, in points.
_UNEMPLOYMENT_OFFSETS: dict[int, float] = {
    360: 2.5, 376: 1.8, 482: 1.8, 492: 1.2, 400: 1.5, 390: 1.0, 306: 1.0, 330: 0.8,
    851: 0.6, 813: 0.8, 860: 0.6, 773: 0.7, 825: 1.0, 741: 0.8, 563: 0.3,
    223: -1.2, 230: -1.2, 157: -1.0, 201: -1.0, 173: -0.9, 190: -0.8, 240: -0.7,
    153: 1.0, 183: 1.0, 165: 0.8, 101: 0.5,
}
_INDUSTRY_BY_REGION: dict[str, float] = {
    "Region Hovedstaden": 8.0,
    "Region Sjælland": 13.0,
    "Region Syddanmark": 17.0,
    "Region Midtjylland": 18.0,
    "Region Nordjylland": 16.0,
}


@dataclass(frozen=True)
class Municipalities:
    codes: np.ndarray  # int16, 98 codes in reference order
    names: tuple[str, ...]
    regions: tuple[str, ...]
    population: np.ndarray  # float
    nonwestern_pct: np.ndarray  # float, level of ANDEL_IKKEVESTLIG

    @property
    def n(self) -> int:
        return len(self.codes)

    def index_of(self, codes: np.ndarray) -> np.ndarray:
        lookup = {int(c): i for i, c in enumerate(self.codes)}
        return np.array([lookup[int(c)] for c in codes], dtype=np.int32)


def load_municipalities() -> Municipalities:
    """The 98 reference municipalities joined with their approximate sizes."""
    ref = refdata.municipalities()
    sizes = pl.read_csv(SIZES_PATH, schema_overrides={"kommunekode": pl.Int16})
    joined = ref.join(sizes, on="kommunekode", how="left")
    missing = joined.filter(pl.col("population").is_null())["kommunekode"].to_list()
    if missing:
        raise ValueError(f"{SIZES_PATH}: column 'population': missing for municipalities {missing}")
    extra = set(sizes["kommunekode"].to_list()) - set(ref["kommunekode"].to_list())
    if extra:
        raise ValueError(f"{SIZES_PATH}: column 'kommunekode': codes {sorted(extra)} are not municipalities")
    return Municipalities(
        codes=joined["kommunekode"].to_numpy().astype(np.int16),
        names=tuple(joined["navn"].to_list()),
        regions=tuple(joined["region"].to_list()),
        population=joined["population"].to_numpy().astype(float),
        nonwestern_pct=joined["ikkevestlig_pct"].to_numpy().astype(float),
    )


def framework_conditions(munis: Municipalities, years: range, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Framework conditions as arrays [municipality, year] (see module docstring)."""
    n, t = munis.n, len(years)
    nat = np.array([NATIONAL_UNEMPLOYMENT.get(y, 4.8) for y in years])
    offs = np.array([_UNEMPLOYMENT_OFFSETS.get(int(c), 0.0) for c in munis.codes])
    level = offs + rng.normal(0.0, 0.6, n)

    def ar1(sd: float, rho: float) -> np.ndarray:
        out = np.empty((n, t))
        out[:, 0] = rng.normal(0.0, sd, n)
        for j in range(1, t):
            out[:, j] = rho * out[:, j - 1] + np.sqrt(1 - rho**2) * rng.normal(0.0, sd, n)
        return out

    ledighed = np.clip(nat[None, :] * np.exp(0.12 * level)[:, None] + level[:, None] * 0.5 + ar1(0.25, 0.8), 0.8, 14.0)
    jobs_level = 0.80 - 0.025 * level + rng.normal(0.0, 0.06, n)
    cycle = -0.01 * (nat - nat.mean())
    job_pr_indb = np.clip(jobs_level[:, None] + cycle[None, :] + ar1(0.01, 0.8), 0.45, 1.3)
    trend = 0.18 * (np.arange(t) - (t - 1) / 2)
    ikkevestlig = np.clip(munis.nonwestern_pct[:, None] * (1 + 0.03 * trend[None, :]) + ar1(0.1, 0.9), 0.5, 40.0)
    ind_level = np.array([_INDUSTRY_BY_REGION[r] for r in munis.regions]) + rng.normal(0.0, 3.0, n)
    industri = np.clip(ind_level[:, None] - 0.15 * np.arange(t)[None, :] + ar1(0.4, 0.85), 2.0, 40.0)
    return {
        "LEDIGHED_PENDLING": np.round(ledighed, 2),
        "JOB_PR_INDB": np.round(job_pr_indb, 3),
        "ANDEL_IKKEVESTLIG": np.round(ikkevestlig, 2),
        "ANDEL_INDUSTRI": np.round(industri, 2),
    }


def framework_log_hazard(fw: dict[str, np.ndarray]) -> np.ndarray:
    """Sum of coefficient x (value - centre) over the conditions, [municipality, year]."""
    total = None
    for name, coef in FRAMEWORK_COEFFICIENTS.items():
        term = coef * (fw[name] - FRAMEWORK_CENTRES[name])
        total = term if total is None else total + term
    assert total is not None
    return total


def _centred(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=0, keepdims=True)


EFFECT_LAWS: tuple[str, ...] = ("normal", "t3", "mixture")


def standard_draws(law: str, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draws of unit variance from an effect law.

    - ``normal``: standard normal.
    - ``t3``: Student t with 3 degrees of freedom scaled by 1/sqrt(3) (unit variance, heavy
      tails: excess kurtosis is infinite in theory, large in any sample).
    - ``mixture``: 92 % N(0, 1) and 8 % clear outliers at +-3.5 (random sign, sd 0.3),
      rescaled to unit variance: a few municipalities far from the rest.
    """
    if law == "normal":
        return rng.standard_normal(size)
    if law == "t3":
        return rng.standard_t(3, size) / np.sqrt(3.0)
    if law == "mixture":
        base = rng.standard_normal(size)
        outlier = rng.random(size) < 0.08
        sign = np.where(rng.random(size) < 0.5, -1.0, 1.0)
        x = np.where(outlier, sign * (3.5 + 0.3 * rng.standard_normal(size)), base)
        return x / np.sqrt(0.92 + 0.08 * (3.5**2 + 0.09))
    raise ValueError(f"effect law {law!r} is not one of {EFFECT_LAWS}")


def municipality_effects(
    n_munis: int,
    rng: np.random.Generator,
    *,
    job_sd: float | tuple[float, ...],
    activation_sd: float | tuple[float, ...],
    rho_groups: float,
    rho_job_activation: float,
    law: str = "normal",
) -> tuple[np.ndarray, np.ndarray]:
    """True effects [municipality, target group]: job log-hazard and activation log-hazard.

    effect[m, g] = sd * (sqrt(rho) * common[m] + sqrt(1 - rho) * own[m, g]), with common and
    own drawn from ``law`` (``standard_draws``), centred per group, then rescaled to exactly
    ``sd`` (one value, or one per target group); activation = rho_ja * std(job) + sqrt(1 - rho_ja^2) * independent, the same way.
    """
    g = len(TARGET_GROUPS)

    def draw() -> np.ndarray:
        common = standard_draws(law, (n_munis, 1), rng)
        own = standard_draws(law, (n_munis, g), rng)
        return np.sqrt(rho_groups) * common + np.sqrt(1 - rho_groups) * own

    def standardise(x: np.ndarray) -> np.ndarray:
        x = _centred(x)
        return x / x.std(axis=0, keepdims=True)

    z_job = standardise(draw())
    z_act = standardise(rho_job_activation * z_job + np.sqrt(1 - rho_job_activation**2) * draw())
    sd_job = np.broadcast_to(np.asarray(job_sd, dtype=float), (g,))
    sd_act = np.broadcast_to(np.asarray(activation_sd, dtype=float), (g,))
    return z_job * sd_job[None, :], z_act * sd_act[None, :]
