"""Publishing the sequence tables with their column descriptions.

The descriptions live in the library (``kommunebench.sequences.columns``). DuckDB's
``COMMENT ON`` takes no bound parameters, so the text (code constants, never user input)
is quoted here as an SQL literal.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pandas as pd

from kommunebench.raw import q


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def publish_described(conn: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame],
                      descriptions: dict[str, dict[str, str]], table_descriptions: dict[str, str] | None = None) -> dict[str, int]:
    """Replace each ``schema.table`` with its frame and describe its columns (DuckDB
    comments, visible in ``duckdb_columns()``), all in one transaction. A column without a
    description is an error: every published column says what it holds."""
    for name, df in frames.items():
        missing = [c for c in df.columns if c not in descriptions.get(name, {})]
        if missing:
            raise ValueError(f"{name}: columns without a description: {missing}")
    rows: dict[str, int] = {}
    for s in {n.split(".")[0] for n in frames}:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(s)}")
    conn.execute("BEGIN TRANSACTION")
    try:
        for name, df in frames.items():
            schema, table = name.split(".")
            target = f"{q(schema)}.{q(table)}"
            conn.register("_frame", df)
            conn.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM _frame")
            conn.unregister("_frame")
            if table_descriptions and name in table_descriptions:
                conn.execute(f"COMMENT ON TABLE {target} IS {_literal(table_descriptions[name])}")
            for col in df.columns:
                conn.execute(f"COMMENT ON COLUMN {target}.{q(str(col))} IS {_literal(descriptions[name][col])}")
            rows[name] = len(df)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return rows


def described_schema(conn: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    """The table's columns, types and descriptions (from the DuckDB comments) for the UI."""
    schema, name = table.split(".")
    rows = conn.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE schema_name = $s AND table_name = $t "
        "ORDER BY column_index", {"s": schema, "t": name}).fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(r[0], r[1], description=r[2]) for r in rows])
