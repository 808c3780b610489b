"""Resources: the DuckDB warehouse, the landing folder and the outputs folder.

Paths come from configuration (environment variables with project-local defaults,
see :mod:`kommunebench.paths`), so the same definitions run on the synthetic default
and on a research server's extract.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from kommunebench.paths import project_paths


class Warehouse(DuckDBResource):
    """The DuckDB file. Connections are opened per step and closed at once (one writer)."""

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with self.get_connection() as conn:
            yield conn


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
