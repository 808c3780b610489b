"""Loaders for the versioned reference tables in ``kommunebench/reference/``."""

from __future__ import annotations

import hashlib
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


@lru_cache(maxsize=8)
def _codebook(path: str) -> pl.DataFrame:
    df = pl.read_csv(
        path,
        schema_overrides={"code": pl.Utf8, "exclusion": pl.Utf8},
    ).with_columns(
        pl.col("code").fill_null(""),
        pl.col("exclusion").fill_null(""),
        pl.col("private_employer").cast(pl.Boolean),
        pl.col("verified").cast(pl.Boolean),
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
    return pl.read_csv(reference_path("municipalities.csv"), schema_overrides={"kommunekode": pl.Int16})


def municipality_aliases() -> dict[str, str]:
    df = pl.read_csv(reference_path("municipality_aliases.csv"))
    return dict(zip(df["alias"], df["navn"]))


def countries() -> pl.DataFrame:
    return pl.read_csv(reference_path("countries.csv"), schema_overrides={"OPR_LAND": pl.Int16})


def ophg_grundlag() -> pl.DataFrame:
    return pl.read_csv(reference_path("ophg_grundlag.csv"), schema_overrides={"GRUNDLAG": pl.Utf8})


def hfaudd_levels() -> pl.DataFrame:
    return pl.read_csv(reference_path("hfaudd_levels.csv"))


def reference_checksums() -> dict[str, str]:
    """sha256 of every reference table, recorded with each result."""
    return {p.name: file_sha256(p) for p in sorted(REFERENCE_DIR.glob("*.csv"))}
