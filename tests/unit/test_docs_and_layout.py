"""The committed contract document matches the code, and tables of an older layout are replaced."""

from __future__ import annotations

from pathlib import Path

import duckdb

from assets.spells import _ensure_layout
from kommunebench.contract import render_markdown

REPO = Path(__file__).resolve().parents[2]


def test_register_contract_doc_is_current():
    doc = (REPO / "docs" / "register_contract.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "docs/register_contract.md is stale: run `kommunebench contract`"


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)


class _Context:
    def __init__(self) -> None:
        self.log = _Log()


def test_table_of_an_older_layout_is_replaced():
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA spells")
    query = "SELECT 'a' AS PNR, CAST($year AS SMALLINT) AS year, true AS spell_start"
    ctx = _Context()
    # first run: created, nothing to warn about
    _ensure_layout(ctx, conn, "spells.t", query, {"year": 2012})
    conn.execute("INSERT INTO spells.t " + query, {"year": 2012})
    # same layout: kept with its rows
    _ensure_layout(ctx, conn, "spells.t", query, {"year": 2013})
    assert conn.execute("SELECT count(*) FROM spells.t").fetchall() == [(1,)] and ctx.log.warnings == []
    # an older layout (a column the query no longer has): replaced, with a warning
    conn.execute("CREATE OR REPLACE TABLE spells.t AS SELECT 'a' AS PNR, CAST(2012 AS SMALLINT) AS year, "
                 "DATE '2012-01-02' AS week_start")
    # inside the asset's transaction: a run that then fails its checks keeps the old table
    conn.execute("BEGIN TRANSACTION")
    _ensure_layout(ctx, conn, "spells.t", query, {"year": 2013})
    conn.execute("ROLLBACK")
    assert [r[0] for r in conn.execute("DESCRIBE spells.t").fetchall()] == ["PNR", "year", "week_start"]
    assert conn.execute("SELECT count(*) FROM spells.t").fetchall() == [(1,)]
    ctx.log.warnings.clear()
    conn.execute("BEGIN TRANSACTION")
    _ensure_layout(ctx, conn, "spells.t", query, {"year": 2013})
    conn.execute("COMMIT")
    cols = [r[0] for r in conn.execute("DESCRIBE spells.t").fetchall()]
    assert cols == ["PNR", "year", "spell_start"]
    assert conn.execute("SELECT count(*) FROM spells.t").fetchall() == [(0,)]
    assert len(ctx.log.warnings) == 1 and "older column layout" in ctx.log.warnings[0]
