"""Resources: the DuckDB warehouse, the landing folder and the outputs folder.

Paths come from configuration (environment variables with project-local defaults,
see :mod:`kommunebench.paths`), so the same definitions run on the synthetic default
and on a research server's extract.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import time

import dagster as dg
import duckdb
from pydantic import Field

from kommunebench.paths import project_paths


class Warehouse(dg.ConfigurableResource):
    """The DuckDB file. A connection is opened per step and always closed (one writer).

    DuckDB allows one writing process: if another process holds the file (an outside
    reader, a second run), opening is retried with back-off for ``lock_timeout_s``
    before the step fails with a clear message. (dagster-duckdb's resource does not
    close its connection when the step raises, which would keep the file locked, so
    this resource manages the connection itself.)
    """

    database: str = Field(description="Path of the DuckDB file.")
    lock_timeout_s: float = Field(120.0, description="How long to wait for another process to release the file.")
    memory_limit: str = Field("", description="DuckDB memory_limit, e.g. '6GB' (empty: DuckDB's default).")
    threads: int = Field(0, description="DuckDB threads (0: DuckDB's default, all cores).")

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, object] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = self.threads
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.5
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
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        try:
            yield conn
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
