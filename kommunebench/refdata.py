"""Loaders for the versioned reference tables in ``kommunebench/reference/``.

Every table is described once in :data:`TABLES` (file, key, how a row names its source);
the loaders check on read that keys are unique and that every row says where it comes
from, so a hand-edited table that breaks either rule fails loudly with the file, the
column and the rule. ``reference/README.md`` lists the sources and the rows that are
still unverified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

REFERENCE_DIR = Path(__file__).parent / "reference"


def reference_path(name: str) -> Path:
    path = REFERENCE_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"reference table {name!r} not found in {REFERENCE_DIR}")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class TableSpec:
    """How one reference table is keyed and sourced."""

    file: str
    key: tuple[str, ...]
    schema: dict[str, pl.DataType]
    #: the table-wide source when rows carry no ``source`` column
    table_source: str | None = None


TABLES: dict[str, TableSpec] = {
    "dream_codebook": TableSpec(
        "dream_codebook.csv", ("code",),
        {"code": pl.Utf8, "exclusion": pl.Utf8, "private_employer": pl.Boolean, "verified": pl.Boolean,
         "valid_from": pl.Date, "valid_to": pl.Date},
    ),
    "countries": TableSpec(
        "countries.csv", ("OPR_LAND",),
        {"OPR_LAND": pl.Int16, "western": pl.Boolean, "verified": pl.Boolean, "valid_from": pl.Date, "valid_to": pl.Date},
    ),
    "ophg_grundlag": TableSpec(
        "ophg_grundlag.csv", ("GRUNDLAG",),
        {"GRUNDLAG": pl.Utf8, "kategori": pl.Utf8, "verified": pl.Boolean, "valid_from": pl.Date, "valid_to": pl.Date},
    ),
    "hfaudd_levels": TableSpec(
        "hfaudd_levels.csv", ("level",), {"level": pl.Int16, "dst_hovedgrupper": pl.Utf8},
    ),
    "hfaudd_codes": TableSpec(
        "hfaudd_codes.csv", ("HFAUDD",),
        {"HFAUDD": pl.Int16, "hovedgruppe": pl.Int16, "level": pl.Int16, "verified": pl.Boolean},
    ),
    "municipalities": TableSpec(
        "municipalities.csv", ("kommunekode",), {"kommunekode": pl.Int16},
        table_source="Statistics Denmark / DAWA codes and names of the 98 municipalities since 2007-01-01 "
        "(shared/data/dk_municipalities.csv, see shared/data/SOURCES.md)",
    ),
    "municipalities_historic": TableSpec(
        "municipalities_historic.csv", ("old_kom",),
        {"old_kom": pl.Int16, "new_kom": pl.Int16, "split": pl.Boolean, "verified": pl.Boolean,
         "valid_from": pl.Date, "valid_to": pl.Date},
    ),
    "municipality_aliases": TableSpec(
        "municipality_aliases.csv", ("alias",), {}, table_source="domain.md section 8 (name variants to accept on input)",
    ),
}


@lru_cache(maxsize=16)
def _read(name: str, path: str) -> pl.DataFrame:
    spec = TABLES[name]
    df = pl.read_csv(path, schema_overrides=spec.schema or None)
    dup = df.group_by(list(spec.key)).len().filter(pl.col("len") > 1)
    if dup.height:
        raise ValueError(f"{path}: column(s) {list(spec.key)}: rule 'unique' broken by {dup.drop('len').rows()}")
    if spec.table_source is None:
        if "source" not in df.columns:
            raise ValueError(f"{path}: column 'source' missing (rule: every row names its source)")
        unsourced = df.filter(pl.col("source").is_null() | (pl.col("source").str.strip_chars() == ""))
        if unsourced.height:
            raise ValueError(
                f"{path}: column 'source': rule 'every row names its source' broken by {unsourced.select(spec.key).rows()}"
            )
    return df


def table(name: str, path: Path | None = None) -> pl.DataFrame:
    """A reference table by its name in :data:`TABLES` (checked: unique keys, sourced rows)."""
    spec = TABLES[name]
    return _read(name, str(path or reference_path(spec.file)))


@lru_cache(maxsize=8)
def _codebook(path: str) -> pl.DataFrame:
    df = _read("dream_codebook", path).with_columns(
        pl.col("code").fill_null(""),
        pl.col("exclusion").fill_null(""),
    )
    from kommunebench.states import ALPHABET

    bad = df.filter(~pl.col("state").is_in(list(ALPHABET)))
    if bad.height:
        raise ValueError(
            f"{path}: column 'state': rule 'state in the alphabet {ALPHABET}' broken by codes "
            f"{bad['code'].to_list()}"
        )
    dup = df.group_by("code").len().filter(pl.col("len") > 1)
    if dup.height:
        raise ValueError(f"{path}: column 'code': rule 'unique' broken by {dup['code'].to_list()}")
    return df


def codebook(path: Path | None = None) -> pl.DataFrame:
    """DREAM code -> state table. The blank code is the empty string."""
    return _codebook(str(path or reference_path("dream_codebook.csv")))


def municipalities() -> pl.DataFrame:
    return table("municipalities")


def municipality_aliases() -> dict[str, str]:
    df = table("municipality_aliases")
    return dict(zip(df["alias"], df["navn"]))


def countries() -> pl.DataFrame:
    """4-digit country code -> name, western flag (empty where sources conflict), origin region."""
    return table("countries")


def ophg_grundlag() -> pl.DataFrame:
    return table("ophg_grundlag")


def hfaudd_levels() -> pl.DataFrame:
    return table("hfaudd_levels")


def hfaudd_codes() -> pl.DataFrame:
    """HFAUDD (DST's 4-digit UDD code) -> education level 0-6 of ``hfaudd_levels``."""
    return table("hfaudd_codes")


def municipalities_historic() -> pl.DataFrame:
    """Municipality codes before 2007 -> the municipality among the 98 (``new_kom``)."""
    return table("municipalities_historic")


#: The first day of the 98 municipalities (the 2007 reform).
REFORM_2007 = 2007


def municipality_codes_for_year(year: int) -> set[int]:
    """Municipality codes a register may carry for ``year``: the 98 from 2007, the old ones before."""
    if year >= REFORM_2007:
        return set(municipalities()["kommunekode"].to_list())
    hist = municipalities_historic()
    keep = hist.filter(
        (pl.col("valid_from").is_null() | (pl.col("valid_from").dt.year() <= year))
        & (pl.col("valid_to").is_null() | (pl.col("valid_to").dt.year() >= year))
    )
    return set(keep["old_kom"].to_list())


def current_municipality(old_kom: int, year: int) -> int | None:
    """The municipality among the 98 that a code of ``year`` belongs to (None if not a municipality).

    Codes from 2007 on are returned as they are (if they are among the 98). Older codes are
    mapped through ``municipalities_historic.csv``; an old municipality that was split in
    2007 maps to the municipality that received the largest part of it (the rule written in
    ``reference/README.md``). Raises ``KeyError`` for a code the tables do not know.
    """
    if year >= REFORM_2007:
        if old_kom in municipality_codes_for_year(year):
            return old_kom
        raise KeyError(f"municipality code {old_kom} is not among the 98 municipalities ({year})")
    if old_kom not in municipality_codes_for_year(year):
        raise KeyError(f"municipality code {old_kom} is not in municipalities_historic.csv for {year}")
    row = municipalities_historic().filter(pl.col("old_kom") == old_kom).row(0, named=True)
    return row["new_kom"]


def reference_checksums() -> dict[str, str]:
    """sha256 of every reference table, recorded with each result."""
    return {p.name: file_sha256(p) for p in sorted(REFERENCE_DIR.glob("*.csv"))}
