"""Synthetic registers: layout, types and codes follow the register contract."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import polars as pl
import pytest

from kommunebench import contract, refdata
from kommunebench.synth import generate
from kommunebench.synth.calendar import iso_weeks_in_year, make_calendar
from kommunebench.synth.registers import check_against_contract

YEARS = range(2008, 2019)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    summary = generate(root / "landing", n_persons=600, seed=7, progress=False)
    return root, summary


def _dream(root) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in sorted((root / "landing" / "DREAM").glob("*.parquet"))])


def test_iso_week_counts():
    assert [iso_weeks_in_year(y) for y in YEARS] == [52, 53, 52, 52, 52, 52, 52, 53, 52, 52, 52]
    cal = make_calendar(2008, 2018)
    assert cal.n_weeks == 574
    # ISO week 1 of 2008 starts on Monday 2007-12-31, outside every GRAD month
    assert cal.week_month[0] == -1 and cal.week_month[1] == 0
    assert date(1970, 1, 1).toordinal() + int(cal.week_monday[cal.week_columns().index("Y_0953")]) == date(2009, 12, 28).toordinal()


def test_files_match_the_contract_names(small):
    root, summary = small
    landing = root / "landing"
    for reg in contract.REGISTERS.values():
        files = sorted((landing / reg.name).iterdir())
        assert files, reg.name
        for f in files:
            assert re.match(reg.file_regex, f.stem), (reg.name, f.name)
        if reg.per_year:
            years = sorted(int(re.match(reg.file_regex, f.stem).group("year")) for f in files)
            assert years == list(YEARS), reg.name
    assert summary.rows("DREAM") == 600
    assert {f.register for f in summary.files} == set(contract.REGISTERS)


def test_every_file_has_contract_columns_and_types(small):
    root, summary = small
    for f in summary.files:
        df = pl.read_parquet(root / "landing" / f.path)
        check_against_contract(df, contract.REGISTERS[f.register])
        assert df.height == f.rows


def test_dream_wide_columns_week_53_and_reform(small):
    root, _ = small
    cols = _dream(root).columns
    assert cols[:8] == ["PNR", "KON", "FOEDDT", "HERKOMST", "CIVILSTAND", "STATSBORGERSKAB", "INTPGMSTDT", "INTPGMSLDT"]
    weeks = [c for c in cols if c.startswith("Y_")]
    assert len(weeks) == 574
    assert "Y_0953" in weeks and "Y_1553" in weeks
    for yy in (8, 10, 11, 12, 13, 14, 16, 17, 18):
        assert f"Y_{yy:02d}53" not in weeks
    assert len([c for c in cols if c.startswith("GRAD_")]) == 132
    match_years = {int(c[-4:]) for c in cols if c.startswith("MATCH_")}
    visit_years = {int(c[-4:]) for c in cols if c.startswith("VISIT_")}
    assert match_years == set(range(2008, 2014)) and visit_years == set(range(2014, 2019))
    assert [c for c in cols if c.startswith("NYKOM")] == [f"NYKOM{y}" for y in YEARS]


def test_codes_are_in_the_codebook_and_blanks_present(small):
    root, _ = small
    dream = _dream(root)
    weeks = [c for c in dream.columns if c.startswith("Y_")]
    long = dream.select(weeks).unpivot()["value"]
    assert long.null_count() == 0
    used = set(long.unique().to_list())
    known = set(refdata.codebook()["code"].to_list())
    assert used <= known, used - known
    assert "" in used  # blank = no benefit
    # the behaviour the pipeline depends on is there: passive, courses, measures, sickness, censoring
    for code in ("130", "135", "212", "221", "231", "890", "997"):
        assert code in used, code


def test_reference_codes_and_bef_consistent_with_nykom(small):
    root, _ = small
    landing = root / "landing"
    dream = _dream(root)
    komcodes = set(refdata.municipalities()["kommunekode"].to_list())
    countries = set(refdata.countries()["OPR_LAND"].to_list())
    for y in YEARS:
        bef = pl.read_parquet(landing / "BEF" / f"BEF{y}.parquet")
        assert bef["PNR"].is_unique().all()
        assert set(bef["KOM"].to_list()) <= komcodes
        assert set(bef["OPR_LAND"].to_list()) <= countries
        joined = bef.join(dream.select("PNR", pl.col(f"NYKOM{y}")), on="PNR", how="left")
        assert (joined["KOM"] == joined[f"NYKOM{y}"]).all(), y
        udda = pl.read_parquet(landing / "UDDA" / f"UDDA{y}.parquet")
        assert udda["PNR"].sort().to_list() == bef["PNR"].sort().to_list()
        edu_codes = set(refdata.hfaudd_codes()["HFAUDD"].to_list())
        assert set(udda["HFAUDD"].drop_nulls().to_list()) <= edu_codes
        rv = pl.read_parquet(landing / "RAMMEVILKAAR" / f"RAMMEVILKAAR{y}.parquet")
        assert sorted(rv["KOM"].to_list()) == sorted(komcodes) and (rv["AAR"] == y).all()
    ophg = pl.read_parquet(landing / "OPHG" / "OPHG.parquet")
    assert set(ophg["GRUNDLAG"].to_list()) <= set(refdata.ophg_grundlag()["GRUNDLAG"].to_list())
    assert ophg.select("PNR", "TILLADELSESDATO").is_unique().all()


def test_employment_grad_marks_job_weeks(small):
    """Some blank weeks fall in months with GRAD > 0 (jobs), others in months without."""
    root, _ = small
    dream = _dream(root)
    grad = dream.select([c for c in dream.columns if c.startswith("GRAD_")]).to_numpy()
    assert np.nanmax(grad) <= 1.2 and np.nanmin(grad) >= 0
    assert (grad > 0).mean() > 0.1 and (grad == 0).mean() > 0.1
    assert np.isnan(grad).any()  # months before arrival / after emigration


def test_truth_outside_landing_and_centred(small):
    root, summary = small
    landing = root / "landing"
    assert summary.truth_dir == root / "truth"
    for name in ("municipality_effects.parquet", "framework_log_hazard.parquet", "truth.json"):
        assert (root / "truth" / name).is_file()
        assert not list(landing.rglob(name))
    eff = pl.read_parquet(root / "truth" / "municipality_effects.parquet")
    assert eff.height == 98 * 3
    stats = eff.group_by("target_group").agg(pl.col("job_effect").mean().alias("m"), pl.col("job_effect").std(ddof=0).alias("s"))
    assert stats["m"].abs().max() < 1e-12
    from kommunebench.synth.municipalities import TARGET_GROUPS
    from kommunebench.synth.params import Behaviour

    want = dict(zip(TARGET_GROUPS, Behaviour().job_effect_sd))
    for g, sd in zip(stats["target_group"], stats["s"]):
        assert abs(sd - want[g]) < 1e-9, g
    assert eff.select(pl.corr("job_effect", "activation_effect")).item() > 0.2


def test_truth_inside_landing_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outside out_dir"):
        generate(tmp_path / "landing", n_persons=10, seed=1, truth_dir=tmp_path / "landing" / "truth", progress=False)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="fmt"):
        generate(tmp_path / "l", n_persons=10, seed=1, fmt="xlsx", progress=False)
    with pytest.raises(ValueError, match="n_persons"):
        generate(tmp_path / "l", n_persons=0, seed=1, progress=False)
    with pytest.raises(ValueError, match="csv_encoding"):
        generate(tmp_path / "l", n_persons=10, seed=1, fmt="csv", csv_encoding="cp1252", progress=False)


def test_chunks_split_dream_into_disjoint_parts(tmp_path):
    s = generate(tmp_path / "landing", n_persons=250, seed=3, chunk_size=100, progress=False,
                 first_year=2012, last_year=2014)
    parts = sorted((tmp_path / "landing" / "DREAM").glob("*.parquet"))
    assert [p.stem for p in parts] == ["DREAM_part01", "DREAM_part02", "DREAM_part03"]
    pnrs = pl.concat([pl.read_parquet(p, columns=["PNR"]) for p in parts])["PNR"]
    assert pnrs.len() == 250 and pnrs.is_unique().all()
    assert sorted(p.stem for p in (tmp_path / "landing" / "BEF").glob("*")) == ["BEF2012", "BEF2013", "BEF2014"]
    assert s.rows("DREAM") == 250


def test_censoring_codes_are_absorbing(small):
    """After emigration or death (997-999) a person never comes back."""
    root, _ = small
    dream = _dream(root)
    weeks = dream.select([c for c in dream.columns if c.startswith("Y_")]).to_numpy()
    cens = np.isin(weeks, ["997", "998", "999"])
    assert cens.any()
    first = np.where(cens.any(axis=1), cens.argmax(axis=1), weeks.shape[1])
    after = np.arange(weeks.shape[1])[None, :] >= first[:, None]
    assert (cens == after).all()
