"""Running the pipeline from Python or the command line, on the project's Dagster instance.

A run targets one partitions definition, so the main job is a sequence of runs:
registers -> register years -> cohort years -> pooled results. Each run executes in
process (one DuckDB writer, no per-step re-import) and is recorded in the instance at
DAGSTER_HOME, so it shows in the UI's run history.

Before the first run, :func:`orchestration.recovery.recover` marks runs of dead
processes failed and frees the pool slots they held (a killed run never blocks the
next one); while a run waits for the ``duckdb`` pool it says which run holds it. The
console shows warnings as one line each and a failed step as its message; tracebacks
stay in the run's log (the Dagster UI) and the command line's log file.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import dagster as dg
from dagster._core.utils import make_new_run_id

from kommunebench.paths import REPO_ROOT, project_paths
from orchestration.recovery import HOST_TAG, PID_TAG, PoolWatcher, recover

#: Where the console logger writes; the command line's worker points it at its stdout.
CONSOLE = {"stream": None}


class _ConciseHandler(logging.Handler):
    """Warnings of a run as one line each (``warning: <step>: <message>``); step and run
    failures are left to the runner, which prints their message without the traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", {}) or {}
        event = meta.get("dagster_event")
        if event is not None and event.event_type_value in ("STEP_FAILURE", "PIPELINE_FAILURE", "RUN_FAILURE"):
            return
        msg = str(meta.get("orig_message") or record.getMessage()).strip().splitlines()
        if not msg:
            return
        step = meta.get("step_key")
        stream = CONSOLE["stream"] or sys.stderr
        stream.write(f"  {record.levelname.lower()}: {step + ': ' if step else ''}{msg[0]}\n")
        stream.flush()


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="WARNING")},
    description="One line per warning or error of a run, no tracebacks (they are in the run's log).",
)
def concise_console(init_context) -> logging.Logger:
    logger = logging.Logger("kommunebench.console", level=init_context.logger_config["log_level"])
    logger.addHandler(_ConciseHandler())
    return logger


def prepare_dagster_home() -> str:
    """Point DAGSTER_HOME at the project-local folder holding the project's dagster.yaml,
    and create the instance's storage there once, under a file lock: the UI's processes
    and a command-line run started at the same moment on a fresh home would otherwise
    both create the SQLite schema, and one of them fails ("alembic_version has more than
    one head")."""
    import fcntl

    home = project_paths().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    with open(home / ".storage.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.get_runs(limit=1)
            instance.event_log_storage.get_concurrency_keys()
            instance.all_instigator_state()
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


MEMORY_ERRORS = ("MemoryError", "OutOfMemoryException", "Out of Memory Error", "std::bad_alloc",
                 "failed to map segment", "Cannot allocate memory")
#: exceptions whose message says everything (the class name would only repeat it)
OWN_ERRORS = ("WarehouseOutOfMemory",)


def _error_text(error) -> str:
    """One readable line for a step's error: the user's exception (not Dagster's wrapper),
    its class and message, without the traceback."""
    while error.cause is not None and error.cls_name in ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"):
        error = error.cause
    msg = error.message.strip()
    head = msg.split(": ", 1)[0]
    if error.cls_name in OWN_ERRORS and head.split(".")[-1] == error.cls_name:
        msg = msg.split(": ", 1)[1]
    if error.cause is not None and error.cause.cls_name not in ("KeyboardInterrupt",):
        msg += " | caused by " + error.cause.message.strip().splitlines()[0]
    return msg


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    msgs = []
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            data = ev.step_failure_data
            err = data.user_failure_data.description if data.user_failure_data else None
            if not err and data.error:
                err = _error_text(data.error)
                if any(m in err for m in MEMORY_ERRORS) and "KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT" not in err:
                    from orchestration.resources import memory_advice

                    err += "\nOut of memory. " + memory_advice()
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
    say: Callable[[str], None] | None = None,
) -> StepReport:
    job = defs.resolve_job_def(job_name)
    t = time.perf_counter()
    config = dict(run_config or {})
    config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    run_id = make_new_run_id()
    with PoolWatcher(instance, run_id, say or (lambda m: None)):
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition,
            run_config=config,
            raise_on_error=False,
            asset_selection=selection,
            run_id=run_id,
            tags={"kommunebench/launched_by": "cli", HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())},
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
    numbering: tuple[int, int] | None = None,
) -> PipelineReport:
    """Run the stages' jobs in order. ``numbering`` = (runs before these, runs in all), for
    the ``[i/N]`` labels when a caller runs the stages in several processes."""
    report = PipelineReport()
    recover(instance, progress)
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
    offset, total = numbering or (0, len(plan))
    for i, (job, part) in enumerate(plan, offset + 1):
        label = f"{job}" + (f" [{part}]" if part else "")
        progress(f"[{i}/{total}] {label} ...")
        step = run_job(defs, job, instance=instance, partition=part, say=progress)
        report.steps.append(step)
        progress(f"[{i}/{total}] {label} {'ok' if step.success else 'FAILED'} ({step.seconds:.1f} s)")
        if not step.success:
            progress(step.error or "")
            if stop_on_failure:
                break
    return report
