"""Reference tables (codebook, municipalities, countries, permit bases) into the warehouse."""

from __future__ import annotations

import dagster as dg
import polars as pl

from kommunebench import refdata
from orchestration.code_version import code_version
from orchestration.resources import Warehouse
from orchestration.warehouse import md_table

TABLES = {
    "dream_codebook": refdata.codebook,
    "municipalities": refdata.municipalities,
    "countries": refdata.countries,
    "ophg_grundlag": refdata.ophg_grundlag,
    "hfaudd_levels": refdata.hfaudd_levels,
    "hfaudd_codes": refdata.hfaudd_codes,
    "municipalities_historic": refdata.municipalities_historic,
}


@dg.asset(
    key=["ref", "reference_tables"],
    group_name="reference",
    kinds={"duckdb", "csv"},
    owners=["team:data-engineering"],
    description=(
        "The versioned reference tables of kommunebench/reference/ (DREAM codebook, "
        "municipalities and their codes before 2007, countries, permit bases, education codes and "
        "levels) copied into schema `ref`. "
        "Editing a table changes this asset's code version and marks everything downstream stale."
    ),
    code_version=code_version(modules=("kommunebench.refdata",), files=tuple(sorted(refdata.REFERENCE_DIR.glob("*.csv")))),
    pool="duckdb",
)
def reference_tables(warehouse: Warehouse) -> dg.MaterializeResult:
    counts = {}
    with warehouse.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS ref")
        conn.execute("BEGIN TRANSACTION")
        for name, loader in TABLES.items():
            df: pl.DataFrame = loader()
            conn.register("_df", df.to_arrow())
            conn.execute(f'CREATE OR REPLACE TABLE ref."{name}" AS SELECT * FROM _df')
            conn.unregister("_df")
            counts[name] = df.height
        conn.execute("COMMIT")
    cb = refdata.codebook()
    summary = (
        cb.group_by("state").agg(pl.len().alias("codes"), pl.col("verified").sum().alias("verified"))
        .sort("state").to_pandas()
    )
    return dg.MaterializeResult(
        metadata={
            **{f"rows/{k}": v for k, v in counts.items()},
            "codebook_by_state": md_table(summary),
            "checksums": refdata.reference_checksums(),
            "unverified_codes": int((~cb["verified"]).sum()),
            "unverified_rows_per_table": {
                name: int((~refdata.table(name)["verified"]).sum())
                for name in refdata.TABLES if "verified" in refdata.table(name).columns
            },
        }
    )
