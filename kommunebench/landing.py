"""Writing register files in the delivery formats (Parquet, CSV, SAS ``.sas7bdat``).

Used by the synthetic generator and by tests that hand-build small deliveries. No
Python library writes ``.sas7bdat``; we write a Stata file with pyreadstat and convert
it with ReadStat's command-line tool (Debian package ``readstat``), the established
implementation of the format, which the pipeline's reader (pyreadstat) also uses.

What a ``.sas7bdat`` written here holds:

- ``DATE`` columns: numeric SAS dates (days since 1960-01-01, the SAS and Stata epoch)
  carrying the SAS format ``DATE9``, so ``pyreadstat.read_sas7bdat`` returns
  ``datetime.date`` values (and the raw day numbers with
  ``disable_datetime_conversion=True``). ReadStat's converter drops display formats
  except a variable's value-label-set name, which it writes as the SAS format; so the
  Stata file gets a one-entry label set per date column, renamed to ``DATE9`` in the
  file before conversion.
- integer and float columns: SAS numerics (8-byte doubles); missing = SAS missing.
- text columns: SAS character columns in UTF-8; a missing text value is written as
  the empty string (neither Stata nor SAS tells them apart).
- the creation and modification timestamps in the header are fixed
  (``SAS_TIMESTAMP``), so the same data give byte-identical files.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from datetime import date
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
        _write_sas7bdat(df, tmp, member=path.stem.upper())
    else:
        raise ValueError(f"{path}: unknown format {fmt!r}; use .parquet, .csv or .sas7bdat")
    os.replace(tmp, path)
    return path


def readstat_binary() -> str | None:
    return shutil.which("readstat")


#: Creation/modification time written into every ``.sas7bdat`` header (2019-01-01
#: 00:00:00 as SAS seconds since 1960-01-01): fixed so that output is reproducible.
SAS_TIMESTAMP = float((date(2019, 1, 1) - date(1960, 1, 1)).days * 86400)
SAS_DATE_FORMAT = "DATE9"
_SAS_EPOCH = date(1960, 1, 1)
_DTA_NAME_WIDTH = 129  # dta 118/119: fixed-width, NUL-padded names


def _sas_frame(df: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Columns as SAS can hold them: dates to day numbers, text nulls to ''."""
    dates: list[str] = []
    exprs = []
    for name, dtype in df.schema.items():
        if dtype == pl.Date:
            dates.append(name)
            exprs.append((pl.col(name) - pl.lit(_SAS_EPOCH)).dt.total_days().cast(pl.Float64).alias(name))
        elif dtype in (pl.Utf8, pl.Categorical) or isinstance(dtype, pl.Enum):
            exprs.append(pl.col(name).cast(pl.Utf8).fill_null(""))
        elif dtype == pl.Boolean:
            exprs.append(pl.col(name).cast(pl.Float64))
        elif dtype.is_numeric():
            exprs.append(pl.col(name).cast(pl.Float64))
        else:
            raise ValueError(
                f"column {name!r}: type {dtype} cannot be written to .sas7bdat "
                "(supported: text, numbers, booleans, dates)"
            )
    return df.select(exprs), dates


def _rename_dta_label_sets(raw: bytearray, new_name: bytes) -> None:
    """Rename every value-label set in a dta 118 file (in place) to ``new_name``."""
    start_tag, end_tag = b"<value_label_names>", b"</value_label_names>"
    a = raw.find(start_tag)
    b = raw.find(end_tag)
    if a < 0 or b < 0 or (b - a - len(start_tag)) % _DTA_NAME_WIDTH:
        raise RuntimeError("unexpected Stata file layout: <value_label_names> not found or malformed")
    a += len(start_tag)
    field = new_name.ljust(_DTA_NAME_WIDTH, b"\0")
    for off in range(a, b, _DTA_NAME_WIDTH):
        if raw[off] != 0:
            raw[off : off + _DTA_NAME_WIDTH] = field
    pos = raw.find(b"<value_labels>")
    if pos < 0:
        raise RuntimeError("unexpected Stata file layout: <value_labels> not found")
    while (pos := raw.find(b"<lbl>", pos)) >= 0:
        name_at = pos + len(b"<lbl>") + 4  # after the 4-byte table length
        raw[name_at : name_at + _DTA_NAME_WIDTH] = field
        pos = name_at


def _fix_sas_timestamps(raw: bytearray, timestamp: float) -> None:
    """Overwrite the creation and modification times in a sas7bdat header."""
    a1 = 4 if raw[35:36] == b"3" else 0
    little = raw[37:38] == b"\x01"
    fmt = "<d" if little else ">d"
    for off in (164 + a1, 172 + a1):
        (old,) = struct.unpack_from(fmt, raw, off)
        if not (1e9 < old < 1e10):  # 1991-2276: anything else means a layout we do not know
            raise RuntimeError(f"unexpected sas7bdat header: no timestamp at offset {off} ({old!r})")
        struct.pack_into(fmt, raw, off, timestamp)


def _write_sas7bdat(df: pl.DataFrame, path: Path, member: str = "DATA") -> None:
    import pyreadstat

    exe = readstat_binary()
    if exe is None:
        raise SasWriterUnavailable(
            "writing .sas7bdat needs ReadStat's command-line tool: apt-get install readstat"
        )
    if df.height == 0:
        raise ValueError(f"{path}: ReadStat cannot write a .sas7bdat file with no rows")
    sas, dates = _sas_frame(df)
    pdf = sas.to_pandas()
    with tempfile.TemporaryDirectory() as tmpdir:
        dta = Path(tmpdir) / "data.dta"
        labels = {c: {-2_000_000_000: "none"} for c in dates}
        pyreadstat.write_dta(pdf, str(dta), version=15, variable_value_labels=labels or None)
        if dates:
            raw = bytearray(dta.read_bytes())
            _rename_dta_label_sets(raw, SAS_DATE_FORMAT.encode())
            dta.write_bytes(bytes(raw))
        out = Path(tmpdir) / f"{member}.sas7bdat"
        proc = subprocess.run([exe, str(dta), str(out)], capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"readstat failed converting to {path}: {proc.stderr.strip()}")
        raw = bytearray(out.read_bytes())
        _fix_sas_timestamps(raw, SAS_TIMESTAMP)
        path.write_bytes(bytes(raw))
