"""Where things live, and which years the project covers.

Every location can be overridden with an environment variable, so the same code runs
on the embedded synthetic default and on a research server's real extract:

| variable | default | what |
|---|---|---|
| ``KOMMUNEBENCH_HOME`` | ``<repo>/var`` | everything the project writes |
| ``KOMMUNEBENCH_LANDING`` | ``$KOMMUNEBENCH_HOME/landing`` | register extracts as delivered |
| ``KOMMUNEBENCH_WAREHOUSE`` | ``$KOMMUNEBENCH_HOME/warehouse.duckdb`` | the DuckDB file |
| ``KOMMUNEBENCH_OUTPUTS`` | ``$KOMMUNEBENCH_HOME/outputs`` | report and exports |
| ``KOMMUNEBENCH_REGISTER_YEARS`` | ``2008-2018`` | calendar years of register data |
| ``KOMMUNEBENCH_COHORT_YEARS`` | ``2011-2015`` | cohort years (clock starts) |
| ``DAGSTER_HOME`` | ``$KOMMUNEBENCH_HOME/dagster`` | the Dagster instance (run history) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def parse_years(text: str, name: str) -> list[int]:
    """``"2008-2018"`` or ``"2012,2013"`` -> sorted list of years; a ValueError naming
    ``name`` and what was wrong otherwise."""
    years: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                if a > b:
                    raise ValueError(f"{name}={text!r}: the range {a}-{b} runs backwards (write {b}-{a})")
                years.update(range(a, b + 1))
            elif part:
                years.add(int(part))
        except ValueError as e:
            if "runs backwards" in str(e):
                raise
            raise ValueError(f"{name}={text!r}: expected years like 2013, 2012-2014 or 2012,2013") from None
    if not years or min(years) < 1990 or max(years) > 2100:
        raise ValueError(f"{name}={text!r}: expected years between 1990 and 2100")
    return sorted(years)


@dataclass(frozen=True)
class ProjectPaths:
    home: Path
    landing: Path
    truth: Path
    warehouse: Path
    outputs: Path
    dagster_home: Path

    @property
    def report(self) -> Path:
        return self.outputs / "report.html"

    @property
    def exports(self) -> Path:
        return self.outputs / "exports"


def project_paths() -> ProjectPaths:
    home = _env_path("KOMMUNEBENCH_HOME", REPO_ROOT / "var")
    landing = _env_path("KOMMUNEBENCH_LANDING", home / "landing")
    return ProjectPaths(
        home=home,
        landing=landing,
        truth=_env_path("KOMMUNEBENCH_TRUTH", home / "truth"),
        warehouse=_env_path("KOMMUNEBENCH_WAREHOUSE", home / "warehouse.duckdb"),
        outputs=_env_path("KOMMUNEBENCH_OUTPUTS", home / "outputs"),
        dagster_home=_env_path("DAGSTER_HOME", home / "dagster"),
    )


def register_years() -> list[int]:
    return parse_years(os.environ.get("KOMMUNEBENCH_REGISTER_YEARS", "2008-2018"), "KOMMUNEBENCH_REGISTER_YEARS")


def cohort_years() -> list[int]:
    return parse_years(os.environ.get("KOMMUNEBENCH_COHORT_YEARS", "2011-2015"), "KOMMUNEBENCH_COHORT_YEARS")
