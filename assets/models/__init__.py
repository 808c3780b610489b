"""models + benchmark: the expected-duration models and the municipality league table.

One computation per target group and success measure (``kommunebench.benchmark``):
a Cox model without a municipality effect (cohort year as strata) gives each person's
expected cumulative hazard and restricted mean; per municipality, observed against
expected with exact Poisson limits, empirical-Bayes shrinkage, rank intervals, fifths
and classes. The fits are the ``models`` asset, the league table the ``benchmark``
asset; both are written together after their checks pass, pooled over a configurable
window of cohort years (one year alone has too few refugees per municipality).
"""

import json
import time
from typing import Iterator, Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from kommunebench.benchmark import BenchmarkSettings, run_benchmark
from kommunebench.validation import RuleOutcome
from orchestration.code_version import code_version, sql_text
from orchestration.resources import Warehouse
from orchestration.warehouse import check_result, cohort_window, column_schema, md_table, png_markdown, publish_frames

GROUPS = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")
MEASURES = {"success": ("success_weeks", "success_event"), "partial_success": ("partial_weeks", "partial_event")}
NUMERIC = ["age", "female", "children", "years_in_dk", "prior_employment_weeks", "prior_benefit_weeks", "prior_sick_weeks"]
CATEGORICAL = ["origin_region", "civil_status", "education_level"]
FRAMEWORK = ["ledighed_pendling", "job_pr_indb", "andel_ikkevestlig", "andel_industri"]


class BenchmarkConfig(dg.Config):
    cohort_years: list[int] = Field(
        default_factory=list, description="Window of cohort years pooled in the benchmark (empty: every cohort year in the warehouse)."
    )
    measures: list[str] = Field(["success", "partial_success"], description="Success measures to benchmark.")
    min_persons: int = Field(20, description="Municipalities with fewer persons are reported as too small and never ranked.")
    pool_job_centres: bool = Field(False, description="Pool the shared job centres Esbjerg-Fanø, Frederikshavn-Læsø, Tårnby-Dragør, Vallensbæk-Ishøj.")
    band: float = Field(0.05, description="'As expected' band: within ±band of expected, decided on the interval.")
    level: float = Field(0.90, description="Level of every interval in the league table.")
    fdr_q: float = Field(0.05, description="Benjamini-Hochberg false discovery rate for better/worse than expected.")
    n_sim: int = Field(10_000, description="Parametric draws for rank intervals and P(top fifth).")
    scale: Literal["time_ratio", "hazard", "rmst"] = Field(
        "time_ratio", description="Scale of the headline '% faster than expected' (the others are columns beside it)."
    )
    rank_on: Literal["shrunken", "raw"] = Field("shrunken", description="Rank on empirical-Bayes shrunken or raw estimates.")
    bootstrap_replicates: int = Field(0, description="Person-level bootstrap replicates with refits (0 = off), run on Dask.")
    dask_scheduler: str = Field("", description="Dask scheduler address for the bootstrap (empty: a local cluster).")
    dask_workers: int = Field(2, description="Workers of the local Dask cluster.")
    seed: int = Field(2016, description="Seed of the rank simulation and the bootstrap.")

    def settings(self, horizon: int, duration_col: str, event_col: str) -> BenchmarkSettings:
        return BenchmarkSettings(
            horizon=horizon, min_persons=self.min_persons, pool_job_centres=self.pool_job_centres, band=self.band,
            level=self.level, fdr_q=self.fdr_q, n_sim=self.n_sim, scale=self.scale, rank_on=self.rank_on,
            bootstrap_replicates=self.bootstrap_replicates, dask_scheduler=self.dask_scheduler or None,
            dask_workers=self.dask_workers, seed=self.seed, duration_col=duration_col, event_col=event_col,
        )


MIN_VARYING = 20  # persons that must differ from the most common value for a covariate to enter
MIN_EVENTS = 5  # events (and non-events) needed among them


