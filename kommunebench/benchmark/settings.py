"""Typed settings of the municipality benchmark, with defaults that follow domain.md §4.

Every choice that domain.md marks as "not known" about the original KORA (2016) analysis is a
field here, so that it is visible, editable and recorded with each result (``as_dict``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

HeadlineScale = Literal["time_ratio", "hazard", "rmst"]
Tau2Method = Literal["REML", "DL"]
RankOn = Literal["shrunken", "raw"]

#: Shared job centres that a 2018 benchmark reported as one unit (domain.md §4.6). The key is the
#: code that names the pooled unit; the value lists every member municipality code.
JOB_CENTRE_POOLS: dict[int, tuple[int, ...]] = {
    561: (561, 563),  # Esbjerg + Fanø
    813: (813, 825),  # Frederikshavn + Læsø
    185: (185, 155),  # Tårnby + Dragør
    187: (187, 183),  # Vallensbæk + Ishøj
}


@dataclass(frozen=True)
class BenchmarkSettings:
    """Settings of one benchmark run (one target group, one success measure, pooled cohort years).

    Defaults and where they come from:

    - ``horizon``: follow-up in weeks; 104 for the weakest immigrants, 156 for refugees and
      family-reunified (domain.md §2). Durations beyond it are censored at it.
    - ``min_persons`` = 20: units with fewer persons are reported as ``too_small`` and never
      ranked. Reasoning: at the refugees' success share of about 1 in 4 (domain.md §6), 20
      persons give about 5 expected events, the smallest count that may be published under the
      project's disclosure rule (cells under 5 suppressed) and roughly where the Poisson
      interval of O/E stops spanning a factor of ten. The earlier analysis' 80 persons was set
      for all immigrants; refugees pooled over 4 cohorts would leave a third of the
      municipalities unranked at 80. Raise it for the headline publication if wanted.
    - ``pool_job_centres`` = False: the 2016 analysis being rebuilt reported all 98
      municipalities; True pools Esbjerg-Fanø, Frederikshavn-Læsø, Tårnby-Dragør and
      Vallensbæk-Ishøj as the 2018 benchmark did (``JOB_CENTRE_POOLS``).
    - ``band`` = 0.05: "as expected" means within ±5 % of expected (domain.md §4.5), decided on
      the interval, not the point.
    - ``level`` = 0.90: level of every interval of the league table (indicator, O/E, rank).
    - ``fdr_q`` = 0.05: Benjamini-Hochberg false discovery rate for "better/worse than expected".
    - ``funnel_z`` = 3.09: funnel limits at 99.8 % (Spiegelhalter 2005), widened by tau^2.
    - ``n_sim`` = 10,000 parametric draws for rank intervals and P(top fifth).
    - ``tau2_method`` = "REML" (or "DL", DerSimonian-Laird) for the between-unit variance.
    - ``rank_on`` = "shrunken": ranks, fifths and rank simulation use the empirical-Bayes
      posterior (small units pulled to the middle); "raw" uses log(O/E) and its standard error.
    - ``scale`` = "time_ratio": the scale of the headline ``indicator_pct`` (see
      ``kommunebench.benchmark`` for why); "hazard" and "rmst" are the alternatives.
    - ``bootstrap_replicates`` = 0 (off): person-level bootstrap within units, with refits of
      the Cox model, run on Dask (``dask_scheduler`` address, or a LocalCluster with
      ``dask_workers`` single-threaded worker processes when None).
    - ``ph_test_max_persons`` = 20,000: the proportional-hazards test runs on a subsample of at
      most this many persons (it does not scale; benchmark-notes.md).
    - ``blas_threads`` = 1: BLAS threads while the benchmark runs (threadpoolctl). The
      matrices are small (tens of columns); on a busy 2-core machine multithreaded OpenBLAS
      made the Cox fits 2-3 times slower in the median and far slower in single runs
      (bench/benchmark/RESULTS.md). None leaves it alone.
      Dask workers already run with one BLAS thread.
    - ``weibull_aft`` = True: fit the Weibull AFT sensitivity model with unit dummies; its shape
      also converts hazard ratios to time ratios (TR = HR^(-1/shape)). Required when
      ``scale == "time_ratio"``.
    """

    horizon: int = 104
    min_persons: int = 20
    pool_job_centres: bool = False
    band: float = 0.05
    level: float = 0.90
    fdr_q: float = 0.05
    funnel_z: float = 3.09
    n_sim: int = 10_000
    tau2_method: Tau2Method = "REML"
    rank_on: RankOn = "shrunken"
    scale: HeadlineScale = "time_ratio"
    bootstrap_replicates: int = 0
    dask_scheduler: str | None = None
    dask_workers: int = 2
    seed: int = 2016
    coef_level: float = 0.95
    calibration_groups: int = 10
    ph_test_max_persons: int = 20_000
    weibull_aft: bool = True
    blas_threads: int | None = 1
    id_col: str = "PNR"
    unit_col: str = "kom"
    strata_col: str = "cohort_year"
    duration_col: str = "duration"
    event_col: str = "event"

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> None:
            raise ValueError(
                f"BenchmarkSettings.{name} = {getattr(self, name)!r} breaks the rule: {rule}"
            )

        if not isinstance(self.horizon, int) or self.horizon < 1:
            bad("horizon", "a whole number of weeks >= 1")
        if not isinstance(self.min_persons, int) or self.min_persons < 1:
            bad("min_persons", "a whole number >= 1")
        if not 0 < self.band < 1:
            bad("band", "0 < band < 1")
        for name in ("level", "fdr_q", "coef_level"):
            if not 0 < getattr(self, name) < 1:
                bad(name, "strictly between 0 and 1")
        if self.funnel_z <= 0:
            bad("funnel_z", "> 0")
        if not isinstance(self.n_sim, int) or self.n_sim < 100:
            bad("n_sim", "a whole number >= 100")
        if self.tau2_method not in ("REML", "DL"):
            bad("tau2_method", "one of 'REML', 'DL'")
        if self.rank_on not in ("shrunken", "raw"):
            bad("rank_on", "one of 'shrunken', 'raw'")
        if self.scale not in ("time_ratio", "hazard", "rmst"):
            bad("scale", "one of 'time_ratio', 'hazard', 'rmst'")
        if self.scale == "time_ratio" and not self.weibull_aft:
            bad("weibull_aft", "must be True when scale == 'time_ratio' (it supplies the shape)")
        if not isinstance(self.bootstrap_replicates, int) or self.bootstrap_replicates < 0:
            bad("bootstrap_replicates", "a whole number >= 0")
        if 0 < self.bootstrap_replicates < 20:
            bad("bootstrap_replicates", "0 (off) or at least 20 for percentile intervals")
        if not isinstance(self.dask_workers, int) or self.dask_workers < 1:
            bad("dask_workers", "a whole number >= 1")
        if not isinstance(self.calibration_groups, int) or self.calibration_groups < 2:
            bad("calibration_groups", "a whole number >= 2")
        if self.blas_threads is not None and (not isinstance(self.blas_threads, int) or self.blas_threads < 1):
            bad("blas_threads", "None or a whole number >= 1")
        if not isinstance(self.ph_test_max_persons, int) or self.ph_test_max_persons < 100:
            bad("ph_test_max_persons", "a whole number >= 100")

    @property
    def z(self) -> float:
        """Two-sided normal quantile of ``level`` (1.645 at 90 %)."""
        from scipy.stats import norm

        return float(norm.ppf(0.5 + self.level / 2))

    def replace(self, **changes: object) -> BenchmarkSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """Plain dict of every setting, for recording with a result."""
        return dataclasses.asdict(self)
