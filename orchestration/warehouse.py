"""Shared warehouse helpers for assets: stage -> validate -> publish, and metadata."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence, TypeVar

import dagster as dg
import duckdb
import pandas as pd

from kommunebench.faults import failpoint
from kommunebench.raw import q
from kommunebench.validation import RuleOutcome

T = TypeVar("T")


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $s AND table_name = $t",
            {"s": schema, "t": table},
        ).fetchall()[0][0]
    )


def count_rows(conn: duckdb.DuckDBPyConnection, table: str, where: str = "", params: dict | None = None) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table} {where}", params or {}).fetchall()[0][0])


def ensure_layout(conn: duckdb.DuckDBPyConnection, table: str, query: str, params: dict | None = None) -> bool:
    """Create ``schema.table`` with the columns of ``query`` (empty). A table left by an
    older layout of the query (other columns or types) is replaced, with a warning: its
    code version changed, so every partition is stale anyway. Call it inside the asset's
    transaction, so a run that fails its checks keeps the old table. Returns True when
    a table was replaced."""
    schema, name = table.split(".")
    target = f"{q(schema)}.{q(name)}"
    want = conn.execute(f"DESCRIBE {query}", params or {}).fetchall()
    have = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $s AND table_name = $t "
        "ORDER BY ordinal_position", {"s": schema, "t": name},
    ).fetchall()
    replaced = bool(have) and [(r[0], r[1]) for r in want] != [(r[0], r[1]) for r in have]
    if replaced:
        dg.get_dagster_logger().warning(
            f"{table} has an older column layout; it is replaced, and every partition of it must be "
            "materialised again (kommunebench run)"
        )
        conn.execute(f"DROP TABLE {target}")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {target} AS {query} LIMIT 0", params or {})
    return replaced


def write_partition_checked(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    query: str,
    params: dict,
    *,
    partition_column: str,
    partition_value: Any,
    check: Callable[[], T],
    passed: Callable[[T], bool],
) -> tuple[bool, T]:
    """Write a partition once and validate it in place: in one transaction, replace the
    partition's rows of ``schema.table`` with the rows of ``query`` (a table of an older
    layout is replaced), run ``check()`` on them, and COMMIT when ``passed`` says so,
    otherwise ROLLBACK, so the last good partition stays. Returns (committed, checks)."""
    schema, name = table.split(".")
    target = f"{q(schema)}.{q(name)}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
    conn.execute("BEGIN TRANSACTION")
    try:
        ensure_layout(conn, table, query, params)
        conn.execute(f"DELETE FROM {target} WHERE {q(partition_column)} = $value", {"value": partition_value})
        conn.execute(f"INSERT INTO {target} BY NAME {query}", params)
        failpoint(f"partition:{table}")  # tests: killed with the partition written, the transaction open
        result = check()
        ok = bool(passed(result))
        conn.execute("COMMIT" if ok else "ROLLBACK")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return ok, result


def publish_partition(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    *,
    partition_column: str | None,
    partition_values: Sequence[Any] = (),
) -> int:
    """Replace the partition's slice of ``schema.table`` with ``stage.<table>`` in one transaction.

    The target is created from the stage's columns on first publish. Re-running a
    partition replaces it, never appends it twice. Without a partition column the
    whole table is replaced.
    """
    target = f"{q(schema)}.{q(table)}"
    stage = f"stage.{q(table)}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
    conn.execute("BEGIN TRANSACTION")
    try:
        if partition_column is None:
            conn.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {stage}")
        else:
            ensure_layout(conn, f"{schema}.{table}", f"SELECT * FROM {stage}")
            conn.execute(
                f"DELETE FROM {target} WHERE list_contains($vals, {q(partition_column)})",
                {"vals": list(partition_values)},
            )
            conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {stage}")
        failpoint(f"partition:{schema}.{table}")
        conn.execute(f"DROP TABLE {stage}")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    if partition_column is None:
        return count_rows(conn, target)
    return count_rows(conn, target, f"WHERE list_contains($vals, {q(partition_column)})", {"vals": list(partition_values)})


def drop_stage(conn: duckdb.DuckDBPyConnection, table: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS stage.{q(table)}")


def column_schema(conn: duckdb.DuckDBPyConnection, table: str, max_columns: int = 200) -> dg.TableSchema:
    rows = conn.execute(f"DESCRIBE {table}").fetchall()
    cols = [dg.TableColumn(r[0], r[1]) for r in rows[:max_columns]]
    if len(rows) > max_columns:
        cols.append(dg.TableColumn(f"... {len(rows) - max_columns} more", "wide family"))
    return dg.TableSchema(columns=cols)


def table_metadata(conn: duckdb.DuckDBPyConnection, table: str, where: str = "", params: dict | None = None) -> dict[str, Any]:
    return {
        "dagster/row_count": count_rows(conn, table, where, params),
        "dagster/column_schema": column_schema(conn, table),
        "dagster/table_name": table,
    }


def md_table(df: pd.DataFrame, max_rows: int = 30, floatfmt: str = ".3g") -> dg.MetadataValue:
    """A Markdown preview of an AGGREGATE frame (callers never pass person-level rows)."""
    if "PNR" in df.columns:
        raise ValueError("refusing to put a person-level frame (PNR column) into metadata")
    return dg.MetadataValue.md(df.head(max_rows).to_markdown(index=False, floatfmt=floatfmt))


def check_result(
    check_name: str,
    outcomes: Iterable[RuleOutcome],
    *,
    asset_key: dg.AssetKey | None = None,
    extra: dict[str, Any] | None = None,
) -> dg.AssetCheckResult:
    """One Dagster check result from rule outcomes: failing rules named by file, column and rule."""
    outcomes = list(outcomes)
    failed = [o for o in outcomes if not o.passed]
    blocking_failed = [o for o in failed if o.blocking]
    meta: dict[str, Any] = {
        "rules_checked": len(outcomes),
        "rules_failed": len(failed),
        "failing_rows": sum(o.failing_rows for o in failed),
    }
    if failed:
        meta["failures"] = dg.MetadataValue.md("\n".join(f"- {o.message()}" for o in failed[:50]))
    if extra:
        meta.update(extra)
    severity = dg.AssetCheckSeverity.ERROR if blocking_failed else dg.AssetCheckSeverity.WARN
    kwargs: dict[str, Any] = {}
    if asset_key is not None:
        kwargs["asset_key"] = asset_key
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not failed,
        severity=severity,
        metadata=meta,
        description="; ".join(o.message() for o in failed[:3]) or None,
        **kwargs,
    )


def publish_frames(conn: duckdb.DuckDBPyConnection, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Replace each ``schema.table`` with its frame, all in one transaction."""
    rows: dict[str, int] = {}
    schemas = {name.split(".")[0] for name in frames}
    for s in schemas:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q(s)}")
    conn.execute("BEGIN TRANSACTION")
    try:
        for name, df in frames.items():
            schema, table = name.split(".")
            conn.register("_frame", df)
            conn.execute(f"CREATE OR REPLACE TABLE {q(schema)}.{q(table)} AS SELECT * FROM _frame")
            conn.unregister("_frame")
            rows[name] = len(df)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return rows


def png_markdown(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG plot as Markdown metadata (an inline image the Dagster UI shows)."""
    import base64

    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def cohort_window(conn: duckdb.DuckDBPyConnection, requested: Sequence[int]) -> list[int]:
    """The cohort years to pool: those requested (all when empty) that have outcomes."""
    have = [r[0] for r in conn.execute("SELECT DISTINCT cohort_year FROM outcomes.outcomes ORDER BY 1").fetchall()]
    years = [y for y in (requested or have) if y in have]
    if not years:
        raise dg.Failure(f"no outcomes for cohort years {list(requested) or 'any'}: materialise the cohorts first")
    return years