def model_covariates(df: pd.DataFrame, event_col: str) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """Covariates that can enter this group's model for this measure.

    A numeric covariate enters only if at least ``MIN_VARYING`` persons differ from its
    most common value and at least ``MIN_EVENTS`` of them have the event and as many do
    not (years in Denmark is 0 for everyone at a permit; prior employment is 0 for nearly
    all newly arrived, so it nearly separates events). Categorical levels with fewer
    persons, events or non-events are merged into ``other``; a categorical covariate with
    one level left is dropped. Without this, near-constant or separating columns make the
    Cox information matrix singular. What was dropped is recorded with the fit.
    """
    df = df.copy()
    ev = df[event_col].astype(bool)

    def enough(mask: pd.Series) -> bool:
        return int(mask.sum()) >= MIN_VARYING and int((mask & ev).sum()) >= MIN_EVENTS and int((mask & ~ev).sum()) >= MIN_EVENTS

    numeric = [c for c in NUMERIC if enough(df[c] != df[c].mode().iloc[0])]
    categorical = []
    for c in CATEGORICAL:
        rare = [lvl for lvl in df[c].unique() if not enough(df[c] == lvl)]
        if rare:
            df[c] = df[c].where(~df[c].isin(rare), "other")
        levels = df[c].value_counts()
        if len(levels) > 1 and enough(df[c] != levels.index[0]):
            categorical.append(c)
    dropped = sorted(set(NUMERIC + CATEGORICAL) - set(numeric + categorical))
    return df, numeric, categorical, dropped


def oe_total_outcome(league: pd.DataFrame, label: str) -> RuleOutcome:
    """Indirect standardisation: expected events sum to observed events (relative 1e-6)."""
    o, e = float(league["events_observed"].sum()), float(league["events_expected"].sum())
    ok = abs(o - e) <= 1e-6 * max(o, 1.0)
    return RuleOutcome("sum_expected_equals_sum_observed", label, ok, 0 if ok else 1, len(league), detail=f"O = {o:.3f}, E = {e:.3f}")


def league_outcomes(league: pd.DataFrame, min_persons: int) -> tuple[list[RuleOutcome], list[RuleOutcome]]:
    """Rules on the league table: too-small units unranked; intervals contain their estimates."""
    small = league[league["too_small"]]
    small_ranked = int((small["rank"].notna() | small["fifth"].notna() | (small["class"] != "too_small")).sum())
    below = int(((league["persons"] < min_persons) & ~league["too_small"]).sum())
    size_out = [RuleOutcome("too_small_never_ranked", "rank,fifth,class", small_ranked == 0 and below == 0, small_ranked + below,
                            len(league), detail=f"{len(small)} units below {min_persons} persons")]
    finite = np.isfinite(league["indicator_pct"].astype(float))
    bad_int = int((finite & ((league["indicator_pct"] < league["indicator_pct_lo"] - 1e-9)
                             | (league["indicator_pct"] > league["indicator_pct_hi"] + 1e-9))).sum())
    n_units = league.groupby(["target_group", "measure"])["kom"].transform("count")
    # The point rank may fall outside its simulated interval when the estimates hardly differ and the
    # uncertainties do (units with wide posteriors take the extreme simulated ranks): that is information
    # (the rank means nothing), not an error, so only the interval itself is checked.
    bad_rank = int(((league["rank_lo"] < 1) | (league["rank_hi"] > n_units) | (league["rank_lo"] > league["rank_hi"])
                    | (league["rank"] < 1) | (league["rank"] > n_units)).fillna(False).sum())
    int_out = [RuleOutcome("indicator_within_interval", "indicator_pct", bad_int == 0, bad_int, len(league)),
               RuleOutcome("rank_interval_valid", "rank_lo,rank_hi", bad_rank == 0, bad_rank, len(league))]
    return size_out, int_out


def _tag(df: pd.DataFrame, group: str, measure: str) -> pd.DataFrame:
    df = df.copy()
    df.insert(0, "measure", measure)
    df.insert(0, "target_group", group)
    return df


