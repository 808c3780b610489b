"""cohorts: the three target groups per cohort year, with covariates and framework conditions.

One asset with a ``target_group`` column rather than one asset per group: the three
groups share every covariate, the municipality rule and the framework join, differ only
in who enters and when the clock starts, and the models and sequences are run per group
downstream. One table keeps one lineage and one set of checks.
"""


import json
from typing import Iterator, Literal

import dagster as dg
from pydantic import Field

from kommunebench.paths import project_paths
from kommunebench.states import SUPPORT_STATES
from kommunebench.validation import RuleOutcome
from orchestration.code_version import code_version, sql_text
from orchestration.partitions import cohort_history_and_followup, cohort_year_partitions
from orchestration.resources import Landing, Warehouse
from orchestration.warehouse import check_result, drop_stage, md_table, publish_partition, table_metadata

from .expected import expected_cohort_sizes

GROUPS = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")


class CohortConfig(dg.Config):
    followup_weakest_weeks: int = Field(104, description="Follow-up for the weakest immigrants (domain.md §2: 104 weeks).")
    followup_permit_weeks: int = Field(156, description="Follow-up for refugees and family-reunified (domain.md §2: 156 weeks).")
    permit_clock: Literal["permit", "programme"] = Field(
        "permit", description="Clock start for refugees and family-reunified: the residence permit date, or the integration programme start."
    )
    require_integration_programme: bool = Field(
        True, description="'Covered by the integration act' read as a registered integration programme (INTPGMSTDT)."
    )
    age_min_weakest: int = Field(16, description="Weakest immigrants: minimum age when the clock starts.")
    age_min_permit: int = Field(18, description="Refugees and family-reunified: minimum age at permit.")
    age_max: int = Field(64, description="Maximum age when the clock starts (all groups).")
    min_years_in_dk: int = Field(3, description="Weakest immigrants: years since first immigration.")
    match_groups: list[int] = Field([2, 3], description="Match groups meaning 'problems beyond unemployment' (2009-2013).")
    visit_codes: list[int] = Field([2], description="Assessment codes meaning activity-ready (2014 on).")
    history_weeks: int = Field(156, description="Weeks before the start over which prior employment, benefit and sickness weeks are counted.")
    mover_rule: Literal["entry", "longest"] = Field(
        "entry", description="Municipality of a person who moves: at entry (intention to treat) or the one with most weeks in the follow-up."
    )


