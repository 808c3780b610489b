"""reports: the HTML report and the exports, every table through disclosure control.

Both outputs are written into a new release folder and published together by one atomic
switch (``kommunebench.release``), only after the disclosure check passes, so a failed
or killed run leaves the last good report and exports, of one run, where they were.
"""

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.reports.adapt import chronogram_for_report, clusters_for_report, coefficients_for_report, league_for_report
from kommunebench.faults import failpoint
from kommunebench.paths import REPO_ROOT
from kommunebench.release import publish_release
from kommunebench.report import (
    ReportInputs,
    disclosure_report,
    map_png,
    protect_inputs,
    write_exports,
    write_report,
)
from orchestration.code_version import code_version
from orchestration.resources import Outputs, Warehouse
from orchestration.warehouse import md_table, png_markdown

CODE_VERSION = code_version(modules=("assets.reports", "kommunebench.report"))
UPSTREAM = [
    dg.AssetKey(["benchmark", "league_table"]),
    dg.AssetKey(["benchmark", "activity_indicators"]),
    dg.AssetKey(["models", "duration_models"]),
    dg.AssetKey(["sequences", "state_distributions"]),
    dg.AssetKey(["sequences", "typology"]),
]


class ReportConfig(dg.Config):
    threshold: int = Field(5, description="Disclosure control: cells under this many persons are suppressed.")
    title: str = Field("kommunebench: the municipalities' integration effort", description="Report title.")


