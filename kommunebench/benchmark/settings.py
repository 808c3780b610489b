"""Typed settings of the municipality benchmark, with defaults that follow domain.md §4.

Every choice that domain.md marks as "not known" about the original KORA (2016) analysis is a
field here, so that it is visible, editable and recorded with each result (``as_dict``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Tau2Method = Literal["REML", "DL"]
CoxEngine = Literal["numpy", "lifelines"]

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
    - ``min_persons`` = 20 and ``min_expected_events`` = 5: units with fewer persons, or fewer
      expected events (the number of persons the expected model says would reach the event),
      are reported as ``too_small`` and never ranked or classed. 20 persons give about 5
      expected events at the refugees' success share of 1 in 4 (domain.md §6); 5 events is the
      smallest count the project publishes. The earlier analysis' 80 persons was set for all
      immigrants; raise it for a headline publication if wanted.
    - ``pool_job_centres`` = False: the 2016 analysis reported all 98 municipalities; True pools
      Esbjerg-Fanø, Frederikshavn-Læsø, Tårnby-Dragør and Vallensbæk-Ishøj as the 2018
      benchmark did (``JOB_CENTRE_POOLS``).
    - ``band`` = 0.05: "as expected" means the whole interval lies within ±5 % of expected on
      the headline scale (domain.md §4.5).
    - ``level`` = 0.90: level of every interval (estimates, ranks, rank sets, tau).
    - ``fdr_q`` = 0.10: Benjamini-Hochberg false discovery rate for "better/worse than
      expected" (matching the 90 % intervals).
    - ``funnel_z`` = 3.09: funnel limits at 99.8 % (Spiegelhalter 2005), widened by tau^2.
    - ``n_draws`` = 4,000 posterior draws (ranks, P(top fifth), headline figures) and
      ``n_rank_sim`` = 4,000 simulations of the simultaneous rank sets' critical values.
    - ``tau_max`` = 1.0: upper end of the uniform prior of tau (a log rate ratio sd of 1 is far
      beyond anything between municipalities).
    - ``n_peers`` = 10: municipalities with the most similar framework conditions that each
      municipality is compared with (jobindsats.dk's "kommuner med tilsvarende rammevilkår").
    - ``tau2_method`` = "REML" for the second-stage meta-regression of the framework share.
    - ``cox_engine`` = "numpy": the project's Efron fitter (agrees with R's coxph to 1e-10);
      "lifelines" is the cross-check.
    - ``bootstrap_replicates`` = 0 (off): person-level bootstrap within units, with refits of
      the Cox model, run on Dask (``dask_scheduler`` address, or a LocalCluster with
      ``dask_workers`` single-threaded worker processes when None).
    - ``ph_test_max_persons`` = 20,000: the proportional-hazards test runs on a subsample.
    - ``blas_threads`` = 1: BLAS threads while the benchmark runs (threadpoolctl); on a busy
      2-core machine multithreaded OpenBLAS made the fits slower (bench/benchmark/RESULTS.md).
    - ``weibull_aft`` = True: fit the Weibull AFT sensitivity model with unit dummies.
    """

    horizon: int = 104
    min_persons: int = 20
    min_expected_events: float = 5.0
    pool_job_centres: bool = False
    band: float = 0.05
    level: float = 0.90
    fdr_q: float = 0.10
    funnel_z: float = 3.09
    n_draws: int = 4_000
    n_rank_sim: int = 4_000
    tau_max: float = 1.0
    n_peers: int = 10
    tau2_method: Tau2Method = "REML"
    cox_engine: CoxEngine = "numpy"
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
        if self.min_expected_events < 0:
            bad("min_expected_events", ">= 0")
        if not 0 < self.band < 1:
            bad("band", "0 < band < 1")
        for name in ("level", "fdr_q", "coef_level"):
            if not 0 < getattr(self, name) < 1:
                bad(name, "strictly between 0 and 1")
        if self.funnel_z <= 0:
            bad("funnel_z", "> 0")
        for name in ("n_draws", "n_rank_sim"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 200:
                bad(name, "a whole number >= 200")
        if not 0 < self.tau_max <= 5:
            bad("tau_max", "0 < tau_max <= 5")
        if not isinstance(self.n_peers, int) or self.n_peers < 1:
            bad("n_peers", "a whole number >= 1")
        if self.tau2_method not in ("REML", "DL"):
            bad("tau2_method", "one of 'REML', 'DL'")
        if self.cox_engine not in ("numpy", "lifelines"):
            bad("cox_engine", "one of 'numpy', 'lifelines'")
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

    @property
    def band_theta(self) -> float:
        """The ±band on the log rate ratio: |headline %| <= 100 band <=> |theta| <= -log(1 - band)."""
        import math

        return -math.log1p(-self.band)

    def replace(self, **changes: object) -> BenchmarkSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """Plain dict of every setting, for recording with a result."""
        return dataclasses.asdict(self)
