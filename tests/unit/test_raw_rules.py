"""Every raw-stage rule, on a crafted bad file, fails with an error naming file, column and rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from builders import Person, write_delivery
from kommunebench import raw
from kommunebench.contract import REGISTERS
from kommunebench.landing import write_table

YEARS = [2012, 2013]


def good_persons() -> list[Person]:
    a = Person("0000000001", permit=(dt.date(2012, 3, 1), "7_1"), intpgm=(dt.date(2012, 3, 5), dt.date(2015, 3, 1)))
    a.weeks(dt.date(2012, 3, 5), ["135"] * 10).job_weeks(dt.date(2012, 6, 4), 5)
    b = Person("0000000002", kon="K", match={(2012, 1): 2})
    b.weeks(dt.date(2012, 1, 9), ["130"] * 20)
    return [a, b]


@pytest.fixture
def landing(tmp_path) -> Path:
    return write_delivery(good_persons(), tmp_path / "landing", YEARS)


def load(landing: Path, name: str, unknown_codes: str = "fail"):
    reg = REGISTERS[name]
    conn = duckdb.connect()
    files = raw.discover(landing, reg)
    report = raw.stage_register(conn, reg, files)
    outcomes = list(report.outcomes)
    from kommunebench.validation import failed_blocking

    if not failed_blocking(outcomes):
        outcomes += raw.validate_register(conn, reg, report, unknown_codes=unknown_codes)
    return conn, report, outcomes


def failures(outcomes):
    return [o for o in outcomes if not o.passed]


def rewrite(landing: Path, register: str, filename: str, fn):
    path = landing / register / filename
    df = pl.read_parquet(path)
    write_table(fn(df), path)


def test_good_delivery_passes_every_rule(landing):
    for name in REGISTERS:
        _, report, outcomes = load(landing, name)
        assert failures(outcomes) == [], [o.message() for o in failures(outcomes)]
        assert sum(report.rows.values()) > 0


def the_failure(outcomes, rule, column):
    matches = [o for o in failures(outcomes) if o.rule == rule and o.column == column]
    assert matches, f"expected {rule} on {column}; got {[o.message() for o in failures(outcomes)]}"
    o = matches[0]
    msg = o.message()
    assert rule in msg and column in msg and (o.file is None or o.file in msg)
    return o


@pytest.mark.parametrize(
    "register, filename, fn, rule, column, file_named",
    [
        ("DREAM", "DREAM.parquet", lambda d: d.drop("KON"), "expect_column_to_exist", "KON", True),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit(None, pl.Utf8).alias("PNR")),
         "expect_column_values_to_not_be_null", "PNR", True),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit("0000000001").alias("PNR")),
         "expect_column_values_to_be_unique", "PNR", True),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit("X").alias("KON")),
         "expect_column_values_to_be_in_set", "KON", True),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit(dt.date(1850, 1, 1)).alias("FOEDDT")),
         "expect_column_values_to_be_between", "FOEDDT", True),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit("123").alias("Y_1210")),
         "expect_weekly_codes_in_codebook", "Y_yyww", True),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit(999, pl.Int16).alias("NYKOM2012")),
         "expect_column_values_to_be_in_set", "NYKOMyyyy", False),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit(5.0).alias("GRAD_2012_03")),
         "expect_column_values_to_be_between", "GRAD_yyyy_mm", False),
        ("DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit(7, pl.Int16).alias("MATCH_1KV2012")),
         "expect_column_values_to_be_in_set", "MATCH_qKVyyyy", False),
        ("BEF", "BEF2012.parquet", lambda d: d.with_columns(pl.lit(999, pl.Int16).alias("KOM")),
         "expect_column_values_to_be_in_set", "KOM", True),
        ("BEF", "BEF2013.parquet", lambda d: d.with_columns(pl.lit(1234, pl.Int16).alias("OPR_LAND")),
         "expect_column_values_to_be_in_set", "OPR_LAND", True),
        ("OPHG", "OPHG.parquet", lambda d: d.with_columns(pl.lit("XX").alias("GRUNDLAG")),
         "expect_column_values_to_be_in_set", "GRUNDLAG", True),
        ("OPHG", "OPHG.parquet", lambda d: pl.concat([d, d]),
         "expect_compound_columns_to_be_unique", "PNR,TILLADELSESDATO", True),
        ("RAMMEVILKAAR", "RAMMEVILKAAR2012.parquet", lambda d: d.with_columns(pl.lit(None, pl.Int16).alias("KOM")),
         "expect_column_values_to_not_be_null", "KOM", True),
    ],
)
def test_crafted_bad_file_fails_its_rule(landing, register, filename, fn, rule, column, file_named):
    rewrite(landing, register, filename, fn)
    _, _, outcomes = load(landing, register)
    o = the_failure(outcomes, rule, column)
    assert o.blocking and o.failing_rows >= 1
    if file_named:
        assert o.file == filename


def test_values_that_do_not_cast_are_named(tmp_path):
    landing = write_delivery(good_persons(), tmp_path / "l", YEARS, fmt="csv")
    path = landing / "BEF" / "BEF2012.csv"
    text = path.read_text().splitlines()
    header = text[0].split(",")
    i = header.index("FOED_DAG")
    row = text[1].split(",")
    row[i] = "31-02-1985x"
    text[1] = ",".join(row)
    path.write_text("\n".join(text) + "\n")
    _, _, outcomes = load(landing, "BEF")
    o = the_failure(outcomes, "values_cast_to_date", "FOED_DAG")
    assert o.file == "BEF2012.csv" and o.failing_rows == 1


def test_unknown_codes_warn_mode_does_not_block(landing):
    rewrite(landing, "DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit("123").alias("Y_1210")))
    _, _, outcomes = load(landing, "DREAM", unknown_codes="warn")
    o = [x for x in outcomes if x.rule == "expect_weekly_codes_in_codebook"][0]
    assert not o.passed and not o.blocking
    assert o.examples[0] == {"value": "123", "count": 2}


def test_identifiers_are_never_examples(landing):
    rewrite(landing, "DREAM", "DREAM.parquet", lambda d: d.with_columns(pl.lit("0000000001").alias("PNR")))
    _, _, outcomes = load(landing, "DREAM")
    o = the_failure(outcomes, "expect_column_values_to_be_unique", "PNR")
    assert o.examples == [] and "0000000001" not in o.message()


def test_file_name_outside_contract_is_refused(landing):
    (landing / "BEF" / "population_2012.parquet").write_bytes(b"x")
    with pytest.raises(raw.DeliveryError, match=r"population_2012.parquet.*rule file_name_matches_contract"):
        raw.discover(landing, REGISTERS["BEF"])


def test_two_files_for_one_year_are_refused(landing):
    src = landing / "UDDA" / "UDDA2012.parquet"
    (landing / "UDDA" / "UDDA201212.parquet").write_bytes(src.read_bytes())
    with pytest.raises(raw.DeliveryError, match="rule one_file_per_year"):
        raw.discover(landing, REGISTERS["UDDA"])


def test_lower_case_columns_are_refused(landing):
    rewrite(landing, "UDDA", "UDDA2012.parquet", lambda d: d.rename({"HFAUDD": "hfaudd"}))
    _, report, outcomes = load(landing, "UDDA")
    o = the_failure(outcomes, "column_names_upper_case", "HFAUDD")
    assert o.file == "UDDA2012.parquet" and "upper case" in o.message() and not report.staged


def test_latin1_csv_is_read(tmp_path):
    landing = write_delivery(good_persons(), tmp_path / "l", YEARS, fmt="csv", encoding="iso-8859-1")
    p = landing / "OPHG" / "OPHG.csv"
    text = p.read_bytes().decode("iso-8859-1").replace("7_1", "7_1")
    p.write_bytes(text.encode("iso-8859-1"))
    conn, report, outcomes = load(landing, "OPHG")
    assert failures(outcomes) == []
    # a Latin-1 file that is not valid UTF-8 is read as ISO-8859-1
    path = landing / "BEF" / "BEF2012.csv"
    lines = path.read_bytes().decode("iso-8859-1").splitlines()
    lines[1] = lines[1].replace(",G,", ",G,")
    path.write_bytes(("\n".join(lines) + "\n").encode("iso-8859-1"))
    conn, report, outcomes = load(landing, "BEF")
    assert report.encodings["BEF2012.csv"] in ("utf-8", "latin-1")


def test_latin1_bytes_detected(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("PNR,NAVN\n1,Århus\n".encode("iso-8859-1"))
    conn = duckdb.connect()
    view, enc = raw._csv_reader(conn, p)
    assert enc == "latin-1"
    assert conn.execute(f"SELECT NAVN FROM {view}").fetchall() == [("Århus",)]


def test_key_unique_across_files_fails(landing):
    path = landing / "DREAM" / "DREAM.parquet"
    df = pl.read_parquet(path)
    path.unlink()
    write_table(df, landing / "DREAM" / "DREAM_part01.parquet")
    write_table(df.head(1), landing / "DREAM" / "DREAM_part02.parquet")  # the first person delivered twice
    _, _, outcomes = load(landing, "DREAM")
    o = the_failure(outcomes, "expect_compound_columns_to_be_unique_across_files", "PNR")
    assert o.failing_rows == 2


def test_files_with_different_layouts_are_staged_in_groups(landing):
    """Parquet files that share their columns and types are read by one statement; a file
    with another layout (here: an optional column missing, KOM as text) and a CSV file are
    staged on their own. Rows, years from the file names and source row numbers stay per file."""
    rewrite(landing, "BEF", "BEF2013.parquet",
            lambda d: d.drop("INDVAN_SENESTE").with_columns(pl.col("KOM").cast(pl.Utf8)))
    pl.read_parquet(landing / "BEF" / "BEF2012.parquet").write_csv(landing / "BEF" / "BEF2014.csv")
    conn, report, outcomes = load(landing, "BEF")
    assert failures(outcomes) == [], [o.message() for o in failures(outcomes)]
    stage = raw.stage_table(REGISTERS["BEF"])
    got = conn.execute(
        f"SELECT _source_file, AAR, count(*), min(_source_row), max(_source_row), count(INDVAN_SENESTE), "
        f"count(DISTINCT KOM) FROM {stage} GROUP BY ALL ORDER BY 1"
    ).fetchall()
    n = report.rows["BEF2012.parquet"]
    assert n > 0 and report.rows == {"BEF2012.parquet": n, "BEF2013.parquet": report.rows["BEF2013.parquet"],
                                     "BEF2014.csv": n}
    assert [(f, y, c, lo, hi) for f, y, c, lo, hi, _, _ in got] == [
        ("BEF2012.parquet", 2012, n, 1, n),
        ("BEF2013.parquet", 2013, report.rows["BEF2013.parquet"], 1, report.rows["BEF2013.parquet"]),
        ("BEF2014.csv", 2014, n, 1, n),
    ]
    assert got[1][5] == 0  # the column the 2013 file lacks is missing there, not invented
    assert all(r[6] >= 1 for r in got)  # KOM typed from text as from integers


def test_publish_renames_the_stage_and_keeps_source_rows(landing):
    conn, report, outcomes = load(landing, "DREAM")
    assert failures(outcomes) == []
    n = raw.publish_register(conn, REGISTERS["DREAM"], report, "run-1")
    tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'").fetchall()}
    assert tables == {"dream", "load_audit"}
    assert conn.execute("SELECT count(*), count(DISTINCT (_source_file, _source_row)) FROM raw.dream").fetchall() == [(n, n)]
