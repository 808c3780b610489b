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
from typing import Iterator

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from kommunebench.benchmark import FRAMEWORK, BenchmarkSettings, choose_covariates, run_benchmark
from kommunebench.validation import RuleOutcome
from orchestration.code_version import code_version, sql_text
from orchestration.resources import Warehouse
from orchestration.warehouse import check_result, cohort_window, column_schema, md_table, png_markdown, publish_frames

GROUPS = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")
MEASURES = {"success": ("success_weeks", "success_event"), "partial_success": ("partial_weeks", "partial_event")}


class BenchmarkConfig(dg.Config):
    cohort_years: list[int] = Field(
        default_factory=list, description="Window of cohort years pooled in the benchmark (empty: every cohort year in the warehouse)."
    )
    measures: list[str] = Field(["success", "partial_success"], description="Success measures to benchmark.")
    min_persons: int = Field(20, description="Municipalities with fewer persons are reported as too small and never ranked.")
    min_expected_events: float = Field(5.0, description="Municipalities with fewer expected events are reported as too small and never ranked.")
    pool_job_centres: bool = Field(False, description="Pool the shared job centres Esbjerg-Fanø, Frederikshavn-Læsø, Tårnby-Dragør, Vallensbæk-Ishøj.")
    band: float = Field(0.05, description="'As expected' band: the whole interval within ±band of expected.")
    level: float = Field(0.90, description="Level of every interval in the league table.")
    fdr_q: float = Field(0.10, description="Benjamini-Hochberg false discovery rate for better/worse than expected.")
    n_draws: int = Field(4_000, description="Posterior draws for shrunken intervals, rank intervals, P(top fifth) and the headline figures.")
    n_peers: int = Field(10, description="Municipalities with the most similar framework conditions each is compared with.")
    bootstrap_replicates: int = Field(0, description="Person-level bootstrap replicates with refits (0 = off), run on Dask.")
    dask_scheduler: str = Field("", description="Dask scheduler address for the bootstrap (empty: a local cluster).")
    dask_workers: int = Field(2, description="Workers of the local Dask cluster.")
    seed: int = Field(2016, description="Seed of the rank simulation and the bootstrap.")

    def settings(self, horizon: int, duration_col: str, event_col: str) -> BenchmarkSettings:
        return BenchmarkSettings(
            horizon=horizon, min_persons=self.min_persons, min_expected_events=self.min_expected_events,
            pool_job_centres=self.pool_job_centres, band=self.band, level=self.level, fdr_q=self.fdr_q,
            n_draws=self.n_draws, n_peers=self.n_peers,
            bootstrap_replicates=self.bootstrap_replicates, dask_scheduler=self.dask_scheduler or None,
            dask_workers=self.dask_workers, seed=self.seed, duration_col=duration_col, event_col=event_col,
        )


def oe_total_outcome(league: pd.DataFrame, label: str) -> RuleOutcome:
    """Indirect standardisation: expected events sum to observed events (relative 1e-6)."""
    o, e = float(league["events_observed"].sum()), float(league["events_expected"].sum())
    ok = abs(o - e) <= 1e-6 * max(o, 1.0)
    return RuleOutcome("sum_expected_equals_sum_observed", label, ok, 0 if ok else 1, len(league), detail=f"O = {o:.3f}, E = {e:.3f}")


