"""Partitions: calendar (register) years upstream, cohort years downstream.

* ``register_year``: the weeks of one calendar year (person-weeks, spells). A new
  register year adds one partition; an unchanged year keeps its data version, so only
  the cohort partitions whose window touches a changed year become stale.
* ``cohort_year``: the year the clock starts (cohorts, outcomes, sequences per cohort).

Cohort year C reads the register years C-3 .. C+3 (three years of history for the
covariates, up to three years of follow-up). The mapping is a static many-to-many
mapping so Dagster's lineage shows exactly which years a cohort needs.
"""

from __future__ import annotations

import dagster as dg

from kommunebench.paths import cohort_years, register_years

HISTORY_YEARS = 3
FOLLOWUP_YEARS = 3

register_year_partitions = dg.StaticPartitionsDefinition([str(y) for y in register_years()])
cohort_year_partitions = dg.StaticPartitionsDefinition([str(y) for y in cohort_years()])


def years_window_mapping(lo: int, hi: int) -> dg.StaticPartitionMapping:
    """Map each register year u to the cohort years c with c + lo <= u <= c + hi."""
    mapping: dict[str, list[str]] = {}
    for u in register_years():
        cs = [str(c) for c in cohort_years() if c + lo <= u <= c + hi]
        if cs:
            mapping[str(u)] = cs
    return dg.StaticPartitionMapping(mapping)


def previous_year_mapping() -> dg.StaticPartitionMapping:
    """Register year u feeds register years u and u + 1 (spells need the last week of u - 1)."""
    years = register_years()
    mapping = {str(u): [str(v) for v in (u, u + 1) if v in years] for u in years}
    return dg.StaticPartitionMapping(mapping)


def cohort_history_and_followup() -> dg.StaticPartitionMapping:
    return years_window_mapping(-HISTORY_YEARS, FOLLOWUP_YEARS)
