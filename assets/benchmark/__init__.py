"""benchmark: activity indicators per municipality and their relation to success."""

import json
from typing import Iterator

import dagster as dg
import numpy as np
import pandas as pd

from assets.reports.adapt import spearman_with_interval
from kommunebench.states import STATE_INDEX, WAGE_SUBSIDY_OR_INTERNSHIP
from orchestration.code_version import code_version, sql_text
from orchestration.resources import Warehouse
from orchestration.warehouse import column_schema, md_table, publish_frames


@dg.asset(
    key=["benchmark", "activity_indicators"],
    deps=[dg.AssetKey(["benchmark", "league_table"]), dg.AssetKey(["sequences", "state_distributions"])],
    group_name="benchmark",
    kinds={"duckdb", "python"},
    owners=["team:analysis"],
    description=(
        "Per municipality and target group: share of follow-up weeks on passive support and share of persons ever in "
        "company internship or wage subsidy, joined to the league table; and their relation to success (Spearman rank "
        "correlation with a bootstrap interval over municipalities, and a fitted line), municipalities too small to rank left out."
    ),
    code_version=code_version(sql=("benchmark/activity_indicators",), modules=("assets.benchmark",)),
    pool="duckdb",
)
def activity_indicators(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator:
    with warehouse.connect() as conn:
        years = [r[0] for r in conn.execute("SELECT DISTINCT unnest(string_split(cohort_years, ','))::INT FROM models.fit_summary").fetchall()]
        act = conn.execute(
            sql_text("benchmark/activity_indicators"),
            {"years": years, "passive_code": STATE_INDEX["PASSIVE"],
             "active_codes": sorted(STATE_INDEX[s] for s in WAGE_SUBSIDY_OR_INTERNSHIP)},
        ).df()
        league = conn.execute(
            "SELECT target_group, measure, kom, members, persons AS unit_persons, too_small, indicator_pct "
            "FROM benchmark.league_table"
        ).df()
    # pooled job centres: weight members' indicators by persons
    league["member_list"] = league["members"].astype(str).str.split("+")
    unit_rows = []
    for _, r in league[league["measure"] == "success"].iterrows():
        members = [int(m) for m in r["member_list"]]
        a = act[(act["target_group"] == r["target_group"]) & act["kom"].isin(members)]
        if a.empty:
            continue
        w = a["persons"].to_numpy(dtype=float)
        unit_rows.append({
            "target_group": r["target_group"], "kom": int(r["kom"]), "persons": int(w.sum()),
            "share_weeks_passive": float(np.average(a["share_weeks_passive"], weights=w)),
            "share_wage_subsidy_or_internship": float(np.average(a["share_wage_subsidy_or_internship"], weights=w)),
            "indicator_pct": r["indicator_pct"], "too_small": bool(r["too_small"]),
        })
    units = pd.DataFrame(unit_rows)
    relations = []
    for g, d in units[~units["too_small"]].groupby("target_group"):
        for col in ("share_weeks_passive", "share_wage_subsidy_or_internship"):
            x, y = d[col].to_numpy(float), d["indicator_pct"].to_numpy(float)
            rho, lo, hi = spearman_with_interval(x, y, seed=2016)
            ok = np.isfinite(x) & np.isfinite(y)
            slope, intercept = np.polyfit(x[ok], y[ok], 1) if ok.sum() >= 3 else (np.nan, np.nan)
            relations.append({"target_group": g, "indicator": col, "municipalities": int(ok.sum()), "spearman": rho,
                              "spearman_lower": lo, "spearman_upper": hi, "slope": slope, "intercept": intercept})
    rel = pd.DataFrame(relations)
    with warehouse.connect() as conn:
        rows = publish_frames(conn, {"benchmark.activity_indicators": units, "benchmark.activity_relation": rel})
        schema = column_schema(conn, "benchmark.activity_indicators")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": rows["benchmark.activity_indicators"], "dagster/column_schema": schema,
        "relation_to_success": md_table(rel.round(3)),
        "cohort_years": json.dumps(years),
    })
