"""Automation: refresh what a new delivery affects, and nothing else.

Turned on in the UI (Automation tab); all start stopped so nothing runs by surprise.

1. ``landing_delivery``: watches the landing folder; when a file is added, replaced or
   removed, it requests a ``load_registers`` run (unchanged files are not re-read).
2. ``register_years_after_load``: when ``raw/dream`` has been reloaded, requests a
   ``register_years`` run for every register year. A year whose content did not change
   keeps its data version.
3. ``cohorts_after_register_years``: when a ``spells/person_weeks`` partition gets a new
   data version, requests a ``cohorts`` run for every cohort year whose window (C-3 .. C+3)
   contains that register year, so a new register year touches only the cohorts it affects.
4. ``pooled_after_cohorts``: when outcomes of any cohort year were re-materialised and no
   cohorts run is still queued or running, requests a ``pooled_results`` run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from kommunebench.paths import cohort_years, project_paths, register_years
from orchestration.partitions import FOLLOWUP_YEARS, HISTORY_YEARS

PERSON_WEEKS = dg.AssetKey(["spells", "person_weeks"])
OUTCOMES = dg.AssetKey(["outcomes", "outcomes"])
RAW_DREAM = dg.AssetKey(["raw", "dream"])


def landing_fingerprint(landing: Path) -> str:
    """Names, sizes and modification times of every delivered file."""
    h = hashlib.sha256()
    for p in sorted(Path(landing).rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            h.update(f"{p.relative_to(landing)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


@dg.sensor(job_name="load_registers", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Load the registers when the landing folder changes.")
def landing_delivery(context: dg.SensorEvaluationContext):
    landing = project_paths().landing
    if not landing.exists():
        return dg.SkipReason(f"{landing} does not exist")
    fp = landing_fingerprint(landing)
    if fp == context.cursor:
        return dg.SkipReason("no change in the landing folder")
    context.update_cursor(fp)
    return dg.RunRequest(run_key=f"landing-{fp}", tags={"trigger": "landing_delivery"})


def _latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None, limit: int = 1):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=limit
    ).records
    return records


@dg.sensor(job_name="register_years", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
           description="After DREAM is reloaded, rebuild person-weeks and spells of every register year.")
def register_years_after_load(context: dg.SensorEvaluationContext):
    records = _latest_materialization(context.instance, RAW_DREAM)
    if not records:
        return dg.SkipReason("raw/dream has never been materialised")
    rec = records[0]
    reloaded = rec.asset_materialization.metadata.get("reloaded")
    if str(rec.storage_id) == context.cursor:
        return dg.SkipReason("no new load of raw/dream")
    context.update_cursor(str(rec.storage_id))
    if reloaded is not None and not reloaded.value:
        return dg.SkipReason("raw/dream files unchanged: nothing to rebuild")
    covered = rec.asset_materialization.metadata.get("register_years")
    years = [y for y in register_years() if covered is None or y in covered.value]
    return [
        dg.RunRequest(run_key=f"pw-{rec.storage_id}-{y}", partition_key=str(y), tags={"trigger": "register_years_after_load"})
        for y in years
    ]


def affected_cohorts(changed_years: set[int]) -> list[int]:
    """Cohort years whose window C-3 .. C+3 contains a changed register year."""
    return sorted(c for c in cohort_years() if any(c - HISTORY_YEARS <= y <= c + FOLLOWUP_YEARS for y in changed_years))


def changed_register_years(instance: dg.DagsterInstance, after_storage_id: int) -> tuple[set[int], int]:
    """Register years whose newest person-weeks materialisation (after the cursor) changed the data version."""
    changed: set[int] = set()
    newest = after_storage_id
    for y in register_years():
        recs = _latest_materialization(instance, PERSON_WEEKS, str(y), limit=2)
        if not recs or recs[0].storage_id <= after_storage_id:
            continue
        newest = max(newest, recs[0].storage_id)
        now = recs[0].asset_materialization.tags.get("dagster/data_version")
        before = recs[1].asset_materialization.tags.get("dagster/data_version") if len(recs) > 1 else None
        if now != before:
            changed.add(y)
    return changed, newest


@dg.sensor(job_name="cohorts", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
           description="After register years change, rebuild only the cohort years whose window they fall in.")
def cohorts_after_register_years(context: dg.SensorEvaluationContext):
    after = int(context.cursor or 0)
    changed, newest = changed_register_years(context.instance, after)
    if newest == after:
        return dg.SkipReason("no new person-weeks materialisation")
    context.update_cursor(str(newest))
    cohorts = affected_cohorts(changed)
    if not cohorts:
        return dg.SkipReason(f"person-weeks re-materialised without a change of content (years checked after {after})")
    return [
        dg.RunRequest(run_key=f"cohort-{newest}-{c}", partition_key=str(c),
                      tags={"trigger": "cohorts_after_register_years", "changed_register_years": json.dumps(sorted(changed))})
        for c in cohorts
    ]


@dg.sensor(job_name="pooled_results", minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.STOPPED,
           description="After cohorts are rebuilt (and none is still running), refresh models, sequences, benchmark and reports.")
def pooled_after_cohorts(context: dg.SensorEvaluationContext):
    newest = 0
    for c in cohort_years():
        recs = _latest_materialization(context.instance, OUTCOMES, str(c))
        if recs:
            newest = max(newest, recs[0].storage_id)
    if newest == 0 or str(newest) == context.cursor:
        return dg.SkipReason("no new outcomes")
    busy = context.instance.get_runs(
        filters=dg.RunsFilter(job_name="cohorts", statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED,
                                                             dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED]),
        limit=1,
    )
    if busy:
        return dg.SkipReason("cohorts runs are still in progress")
    context.update_cursor(str(newest))
    return dg.RunRequest(run_key=f"pooled-{newest}", tags={"trigger": "pooled_after_cohorts"})


SENSORS = [landing_delivery, register_years_after_load, cohorts_after_register_years, pooled_after_cohorts]
