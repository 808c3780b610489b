"""Excel workbook and CSV/Parquet exports, all through disclosure control."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from kommunebench.report import disclosure as sdc
from kommunebench.report.columns import columns_sheet
from kommunebench.report.demo import build_demo_inputs
from kommunebench.report.exports import TABLE_SPECS, sps, write_csv_parquet, write_excel, write_exports
from kommunebench.report.inputs import MEASURES, TARGET_GROUPS


@pytest.fixture(scope="module")
def inputs():
    return build_demo_inputs(11)


@pytest.fixture(scope="module")
def workbook(inputs, tmp_path_factory):
    return write_excel(inputs, tmp_path_factory.mktemp("xlsx") / "out.xlsx")


def test_workbook_has_one_sheet_per_table_and_a_columns_sheet(workbook):
    sheets = pd.read_excel(workbook, sheet_name=None)
    assert set(sheets) == set(TABLE_SPECS) | {"columns"}
    described = set(zip(sheets["columns"]["table"], sheets["columns"]["column"]))
    for name, frame in sheets.items():
        if name == "columns":
            continue
        missing = {c for c in frame.columns if (name, c) not in described}
        assert not missing, f"sheet {name}: columns not described: {missing}"
    assert sheets["columns"]["description"].str.len().gt(10).all()


def test_workbook_has_no_small_cells(workbook, inputs):
    sheets = pd.read_excel(workbook, sheet_name=None)
    for name, spec in TABLE_SPECS.items():
        assert sdc.disclosure_violations(sheets[name], spec).empty, name
    league = sheets["league_table"]
    assert league["persons"].dropna().ge(5).all()
    # the tiny demo units (fewer than 5 persons) are in the sheet, with their counts blank
    raw = inputs.league
    tiny = raw[raw["persons"] < 5][["target_group", "measure", "kom"]]
    merged = tiny.merge(league, on=["target_group", "measure", "kom"])
    assert len(merged) == len(tiny) > 0
    assert merged["persons"].isna().all() and merged["indicator_pct"].isna().all()
    assert merged["suppressed"].str.contains("persons").all()
    assert not sheets["chronogram"]["n"].dropna().between(1, 4).any()


def test_csv_and_parquet_per_group_and_measure(inputs, tmp_path):
    manifest = write_csv_parquet(inputs, tmp_path)
    for g in TARGET_GROUPS:
        for m in MEASURES:
            for ext in ("csv", "parquet"):
                assert (tmp_path / f"league_table_{g}_{m}.{ext}").exists()
        assert (tmp_path / f"chronogram_{g}.parquet").exists()
    assert len(manifest) == len(list(tmp_path.iterdir()))
    for f in tmp_path.glob("*.parquet"):
        table = next(t for t in TABLE_SPECS if f.name.startswith(t))
        frame = pd.read_parquet(f)
        assert sdc.disclosure_violations(frame, TABLE_SPECS[table]).empty, f.name
    csv = pd.read_csv(tmp_path / "league_table_flygtninge_success.csv")
    assert set(csv["target_group"]) == {"flygtninge"} and set(csv["measure"]) == {"success"}


def test_write_exports_manifest(inputs, tmp_path):
    manifest = write_exports(inputs, tmp_path)
    assert manifest.iloc[0]["table"] == "workbook"
    assert manifest["sha256"].str.len().eq(64).all()


def test_person_level_input_is_refused(inputs, tmp_path):
    bad = inputs.league.assign(PNR="0101011234")
    with pytest.raises(sdc.PersonLevelDataError, match="PNR"):
        write_excel(replace(inputs, league=bad), tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_unprotected_inputs_cannot_skip_disclosure_control(inputs, tmp_path):
    with pytest.raises(sdc.DisclosureError):
        write_excel(inputs, tmp_path / "x.xlsx", protected=True)  # claims protected, is not


def test_undocumented_column_is_not_published():
    with pytest.raises(ValueError, match="league_table.mystery"):
        columns_sheet({"league_table": pd.DataFrame({"kom": [101], "mystery": [1.0]})})


def test_sps_format():
    assert sps(["PASSIVE"] * 3 + ["JOB"] * 2) == "(PASSIVE,3)-(JOB,2)"
    assert sps("(PASSIVE,3)-(JOB,2)") == "(PASSIVE,3)-(JOB,2)"
    assert sps("PASSIVE-PASSIVE-JOB") == "(PASSIVE,2)-(JOB,1)"
    with pytest.raises(ValueError, match="XYZ"):
        sps("PASSIVE-XYZ")
