"""sequences/paths_to_job: what came before each first job entry, per target group,
for the whole country and per municipality at entry (``kommunebench.sequences.paths``)."""


from typing import Iterator

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from assets.sequences.publish import described_schema, publish_described
from kommunebench.sequences.data import pad_sequences
from kommunebench.sequences.paths import (
    PATHS_TO_JOB_COLUMNS,
    check_paths_table,
    paths_to_job as paths_table,
)
from kommunebench.states import STATE_INDEX, WAGE_SUBSIDY_OR_INTERNSHIP
from orchestration.code_version import code_version, sql_text
from orchestration.resources import Warehouse
from orchestration.warehouse import check_result, cohort_window, md_table

GROUPS = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")
PATHS_CODE_VERSION = code_version(sql=("sequences/job_entries", "sequences/count_job_entries"),
                                  modules=("assets.sequences.paths", "assets.sequences.publish",
                                           "kommunebench.sequences.paths", "kommunebench.sequences.data"))
TABLE = "sequences.paths_to_job"


class PathsToJobConfig(dg.Config):
    cohort_years: list[int] = Field(default_factory=list, description="Cohort years pooled (empty: every cohort year in "
                                    "the warehouse), as the other pooled sequence assets.")
    lookback_weeks: int = Field(26, description="Weeks before the first job entry examined for company internship, wage "
                                "subsidy or other activation.")
    level: float = Field(0.90, description="Level of the exact (Clopper-Pearson) intervals of the shares.")


def load_group(conn, group: str, years: list[int]) -> pd.DataFrame:
    return conn.execute(sql_text("sequences/job_entries"), {"group": group, "years": years}).df()


def group_table(df: pd.DataFrame, group: str, lookback_weeks: int, level: float) -> pd.DataFrame:
    L = int(df["followup_weeks"].max())
    seqs = pad_sequences(df["sequence"], L)
    keep = seqs[:, 0] >= 0
    df, seqs = df[keep].reset_index(drop=True), seqs[keep]
    job_week = np.where(df["success_event"].to_numpy(dtype=bool), df["success_weeks"].to_numpy(dtype=np.float64), 0.0)
    kom = pd.to_numeric(df["kom"]).to_numpy(dtype=np.float64)
    out = paths_table(seqs, job_week, kom, lookback_weeks=lookback_weeks, level=level)
    out.insert(0, "target_group", group)
    return out


@dg.asset(
    key=["sequences", "paths_to_job"], group_name="sequences", kinds={"duckdb", "python"}, owners=["team:analysis"],
    description="Paths to a job: of the persons whose first job entry (the success event) lies within the follow-up, "
    "the share with company internship or wage subsidy in the 26 weeks before it, with other activation only, and "
    "directly from passive support, other support or no support; per target group, for the whole country and per "
    "municipality at entry, pooled over the cohort window; exact 90 % intervals; small cells suppressed.",
    code_version=PATHS_CODE_VERSION, deps=[dg.AssetKey(["outcomes", "outcomes"])],
    check_specs=[dg.AssetCheckSpec(
        "paths_add_up_and_are_disclosure_safe", asset=["sequences", "paths_to_job"], blocking=True,
        description="Paths add up to the job entries and shares to 100 % in every published unit; the country's counts "
        "equal an independent count on outcomes.outcomes; no published count under 5 and no additive line with exactly "
        "one suppressed cell.")],
    pool="duckdb",
)
def paths_to_job(context: dg.AssetExecutionContext, config: PathsToJobConfig, warehouse: Warehouse) -> Iterator:
    wsi_codes = sorted(STATE_INDEX[s] for s in WAGE_SUBSIDY_OR_INTERNSHIP)
    with warehouse.connect() as conn:
        years = cohort_window(conn, config.cohort_years)
        data = {g: load_group(conn, g, years) for g in GROUPS}
        expected = {g: tuple(int(v) for v in conn.execute(
            sql_text("sequences/count_job_entries"),
            {"group": g, "years": years, "lookback": config.lookback_weeks, "wsi_codes": wsi_codes}).fetchall()[0])
            for g in GROUPS}
    parts, hidden, empty = [], {}, []
    for group, df in data.items():
        if df.empty:
            empty.append(group)
            context.log.warning(f"paths to job: no sequences for {group} in cohort years {years}; no rows for it")
            continue
        hidden[group] = int(df["kom"].isna().sum())
        parts.append(group_table(df, group, config.lookback_weeks, config.level))
    if not parts:
        raise dg.Failure(f"no sequences for any target group in cohort years {years}")
    table = pd.concat(parts, ignore_index=True)
    outcomes = check_paths_table(table, expected, hidden=hidden)
    yield check_result("paths_add_up_and_are_disclosure_safe", outcomes)
    if not all(o.passed for o in outcomes):
        raise dg.Failure("paths to job not published: " + "; ".join(o.message() for o in outcomes if not o.passed))
    with warehouse.connect() as conn:
        rows = publish_described(conn, {TABLE: table}, {TABLE: PATHS_TO_JOB_COLUMNS},
                                 {TABLE: "Paths to the first job entry per target group and unit (country, municipality at entry)."})
        schema = described_schema(conn, TABLE)
    country = table[table["kom"].isna()][["target_group", "path", "job_entries", "persons", "share_pct", "share_pct_lo",
                                          "share_pct_hi"]]
    n_muni = table[table["kom"].notna()]
    published = n_muni.dropna(subset=["share_pct"])
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": rows[TABLE], "dagster/column_schema": schema, "dagster/table_name": TABLE,
        "cohort_years": years, "lookback_weeks": config.lookback_weeks,
        "groups_without_sequences": ", ".join(empty) or "none",
        "country": md_table(country, floatfmt=".1f"),
        "municipality_cells_published": f"{len(published)} of {len(n_muni)} municipality cells (the rest suppressed: "
                                        "under 5 persons, or so that no suppressed cell can be recomputed)",
        "interval": "exact (Clopper-Pearson) binomial interval, level " + str(config.level),
    })
