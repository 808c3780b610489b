"""Resources: the DuckDB warehouse, the landing folder and the outputs folder.

Paths come from configuration (environment variables with project-local defaults,
see :mod:`kommunebench.paths`), so the same definitions run on the synthetic default
and on a research server's extract.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import re
import time

import dagster as dg
import duckdb
from pydantic import Field

from kommunebench.machine import DUCKDB_SHARE, default_memory_limit, default_temp_directory, default_threads, fitted_budget
from kommunebench.paths import project_paths


class WarehouseOutOfMemory(Exception):
    """DuckDB could not finish a statement within its memory limit, even spilling to disk."""


def memory_advice(limit: str | None = None, temp: str | None = None) -> str:
    """What to change when a step runs out of memory."""
    budget = fitted_budget()
    limit = limit or default_memory_limit()
    return (
        f"DuckDB's memory_limit is {limit} (setting KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT; the default is "
        f"{int(DUCKDB_SHARE * 100)} % of {budget.source}) and it spills to {temp or default_temp_directory()} "
        "(KOMMUNEBENCH_DUCKDB_TEMP_DIRECTORY). Give the process more memory, or set a lower "
        "KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT so DuckDB spills more and leaves room for the rest of the step; "
        "the last good results are unchanged."
    )


class Warehouse(dg.ConfigurableResource):
    """The DuckDB file. A connection is opened per step and always closed (one writer).

    DuckDB allows one writing process: if another process holds the file (an outside
    reader, a second run), opening is retried with back-off for ``lock_timeout_s``
    (saying so in the run log, with the holder's pid) before the step fails with a
    clear message. (dagster-duckdb's resource does not close its connection when the
    step raises, which would keep the file locked, so this resource manages the
    connection itself.)

    Memory: ``memory_limit`` and ``temp_directory`` default to values fitted to the
    machine and to the process's limits (:mod:`kommunebench.machine`), so a large
    statement spills to disk instead of getting the process killed; a statement that
    still does not fit fails the step with a message naming the setting to change.
    """

    database: str = Field(description="Path of the DuckDB file.")
    lock_timeout_s: float = Field(120.0, description="How long to wait for another process to release the file.")
    memory_limit: str = Field(
        default_factory=default_memory_limit,
        description="DuckDB memory_limit, e.g. '6GB' (default: $KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT, else half of the "
        "smallest of RAM, the cgroup limit and the free address space under a ulimit).",
    )
    temp_directory: str = Field(
        default_factory=default_temp_directory,
        description="Where DuckDB spills what does not fit in memory_limit (default: "
        "$KOMMUNEBENCH_DUCKDB_TEMP_DIRECTORY, else $KOMMUNEBENCH_HOME/tmp/duckdb).",
    )
    threads: int = Field(default_factory=default_threads,
                         description="DuckDB threads (0: DuckDB's default, all cores; $KOMMUNEBENCH_DUCKDB_THREADS).")

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, object] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.temp_directory:
            Path(self.temp_directory).mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = self.temp_directory
        if self.threads:
            config["threads"] = self.threads
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.5
        said = False
        while True:
            try:
                conn = duckdb.connect(self.database, config=config)
                break
            except duckdb.IOException as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.database} is held by another process for more than {self.lock_timeout_s:.0f} s "
                        f"(DuckDB allows one writer): {e}"
                    ) from e
                if not said:
                    holder = re.search(r"PID (\d+)", str(e))
                    dg.get_dagster_logger().warning(
                        f"waiting up to {self.lock_timeout_s:.0f} s for {self.database}: held by another process"
                        + (f" (pid {holder.group(1)})" if holder else "") + "; DuckDB allows one writer")
                    said = True
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        try:
            yield conn
        except duckdb.OutOfMemoryException as e:
            raise WarehouseOutOfMemory(
                f"out of memory in DuckDB ({str(e).splitlines()[0]}). {memory_advice(self.memory_limit, self.temp_directory)}"
            ) from None
        finally:
            conn.close()


class Landing(dg.ConfigurableResource):
    """The folder holding the register extracts as delivered (never modified)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class Outputs(dg.ConfigurableResource):
    """Where the report and exports are written."""

    path: str

    @property
    def root(self) -> Path:
        p = Path(self.path)
        p.mkdir(parents=True, exist_ok=True)
        return p


def default_resources() -> dict[str, object]:
    paths = project_paths()
    return {
        "warehouse": Warehouse(database=str(paths.warehouse)),
        "landing": Landing(path=str(paths.landing)),
        "outputs": Outputs(path=str(paths.outputs)),
    }
