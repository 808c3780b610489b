"""The Dagster code location: every asset, check, job, sensor and resource of kommunebench."""

from __future__ import annotations

import dagster as dg

from assets.benchmark import activity_indicators
from assets.cohorts import cohort_members
from assets.models import benchmark_models
from assets.outcomes import outcomes
from assets.raw import LANDING_SPECS, RAW_ASSETS
from assets.reference import reference_tables
from assets.reports import reports
from assets.sequences import SEQUENCE_ASSETS
from assets.spells import person_weeks, spells
from orchestration.jobs import JOBS
from orchestration.resources import default_resources
from orchestration.runner import concise_console
from orchestration.sensors import SENSORS

ASSETS = [
    *LANDING_SPECS, reference_tables, *RAW_ASSETS, person_weeks, spells, cohort_members, outcomes,
    benchmark_models, *SEQUENCE_ASSETS, activity_indicators, reports,
]


def build_defs(resources: dict[str, object] | None = None) -> dg.Definitions:
    """The definitions with the given resources (tests pass a temporary warehouse)."""
    return dg.Definitions(
        assets=ASSETS,
        jobs=JOBS,
        sensors=SENSORS,
        resources=resources or default_resources(),
        executor=dg.in_process_executor,
        loggers={"console": concise_console},
    )


defs = build_defs()
