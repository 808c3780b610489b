"""sequences: the weekly paths through benefits, activation, jobs and education.

Per target group, pooled over the window of cohort years, in TraMineR's vocabulary
(``kommunebench.sequences``): state distributions by week (chronogram), mean time per
state, transition rates, entropy, the headline indicators of domain.md §6, optimal
matching distances with TRATE substitution costs, PAM (or Ward) clusters with the
number of clusters chosen by average silhouette (CLARA for many distinct sequences),
and the typology: clusters named by their dominant states, with medoids.
"""

import json
import time
from typing import Iterator, Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from kommunebench.sequences import run_sequence_analysis
from kommunebench.validation import RuleOutcome
from orchestration.code_version import code_version, sql_text
from orchestration.resources import Warehouse
from orchestration.warehouse import check_result, cohort_window, column_schema, md_table, png_markdown, publish_frames

GROUPS = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")
CODE_VERSION = code_version(sql=("sequences/sequences",), modules=("assets.sequences", "kommunebench.sequences"))


class SequenceConfig(dg.Config):
    cohort_years: list[int] = Field(default_factory=list, description="Cohort years pooled (empty: every cohort year in the warehouse).")
    method: Literal["OM", "HAM", "DHD", "LCS"] = Field("OM", description="Distance: optimal matching, Hamming, dynamic Hamming or LCS.")
    sm: Literal["TRATE", "CONSTANT"] = Field("TRATE", description="Substitution costs for OM: from transition rates (TraMineR's TRATE) or constant.")
    indel: float = Field(1.0, description="Insertion/deletion cost for OM.")
    cluster_method: Literal["pam", "ward"] = Field("pam", description="Clustering: weighted PAM (FasterPAM) or Ward.")
    k_min: int = Field(2, description="Smallest number of clusters tried.")
    k_max: int = Field(8, description="Largest number of clusters tried; the average silhouette chooses.")
    clara_threshold: int = Field(4000, description="Above this many distinct sequences, cluster with CLARA (samples + assignment).")
    clara_sample_size: int = Field(2000, description="CLARA sample size.")
    clara_n_samples: int = Field(5, description="CLARA samples; the best objective is kept.")
    job_run_weeks: int = Field(3, description="Job run length for the 'job within the follow-up' indicator.")
    passive_share: float = Field(0.9, description="'Almost all the time passive': at least this share of the weeks.")
    seed: int = Field(2016, description="Seed: the same seed gives the same clusters.")


def assignment_outcome(clusters: np.ndarray, persons: int, k: int, group: str) -> RuleOutcome:
    """Every analysed person has exactly one cluster in 0..k-1."""
    ok = len(clusters) == persons and bool(np.all((clusters >= 0) & (clusters < k)))
    bad = abs(len(clusters) - persons) + int(np.sum((clusters < 0) | (clusters >= k)))
    return RuleOutcome("one_cluster_per_person", group, ok, bad, persons, detail=f"{persons} persons, k = {k}")


def share_outcome(seqs: np.ndarray, group: str) -> RuleOutcome:
    """In every week the states of the observed sequences account for all of them (shares sum to 1)."""
    from kommunebench.states import ALPHABET

    counts = np.stack([(seqs == s).sum(axis=0) for s in range(len(ALPHABET))])
    valid = (seqs >= 0).sum(axis=0)
    bad = int(np.sum(counts.sum(axis=0) != valid))
    return RuleOutcome("shares_sum_to_one", group, bad == 0, bad, seqs.shape[1])


