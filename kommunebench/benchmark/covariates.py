"""Which covariates enter the expected model of a target group and measure.

The rule lives here, not in the Dagster asset, so that it is unit-tested and recorded:
a numeric covariate enters only if at least ``MIN_VARYING`` persons differ from its most
common value and at least ``MIN_EVENTS`` of them have the event and as many do not (years
in Denmark is 0 for everyone at a permit; prior employment is 0 for nearly all newly
arrived, so it nearly separates events). Categorical levels with fewer persons, events or
non-events are merged into ``other``; a categorical covariate with one level left is
dropped. Without this, near-constant or separating columns make the Cox information matrix
singular. What was dropped is returned so that it is recorded with the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

NUMERIC: tuple[str, ...] = (
    "age", "female", "children", "years_in_dk", "prior_employment_weeks", "prior_benefit_weeks", "prior_sick_weeks",
)
CATEGORICAL: tuple[str, ...] = ("origin_region", "civil_status", "education_level")
FRAMEWORK: tuple[str, ...] = ("ledighed_pendling", "job_pr_indb", "andel_ikkevestlig", "andel_industri")
MIN_VARYING = 20
MIN_EVENTS = 5


@dataclass(frozen=True)
class CovariateChoice:
    persons: pd.DataFrame  # with rare categorical levels merged into "other"
    numeric: list[str]
    categorical: list[str]
    dropped: list[str]


def choose_covariates(
    df: pd.DataFrame,
    event_col: str,
    numeric: tuple[str, ...] = NUMERIC,
    categorical: tuple[str, ...] = CATEGORICAL,
    min_varying: int = MIN_VARYING,
    min_events: int = MIN_EVENTS,
) -> CovariateChoice:
    """The covariates that can enter this group's model for this measure (module docstring)."""
    df = df.copy()
    ev = df[event_col].astype(bool)

    def enough(mask: pd.Series) -> bool:
        return int(mask.sum()) >= min_varying and int((mask & ev).sum()) >= min_events and int((mask & ~ev).sum()) >= min_events

    num = [c for c in numeric if enough(df[c] != df[c].mode().iloc[0])]
    cat = []
    for c in categorical:
        rare = [lvl for lvl in df[c].unique() if not enough(df[c] == lvl)]
        if rare:
            df[c] = df[c].where(~df[c].isin(rare), "other")
        levels = df[c].value_counts()
        if len(levels) > 1 and enough(df[c] != levels.index[0]):
            cat.append(c)
    dropped = sorted(set(numeric + categorical) - set(num + cat))
    return CovariateChoice(persons=df, numeric=num, categorical=cat, dropped=dropped)
