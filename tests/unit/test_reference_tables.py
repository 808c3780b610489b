"""The reference tables: unique, sourced codes; the documented unverified lists; the generator's codes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from kommunebench import refdata
from kommunebench.synth import population

README = refdata.REFERENCE_DIR / "README.md"
#: Words that mark a row's source as not (fully) verified.
UNVERIFIED_MARKS = ("unverified", "conflict", "synthetic placeholder")


def _keys(name: str) -> list[tuple]:
    spec = refdata.TABLES[name]
    return refdata.table(name).select(spec.key).rows()


@pytest.mark.parametrize("name", sorted(refdata.TABLES))
def test_every_table_has_unique_keys_and_every_row_a_source(name):
    df = refdata.table(name)
    spec = refdata.TABLES[name]
    assert df.height > 0
    keys = _keys(name)
    assert len(keys) == len(set(keys)), name
    if spec.table_source is None:
        assert df["source"].null_count() == 0
        assert (df["source"].str.strip_chars().str.len_chars() > 0).all()
    else:
        assert spec.table_source.strip()


@pytest.mark.parametrize("name", sorted(n for n, s in refdata.TABLES.items() if s.table_source is None))
def test_verified_rows_name_a_listed_source_and_unverified_rows_say_so(name):
    df = refdata.table(name)
    readme = README.read_text(encoding="utf-8")
    ids = set(re.findall(r"^\| `([A-Z][A-Za-z0-9-]+)` \|", readme, flags=re.M)) | {"domain.md", "project choice"}
    assert {"STAR-DREAM-2015", "DST-LAND", "LIFA-LOIS", "DST-GRUNDLAG", "DST-ALMAUDD", "DST-AMTKOM"} <= ids
    if "verified" not in df.columns:  # hfaudd_levels: every row is a grouping of DST's hovedgrupper
        assert all(any(i in s for i in ids) for s in df["source"].to_list())
        return
    for row in df.iter_rows(named=True):
        src = row["source"]
        if row["verified"]:
            assert any(i in src for i in ids), (name, row)
        else:
            assert any(m in src for m in UNVERIFIED_MARKS), (name, row)


def test_validity_periods_are_ordered():
    for name, spec in refdata.TABLES.items():
        df = refdata.table(name)
        if {"valid_from", "valid_to"} <= set(df.columns):
            bad = df.filter(pl.col("valid_from").is_not_null() & pl.col("valid_to").is_not_null()
                            & (pl.col("valid_from") > pl.col("valid_to")))
            assert bad.height == 0, (name, bad.rows())


def _readme_list(table: str) -> set[str]:
    """The codes the README lists as unverified for ``table`` (one bullet line per table)."""
    readme = README.read_text(encoding="utf-8")
    m = re.search(rf"^- `{re.escape(table)}` \(\d+\): (.*)$", readme, flags=re.M)
    assert m, f"README lists no unverified codes for {table}"
    return set(re.findall(r"`([^`]*)`", m.group(1)))


@pytest.mark.parametrize("name,col", [
    ("dream_codebook", "code"), ("countries", "OPR_LAND"), ("ophg_grundlag", "GRUNDLAG"),
    ("hfaudd_codes", "HFAUDD"), ("municipalities_historic", "old_kom"),
])
def test_readme_lists_exactly_the_unverified_codes(name, col):
    df = refdata.table(name)
    unverified = {str(v) for v in df.filter(~pl.col("verified"))[col].to_list()}
    assert _readme_list(name) == unverified
    m = re.search(rf"^- `{re.escape(name)}` \((\d+)\):", README.read_text(encoding="utf-8"), flags=re.M)
    assert int(m.group(1)) == len(unverified)


def test_western_follows_statistics_denmarks_definition_where_named():
    c = refdata.countries().filter(pl.col("verified"))
    west = dict(zip(c["name"].to_list(), c["western"].to_list()))
    # domain.md section 2: EU-28, Andorra, Iceland, Liechtenstein, Monaco, Norway, San Marino,
    # Switzerland, the Vatican, Canada, the USA, Australia and New Zealand are western
    for name in ("Danmark", "Sverige", "Norge", "Island", "Andorra", "Monaco", "San Marino", "Schweiz",
                 "Vatikanstaten", "USA", "New Zealand", "Polen", "Bulgarien", "Rumænien", "Tyskland"):
        assert west[name] is True, name
    for name in ("Tyrkiet", "Albanien", "Statsløs", "Yemen", "Namibia", "Jugoslavien"):
        assert west[name] is False, name


def test_codes_whose_sources_conflict_have_no_western_flag_and_drop_out_of_the_target_groups():
    c = refdata.countries()
    conflict = c.filter(pl.col("western_basis") == "conflict")
    assert conflict.height >= 1
    assert conflict["western"].null_count() == conflict.height


def test_education_levels_come_from_the_table_not_the_digits():
    codes = dict(zip(refdata.hfaudd_codes()["HFAUDD"].to_list(), refdata.hfaudd_codes()["level"].to_list()))
    assert codes[1009] == 1 and codes[1021] == 1 and codes[5166] == 5 and codes[1] == 0
    assert codes[12001] == 2 and codes[16003] == 6
    levels = set(refdata.hfaudd_levels()["level"].to_list())
    assert set(codes.values()) <= levels
    # placeholders never collide with Statistics Denmark's 4-digit codes
    placeholders = refdata.hfaudd_codes().filter(~pl.col("verified"))["HFAUDD"].to_list()
    assert all(c > 9999 for c in placeholders)


def test_historic_municipalities_map_to_the_98():
    assert refdata.current_municipality(401, 2000) == 400  # Allinge-Gudhjem -> Bornholm (2003)
    assert refdata.current_municipality(493, 2004) == 492  # Aeroeskoebing -> Aeroe (2006)
    assert refdata.current_municipality(101, 2010) == 101
    assert refdata.current_municipality(411, 2005) is None  # Christiansoe: no municipality
    with pytest.raises(KeyError):
        refdata.current_municipality(401, 2004)  # Bornholm's old codes end in 2002
    with pytest.raises(KeyError):
        refdata.current_municipality(401, 2010)  # not among the 98
    new = set(refdata.municipalities()["kommunekode"].to_list())
    targets = refdata.municipalities_historic()["new_kom"].drop_nulls().to_list()
    assert set(targets) <= new


def _copy_reference(tmp_path: Path) -> Path:
    dst = tmp_path / "reference"
    shutil.copytree(refdata.REFERENCE_DIR, dst)
    return dst


def test_loader_rejects_duplicate_codes(tmp_path):
    ref = _copy_reference(tmp_path)
    path = ref / "countries.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"countries.csv: column\(s\) \['OPR_LAND'\]: rule 'unique' broken by \[\(5100,\)\]"):
        refdata.table("countries", path)


def test_loader_rejects_a_row_without_source(tmp_path):
    ref = _copy_reference(tmp_path)
    path = ref / "ophg_grundlag.csv"
    df = pl.read_csv(path, schema_overrides={"GRUNDLAG": pl.Utf8})
    df = df.with_columns(pl.when(pl.col("GRUNDLAG") == "17").then(None).otherwise(pl.col("source")).alias("source"))
    df.write_csv(path)
    with pytest.raises(ValueError, match=r"ophg_grundlag.csv: column 'source': rule 'every row names its source' broken by \[\('17',\)\]"):
        refdata.table("ophg_grundlag", path)


def test_generator_draws_only_table_codes_with_a_western_flag():
    population.check_reference_codes()  # raises if a drawn code is missing
    c = refdata.countries()
    drawn = c.filter(pl.col("OPR_LAND").is_in(sorted(population.used_countries())))
    assert drawn.height == len(population.used_countries())
    assert drawn["western"].null_count() == 0
    assert set(population.used_permit_bases()) <= set(refdata.ophg_grundlag()["GRUNDLAG"].to_list())


def test_generator_check_fails_when_a_table_lacks_a_drawn_code(monkeypatch):
    full = refdata.countries()
    monkeypatch.setattr(refdata, "countries", lambda: full.filter(pl.col("OPR_LAND") != 5482))
    with pytest.raises(ValueError, match=r"countries.csv: column 'OPR_LAND': codes \[5482\]"):
        population.check_reference_codes()
    edu = refdata.hfaudd_codes()
    monkeypatch.setattr(refdata, "countries", lambda: full)
    monkeypatch.setattr(refdata, "hfaudd_codes", lambda: edu.with_columns(
        pl.when(pl.col("HFAUDD") == 12001).then(3).otherwise(pl.col("level")).alias("level")))
    with pytest.raises(ValueError, match=r"hfaudd_codes.csv: column 'HFAUDD': codes \[12001\]"):
        population.check_reference_codes()
