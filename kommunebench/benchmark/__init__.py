"""The municipality benchmark: actual against expected time to the event, with honest uncertainty.

The estimand, in one sentence: **a municipality's effect is how much faster or slower its
persons reach the event than the same persons would with the same framework conditions in an
average municipality.** It is the log rate ratio theta_j, read on one headline scale,
"X % faster / slower" = 100 sign(theta) (1 - exp(-|theta|)) (``kommunebench.scales``):
symmetric on the log scale and bounded by ±100 %. The synthetic registers' truth is computed on
this same scale by counterfactual simulation (``kommunebench.synth.truth``).

Method (domain.md §4; benchmark-notes.md):

1. Expected model (``model``): a Cox model of time to the event on individual covariates and
   the municipality's framework conditions, WITHOUT a municipality effect, stratified by cohort
   year, Efron ties (the project's Newton fitter; R ``coxph(..., ties = "efron")`` to 1e-10),
   with the Breslow baseline per stratum. Which covariates enter: ``covariates``.
2. Per person the expected cumulative hazard at the observed time E_i (indirect
   standardisation, sum E = sum O) and the expected restricted mean to the horizon.
3. Per unit (municipality, or pooled shared job centre): theta-hat = log(O/E) with the exact
   Garwood interval (the unit's own evidence, "raw"); the posterior of theta in a Poisson
   log-normal hierarchy with the spread tau integrated over and the expected model's
   uncertainty added ("shrunken", ``hierarchy``); the same in weeks and in persons through the
   expected model (``UnitEffectScales``); the Kaplan-Meier restricted mean against the expected
   one in weeks.
4. Whether the data can tell the units apart: the likelihood interval of tau. If it reaches 0,
   no ranks or fifths are produced and every output says so. Otherwise: ranks of the
   posterior means, marginal rank intervals from the draws, simultaneous rank bounds and
   top/bottom-fifth confidence sets (Mogstad, Romano, Shaikh and Wilhelm 2024; ``ranks``).
5. Classes: better / worse by Benjamini-Hochberg on exact Poisson tests; as expected only when
   the whole raw interval lies within ±5 %; not distinguishable otherwise; too small below the
   size limits. Headline figures of the group (best and worst fifth, their difference in % and
   weeks, the range, the share truly within ±5 %) on the posterior draws, so selecting the
   extremes by noisy estimates does not inflate them.
6. Peers (units with the most similar framework conditions), funnel limits, the share of the
   between-unit variance the framework conditions explain (second-stage meta-regression),
   diagnostics, and a Weibull AFT with unit dummies as a sensitivity analysis.

Why this scale
--------------
The same effects read very differently on other scales (benchmark-notes.md): the Weibull
time-ratio reading amplifies small counts through the shape (an interval of "-7,000 %" on a
unit with three events), and the restricted mean within the follow-up is capped by the horizon
(most persons of the weakest group never reach a job, so nearly every unit lands within ±5 %).
The log rate ratio is what observed/expected measures, it is symmetric, and the bounded reading
keeps every interval readable. The hazard reading 100 (O/E - 1), the restricted-mean reading
and the weeks are columns beside it.
"""

from kommunebench.benchmark.core import CLASSES, BenchmarkResult, run_benchmark, unit_map
from kommunebench.benchmark.covariates import CATEGORICAL, FRAMEWORK, NUMERIC, choose_covariates
from kommunebench.benchmark.settings import JOB_CENTRE_POOLS, BenchmarkSettings
from kommunebench.benchmark.simulate import SimulatedBenchmark, simulate_benchmark_data
from kommunebench.scales import headline_pct

__all__ = [
    "BenchmarkResult",
    "BenchmarkSettings",
    "CATEGORICAL",
    "CLASSES",
    "FRAMEWORK",
    "JOB_CENTRE_POOLS",
    "NUMERIC",
    "SimulatedBenchmark",
    "choose_covariates",
    "headline_pct",
    "run_benchmark",
    "simulate_benchmark_data",
    "unit_map",
]
