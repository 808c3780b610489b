"""Bad deliveries, one crafted per rule: each is stopped with file, column, rule and example
values (never a person number), and the rejected rows are kept in quarantine."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from builders import Person, write_delivery
from kommunebench import raw
from kommunebench.contract import REGISTERS
from kommunebench.landing import write_table

YEARS = [2012, 2013]


def persons() -> list[Person]:
    a = Person("0000000001", permit=(dt.date(2012, 3, 1), "7_1"), intpgm=(dt.date(2012, 3, 5), dt.date(2015, 3, 1)))
    a.weeks(dt.date(2012, 3, 5), ["135"] * 10).job_weeks(dt.date(2012, 6, 4), 5)
    b = Person("0000000002", kon="K", match={(2012, 1): 2})
    b.weeks(dt.date(2012, 1, 9), ["130"] * 20)
    return [a, b]


@pytest.fixture
def landing(tmp_path) -> Path:
    return write_delivery(persons(), tmp_path / "landing", YEARS)


def check(landing: Path, years=YEARS, **kw):
    conn = duckdb.connect()
    return conn, raw.check_delivery(conn, landing, years, **kw)


def rewrite(landing: Path, register: str, filename: str, fn):
    path = landing / register / filename
    write_table(fn(pl.read_parquet(path)), path)


def the_failure(d: raw.DeliveryCheck, rule: str, column: str | None, file: str):
    found = [o for o in d.failed() if o.rule == rule and o.column == column and o.file == file]
    assert found, f"expected {rule} on {column} in {file}; got {[o.message() for o in d.failed()]}"
    msg = found[0].message()
    assert rule in msg and file in msg and (column is None or column in msg)
    assert "0000000001" not in msg and "0000000002" not in msg
    return found[0]


def test_the_good_delivery_passes(landing):
    _, d = check(landing)
    assert d.failed() == [] and d.survey.ignored == []
    assert set(d.reports) == set(REGISTERS)


def test_pnr_delivered_as_a_number_is_refused_not_cast(landing):
    rewrite(landing, "DREAM", "DREAM.parquet", lambda df: df.with_columns(pl.col("PNR").cast(pl.Int64)))
    _, d = check(landing)
    o = the_failure(d, "column_delivered_as_text", "PNR", "DREAM.parquet")
    assert o.examples == [{"value": "BIGINT", "count": 2}] and "leading zeros" in o.detail
    assert not d.reports["DREAM"].staged


def test_pnr_that_lost_its_leading_zeros_fails_the_length_rule(tmp_path):
    landing = write_delivery(persons(), tmp_path / "l", YEARS, fmt="csv")
    path = landing / "BEF" / "BEF2012.csv"
    path.write_text(path.read_text().replace("0000000001,", "1,", 1))
    conn, d = check(landing)
    o = the_failure(d, "expect_column_value_lengths_to_equal", "PNR", "BEF2012.csv")
    assert o.failing_rows == 1 and o.examples == [{"value": "length 1", "count": 1}]
    raw.quarantine(conn, REGISTERS["BEF"], d.outcomes["BEF"], "run-1")
    assert conn.execute("SELECT PNR, _value, AAR FROM quarantine.bef").fetchall() == [("1", "1", 2012)]


@pytest.mark.parametrize("column, family, example", [
    ("Y_1353", "Y_yyww", "ISO year 2013 has weeks 1..52, not 53"),
    ("Y_1200", "Y_yyww", "ISO year 2012 has weeks 1..52, not 0"),
    ("GRAD_2012_13", "GRAD_yyyy_mm", "month 13 does not exist"),
])
def test_wide_column_naming_no_real_period_is_refused(landing, column, family, example):
    rewrite(landing, "DREAM", "DREAM.parquet", lambda df: df.with_columns(df[df.columns[-1]].alias(column)))
    _, d = check(landing)
    o = the_failure(d, "wide_columns_name_real_periods", family, "DREAM.parquet")
    assert o.examples == [{"value": column, "count": 1}] and example in o.detail


def test_permit_after_the_register_year_is_refused(landing):
    rewrite(landing, "OPHG", "OPHG.parquet", lambda df: df.with_columns(pl.lit(dt.date(2028, 5, 1)).alias("TILLADELSESDATO")))
    _, d = check(landing)
    o = the_failure(d, "date_not_after_register_year", "TILLADELSESDATO", "OPHG.parquet")
    assert o.examples == [{"value": 2028, "count": 1}]
    assert "2013-12-29" in o.detail and "register year 2013" in o.detail


def test_yearly_file_with_a_date_after_its_year_is_refused(landing):
    rewrite(landing, "BEF", "BEF2012.parquet", lambda df: df.with_columns(pl.lit(dt.date(2013, 2, 1)).alias("INDVAN_SENESTE")))
    _, d = check(landing)
    o = the_failure(d, "date_not_after_register_year", "INDVAN_SENESTE", "BEF2012.parquet")
    assert o.failing_rows == 2 and "2012-12-30" in o.detail  # ISO 2012 ends on Sunday 30 December
    # the same date in the 2013 file is within its year
    assert not [x for x in d.failed() if x.file == "BEF2013.parquet"]


def test_immigration_in_the_future_is_refused(landing):
    future = dt.date.today() + dt.timedelta(days=400)
    rewrite(landing, "OPHG", "OPHG.parquet", lambda df: df.with_columns(pl.lit(future).alias("INDVANDRINGSDATO")))
    _, d = check(landing)
    o = the_failure(d, "date_not_in_the_future", "INDVANDRINGSDATO", "OPHG.parquet")
    assert o.examples == [{"value": future.year, "count": 1}]


def test_birth_after_the_permit_is_refused(landing):
    for y in YEARS:  # BEF says the refugee was born after the permit date
        rewrite(landing, "BEF", f"BEF{y}.parquet", lambda df: df.with_columns(
            pl.when(pl.col("PNR") == "0000000001").then(pl.lit(dt.date(2012, 4, 1))).otherwise(pl.col("FOED_DAG"))
            .alias("FOED_DAG")))
    conn, d = check(landing)
    o = the_failure(d, "permit_not_before_birth", "TILLADELSESDATO", "OPHG.parquet")
    assert o.failing_rows == 1 and o.examples == [{"value": 2012, "count": 1}]
    raw.quarantine(conn, REGISTERS["OPHG"], d.outcomes["OPHG"], "run-1", source=d.tables["OPHG"])
    assert conn.execute("SELECT PNR, GRUNDLAG, _rule, _value FROM quarantine.ophg").fetchall() == [
        ("0000000001", "7_1", "permit_not_before_birth", "2012-03-01")]


def test_birth_after_the_first_week_on_record_is_refused(landing):
    # b has benefit codes from week 2 of 2012 but DREAM says she was born in June 2012
    rewrite(landing, "DREAM", "DREAM.parquet", lambda df: df.with_columns(
        pl.when(pl.col("PNR") == "0000000002").then(pl.lit(dt.date(2012, 6, 1))).otherwise(pl.col("FOEDDT")).alias("FOEDDT")))
    conn, d = check(landing)
    o = the_failure(d, "birth_before_first_week_on_record", "FOEDDT", "DREAM.parquet")
    assert o.failing_rows == 1
    raw.quarantine(conn, REGISTERS["DREAM"], d.outcomes["DREAM"], "run-1", source=d.tables["DREAM"])
    assert conn.execute("SELECT PNR, _value FROM quarantine.dream").fetchall() == [
        ("0000000002", "first week on record Y_1202")]


def test_yearly_files_outside_the_register_years_are_ignored_with_a_named_warning(landing):
    src = landing / "BEF" / "BEF2012.parquet"
    shutil.copy(src, landing / "BEF" / "BEF2004.parquet")
    shutil.copy(src, landing / "BEF" / "BEF2031.parquet")
    conn, d = check(landing)
    assert d.failed() == []
    assert ("BEF/BEF2004.parquet", "year 2004 is outside the register years 2012-2013") in d.survey.ignored
    assert ("BEF/BEF2031.parquet", "year 2031 is outside the register years 2012-2013") in d.survey.ignored
    assert "BEF/BEF2031.parquet" in d.survey.ignored_message()
    stage = raw.stage_table(REGISTERS["BEF"])
    assert conn.execute(f"SELECT DISTINCT AAR FROM {stage} ORDER BY 1").fetchall() == [(2012,), (2013,)]
    warnings = [o for o in d.outcomes["BEF"] if o.rule == "ignored_entries"]
    assert {o.file for o in warnings} == {"BEF/BEF2004.parquet", "BEF/BEF2031.parquet"} and not any(o.blocking for o in warnings)


def test_truncated_parquet_is_named_in_the_projects_format(landing):
    path = landing / "DREAM" / "DREAM.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _, d = check(landing)
    o = the_failure(d, "file_readable", None, "DREAM.parquet")
    assert o.message().startswith("file DREAM.parquet: rule file_readable broken; cannot be read as Parquet")


def test_empty_files_are_refused(tmp_path):
    landing = write_delivery(persons(), tmp_path / "l", YEARS)
    (landing / "UDDA" / "UDDA2012.parquet").write_bytes(b"")
    write_table(pl.read_parquet(landing / "UDDA" / "UDDA2013.parquet").head(0), landing / "UDDA" / "UDDA2013.parquet")
    _, d = check(landing)
    the_failure(d, "file_not_empty", None, "UDDA2012.parquet")
    the_failure(d, "file_has_rows", None, "UDDA2013.parquet")


def test_csv_with_a_header_only_and_garbage_sas_are_refused(tmp_path):
    landing = write_delivery(persons(), tmp_path / "l", YEARS, fmt="csv")
    path = landing / "UDDA" / "UDDA2012.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    (landing / "UDDA" / "UDDA2013.csv").unlink()
    (landing / "UDDA" / "UDDA2013.sas7bdat").write_bytes(b"\x00\x01not a SAS file" * 100)
    _, d = check(landing)
    the_failure(d, "file_has_rows", None, "UDDA2012.csv")
    o = the_failure(d, "file_readable", None, "UDDA2013.sas7bdat")
    assert "SAS7BDAT" in o.detail


@pytest.mark.parametrize("name", ["OPHG*.parquet", "OPHG[0-9].parquet", "OPHG?.parquet"])
def test_file_names_are_read_literally_not_as_glob_patterns(landing, name):
    df = pl.read_parquet(landing / "OPHG" / "OPHG.parquet")
    write_table(df.with_columns(pl.lit("0000000002").alias("PNR")), landing / "OPHG" / name)
    write_table(df, landing / "OPHG" / "OPHG1.parquet")  # a neighbour a pattern would pick up
    (landing / "OPHG" / "OPHG.parquet").unlink()
    conn, d = check(landing)
    assert d.reports["OPHG"].rows == {name: 1, "OPHG1.parquet": 1}
    assert [o.message() for o in d.failed()] == []


def test_links_out_of_the_landing_folder_are_refused(landing, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.move(landing / "BEF" / "BEF2012.parquet", outside / "BEF2012.parquet")
    os.symlink(outside / "BEF2012.parquet", landing / "BEF" / "BEF2012.parquet")
    # a link that stays inside the landing folder is a file like any other
    shutil.move(landing / "UDDA" / "UDDA2012.parquet", landing / "UDDA2012.parquet")
    os.symlink(landing / "UDDA2012.parquet", landing / "UDDA" / "UDDA2012.parquet")
    _, d = check(landing)
    o = the_failure(d, "files_inside_landing_folder", None, "BEF2012.parquet")
    assert str(outside) in o.detail
    assert not [x for x in d.failed() if x.register == "UDDA"]


def test_unexpected_files_and_folders_are_listed(landing):
    (landing / "notes.txt").write_text("x")
    (landing / "old").mkdir()
    (landing / "DREAM" / "archive").mkdir()
    (landing / "DREAM" / "readme.txt").write_text("x")
    (landing / "DREAM" / ".DREAM.parquet.partial").write_bytes(b"x")
    _, d = check(landing)
    assert d.failed() == []
    assert dict(d.survey.ignored) == {
        "notes.txt": "a file that is not a register folder",
        "old": "a folder that is not a register folder",
        "DREAM/archive": "a folder inside a register folder",
        "DREAM/readme.txt": "not a delivery format (parquet, csv, sas7bdat)",
        "DREAM/.DREAM.parquet.partial": "a hidden file",
    }


def test_quarantine_keeps_the_rejected_rows_up_to_the_cap(tmp_path):
    many = [Person(f"{i:010d}", kon="X") for i in range(1, 31)]
    landing = write_delivery(many, tmp_path / "l", YEARS)
    conn, d = check(landing)
    o = the_failure(d, "expect_column_values_to_be_in_set", "KON", "DREAM.parquet")
    assert o.failing_rows == 30 and o.examples == [{"value": "X", "count": 30}]
    kept = raw.quarantine(conn, REGISTERS["DREAM"], d.outcomes["DREAM"], "run-1", cap=10)
    assert kept == 10
    rows = conn.execute("SELECT _rule, _column, _value, KON, count(DISTINCT PNR), count(DISTINCT _source_row), "
                        "count(Y_1201) FROM quarantine.dream GROUP BY ALL").fetchall()
    assert rows == [("expect_column_values_to_be_in_set", "KON", "X", "X", 10, 10, 0)]
    assert conn.execute("SELECT register, file, rule, column_name, failing_rows, quarantined_rows FROM quarantine.rejections").fetchall() == [
        ("DREAM", "DREAM.parquet", "expect_column_values_to_be_in_set", "KON", 30, 10)]
    # without a cap below the count, every rejected row is kept
    assert raw.quarantine(conn, REGISTERS["DREAM"], d.outcomes["DREAM"], "run-2") == 30