def league_outcomes(league: pd.DataFrame, min_persons: int, band: float = 0.05) -> tuple[list[RuleOutcome], list[RuleOutcome]]:
    """Rules on the league table: too-small units unranked; intervals contain their estimates and
    stay on the bounded scale; classes as documented; no ranks where units cannot be told apart."""
    small = league[league["too_small"]]
    small_ranked = int((small["rank"].notna() | small["fifth"].notna() | (small["class"] != "too_small")).sum())
    below = int(((league["persons"] < min_persons) & ~league["too_small"]).sum())
    size_out = [RuleOutcome("too_small_never_ranked", "rank,fifth,class", small_ranked == 0 and below == 0, small_ranked + below,
                            len(league), detail=f"{len(small)} units below {min_persons} persons")]
    finite = np.isfinite(league["indicator_pct"].astype(float))
    bad_int = int((finite & ((league["indicator_pct"] < league["indicator_pct_lo"] - 1e-9)
                             | (league["indicator_pct"] > league["indicator_pct_hi"] + 1e-9))).sum())
    pct_cols = [c for c in league.columns if c.startswith(("indicator_pct", "vs_peers_pct", "aft_time_ratio_pct"))]
    vals = league[pct_cols].astype(float).to_numpy()
    off_scale = int((np.abs(vals[np.isfinite(vals)]) > 100 + 1e-9).sum())
    n_units = league.groupby(["target_group", "measure"])["kom"].transform("count")
    bad_rank = int(((league["rank_lo"] < 1) | (league["rank_hi"] > n_units) | (league["rank_lo"] > league["rank_hi"])
                    | (league["rank"] < 1) | (league["rank"] > n_units)).fillna(False).sum())
    b = 100 * band
    exp_ = league["class"] == "as_expected"
    bad_class = int((exp_ & ((league["indicator_pct_lo"] < -b - 1e-9) | (league["indicator_pct_hi"] > b + 1e-9))).sum())
    sign = ((league["class"] == "better") & (league["indicator_pct_lo"] <= 0)) | ((league["class"] == "worse") & (league["indicator_pct_hi"] >= 0))
    bad_class += int(sign.sum())
    ranked_anyway = int((~league["distinguishable"].astype(bool) & (league["rank"].notna() | league["fifth"].notna())).sum())
    int_out = [RuleOutcome("indicator_within_interval", "indicator_pct", bad_int == 0, bad_int, len(league)),
               RuleOutcome("percentages_on_the_bounded_scale", ",".join(pct_cols), off_scale == 0, off_scale, vals.size),
               RuleOutcome("rank_interval_valid", "rank_lo,rank_hi", bad_rank == 0, bad_rank, len(league)),
               RuleOutcome("classes_as_documented", "class,indicator_pct_lo,indicator_pct_hi", bad_class == 0, bad_class, len(league),
                           detail="as_expected only with the whole interval within the band; better/worse with an interval excluding 0"),
               RuleOutcome("no_ranks_when_units_cannot_be_told_apart", "rank,fifth", ranked_anyway == 0, ranked_anyway, len(league))]
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
                          description="Every interval contains its point estimate and stays on the bounded ±100 % scale; rank "
                          "intervals within 1..units; classes as documented (as expected only with the whole interval within "
                          "±5 %); no ranks or fifths where the units cannot be told apart."),
    ],
    pool="duckdb",
)
def benchmark_models(context: dg.AssetExecutionContext, config: BenchmarkConfig, warehouse: Warehouse) -> Iterator:
    with warehouse.connect() as conn:
        years = cohort_window(conn, config.cohort_years)
        inputs = {g: conn.execute(sql_text("models/benchmark_persons"), {"group": g, "years": years}).df() for g in GROUPS}
    frames: dict[str, list[pd.DataFrame]] = {k: [] for k in (
        "models.fit_summary", "models.coefficients", "models.calibration", "models.ph_test", "models.aft",
        "models.person_expected", "benchmark.league_table", "benchmark.summary", "benchmark.funnel",
        "benchmark.framework_effects")}
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
            choice = choose_covariates(usable, ecol)
            usable, numeric, categorical, constant = choice.persons, choice.numeric, choice.categorical, choice.dropped
            t0 = time.perf_counter()
            context.log.info(f"benchmark {group}/{measure}: {len(usable)} persons, cohort years {years}")
            try:
                res = run_benchmark(usable, numeric, categorical, list(FRAMEWORK), config.settings(horizon, dcol, ecol))
            except ValueError as e:
                raise dg.Failure(description=f"benchmark {group}/{measure} cannot be computed: {e}") from e
            secs = time.perf_counter() - t0
            lt = res.league_table
            oe_checks.append(oe_total_outcome(lt, f"{group}/{measure}"))
            frames["models.fit_summary"].append(pd.DataFrame([{
                "target_group": group, "measure": measure, "cohort_years": ",".join(map(str, years)), "horizon": horizon,
                "persons": res.n, "events": res.events, "dropped_zero_weeks": dropped, "constant_covariates": ",".join(constant),
                "concordance": res.concordance,
                "log_likelihood": res.log_likelihood, "tau": res.tau, "tau_lo": res.tau_lo, "tau_hi": res.tau_hi,
                "distinguishable": res.distinguishable, "tau2_without_framework": res.tau2_without_framework,
                "tau2_with_framework": res.tau2_with_framework, "framework_share_explained": res.framework_share_explained,
                "weibull_shape": res.weibull_shape, "seconds": secs, "settings": json.dumps(res.settings, default=str),
            }]))
            frames["benchmark.summary"].append(pd.DataFrame([{
                "target_group": group, "measure": measure, "cohort_years": ",".join(map(str, years)), **res.summary}]))
            for name, df in (("models.coefficients", res.coefficients), ("models.calibration", res.calibration),
                             ("models.ph_test", res.ph_test), ("models.aft", res.aft), ("models.person_expected", res.person_expected),
                             ("benchmark.league_table", lt), ("benchmark.funnel", res.funnel),
                             ("benchmark.framework_effects", res.framework_effects)):
                frames[name].append(_tag(df, group, measure))
            ranked = lt[~lt["too_small"]]
            summaries.append({
                "target_group": group, "measure": measure, "persons": res.n, "events": res.events,
                "units_ranked": int(len(ranked)), "too_small": int(lt["too_small"].sum()),
                "can_tell_apart": bool(res.distinguishable), "tau": round(res.tau, 3),
                "better": int((lt["class"] == "better").sum()), "as_expected": int((lt["class"] == "as_expected").sum()),
                "worse": int((lt["class"] == "worse").sum()),
                "not_distinguishable": int((lt["class"] == "not_distinguishable").sum()),
                "concordance": round(res.concordance, 3),
                "framework_share": round(res.framework_share_explained, 3),
            })
    tables = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in frames.items()}
    league = tables["benchmark.league_table"]
    size_out, int_out = league_outcomes(league, config.min_persons, config.band)
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
    short = summary[["target_group", "measure", "units_ranked", "can_tell_apart", "better", "as_expected", "worse", "not_distinguishable"]]
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
