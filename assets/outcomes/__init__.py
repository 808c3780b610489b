"""outcomes: time to success and partial success, censoring, and the weekly state sequence."""


from typing import Iterator, Literal

import dagster as dg

from kommunebench.states import ALPHABET
from pydantic import Field

from kommunebench.validation import RuleOutcome
from orchestration.code_version import code_version, sql_text
from orchestration.partitions import FOLLOWUP_YEARS, cohort_year_partitions, years_window_mapping
from orchestration.resources import Warehouse
from orchestration.warehouse import check_result, drop_stage, md_table, publish_partition, table_metadata


class OutcomeConfig(dg.Config):
    run_length: int = Field(
        3, ge=1, le=26,
        description="Success = the first week of the first run of at least this many consecutive job weeks "
        "(domain.md §3: 3; STAR's DREAM tools use 4).",
    )
    education_exit: Literal["censor", "ignore"] = Field(
        "censor", description="Education (SU, codes 651/652) ends the spell without success ('censor') or is ignored."
    )
    exclusion_exit: Literal["censor", "ignore"] = Field(
        "censor", description="Periods on early retirement, disability pension, other pensions, transition benefit or maternity benefit censor ('censor') or are ignored."
    )
    partial_states: list[str] = Field(
        ["INTERN", "WS_PRIV"],
        description="Partial success: first week in one of these states with a private employer (codebook private_employer).",
    )


def outcome_outcomes(conn, year: int) -> tuple[list[RuleOutcome], list[RuleOutcome]]:
    """Rules on ``stage.outcomes`` against ``cohorts.cohort_members`` of the cohort year."""
    rows, members, dup, outside, mismatch, at_zero, seq_bad = conn.execute(
        sql_text("outcomes/check_outcomes"), {"cohort_year": year}
    ).fetchall()[0]
    one = [
        RuleOutcome("one_row_per_member", "PNR,target_group", rows == members and dup == 0,
                    int(abs(rows - members) + dup), int(rows), detail=f"{rows} outcomes for {members} members"),
    ]
    consistent = [
        RuleOutcome("durations_within_followup", "success_weeks,partial_weeks", outside == 0, int(outside), int(rows)),
        RuleOutcome("event_flag_matches_exit", "success_event", mismatch == 0, int(mismatch), int(rows)),
        RuleOutcome("event_after_week_zero", "success_weeks", at_zero == 0, int(at_zero), int(rows)),
        RuleOutcome("sequence_length_equals_observed_weeks", "sequence", seq_bad == 0, int(seq_bad), int(rows)),
    ]
    return one, consistent


@dg.asset(
    key=["outcomes", "outcomes"],
    ins={
        "cohort_members": dg.AssetIn(key=["cohorts", "cohort_members"], dagster_type=dg.Nothing),
        "person_weeks": dg.AssetIn(
            key=["spells", "person_weeks"], partition_mapping=years_window_mapping(0, FOLLOWUP_YEARS), dagster_type=dg.Nothing
        ),
    },
    partitions_def=cohort_year_partitions,
    group_name="outcomes",
    kinds={"duckdb", "sql"},
    owners=["team:analysis"],
    description=(
        "Per cohort member: weeks to the main success (first run of N job weeks), weeks to partial success "
        "(private internship or private wage subsidy), the exit that censors (censoring code, education, excluded "
        "benefit, end of follow-up or of data) and the weekly state sequence over the follow-up."
    ),
    code_version=code_version(sql=("outcomes/outcomes_stage", "outcomes/check_outcomes"), modules=("assets.outcomes",)),
    check_specs=[
        dg.AssetCheckSpec("one_outcome_per_member", asset=["outcomes", "outcomes"], blocking=True,
                          description="Exactly one outcome row per cohort member and group."),
        dg.AssetCheckSpec("durations_and_flags_consistent", asset=["outcomes", "outcomes"], blocking=True,
                          description="Durations within the follow-up, events at week >= 1, event flags agree with the exit type, sequences as long as the observed weeks."),
    ],
    pool="duckdb",
)
def outcomes(context: dg.AssetExecutionContext, config: OutcomeConfig, warehouse: Warehouse) -> Iterator:
    year = int(context.partition_key)
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS stage")
        conn.execute(
            sql_text("outcomes/outcomes_stage"),
            {"cohort_year": year, "run_length": config.run_length, "education_exit": config.education_exit,
             "exclusion_exit": config.exclusion_exit, "partial_states": config.partial_states,
             "alphabet": list(ALPHABET)},
        )
        one, consistent = outcome_outcomes(conn, year)
        yield check_result("one_outcome_per_member", one)
        yield check_result("durations_and_flags_consistent", consistent)
        if not all(o.passed for o in one + consistent):
            drop_stage(conn, "outcomes")
            raise dg.Failure(description=f"outcomes.outcomes {year} not published: "
                             + "; ".join(o.message() for o in one + consistent if not o.passed))
        publish_partition(conn, "outcomes", "outcomes", partition_column="cohort_year", partition_values=[year])
        summary = conn.execute(
            "SELECT target_group, count(*) AS persons, round(100 * avg(success_event::INT), 1) AS pct_success, "
            "round(100 * avg(partial_event::INT), 1) AS pct_partial, "
            "round(100 * avg((exit_type = 'education')::INT), 1) AS pct_education_exit, "
            "round(100 * avg((exit_type = 'censoring_code')::INT), 1) AS pct_censoring_code "
            "FROM outcomes.outcomes WHERE cohort_year = $y GROUP BY target_group ORDER BY target_group",
            {"y": year},
        ).df()
        meta = table_metadata(conn, "outcomes.outcomes", "WHERE cohort_year = $y", {"y": year})
    yield dg.MaterializeResult(metadata={**meta, "summary": md_table(summary), "settings": config.model_dump_json()})