CODE_VERSION = code_version(sql=("models/benchmark_persons",), modules=("assets.models", "kommunebench.benchmark"))
UPSTREAM = [dg.AssetKey(["outcomes", "outcomes"]), dg.AssetKey(["cohorts", "cohort_members"])]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["models", "duration_models"], group_name="models", kinds={"duckdb", "python"}, owners=["team:analysis"],
            description="Cox models of time to success and partial success per target group (no municipality effect, "
            "cohort year as strata): coefficients, concordance, proportional-hazards test, calibration by decile, Weibull "
            "AFT time ratios per municipality, and each person's expected values (warehouse only).",
            code_version=CODE_VERSION, deps=UPSTREAM,
        ),
        dg.AssetSpec(
            key=["benchmark", "league_table"], group_name="benchmark", kinds={"duckdb", "python"}, owners=["team:analysis"],
            description="The municipality league table per target group and measure: observed/expected with exact "
            "Poisson limits, '% faster than expected' with intervals, weeks of difference, shrunken estimates, rank "
            "intervals, P(top fifth), fifths and classes; funnel data and the share of variation the framework conditions explain.",
            code_version=CODE_VERSION, deps=[dg.AssetKey(["models", "duration_models"])],
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec("observed_equals_expected_in_total", asset=["models", "duration_models"], blocking=True,
                          description="Indirect standardisation: the expected events sum to the observed events in every fit."),
        dg.AssetCheckSpec("no_small_municipality_ranked", asset=["benchmark", "league_table"], blocking=True,
                          description="No municipality below the size limit has a rank, fifth or class other than too_small."),
        dg.AssetCheckSpec("intervals_contain_estimates", asset=["benchmark", "league_table"], blocking=True,
                          description="Every interval contains its point estimate; rank intervals within 1..units."),
    ],
    pool="duckdb",
)
def benchmark_models(context: dg.AssetExecutionContext, config: BenchmarkConfig, warehouse: Warehouse) -> Iterator:
    with warehouse.connect() as conn:
        years = cohort_window(conn, config.cohort_years)
        inputs = {g: conn.execute(sql_text("models/benchmark_persons"), {"group": g, "years": years}).df() for g in GROUPS}
    frames: dict[str, list[pd.DataFrame]] = {k: [] for k in (
        "models.fit_summary", "models.coefficients", "models.calibration", "models.ph_test", "models.aft",
        "models.person_expected", "benchmark.league_table", "benchmark.funnel", "benchmark.framework_effects")}
    oe_checks: list[RuleOutcome] = []
    summaries = []
    for group, persons in inputs.items():
        for measure in config.measures:
            if measure not in MEASURES:
                raise dg.Failure(f"unknown measure {measure!r}; choose from {list(MEASURES)}")
            dcol, ecol = MEASURES[measure]
            horizon = int(persons["followup_weeks"].max()) if len(persons) else 0
            usable = persons[persons[dcol] >= 1]
            dropped = len(persons) - len(usable)
            usable, numeric, categorical, constant = model_covariates(usable, ecol)
            t0 = time.perf_counter()
            context.log.info(f"benchmark {group}/{measure}: {len(usable)} persons, cohort years {years}")
            try:
                res = run_benchmark(usable, numeric, categorical, FRAMEWORK, config.settings(horizon, dcol, ecol))
            except ValueError as e:
                raise dg.Failure(description=f"benchmark {group}/{measure} cannot be computed: {e}") from e
            secs = time.perf_counter() - t0
            lt = res.league_table
            oe_checks.append(oe_total_outcome(lt, f"{group}/{measure}"))
            frames["models.fit_summary"].append(pd.DataFrame([{
                "target_group": group, "measure": measure, "cohort_years": ",".join(map(str, years)), "horizon": horizon,
                "persons": res.n, "events": res.events, "dropped_zero_weeks": dropped, "constant_covariates": ",".join(constant),
                "concordance": res.concordance,
                "log_likelihood": res.log_likelihood, "tau2": res.tau2, "tau2_without_framework": res.tau2_without_framework,
                "tau2_with_framework": res.tau2_with_framework, "framework_share_explained": res.framework_share_explained,
                "weibull_shape": res.weibull_shape, "seconds": secs, "settings": json.dumps(res.settings, default=str),
            }]))
            for name, df in (("models.coefficients", res.coefficients), ("models.calibration", res.calibration),
                             ("models.ph_test", res.ph_test), ("models.aft", res.aft), ("models.person_expected", res.person_expected),
                             ("benchmark.league_table", lt), ("benchmark.funnel", res.funnel),
                             ("benchmark.framework_effects", res.framework_effects)):
                frames[name].append(_tag(df, group, measure))
            ranked = lt[~lt["too_small"]]
            summaries.append({
                "target_group": group, "measure": measure, "persons": res.n, "events": res.events,
                "units_ranked": int(len(ranked)), "too_small": int(lt["too_small"].sum()),
                "better": int((lt["class"] == "better").sum()), "as_expected": int((lt["class"] == "as_expected").sum()),
                "worse": int((lt["class"] == "worse").sum()), "concordance": round(res.concordance, 3),
                "framework_share": round(res.framework_share_explained, 3),
            })
    tables = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in frames.items()}
    league = tables["benchmark.league_table"]
    size_out, int_out = league_outcomes(league, config.min_persons)
    yield check_result("observed_equals_expected_in_total", oe_checks, asset_key=dg.AssetKey(["models", "duration_models"]))
    yield check_result("no_small_municipality_ranked", size_out, asset_key=dg.AssetKey(["benchmark", "league_table"]))
    yield check_result("intervals_contain_estimates", int_out, asset_key=dg.AssetKey(["benchmark", "league_table"]))
    if not all(o.passed for o in oe_checks + size_out + int_out):
        raise dg.Failure(description="benchmark not published: " + "; ".join(o.message() for o in oe_checks + size_out + int_out if not o.passed))
    with warehouse.connect() as conn:
        rows = publish_frames(conn, tables)
        league_schema = column_schema(conn, "benchmark.league_table")
        models_schema = column_schema(conn, "models.coefficients")
    summary = pd.DataFrame(summaries)
    fit = tables["models.fit_summary"].drop(columns=["settings"])
    yield dg.MaterializeResult(asset_key=["models", "duration_models"], metadata={
        "dagster/row_count": rows["models.coefficients"], "dagster/column_schema": models_schema,
        "fits": md_table(fit.round(4)), "cohort_years": years,
        "calibration_refugees": md_table(tables["models.calibration"].query("target_group == 'flygtninge' and measure == 'success'")
                                         .drop(columns=["target_group", "measure"]).round(3)),
        "ph_test_refugees": md_table(tables["models.ph_test"].query("target_group == 'flygtninge' and measure == 'success'")
                                     .drop(columns=["target_group", "measure"]).round(4)),
        "settings": config.model_dump_json(), "tables": json.dumps({k: v for k, v in rows.items() if k.startswith("models.")}),
    })
    short = summary[["target_group", "measure", "units_ranked", "better", "as_expected", "worse"]]
    meta = {"dagster/row_count": rows["benchmark.league_table"], "dagster/column_schema": league_schema,
            "classes": md_table(short), "summary": md_table(summary), "cohort_years": years,
            "settings": config.model_dump_json()}
    try:
        from kommunebench.report import funnel_png

        from assets.reports.adapt import league_for_report

        meta["funnel_refugees"] = png_markdown(funnel_png(league_for_report(league), "flygtninge", "success"), "funnel plot, refugees")
    except Exception as e:  # a plot must never fail the asset, but must not vanish silently
        context.log.warning(f"funnel plot not rendered: {e}")
    yield dg.MaterializeResult(asset_key=["benchmark", "league_table"], metadata=meta)
