"""Synthetic registers: determinism and the delivery formats (Parquet, CSV, SAS)."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from kommunebench import contract
from kommunebench.landing import readstat_binary, write_table
from kommunebench.synth import generate

SAS_DIR = Path(__file__).parents[1] / "data" / "sas"


def _hashes(summary) -> dict[str, str]:
    return {f.path: f.sha256 for f in summary.files}


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path):
    kw = dict(n_persons=200, first_year=2010, last_year=2013, progress=False)
    a = generate(tmp_path / "a" / "landing", seed=11, **kw)
    b = generate(tmp_path / "b" / "landing", seed=11, **kw)
    c = generate(tmp_path / "c" / "landing", seed=12, **kw)
    assert _hashes(a) == _hashes(b)
    for name in ("truth.json", "municipality_effects.parquet"):
        assert (tmp_path / "a" / "truth" / name).read_bytes() == (tmp_path / "b" / "truth" / name).read_bytes()
    ha, hc = _hashes(a), _hashes(c)
    assert ha["DREAM/DREAM.parquet"] != hc["DREAM/DREAM.parquet"]
    assert ha["BEF/BEF2012.parquet"] != hc["BEF/BEF2012.parquet"]


def _read_csv(path: Path, encoding: str, schema: dict) -> pl.DataFrame:
    text = path.read_bytes().decode(encoding)
    return pl.read_csv(io.StringIO(text), schema_overrides=schema, infer_schema_length=0)


def test_csv_matches_parquet_content(tmp_path):
    kw = dict(n_persons=120, seed=5, first_year=2014, last_year=2015, progress=False)
    generate(tmp_path / "p" / "landing", **kw)
    generate(tmp_path / "c" / "landing", fmt="csv", csv_encoding="iso-8859-1", **kw)
    for reg, stem in (("BEF", "BEF2015"), ("DREAM", "DREAM"), ("OPHG", "OPHG")):
        pq = pl.read_parquet(tmp_path / "p" / "landing" / reg / f"{stem}.parquet")
        csv = _read_csv(tmp_path / "c" / "landing" / reg / f"{stem}.csv", "iso-8859-1", pq.schema)
        # CSV has no distinct blank: the empty code and a missing value are both empty
        def norm(df: pl.DataFrame) -> pl.DataFrame:
            return df.with_columns(pl.col(pl.Utf8).replace("", None))

        assert norm(csv).equals(norm(pq)), reg


def test_csv_latin1_roundtrip_of_danish_letters(tmp_path):
    df = pl.DataFrame({"navn": ["Læsø", "Ærø", "Brøndby", "Århus"], "KOM": [825, 492, 153, 751]})
    path = write_table(df, tmp_path / "x.csv", encoding="iso-8859-1")
    raw = path.read_bytes()
    assert "Læsø".encode("iso-8859-1") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    back = _read_csv(path, "iso-8859-1", {"navn": pl.Utf8, "KOM": pl.Int64})
    assert back.equals(df)


def test_committed_sas_files_are_readable_with_dates_as_dates():
    """The fixture files need no ReadStat binary: only pyreadstat, as in the pipeline."""
    import pyreadstat

    files = sorted(SAS_DIR.glob("*.sas7bdat"))
    seen = {reg.name for f in files for reg in contract.REGISTERS.values() if re.match(reg.file_regex, f.stem)}
    assert seen == set(contract.REGISTERS), seen
    df, meta = pyreadstat.read_sas7bdat(str(SAS_DIR / "BEF2012.sas7bdat"))
    assert 100 <= len(df) <= 1000
    assert meta.original_variable_types["FOED_DAG"] == "DATE9"
    assert all(isinstance(v, date) for v in df["FOED_DAG"].dropna())
    dream, meta = pyreadstat.read_sas7bdat(str(next(SAS_DIR.glob("DREAM*.sas7bdat"))))
    assert meta.original_variable_types["FOEDDT"] == "DATE9"
    assert all(isinstance(v, date) for v in dream["FOEDDT"].dropna())
    assert "Y_0953" in dream.columns and (dream["Y_1001"] == "").any()


@pytest.mark.skipif(readstat_binary() is None, reason="ReadStat's command-line tool (apt-get install readstat) missing")
def test_generated_sas_files_match_parquet(tmp_path):
    import pyreadstat

    kw = dict(n_persons=80, seed=9, first_year=2014, last_year=2015, progress=False)
    generate(tmp_path / "p" / "landing", **kw)
    generate(tmp_path / "s" / "landing", fmt="sas7bdat", **kw)
    pq = pl.read_parquet(tmp_path / "p" / "landing" / "BEF" / "BEF2015.parquet")
    sas, meta = pyreadstat.read_sas7bdat(str(tmp_path / "s" / "landing" / "BEF" / "BEF2015.sas7bdat"))
    assert list(sas.columns) == pq.columns
    assert sas["FOED_DAG"].tolist() == pq["FOED_DAG"].to_list()
    assert sas["KOM"].astype(int).tolist() == pq["KOM"].to_list()
    raw, _ = pyreadstat.read_sas7bdat(str(tmp_path / "s" / "landing" / "BEF" / "BEF2015.sas7bdat"),
                                      disable_datetime_conversion=True)
    first = pq["FOED_DAG"][0]
    assert raw["FOED_DAG"][0] == (first - date(1960, 1, 1)).days  # SAS day numbers
    # byte-identical on a second run: the header timestamps are fixed
    generate(tmp_path / "s2" / "landing", fmt="sas7bdat", **kw)
    a = (tmp_path / "s" / "landing" / "OPHG" / "OPHG.sas7bdat").read_bytes()
    b = (tmp_path / "s2" / "landing" / "OPHG" / "OPHG.sas7bdat").read_bytes()
    assert a == b
