"""Committed expected cohort sizes for the synthetic default (PUDL's expected row counts).

The synthetic generator writes ``<landing>/SYNTHETIC.json`` with its seed and size. When
that manifest matches a row of ``expected_cohort_sizes.csv``, the cohort check compares
the sizes exactly, so a lost or doubled year (or a changed rule) fails loudly. Update
the table with ``kommunebench expected-sizes`` after an intended change.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

EXPECTED_FILE = Path(__file__).with_name("expected_cohort_sizes.csv")


def synthetic_manifest(landing: Path) -> dict | None:
    path = Path(landing) / "SYNTHETIC.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def expected_cohort_sizes(landing: Path, cohort_year: int) -> dict[str, int] | None:
    manifest = synthetic_manifest(landing)
    if manifest is None or not EXPECTED_FILE.exists():
        return None
    out: dict[str, int] = {}
    with open(EXPECTED_FILE, newline="") as f:
        for row in csv.DictReader(f):
            if (
                int(row["seed"]) == int(manifest.get("seed", -1))
                and int(row["n_persons"]) == int(manifest.get("n_persons", -1))
                and row["generator_version"] == str(manifest.get("generator_version", ""))
                and int(row["cohort_year"]) == cohort_year
            ):
                out[row["target_group"]] = int(row["persons"])
    return out or None
