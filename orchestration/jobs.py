"""Jobs: one per partitioning, run in this order by ``kommunebench run``.

A Dagster run targets one partitions definition, so the pipeline is four jobs:
registers (unpartitioned loads), register years (person-weeks and spells per calendar
year), cohorts (cohort-year partitions) and the pooled results (models, sequences,
benchmark, reports over the window of cohort years).
"""

from __future__ import annotations

import dagster as dg

load_registers_job = dg.define_asset_job(
    "load_registers",
    selection=dg.AssetSelection.groups("reference", "raw"),
    description="Load every register delivery into raw (unchanged files are not re-read).",
)
register_years_job = dg.define_asset_job(
    "register_years",
    selection=dg.AssetSelection.groups("spells"),
    description="Person-weeks and spells for one or more register (calendar) years.",
)
cohorts_job = dg.define_asset_job(
    "cohorts",
    selection=dg.AssetSelection.groups("cohorts", "outcomes"),
    description="Target groups and their outcomes for one or more cohort years.",
)

pooled_results_job = dg.define_asset_job(
    "pooled_results",
    selection=dg.AssetSelection.groups("models", "benchmark", "sequences", "reports"),
    description="Models, league table, sequence analysis and reports over the window of cohort years.",
)

JOBS = [load_registers_job, register_years_job, cohorts_job, pooled_results_job]
