"""No failure blocks the next run: what a dead process left in the Dagster instance is
cleared when the next run starts, and a run that must wait says what it waits for.

A run killed with SIGKILL (or by the kernel's out-of-memory killer) never reaches its
own cleanup: its record stays STARTED, and the slot it held in the ``duckdb`` pool stays
claimed in the instance's storage, so every later run on the same Dagster home waits
for the pool forever. Dagster's run monitoring frees slots of runs that have *ended*,
and only where its daemon runs (``dagster dev``); a run whose process is gone has not
ended as far as the instance knows. So before the command line starts a run,
:func:`recover` looks at every run the instance thinks is in progress, and for each
whose process no longer exists (the process that wrote the run's start event, by pid,
on this machine, started before the run did) marks it failed with a message in its own
log and frees its pool slots. Slots still held by runs that have ended are freed too.

:class:`PoolWatcher` runs beside a run and prints, every so often while one of its
steps waits for a pool slot, which run holds it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import dagster as dg
from dagster._core.storage.dagster_run import FINISHED_STATUSES

POOL = "duckdb"
IN_PROGRESS = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING]
HOST_TAG = "kommunebench/host"
PID_TAG = "kommunebench/pid"


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), or None when there is no such process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        boot = _boot_time()
        if boot is None:
            return 0.0
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0  # alive, start unknown


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int | None, float | None]:
    """The pid of the process that started the run (its RUN_START / STARTING event) and when."""
    for event_type in (dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_STARTING):
        recs = instance.get_records_for_run(run_id, of_type=event_type, limit=1).records
        for r in recs:
            ev = r.event_log_entry
            if ev.dagster_event is not None and ev.dagster_event.pid is not None:
                return ev.dagster_event.pid, ev.timestamp
    return None, None


@dataclass
class DeadRun:
    run_id: str
    job: str
    partition: str | None
    pid: int | None
    started: float | None


def _describe(run: dg.DagsterRun) -> str:
    part = run.tags.get("dagster/partition")
    return f"run {run.run_id[:8]} ({run.job_name}{f' [{part}]' if part else ''})"


def is_dead(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[bool, int | None, float | None]:
    """Whether the process running ``run`` is gone. Runs started on another machine (a
    shared PostgreSQL instance) are never judged from here."""
    if run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
        return False, None, None
    pid, started = run_process(instance, run.run_id)
    if pid is None:
        tag = run.tags.get(PID_TAG)
        pid = int(tag) if tag and tag.isdigit() else None
    if pid is None:
        return False, None, started  # never got as far as starting: leave it to Dagster
    if pid == os.getpid():
        return False, pid, started
    proc_start = process_started_at(pid)
    if proc_start is None:
        return True, pid, started
    # the pid was reused by a process that started after the run did
    return bool(started and proc_start and proc_start > started + 2.0), pid, started


def recover(instance: dg.DagsterInstance, say: Callable[[str], None] = print) -> list[DeadRun]:
    """Mark the runs of dead processes failed and free their pool slots; free slots still
    held by ended runs. Says what it did through ``say``."""
    dead: list[DeadRun] = []
    for rec in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        run = rec.dagster_run
        gone, pid, started = is_dead(instance, run)
        if not gone:
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
        msg = (f"{_describe(run)}, started {when} by process {pid}, which no longer exists (killed, or out of "
               f"memory): marked failed by process {os.getpid()} on {socket.gethostname()}")
        instance.report_run_failed(run, msg)
        dead.append(DeadRun(run.run_id, run.job_name, run.tags.get("dagster/partition"), pid, started))
        say(f"recovered: {msg}")
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        holders = storage.get_concurrency_run_ids()
        if holders:
            ended = {r.dagster_run.run_id: r.dagster_run for r in instance.get_run_records(
                filters=dg.RunsFilter(run_ids=list(holders), statuses=list(FINISHED_STATUSES)))}
            for run_id in sorted(holders):
                run = ended.get(run_id)
                if run is None and run_id not in {d.run_id for d in dead}:
                    if instance.get_run_by_id(run_id) is not None:
                        continue  # a live run holds it: fair
                before = _held(storage, run_id)
                storage.free_concurrency_slots_for_run(run_id)
                if before:
                    who = _describe(run) if run is not None else f"run {run_id[:8]} (no longer in the history)"
                    say(f"recovered: freed the {POOL} pool slot(s) of {before} step(s) of {who}, which has ended")
    return dead


def _held(storage, run_id: str) -> int:
    """Steps of the run holding or queued for a slot of the pool."""
    info = storage.get_concurrency_info(POOL)
    return len({s.step_key for s in info.claimed_slots if s.run_id == run_id}
               | {s.step_key for s in info.pending_steps if s.run_id == run_id})


def pool_holders(instance: dg.DagsterInstance, except_run: str | None = None) -> list[str]:
    """Who holds the ``duckdb`` pool: one description per other run holding a slot."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    info = storage.get_concurrency_info(POOL)
    out = []
    for run_id in sorted({s.run_id for s in info.claimed_slots} - {except_run}):
        run = instance.get_run_by_id(run_id)
        if run is None:
            out.append(f"run {run_id[:8]} (not in the history)")
            continue
        pid, started = run_process(instance, run_id)
        when = time.strftime("%H:%M:%S", time.localtime(started)) if started else "?"
        out.append(f"{_describe(run)}, {run.status.value.lower()}, process {pid}, started {when}")
    return out


class PoolWatcher:
    """While a run is in progress, says every ``interval`` seconds if one of its steps waits
    for a ``duckdb`` pool slot, and which run holds it (Dagster itself only writes a debug
    event to the run's log)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, say: Callable[[str], None], interval: float = 10.0):
        self.instance, self.run_id, self.say, self.interval = instance, run_id, say, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pool-watcher", daemon=True)
        self.waited = 0.0

    def __enter__(self) -> "PoolWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                info = self.instance.event_log_storage.get_concurrency_info(POOL)
            except Exception:  # the instance is busy or going away: try again later
                continue
            waiting = [s for s in info.pending_steps if s.run_id == self.run_id and s.assigned_timestamp is None]
            if waiting:
                self.waited = time.monotonic() - t0
                holders = pool_holders(self.instance, except_run=self.run_id) or ["another run"]
                self.say(f"  waiting {self.waited:.0f} s for the {POOL} pool (one writer at a time), held by "
                         + "; ".join(holders))


def unfinished_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Steps of the run that started and never ended (where its process died)."""
    started, ended = [], set()
    for r in instance.get_records_for_run(run_id).records:
        ev = r.event_log_entry.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type == dg.DagsterEventType.STEP_START:
            started.append(ev.step_key)
        elif ev.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
                               dg.DagsterEventType.STEP_SKIPPED):
            ended.add(ev.step_key)
    return [s for s in started if s not in ended]
