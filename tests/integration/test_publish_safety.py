"""Stage -> validate -> publish: a bad delivery never replaces good tables, and a failed
check stops its downstream assets."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest

from builders import Person, write_delivery
from kommunebench.landing import write_table
from orchestration.runner import run_job

pytestmark = pytest.mark.integration
YEARS = [2012, 2013]


def persons():
    a = Person("0000000001", permit=(dt.date(2012, 3, 1), "7_1"), intpgm=(dt.date(2012, 3, 5), dt.date(2015, 3, 1)))
    a.weeks(dt.date(2012, 3, 5), ["135"] * 10)
    b = Person("0000000002")
    b.weeks(dt.date(2012, 1, 9), ["130"] * 20)
    return [a, b]


def q(db, sql):
    with duckdb.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_bad_delivery_after_good_leaves_good_tables(defs, resources, instance):
    landing = resources["landing"].root
    db = resources["warehouse"].database
    write_delivery(persons(), landing, YEARS)
    assert run_job(defs, "load_registers", instance=instance).success
    before = q(db, "SELECT PNR, Y_1210 FROM raw.dream ORDER BY PNR")
    assert before == [("0000000001", "135"), ("0000000002", "130")]

    # the next delivery has an unknown weekly code and a duplicated person
    path = landing / "DREAM" / "DREAM.parquet"
    df = pl.read_parquet(path)
    bad = pl.concat([df.with_columns(pl.lit("123").alias("Y_1210")), df.head(1)])
    write_table(bad, path)
    step = run_job(defs, "load_registers", instance=instance)
    assert not step.success
    assert "DREAM.parquet" in step.error and "Y_yyww" in step.error and "expect_weekly_codes_in_codebook" in step.error
    assert "expect_column_values_to_be_unique" in step.error and "PNR" in step.error

    # the published table is the good one, the audit still points at the good file
    assert q(db, "SELECT PNR, Y_1210 FROM raw.dream ORDER BY PNR") == before
    assert q(db, "SELECT count(*) FROM raw.load_audit WHERE register = 'DREAM' AND status = 'published'") == [(1,)]
    # the rejected rows themselves are in quarantine with the rule they broke and the offending value
    rules = dict(q(db, "SELECT _rule, count(*) FROM quarantine.dream GROUP BY _rule"))
    assert rules == {"expect_column_values_to_be_unique": 2, "expect_weekly_codes_in_codebook": 2}
    assert q(db, "SELECT DISTINCT _value, Y_1210, _source_file FROM quarantine.dream "
                 "WHERE _rule = 'expect_weekly_codes_in_codebook'") == [("Y_1210=123", "123", "DREAM.parquet")]
    assert q(db, "SELECT rule, failing_rows, quarantined_rows FROM quarantine.rejections ORDER BY rule") == [
        ("expect_column_values_to_be_unique", 2, 2), ("expect_weekly_codes_in_codebook", 2, 2)]
    # no stage table left behind
    assert q(db, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'stage' "
                 "OR table_name LIKE '\\_stage\\_%' ESCAPE '\\'") == [(0,)]
    assert {t for (t,) in q(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'")} \
        == {"dream", "bef", "ophg", "udda", "rammevilkaar", "load_audit"}


def test_unchanged_files_are_not_reread(defs, resources, instance):
    write_delivery(persons(), resources["landing"].root, YEARS)
    assert run_job(defs, "load_registers", instance=instance).success
    assert run_job(defs, "load_registers", instance=instance).success
    db = resources["warehouse"].database
    # one published load per register file: the second run did not load again
    assert q(db, "SELECT count(DISTINCT run_id) FROM raw.load_audit WHERE register = 'DREAM'") == [(1,)]
    mats = instance.fetch_materializations(
        __import__("dagster").AssetKey(["raw", "dream"]), limit=2
    ).records
    assert [m.asset_materialization.metadata["reloaded"].value for m in mats] == [False, True]


def _good_2012(defs, resources, instance) -> str:
    """A good delivery loaded and register year 2012 built; returns the warehouse path."""
    write_delivery(persons(), resources["landing"].root, YEARS)
    assert run_job(defs, "load_registers", instance=instance).success
    assert run_job(defs, "register_years", instance=instance, partition="2012").success
    return resources["warehouse"].database


def test_failed_check_stops_downstream_and_keeps_last_good(defs, resources, instance):
    db = _good_2012(defs, resources, instance)
    good_pw = q(db, "SELECT count(*) FROM spells.person_weeks WHERE year = 2012")
    good_spells = q(db, "SELECT count(*) FROM spells.spells WHERE year = 2012")

    # corrupt the published raw table behind the pipeline's back: a person twice
    with duckdb.connect(db) as conn:
        conn.execute("INSERT INTO raw.dream SELECT * FROM raw.dream LIMIT 1")
    step = run_job(defs, "register_years", instance=instance, partition="2012")
    assert not step.success and "person_week_unique" in step.error

    # the person_weeks check failed, spells (downstream) never ran, last good kept
    import dagster as dg

    run = instance.get_run_by_id(step.run_id)
    records = instance.get_records_for_run(run.run_id).records
    events = [r.event_log_entry for r in records if r.event_log_entry.dagster_event]
    mats = [e for e in events if e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION]
    assert mats == []
    skipped_or_not_run = {e.step_key for e in events if e.dagster_event.event_type == dg.DagsterEventType.STEP_START}
    assert "spells__spells" not in skipped_or_not_run
    assert q(db, "SELECT count(*) FROM spells.person_weeks WHERE year = 2012") == good_pw
    assert q(db, "SELECT count(*) FROM spells.spells WHERE year = 2012") == good_spells


def test_failed_spells_check_rolls_the_year_back(defs, resources, instance):
    import dagster as dg

    db = _good_2012(defs, resources, instance)
    good = q(db, "SELECT PNR, state, start_week_seq, end_week_seq FROM spells.spells WHERE year = 2012 ORDER BY ALL")

    # a person-week goes missing behind the pipeline's back: the rewritten spells no longer
    # reconcile with the person-weeks, so the year's new rows are rolled back
    with duckdb.connect(db) as conn:
        conn.execute("DELETE FROM spells.person_weeks WHERE year = 2012 AND week = 20 AND PNR = "
                     "(SELECT min(PNR) FROM spells.person_weeks)")
    step = run_job(defs, "register_years", instance=instance, partition="2012",
                   selection=[dg.AssetKey(["spells", "spells"])])
    assert not step.success and "spell_weeks_equal_person_weeks" in step.error
    assert q(db, "SELECT PNR, state, start_week_seq, end_week_seq FROM spells.spells WHERE year = 2012 ORDER BY ALL") == good


def _messages(instance, run_id: str) -> str:
    return "\n".join(r.event_log_entry.user_message or "" for r in instance.get_records_for_run(run_id).records)


def test_a_delivery_is_published_whole_or_not_at_all(defs, resources, instance):
    landing, db = resources["landing"].root, resources["warehouse"].database
    write_delivery(persons(), landing, YEARS)
    assert run_job(defs, "load_registers", instance=instance).success
    tables = ("dream", "bef", "ophg", "udda", "rammevilkaar", "load_audit")
    before = {t: q(db, f"SELECT * FROM raw.{t} ORDER BY ALL") for t in tables}

    # the next delivery revises DREAM (valid) and brings a permit dated 2028 (invalid)
    dream = landing / "DREAM" / "DREAM.parquet"
    write_table(pl.read_parquet(dream).with_columns(pl.lit("130").alias("Y_1230")), dream)
    ophg = landing / "OPHG" / "OPHG.parquet"
    good_ophg = pl.read_parquet(ophg)
    write_table(good_ophg.with_columns(pl.lit(dt.date(2028, 1, 3)).alias("TILLADELSESDATO")), ophg)
    step = run_job(defs, "load_registers", instance=instance)
    assert not step.success
    assert "file OPHG.parquet, column TILLADELSESDATO: rule date_not_after_register_year" in step.error
    assert "2028 (1)" in step.error and "published whole" in step.error
    # nothing of the delivery is published, not even the valid DREAM
    assert {t: q(db, f"SELECT * FROM raw.{t} ORDER BY ALL") for t in tables} == before
    assert q(db, "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '_stage_')") == [(0,)]
    assert q(db, "SELECT _rule, _value FROM quarantine.ophg") == [("date_not_after_register_year", "2028-01-03")]

    # the corrected delivery is published: DREAM's revision with it
    write_table(good_ophg, ophg)
    step = run_job(defs, "load_registers", instance=instance)
    assert step.success, step.error
    assert q(db, "SELECT DISTINCT Y_1230 FROM raw.dream") == [("130",)]


def test_stage_tables_left_by_a_dead_run_are_dropped_with_a_message(defs, resources, instance):
    landing, db = resources["landing"].root, resources["warehouse"].database
    write_delivery(persons(), landing, YEARS)
    assert run_job(defs, "load_registers", instance=instance).success
    with duckdb.connect(db) as conn:  # what a run killed while staging leaves
        conn.execute("CREATE TABLE raw._stage_bef AS SELECT * FROM raw.bef")
        conn.execute("CREATE SCHEMA IF NOT EXISTS stage")
        conn.execute("CREATE TABLE stage.outcomes AS SELECT 1 AS x")
    step = run_job(defs, "load_registers", instance=instance)
    assert step.success, step.error
    assert "dropped stage table(s) raw._stage_bef, stage.outcomes left by an earlier run" in _messages(instance, step.run_id)
    assert q(db, "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '_stage_') "
                 "OR schema_name = 'stage'") == [(0,)]


def test_ignored_entries_are_named_in_a_warning(defs, resources, instance):
    landing = resources["landing"].root
    write_delivery(persons(), landing, YEARS)
    (landing / "BEF" / "BEF2004.parquet").write_bytes((landing / "BEF" / "BEF2012.parquet").read_bytes())
    (landing / "notes").mkdir()
    step = run_job(defs, "load_registers", instance=instance)
    assert step.success, step.error
    msgs = _messages(instance, step.run_id)
    assert "BEF/BEF2004.parquet (year 2004 is outside the register years" in msgs
    assert "notes (a folder that is not a register folder)" in msgs