@dg.asset(
    key=["cohorts", "cohort_members"],
    deps=[dg.AssetKey(["raw", n]) for n in ("dream", "bef", "ophg", "udda", "rammevilkaar")]
    + [dg.AssetKey(["ref", "reference_tables"])],
    ins={"person_weeks": dg.AssetIn(key=["spells", "person_weeks"], partition_mapping=cohort_history_and_followup(), dagster_type=dg.Nothing)},
    partitions_def=cohort_year_partitions,
    group_name="cohorts",
    kinds={"duckdb", "sql"},
    owners=["team:analysis"],
    description=(
        "The three target groups entering in the cohort year (weakest immigrants, refugees, family-reunified; "
        "domain.md §2), one row per person and group, with municipality (entry rule by default), covariates "
        "(age, sex, origin region, civil status, children, education, years in Denmark, prior employment, "
        "benefit and sickness weeks) and the municipality's framework conditions of the year. "
        + __doc__.split("\n\n")[1].replace("\n", " ")
    ),
    code_version=code_version(
        sql=("cohorts/entrants_permit", "cohorts/entrants_weakest", "cohorts/cohort_members_stage", "cohorts/check_cohort_members"),
        modules=("assets.cohorts",),
    ),
    check_specs=[
        dg.AssetCheckSpec("one_row_per_person_group_cohort", asset=["cohorts", "cohort_members"], blocking=True,
                          description="Each person at most once per group and cohort year."),
        dg.AssetCheckSpec("members_valid", asset=["cohorts", "cohort_members"], blocking=True,
                          description="Start in the cohort year, ages within limits, a valid municipality with framework conditions."),
        dg.AssetCheckSpec("cohort_sizes_as_expected", asset=["cohorts", "cohort_members"], blocking=True,
                          description="On the synthetic default: cohort sizes equal the committed expected counts, so a lost or doubled year fails."),
    ],
    pool="duckdb",
)
def cohort_members(context: dg.AssetExecutionContext, config: CohortConfig, warehouse: Warehouse, landing: Landing) -> Iterator:
    year = int(context.partition_key)
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS stage")
        conn.execute(
            "CREATE OR REPLACE TABLE stage.cohort_entrants (PNR VARCHAR, target_group VARCHAR, cohort_year SMALLINT, start_date DATE)"
        )
        for group in ("flygtninge", "familiesammenfoerte"):
            conn.execute(
                sql_text("cohorts/entrants_permit"),
                {"cohort_year": year, "group": group, "age_min": config.age_min_permit, "age_max": config.age_max,
                 "require_programme": config.require_integration_programme, "clock": config.permit_clock},
            )
        conn.execute(
            sql_text("cohorts/entrants_weakest"),
            {"cohort_year": year, "support_states": sorted(SUPPORT_STATES),
             "assess_pattern": rf"^(MATCH|VISIT)_[1-4]KV({year - 1}|{year})$" if _has_assessment(conn, year) else r"^PNR$",
             "match_groups": config.match_groups, "visit_codes": config.visit_codes,
             "age_min": config.age_min_weakest, "age_max": config.age_max, "min_years_in_dk": config.min_years_in_dk},
        )
        conn.execute(
            sql_text("cohorts/cohort_members_stage"),
            {"cohort_year": year, "followup_weakest": config.followup_weakest_weeks,
             "followup_permit": config.followup_permit_weeks, "history_weeks": config.history_weeks,
             "support_states": sorted(SUPPORT_STATES), "mover_rule": config.mover_rule},
        )
        conn.execute("DROP TABLE stage.cohort_entrants")
        uniq, valid, size_out, sizes = cohort_outcomes(conn, year, expected_cohort_sizes(landing.root, year))
        yield check_result("one_row_per_person_group_cohort", uniq)
        yield check_result("members_valid", valid)
        yield check_result("cohort_sizes_as_expected", size_out, extra={"sizes": json.dumps(sizes)})
        if not all(o.passed for o in uniq + valid + size_out):
            drop_stage(conn, "cohort_members")
            raise dg.Failure(description=f"cohorts.cohort_members {year} not published: "
                             + "; ".join(o.message() for o in uniq + valid + size_out if not o.passed))
        publish_partition(conn, "cohorts", "cohort_members", partition_column="cohort_year", partition_values=[year])
        summary = conn.execute(
            "SELECT target_group, count(*) AS persons, round(avg(age), 1) AS mean_age, "
            "round(100 * avg(female), 1) AS pct_female, round(avg(years_in_dk), 1) AS mean_years_in_dk, "
            "count(DISTINCT kom) AS municipalities FROM cohorts.cohort_members WHERE cohort_year = $y "
            "GROUP BY target_group ORDER BY target_group",
            {"y": year},
        ).df()
        meta = table_metadata(conn, "cohorts.cohort_members", "WHERE cohort_year = $y", {"y": year})
    yield dg.MaterializeResult(
        metadata={**meta, "summary": md_table(summary), "settings": config.model_dump_json(),
                  **{f"persons/{g}": int(sizes.get(g, 0)) for g in GROUPS}}
    )


def cohort_outcomes(conn, year: int, expected: dict[str, int] | None):
    """Rules on ``stage.cohort_members``; ``expected`` sizes apply to the synthetic default only."""
    dup, outside, bad_kom, no_frame, bad_age, n = conn.execute(sql_text("cohorts/check_cohort_members"), {"cohort_year": year}).fetchall()[0]
    sizes = dict(conn.execute("SELECT target_group, count(*) FROM stage.cohort_members GROUP BY 1").fetchall())
    uniq = [RuleOutcome("unique_person_group_cohort", "PNR,target_group", dup == 0, int(dup), int(n))]
    valid = [
        RuleOutcome("start_in_cohort_year", "start_date", outside == 0, int(outside), int(n)),
        RuleOutcome("valid_municipality", "kom", bad_kom == 0, int(bad_kom), int(n)),
        RuleOutcome("framework_conditions_present", "ledighed_pendling", no_frame == 0, int(no_frame), int(n)),
        RuleOutcome("age_within_limits", "age", bad_age == 0, int(bad_age), int(n)),
    ]
    if expected is None:
        size_out = [RuleOutcome("cohort_sizes_equal_expected", "target_group", True, 0, int(n),
                                detail="not the synthetic default: no committed expected sizes apply")]
    else:
        size_out = [
            RuleOutcome("cohort_sizes_equal_expected", g, sizes.get(g, 0) == expected.get(g, 0),
                        abs(sizes.get(g, 0) - expected.get(g, 0)), sizes.get(g, 0),
                        detail=f"{g}: {sizes.get(g, 0)} members, expected {expected.get(g, 0)}")
            for g in GROUPS
        ]
    return uniq, valid, size_out, sizes


def _has_assessment(conn, year: int) -> bool:
    cols = [r[0] for r in conn.execute("DESCRIBE raw.dream").fetchall()]
    return any(c.endswith(f"KV{year}") and (c.startswith("MATCH_") or c.startswith("VISIT_")) for c in cols)