def _tag(df: pd.DataFrame | None, group: str) -> pd.DataFrame:
    if df is None:
        return pd.DataFrame()
    df = df.copy()
    df.insert(0, "target_group", group)
    return df


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["sequences", "state_distributions"], group_name="sequences", kinds={"duckdb", "python"}, owners=["team:analysis"],
            description="State distribution by week (chronogram), overall and per municipality; mean weeks per state; transition "
            "rates; entropy by week; index-plot bands; headline indicators (domain.md §6). Aggregates, small cells suppressed.",
            code_version=CODE_VERSION, deps=[dg.AssetKey(["outcomes", "outcomes"])],
        ),
        dg.AssetSpec(
            key=["sequences", "cluster_solution"], group_name="sequences", kinds={"duckdb", "python"}, owners=["team:analysis"],
            description="Distances (OM with TRATE costs by default) between distinct sequences and the cluster solution: quality "
            "(weighted average silhouette) for every k tried, the chosen k, and each person's cluster (warehouse only).",
            code_version=CODE_VERSION, deps=[dg.AssetKey(["outcomes", "outcomes"])],
        ),
        dg.AssetSpec(
            key=["sequences", "typology"], group_name="sequences", kinds={"duckdb", "python"}, owners=["team:analysis"],
            description="The typology: clusters named by their dominant states, sizes, medoids (representative sequences), the "
            "state distribution of each cluster and each municipality's cluster mix.",
            code_version=CODE_VERSION, deps=[dg.AssetKey(["sequences", "cluster_solution"])],
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec("every_person_in_one_cluster", asset=["sequences", "cluster_solution"], blocking=True,
                          description="Each analysed person has exactly one cluster, and cluster sizes add up to the persons."),
        dg.AssetCheckSpec("state_shares_sum_to_one", asset=["sequences", "state_distributions"], blocking=True,
                          description="In every week the state shares add up to 1 (before suppression)."),
    ],
    pool="duckdb",
)
def sequence_analysis(context: dg.AssetExecutionContext, config: SequenceConfig, warehouse: Warehouse) -> Iterator:
    with warehouse.connect() as conn:
        years = cohort_window(conn, config.cohort_years)
        data = {g: conn.execute(sql_text("sequences/sequences"), {"group": g, "years": years}).df() for g in GROUPS}
    tables: dict[str, list[pd.DataFrame]] = {}
    infos, assign_checks, share_checks = {}, [], []
    for group, df in data.items():
        if df.empty:
            raise dg.Failure(f"no sequences for {group} in cohort years {years}")
        L = int(df["followup_weeks"].max())
        seqs = np.full((len(df), L), -1, dtype=np.int8)
        for i, s in enumerate(df["sequence"]):
            s = np.asarray(s, dtype=np.int8)[:L]
            seqs[i, : len(s)] = s
        keep = seqs[:, 0] >= 0
        seqs, sub = seqs[keep], df[keep].reset_index(drop=True)
        t0 = time.perf_counter()
        res = run_sequence_analysis(
            seqs, kom=sub["kom"].to_numpy(), method=config.method, sm=config.sm, indel=config.indel,
            cluster_method=config.cluster_method, k_range=range(config.k_min, config.k_max + 1),
            clara_threshold=config.clara_threshold, clara_sample_size=config.clara_sample_size,
            clara_n_samples=config.clara_n_samples, job_run_weeks=config.job_run_weeks,
            passive_share=config.passive_share, seed=config.seed,
        )
        context.log.info(f"sequences {group}: {len(sub)} sequences, k = {res.info['k']} ({res.info['route']}) in {time.perf_counter() - t0:.1f} s")
        infos[group] = {k: v for k, v in res.info.items() if k != "timings_s"} | {"seconds": round(time.perf_counter() - t0, 1)}
        for name in ("state_distribution", "entropy", "mean_time", "transition_rates", "indicators", "index_plot",
                     "cluster_quality", "clusters", "cluster_state_distribution", "state_distribution_by_kom",
                     "indicators_by_kom", "cluster_mix_by_kom"):
            tables.setdefault(f"sequences.{name}", []).append(_tag(getattr(res, name), group))
        tables.setdefault("sequences.substitution_costs", []).append(_tag(res.substitution_costs.reset_index(names="from_state"), group))
        a = pd.DataFrame({"PNR": sub["PNR"], "target_group": group, "cohort_year": sub["cohort_year"], "kom": sub["kom"],
                          "cluster": res.assignments.astype(int)})
        tables.setdefault("sequences.assignments", []).append(a)
        assign_checks.append(assignment_outcome(a["cluster"].to_numpy(), len(sub), res.info["k"], group))
        share_checks.append(share_outcome(seqs, group))
    frames = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    yield check_result("every_person_in_one_cluster", assign_checks, asset_key=dg.AssetKey(["sequences", "cluster_solution"]))
    yield check_result("state_shares_sum_to_one", share_checks, asset_key=dg.AssetKey(["sequences", "state_distributions"]))
    if not all(o.passed for o in assign_checks + share_checks):
        raise dg.Failure("sequence analysis not published: " + "; ".join(o.message() for o in assign_checks + share_checks if not o.passed))
    with warehouse.connect() as conn:
        rows = publish_frames(conn, frames)
        schemas = {t: column_schema(conn, t) for t in ("sequences.state_distribution", "sequences.assignments", "sequences.clusters")}

    from assets.reports.adapt import chronogram_for_report
    from kommunebench.report import chronogram_png
    from kommunebench.report.static import silhouette_png, typology_png

    chrono = chronogram_for_report(frames["sequences.state_distribution"])
    meta_sd = {"dagster/row_count": rows["sequences.state_distribution"], "dagster/column_schema": schemas["sequences.state_distribution"],
               "cohort_years": years,
               "indicators": md_table(frames["sequences.indicators"]), "settings": config.model_dump_json()}
    for g in GROUPS:
        meta_sd[f"chronogram/{g}"] = png_markdown(chronogram_png(chrono[chrono["target_group"] == g]), f"chronogram {g}")
    yield dg.MaterializeResult(asset_key=["sequences", "state_distributions"], metadata=meta_sd)
    quality = frames["sequences.cluster_quality"]
    yield dg.MaterializeResult(asset_key=["sequences", "cluster_solution"], metadata={
        "dagster/row_count": rows["sequences.assignments"], "dagster/column_schema": schemas["sequences.assignments"],
        "quality": md_table(quality),
        "silhouette": png_markdown(silhouette_png(quality), "average silhouette by k"),
        "runs": json.dumps(infos, default=str), "settings": config.model_dump_json()})
    clusters = frames["sequences.clusters"]
    yield dg.MaterializeResult(asset_key=["sequences", "typology"], metadata={
        "dagster/row_count": rows["sequences.clusters"], "dagster/column_schema": schemas["sequences.clusters"],
        "typology": md_table(clusters.drop(columns=[c for c in clusters.columns if c.startswith("medoid")], errors="ignore")),
        "cluster_chronograms": png_markdown(typology_png(frames["sequences.cluster_state_distribution"]), "state distribution per cluster"),
    })


from assets.sequences.paths import paths_to_job  # noqa: E402

#: Every asset of the sequences stage (the code location lists these).
SEQUENCE_ASSETS = [sequence_analysis, paths_to_job]
