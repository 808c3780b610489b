"""The command line's supervisor: run the pipeline in a worker process, report how it ended.

The worker (:mod:`kommunebench.worker`) does the work. This process streams its
progress lines, keeps its stderr (tracebacks, library warnings) in a log file under
``$KOMMUNEBENCH_HOME/logs/``, and if the worker dies from a signal (the kernel's
out-of-memory killer, an allocator that aborts with "memory allocation of 24 bytes
failed", ``kill -9``) it says in which run and step and why, marks the run failed and
frees its pool slot at once. Either way the user gets one clear message, and the last
good results are in place (every step publishes in one transaction).

The supervisor imports no Dagster unless the worker died, so it stays small.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from kommunebench.paths import project_paths

PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (.+) \.\.\.$")
MEMORY_SIGNS = ("memory allocation of", "MemoryError", "std::bad_alloc", "OutOfMemory", "Out of Memory", "Cannot allocate memory")


def log_path(command: str) -> Path:
    folder = project_paths().home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{command}-{os.getpid()}.log"


def worker_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # glibc reserves 64 MB of address space per thread arena; under an address-space limit
    # (ulimit -v) that reservation, not the data, would use up the limit
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


def runs_per_stage(spec: dict) -> dict[str, int]:
    return {"registers": 1, "register_years": len(spec["register_years"]), "cohorts": len(spec["cohort_years"]),
            "pooled": 1}


def supervise(spec: dict, echo: Callable[[str], None]) -> int:
    """Run each stage of ``spec`` in a fresh worker process, in order, stopping at the first
    that fails. A fresh process per stage starts every stage with the whole memory budget:
    allocators keep address space a process once used (DuckDB's jemalloc retains it by
    design), which under an address-space limit would otherwise add up over the stages."""
    log = log_path(spec["command"])
    counts = runs_per_stage(spec)
    total = sum(counts[s] for s in spec["stages"])
    done = 0
    for i, stage in enumerate(spec["stages"]):
        part = dict(spec, stages=[stage], numbering=[done, total], generate=spec.get("generate") and i == 0)
        rc = _supervise_one(part, echo, log)
        if rc != 0:
            return rc
        done += counts[stage]
    return 0


def _supervise_one(spec: dict, echo: Callable[[str], None], log: Path) -> int:
    cmd = [sys.executable, "-m", "kommunebench.worker", json.dumps(spec)]
    current = None
    with open(log, "a", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=worker_env())
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                echo(line)
                m = PROGRESS.match(line)
                if m:
                    current = m.group(3)
            rc = proc.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the worker too: let it stop its run
            rc = proc.wait()
            echo(f"interrupted; the run is stopped (details in {log})")
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
    if rc < 0:
        for line in report_death(-rc, current, log, proc.pid):
            echo(line)
        return 1
    if rc == 1:
        echo(f"tracebacks: the run's log in the Dagster UI, and {log}")
    elif rc != 0:
        echo(f"the worker process failed (exit code {rc}): {tail(log, 1) or 'no message'}; details in {log}")
        return 1
    return rc


def tail(path: Path, n: int = 20) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(line for line in lines[-n:] if line.strip())


def _worker_settings(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    m = re.search(r"kommunebench-worker: duckdb memory_limit=(\S+) temp_directory=(\S+) budget=(\d+) source=(.+)", text)
    return dict(zip(("memory_limit", "temp_directory", "budget", "source"), m.groups())) if m else {}


def report_death(sig: int, current: str | None, log: Path, pid: int) -> list[str]:
    """What to tell the user when the worker died from signal ``sig``; marks its run failed."""
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    last = tail(log, 30)
    memory = sig == signal.SIGKILL or any(s in last for s in MEMORY_SIGNS)
    where = current or "the run"
    lines = []
    step_text = ""
    try:
        from orchestration.recovery import recover, unfinished_steps
        from orchestration.runner import project_instance

        instance = project_instance()
        dead = recover(instance, say=lambda msg: None)
        steps = [s for d in dead if d.pid == pid for s in unfinished_steps(instance, d.run_id)]
        ids = [d.run_id[:8] for d in dead if d.pid == pid]
        if steps:
            step_text = f" in step {', '.join(steps)}"
        if ids:
            step_text += f" (run {', '.join(ids)}, now marked failed; its pool slot is freed)"
    except Exception as e:  # the report must not fail: the next run recovers the same way
        step_text = f" (the run could not be marked failed now: {type(e).__name__}; the next run will do it)"
    lines.append(f"{where}: the worker process was killed by {name}{step_text}.")
    if memory:
        cause = "an allocation failed" if sig != signal.SIGKILL else "the kernel's out-of-memory killer or kill -9"
        settings = _worker_settings(log)
        lines.append(
            f"Most likely it ran out of memory ({cause}). DuckDB's memory_limit was "
            f"{settings.get('memory_limit', '?')} (KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT; default half of "
            f"{settings.get('source', 'the memory available')}), spilling to {settings.get('temp_directory', '?')} "
            "(KOMMUNEBENCH_DUCKDB_TEMP_DIRECTORY). Give the process more memory (a larger ulimit -v or cgroup "
            "limit), or set a lower KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT so DuckDB spills to disk and leaves room "
            "for the rest of the step."
        )
    lines.append(f"The last good results are unchanged. Details: {log}")
    return lines
