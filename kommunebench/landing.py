"""Writing register files in the delivery formats (Parquet, CSV, SAS ``.sas7bdat``).

Used by the synthetic generator and by tests that hand-build small deliveries. No
Python library writes ``.sas7bdat``; we write a Stata file with pyreadstat and convert
it with ReadStat's command-line tool (Debian package ``readstat``), the established
implementation of the format, which the pipeline's reader (pyreadstat) also uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import polars as pl

ENCODINGS = ("utf-8", "iso-8859-1")


class SasWriterUnavailable(RuntimeError):
    pass


def write_table(
    df: pl.DataFrame,
    path: Path,
    *,
    encoding: str = "utf-8",
    separator: str = ",",
) -> Path:
    """Write ``df`` to ``path`` in the format given by the suffix, atomically.

    The file appears under its final name only once it is complete, so a reader never
    sees half a delivery.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lower().lstrip(".")
    tmp = path.with_name(f".{path.name}.partial")
    if fmt == "parquet":
        df.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=50_000)
    elif fmt == "csv":
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
        text = df.write_csv(separator=separator, date_format="%Y-%m-%d", null_value="")
        tmp.write_bytes(text.encode(encoding))
    elif fmt == "sas7bdat":
        _write_sas7bdat(df, tmp)
    else:
        raise ValueError(f"{path}: unknown format {fmt!r}; use .parquet, .csv or .sas7bdat")
    os.replace(tmp, path)
    return path


def readstat_binary() -> str | None:
    return shutil.which("readstat")


def _write_sas7bdat(df: pl.DataFrame, path: Path) -> None:
    import pyreadstat

    exe = readstat_binary()
    if exe is None:
        raise SasWriterUnavailable(
            "writing .sas7bdat needs ReadStat's command-line tool: apt-get install readstat"
        )
    pdf = df.to_pandas()
    # Stata cannot hold empty strings distinctly from missing; blanks stay blanks.
    with tempfile.TemporaryDirectory() as tmpdir:
        dta = Path(tmpdir) / "data.dta"
        pyreadstat.write_dta(pdf, str(dta), version=15)
        out = Path(tmpdir) / "data.sas7bdat"
        proc = subprocess.run([exe, str(dta), str(out)], capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"readstat failed converting to {path}: {proc.stderr.strip()}")
        shutil.move(str(out), path)
