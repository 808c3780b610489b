"""The committed contract document matches the code, and tables of an older layout are replaced."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.warehouse import ensure_layout, publish_partition
from kommunebench.contract import render_markdown

REPO = Path(__file__).resolve().parents[2]


def test_register_contract_doc_is_current():
    doc = (REPO / "docs" / "register_contract.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "docs/register_contract.md is stale: run `kommunebench contract`"


def test_table_of_an_older_layout_is_replaced(caplog):
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA spells")
    query = "SELECT 'a' AS PNR, CAST($year AS SMALLINT) AS year, true AS spell_start"
    # first run: created, nothing to warn about
    assert not ensure_layout(conn, "spells.t", query, {"year": 2012})
    conn.execute("INSERT INTO spells.t " + query, {"year": 2012})
    # same layout: kept with its rows
    assert not ensure_layout(conn, "spells.t", query, {"year": 2013})
    assert conn.execute("SELECT count(*) FROM spells.t").fetchall() == [(1,)]
    # an older layout (a column the query no longer has): replaced, with a warning
    conn.execute("CREATE OR REPLACE TABLE spells.t AS SELECT 'a' AS PNR, CAST(2012 AS SMALLINT) AS year, "
                 "DATE '2012-01-02' AS week_start")
    # inside the asset's transaction: a run that then fails its checks keeps the old table
    conn.execute("BEGIN TRANSACTION")
    assert ensure_layout(conn, "spells.t", query, {"year": 2013})
    conn.execute("ROLLBACK")
    assert [r[0] for r in conn.execute("DESCRIBE spells.t").fetchall()] == ["PNR", "year", "week_start"]
    assert conn.execute("SELECT count(*) FROM spells.t").fetchall() == [(1,)]
    caplog.clear()
    conn.execute("BEGIN TRANSACTION")
    assert ensure_layout(conn, "spells.t", query, {"year": 2013})
    conn.execute("COMMIT")
    cols = [r[0] for r in conn.execute("DESCRIBE spells.t").fetchall()]
    assert cols == ["PNR", "year", "spell_start"]
    assert conn.execute("SELECT count(*) FROM spells.t").fetchall() == [(0,)]
    assert "older column layout" in caplog.text


def test_publish_partition_replaces_a_table_of_an_older_layout():
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA stage; CREATE SCHEMA cohorts")
    conn.execute("CREATE TABLE cohorts.m AS SELECT 'a' AS PNR, CAST(2012 AS SMALLINT) AS cohort_year")
    conn.execute("CREATE TABLE stage.m AS SELECT 'b' AS PNR, CAST(2013 AS SMALLINT) AS cohort_year, 101 AS kom")
    assert publish_partition(conn, "cohorts", "m", partition_column="cohort_year", partition_values=[2013]) == 1
    assert conn.execute("SELECT * FROM cohorts.m").fetchall() == [("b", 2013, 101)]
