"""Regenerate the small committed SAS files in tests/data/sas/ (needs `apt-get install readstat`).

    uv run python bench/synth/make_sas_fixtures.py

300 persons, 2009-2012 (so DREAM has week 53 of 2009), seed 2009: every register as
``.sas7bdat`` written by kommunebench.landing (dates as SAS dates with format DATE9).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kommunebench.synth import generate  # noqa: E402

DEST = REPO / "tests" / "data" / "sas"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        s = generate(Path(tmp) / "landing", n_persons=300, seed=2009, first_year=2009, last_year=2012,
                     fmt="sas7bdat", progress=False)
        DEST.mkdir(parents=True, exist_ok=True)
        for old in DEST.glob("*.sas7bdat"):
            old.unlink()
        for f in s.files:
            shutil.copy(Path(tmp) / "landing" / f.path, DEST / Path(f.path).name)
            print(f"{f.path}: {f.rows} rows")


if __name__ == "__main__":
    main()
