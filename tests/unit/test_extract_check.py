"""`kommunebench check-extract`: files, years, columns and unknown codes, with counts, never person-level values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from kommunebench.cli import app
from kommunebench.extract_check import NOT_SHOWN, check_extract, shown
from kommunebench.landing import write_table
from kommunebench.synth import generate

SAS_DIR = Path(__file__).parents[1] / "data" / "sas"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    generate(root / "landing", n_persons=400, seed=11, first_year=2012, last_year=2013, progress=False)
    return root / "landing"


def _copy(clean: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "landing"
    shutil.copytree(clean, dst)
    return dst


def _rewrite(path: Path, fn) -> pl.DataFrame:
    df = fn(pl.read_parquet(path))
    write_table(df, path)
    return df


def test_clean_synthetic_extract_is_ok(clean):
    report = check_extract(clean)
    assert report.ok, report.problems()
    regs = {f.register for f in report.files}
    assert regs == {"DREAM", "BEF", "OPHG", "UDDA", "RAMMEVILKAAR"}
    bef = sorted((f.file, f.years) for f in report.files if f.register == "BEF")
    assert bef == [("BEF/BEF2012.parquet", [2012]), ("BEF/BEF2013.parquet", [2013])]
    dream = next(f for f in report.files if f.register == "DREAM")
    assert dream.years == [2012, 2013] and dream.rows == 400 and not dream.missing_required
    assert not report.unknown_codes
    # the synthetic codes that are unverified in the tables are counted, not hidden
    assert {c.column for c in report.unverified_codes} >= {"Y_yyww", "OPR_LAND", "GRUNDLAG"}
    assert "OPHG" in report.date_years and set(report.date_years["OPHG"]) <= set(range(1997, 2014))


def test_unknown_codes_are_reported_with_counts(clean, tmp_path):
    landing = _copy(clean, tmp_path)
    dream_path = next((landing / "DREAM").glob("*.parquet"))
    # 7 persons get code 777 in every week of 2013's first three weeks (21 cells), 2 persons code 778 once
    _rewrite(dream_path, lambda d: d.with_columns(
        *[pl.when(pl.int_range(pl.len()) < 7).then(pl.lit("777")).otherwise(pl.col(c)).alias(c)
          for c in ("Y_1301", "Y_1302", "Y_1303")],
        pl.when(pl.int_range(pl.len()) < 2).then(pl.lit("778")).otherwise(pl.col("Y_1210")).alias("Y_1210"),
    ))
    _rewrite(landing / "BEF" / "BEF2013.parquet",
             lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(pl.lit(9999, pl.Int16))
                                      .otherwise(pl.col("OPR_LAND")).alias("OPR_LAND")))
    _rewrite(landing / "OPHG" / "OPHG.parquet",
             lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) < 6).then(pl.lit("ZZ"))
                                      .otherwise(pl.col("GRUNDLAG")).alias("GRUNDLAG")))
    _rewrite(landing / "UDDA" / "UDDA2012.parquet",
             lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) < 8).then(pl.lit(4321, pl.Int16))
                                      .otherwise(pl.col("HFAUDD")).alias("HFAUDD")))
    _rewrite(landing / "RAMMEVILKAAR" / "RAMMEVILKAAR2012.parquet",
             lambda d: d.with_columns(pl.when(pl.col("KOM") == 101).then(pl.lit(102, pl.Int16))
                                      .otherwise(pl.col("KOM")).alias("KOM")))

    report = check_extract(landing)
    assert not report.ok
    got = {(c.register, c.column, c.code): (c.count, c.years) for c in report.unknown_codes}
    assert got == {
        ("DREAM", "Y_yyww", "777"): (21, [2013]),
        ("DREAM", "Y_yyww", "778"): (2, [2012]),
        ("BEF", "OPR_LAND", "9999"): (3, [2013]),
        ("OPHG", "GRUNDLAG", "ZZ"): (6, []),
        ("UDDA", "HFAUDD", "4321"): (8, [2012]),
        ("RAMMEVILKAAR", "KOM", "102"): (1, [2012]),
    }
    text = report.to_text()
    assert "Y_yyww [dream_codebook] code '777': 21 (2013)" in text
    assert "code '778': <5" in text and "code '9999': <5" in text and "code 'ZZ': 6" in text
    as_json = json.loads(report.to_json())
    counts = {(c["column"], c["code"]): c["count"] for c in as_json["unknown_codes"]}
    assert counts[("Y_yyww", "778")] == "<5" and counts[("Y_yyww", "777")] == "21"
    # nothing person-level: no person number, no birth date
    pnrs = pl.read_parquet(dream_path)["PNR"].to_list()
    births = [str(d) for d in pl.read_parquet(dream_path)["FOEDDT"].drop_nulls().to_list()]
    for out in (text, report.to_json()):
        assert not any(p in out for p in pnrs)
        assert not any(b in out for b in births)


def test_values_not_shaped_like_codes_are_counted_but_never_printed(clean, tmp_path):
    landing = _copy(clean, tmp_path)
    bef = landing / "BEF" / "BEF2012.parquet"
    # a shifted column: person numbers and dates land in coded columns
    df = pl.read_parquet(bef)
    leaked = df["PNR"].head(3).to_list()
    _rewrite(bef, lambda d: d.with_columns(pl.col("OPR_LAND").cast(pl.Utf8), pl.col("CIVST").cast(pl.Utf8)).with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.col("PNR")).otherwise(pl.col("CIVST")).alias("CIVST")))
    report = check_extract(landing)
    found = {(c.column, c.code): c.count for c in report.unknown_codes}
    assert found == {("CIVST", NOT_SHOWN): 3}
    for out in (report.to_text(), report.to_json(), "\n".join(report.problems())):
        assert not any(p in out for p in leaked)
    assert f"BEF.CIVST [civst] {NOT_SHOWN}: <5 (2012)" in report.to_text()


def test_crafted_bad_folder_is_reported_and_the_command_fails(clean, tmp_path):
    landing = _copy(clean, tmp_path)
    shutil.rmtree(landing / "RAMMEVILKAAR")
    (landing / "BEF" / "notes.txt").write_text("hello")
    (landing / "BEF" / "POPULATION2012.parquet").write_bytes((landing / "BEF" / "BEF2012.parquet").read_bytes())
    (landing / "EXTRA").mkdir()
    _rewrite(landing / "OPHG" / "OPHG.parquet", lambda d: d.drop("GRUNDLAG").rename({"KATEGORI": "kategori"}))
    (landing / "UDDA" / "UDDA2013.parquet").write_bytes(b"not a parquet file")
    _rewrite(landing / "BEF" / "BEF2013.parquet", lambda d: d.rename({"KOM": "kom"}).with_columns(pl.lit(1).alias("EXTRA_COL")))

    report = check_extract(landing)
    assert not report.ok
    assert report.missing_registers == ["RAMMEVILKAAR"]
    stray = dict(report.stray)
    assert "unknown format 'txt'" in stray["BEF/notes.txt"]
    assert "does not match the BEF contract" in stray["BEF/POPULATION2012.parquet"]
    assert "not a register of the contract" in stray["EXTRA/"]
    ophg = next(f for f in report.files if f.register == "OPHG")
    assert ophg.missing_required == ["GRUNDLAG"] and ophg.wrong_case == ["kategori"]
    udda = next(f for f in report.files if f.file == "UDDA/UDDA2013.parquet")
    assert udda.error and "cannot be read as parquet" in udda.error
    bef = next(f for f in report.files if f.file == "BEF/BEF2013.parquet")
    assert bef.wrong_case == ["kom"] and bef.unexpected_columns == ["EXTRA_COL"]
    problems = "\n".join(report.problems())
    assert "register folder missing: RAMMEVILKAAR/" in problems
    assert "OPHG/OPHG.parquet: required column(s) missing: GRUNDLAG" in problems

    result = CliRunner().invoke(app, ["check-extract", str(landing)])
    assert result.exit_code == 1, result.output
    assert "MISSING register folder RAMMEVILKAAR/" in result.output
    assert "NOT OK" in result.output
    ok = CliRunner().invoke(app, ["check-extract", str(clean), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    missing = CliRunner().invoke(app, ["check-extract", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a folder" in missing.output


def test_csv_in_latin1_is_read(tmp_path):
    generate(tmp_path / "landing", n_persons=150, seed=3, first_year=2013, last_year=2013, fmt="csv",
             csv_encoding="iso-8859-1", progress=False)
    report = check_extract(tmp_path / "landing")
    assert report.ok, report.problems()
    assert {f.encoding for f in report.files} <= {"utf-8", "iso-8859-1"}
    assert all(f.rows > 0 for f in report.files)


def test_sas_files_are_read_in_chunks(tmp_path):
    landing = tmp_path / "landing"
    for f in SAS_DIR.glob("*.sas7bdat"):
        reg = "DREAM" if f.stem.startswith("DREAM") else f.stem.rstrip("0123456789")
        (landing / reg).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, landing / reg / f.name)
    small = check_extract(landing, sas_chunksize=150)
    big = check_extract(landing, sas_chunksize=100_000)
    assert all(f.error is None for f in big.files), [f.error for f in big.files]
    assert big.ok, big.problems()  # the committed SAS files hold only codes of the reference tables
    assert [(f.file, f.rows, f.years) for f in small.files] == [(f.file, f.rows, f.years) for f in big.files]
    dream = next(f for f in big.files if f.register == "DREAM")
    assert dream.rows > 0 and dream.years
    # chunked counting gives the same code counts as one pass
    assert [(c.column, c.code, c.count) for c in small.unknown_codes] == [(c.column, c.code, c.count) for c in big.unknown_codes]
    assert [(c.column, c.code, c.count) for c in small.unverified_codes] == [(c.column, c.code, c.count) for c in big.unverified_codes]


def test_counts_under_five_are_suppressed():
    assert [shown(n) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]
