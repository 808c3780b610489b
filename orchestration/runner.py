"""Running the pipeline from Python or the command line, on the project's Dagster instance.

A run targets one partitions definition, so the main job is a sequence of runs:
registers -> register years -> cohort years -> pooled results. Each run executes in
process (one DuckDB writer, no per-step re-import) and is recorded in the instance at
DAGSTER_HOME, so it shows in the UI's run history.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Callable

import dagster as dg

from kommunebench.paths import REPO_ROOT, project_paths


def prepare_dagster_home() -> str:
    """Point DAGSTER_HOME at the project-local folder holding the project's dagster.yaml."""
    home = project_paths().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)


def project_instance() -> dg.DagsterInstance:
    prepare_dagster_home()
    return dg.DagsterInstance.get()


@dataclass
class StepReport:
    job: str
    partition: str | None
    success: bool
    seconds: float
    run_id: str
    error: str | None = None


@dataclass
class PipelineReport:
    steps: list[StepReport] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(s.success for s in self.steps)


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    msgs = []
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            data = ev.step_failure_data
            err = data.user_failure_data.description if data.user_failure_data else None
            if not err and data.error:
                err = data.error.message.strip()
                if data.error.cause:
                    err += " | " + data.error.cause.message.strip()
            msgs.append(f"{ev.step_key}: {err}")
    return "\n".join(msgs) or "run failed"


def run_job(
    defs: dg.Definitions,
    job_name: str,
    *,
    instance: dg.DagsterInstance,
    partition: str | None = None,
    run_config: dict | None = None,
    selection: list[dg.AssetKey] | None = None,
    log_level: str = "WARNING",
) -> StepReport:
    job = defs.resolve_job_def(job_name)
    t = time.perf_counter()
    config = dict(run_config or {})
    config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition,
        run_config=config,
        raise_on_error=False,
        asset_selection=selection,
        tags={"kommunebench/launched_by": "cli"},
    )
    return StepReport(
        job_name, partition, result.success, time.perf_counter() - t, result.run_id,
        None if result.success else _failure_text(result),
    )


def run_pipeline(
    defs: dg.Definitions,
    *,
    instance: dg.DagsterInstance,
    register_years: list[int],
    cohort_years: list[int],
    stages: tuple[str, ...] = ("registers", "register_years", "cohorts", "pooled"),
    progress: Callable[[str], None] = print,
    stop_on_failure: bool = True,
) -> PipelineReport:
    report = PipelineReport()
    plan: list[tuple[str, str | None]] = []
    if "registers" in stages:
        plan.append(("load_registers", None))
    if "register_years" in stages:
        plan += [("register_years", str(y)) for y in register_years]
    if "cohorts" in stages:
        plan += [("cohorts", str(y)) for y in cohort_years]
    job_names = {j.name for j in defs.jobs} if defs.jobs else set()
    if "pooled" in stages and "pooled_results" in job_names:
        plan.append(("pooled_results", None))
    for i, (job, part) in enumerate(plan, 1):
        label = f"{job}" + (f" [{part}]" if part else "")
        progress(f"[{i}/{len(plan)}] {label} ...")
        step = run_job(defs, job, instance=instance, partition=part)
        report.steps.append(step)
        progress(f"[{i}/{len(plan)}] {label} {'ok' if step.success else 'FAILED'} ({step.seconds:.1f} s)")
        if not step.success:
            progress(step.error or "")
            if stop_on_failure:
                break
    return report