def git_version() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
        return out.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def data_quality_summary(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """The latest result of every asset check in the code location (counts only)."""
    from orchestration.definitions import defs  # at run time: the code location is loaded by then

    keys = list(defs.resolve_asset_graph().asset_check_keys)
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    rows = []
    for key in sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        rec = latest.get(key)
        evaluation = None
        if rec is not None and rec.event is not None and rec.event.dagster_event is not None:
            data = rec.event.dagster_event.event_specific_data
            evaluation = data if isinstance(data, dg.AssetCheckEvaluation) else None
        failing = None
        if evaluation is not None and "failing_rows" in evaluation.metadata:
            failing = evaluation.metadata["failing_rows"].value
        rows.append({
            "check": key.name, "asset": key.asset_key.to_user_string(),
            "passed": None if evaluation is None else bool(evaluation.passed),
            "failing_rows": failing,
        })
    return pd.DataFrame(rows)


def _load_inputs(conn, context, config: ReportConfig) -> ReportInputs:
    league = conn.execute("SELECT * FROM benchmark.league_table").df()
    activity = conn.execute("SELECT * FROM benchmark.activity_indicators").df()
    fits = conn.execute("SELECT * FROM models.fit_summary").df()
    audit = conn.execute(
        "SELECT register, file AS file_name, sha256, rows, loaded_at FROM raw.load_audit a WHERE status = 'published' "
        "AND run_id = (SELECT arg_max(run_id, loaded_at) FROM raw.load_audit b WHERE b.register = a.register AND status = 'published') "
        "ORDER BY register, file"
    ).df()
    diagnostics = {
        f"{r.target_group}/{r.measure}": {
            "persons": int(r.persons), "events": int(r.events), "concordance": round(float(r.concordance), 4),
            "framework_share_explained": round(float(r.framework_share_explained), 4),
            "tau": round(float(r.tau), 4), "tau_interval": [round(float(r.tau_lo), 4), round(float(r.tau_hi), 4)],
            "units_can_be_told_apart": bool(r.distinguishable),
            "cohort_years": r.cohort_years,
        }
        for r in fits.itertuples()
    }
    settings = {"benchmark": json.loads(fits["settings"].iloc[0]) if len(fits) else {},
                "report": config.model_dump()}
    return ReportInputs(
        league=league_for_report(league, activity),
        chronogram=chronogram_for_report(conn.execute("SELECT * FROM sequences.state_distribution").df()),
        clusters=clusters_for_report(conn.execute("SELECT * FROM sequences.clusters").df(),
                                     conn.execute("SELECT * FROM sequences.cluster_quality").df()),
        coefficients=coefficients_for_report(conn.execute("SELECT * FROM models.coefficients").df()),
        diagnostics=diagnostics,
        data_quality=data_quality_summary(context),
        settings=settings,
        code_version=git_version(),
        input_checksums=audit,
        title=config.title,
        run_label=f"run {context.run_id[:8]}, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        threshold=config.threshold,
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["reports", "report_html"], group_name="reports", kinds={"html", "plotly"}, owners=["team:analysis"],
            description="One self-contained HTML report (opens offline): interactive map with a drop-down for target group "
            "and measure and details on click, sortable league table, funnel and caterpillar plots, activity scatter, "
            "chronograms, typology, model summary, data-quality summary, settings, code version and input checksums.",
            code_version=CODE_VERSION, deps=UPSTREAM,
        ),
        dg.AssetSpec(
            key=["reports", "exports"], group_name="reports", kinds={"excel", "csv", "parquet"}, owners=["team:analysis"],
            description="An Excel workbook (one sheet per table and a sheet describing the columns) and CSV and Parquet "
            "files per target group and measure, all through disclosure control.",
            code_version=CODE_VERSION, deps=UPSTREAM,
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec("disclosure_control", asset=["reports", "report_html"], blocking=True,
                          description="No published cell under the threshold, no recoverable suppressed cell, no person-level rows."),
        dg.AssetCheckSpec("disclosure_control", asset=["reports", "exports"], blocking=True,
                          description="No exported cell under the threshold, no recoverable suppressed cell, no person-level rows."),
    ],
)
def reports(context: dg.AssetExecutionContext, config: ReportConfig, warehouse: Warehouse, outputs: Outputs) -> Iterator:
    with warehouse.connect() as conn:
        inputs = _load_inputs(conn, context, config)
    protected = protect_inputs(inputs)
    violations = disclosure_report(protected, protected=False)
    passed = violations.empty
    meta = {"violations": len(violations)}
    if not passed:
        meta["detail"] = md_table(violations.head(30))
    for key in (["reports", "report_html"], ["reports", "exports"]):
        yield dg.AssetCheckResult(asset_key=key, check_name="disclosure_control", passed=passed, metadata=meta,
                                  severity=dg.AssetCheckSeverity.ERROR)
    if not passed:
        raise dg.Failure(description=f"disclosure control failed ({len(violations)} violation(s)); report and exports not written",
                         metadata=meta)
    root = outputs.root
    manifest_box = {}

    def write(folder):
        write_report(protected, folder / "report.html")
        failpoint("reports_written")  # tests: killed after the report, before the exports
        manifest_box["manifest"] = write_exports(inputs, folder / "exports")

    # report and exports are published as one unit: written into a new release folder,
    # then one atomic switch of the link `current` (report.html and exports link into it)
    release = publish_release(root, context.run_id, write)
    for what in release.removed:
        context.log.warning(f"removed {what}")
    manifest = manifest_box["manifest"]
    report_path = root / "report.html"
    exports_dir = root / "exports"

    league = protected.league
    thumbs = {}
    for group in ("flygtninge", "svage_indvandrere", "familiesammenfoerte"):
        thumbs[f"map/{group}"] = png_markdown(map_png(league, group, "success"), f"map {group}")
    yield dg.MaterializeResult(asset_key=["reports", "report_html"], metadata={
        "path": dg.MetadataValue.path(str(report_path)), "bytes": report_path.stat().st_size,
        "code_version": inputs.code_version, **thumbs,
    })
    yield dg.MaterializeResult(asset_key=["reports", "exports"], metadata={
        "path": dg.MetadataValue.path(str(exports_dir)), "files": len(manifest),
        "manifest": md_table(manifest.drop(columns=[c for c in manifest.columns if c == "sha256"]).head(50)),
    })
