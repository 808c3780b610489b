"""Exports for analysts: an Excel workbook and CSV + Parquet files, all disclosure-controlled.

Every writer here starts from raw aggregates, passes them through
``inputs.protect_inputs`` (disclosure control) and calls ``disclosure.assert_aggregate``
on each frame immediately before writing it: there is no path to a file that skips it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from kommunebench.refdata import file_sha256
from kommunebench.report import disclosure as sdc
from kommunebench.report.columns import columns_sheet
from kommunebench.report.inputs import MEASURES, TARGET_GROUPS, ReportInputs, protect_inputs
from kommunebench.report.plots import _runs, parse_sequence
from kommunebench.states import LABELS

#: Sheet name -> disclosure spec of the published tables.
TABLE_SPECS: dict[str, sdc.TableSpec] = {
    "league_table": sdc.LEAGUE_TABLE,
    "chronogram": sdc.CHRONOGRAM,
    "cluster_typology": sdc.CLUSTER_TYPOLOGY,
    "coefficients": sdc.COEFFICIENTS,
    "data_quality": sdc.DATA_QUALITY,
    "settings": sdc.NO_COUNTS,
    "input_files": sdc.NO_COUNTS,
}


def sps(medoid: Any) -> str | None:
    """A sequence in TraMineR's SPS format, e.g. ``(PASSIVE,52)-(JOB,104)``."""
    seq = parse_sequence(medoid)
    if not seq:
        return None
    return "-".join(f"({s},{k})" for s, _, k in _runs(seq))


def flatten_settings(settings: Mapping[str, Any], prefix: str = "") -> pd.DataFrame:
    """Nested settings as rows (setting, value); lists and other values as JSON text."""
    rows: list[dict[str, str]] = []

    def walk(obj: Mapping[str, Any], pre: str) -> None:
        for k, v in obj.items():
            name = f"{pre}{k}"
            if isinstance(v, Mapping):
                walk(v, name + ".")
            else:
                rows.append({"setting": name, "value": v if isinstance(v, str) else json.dumps(v, default=str)})

    walk(settings, prefix)
    return pd.DataFrame(rows, columns=["setting", "value"])


def export_tables(inputs: ReportInputs, *, protected: bool = False) -> dict[str, pd.DataFrame]:
    """The tables as published (after disclosure control), keyed by sheet name.

    ``protected=True`` when ``inputs`` already went through ``protect_inputs``.
    """
    p = inputs if protected else protect_inputs(inputs)
    chrono = p.chronogram.copy()
    chrono.insert(chrono.columns.get_loc("state") + 1, "state_label", chrono["state"].map(LABELS))
    clusters = p.clusters.copy()
    clusters["medoid"] = [None if (isinstance(m, float) and pd.isna(m)) or m is pd.NA or m is None else sps(m)
                          for m in clusters["medoid"]]
    settings = flatten_settings({**dict(p.settings), "code_version": p.code_version})
    tables = {
        "league_table": p.league,
        "chronogram": chrono,
        "cluster_typology": clusters,
        "coefficients": p.coefficients,
        "data_quality": p.data_quality,
        "settings": settings,
        "input_files": p.input_checksums,
    }
    for name, frame in tables.items():
        sdc.assert_aggregate(frame, TABLE_SPECS[name], threshold=p.threshold)
    return tables


def write_excel(inputs: ReportInputs, path: Path | str, *, protected: bool = False) -> Path:
    """Write the workbook: one sheet per table and a 'columns' sheet describing every
    column. Suppressed cells are empty; the 'suppressed' column names them."""
    tables = export_tables(inputs, protected=protected)
    cols = columns_sheet(tables)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="xlsxwriter") as xw:
        for name, frame in {**tables, "columns": cols}.items():
            frame.to_excel(xw, sheet_name=name, index=False)
            sheet = xw.sheets[name]
            sheet.freeze_panes(1, 0)
            for j, col in enumerate(frame.columns):
                width = min(60, max(len(str(col)), *(len(str(v)) for v in frame[col].head(200)), 6) + 2)
                sheet.set_column(j, j, width)
            if len(frame):
                sheet.autofilter(0, 0, len(frame), len(frame.columns) - 1)
    return path


def _slug(*parts: str) -> str:
    return "_".join(parts)


def write_csv_parquet(inputs: ReportInputs, directory: Path | str, *, protected: bool = False) -> pd.DataFrame:
    """CSV (UTF-8) and Parquet files per target group and measure.

    League table and coefficients: one file pair per (target group, measure).
    Chronogram and cluster typology have no measure: one pair per target group. Returns a
    manifest (file, table, target_group, measure, rows, sha256).
    """
    tables = export_tables(inputs, protected=protected)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []

    def emit(frame: pd.DataFrame, table: str, g: str, m: str | None) -> None:
        sdc.assert_aggregate(frame, TABLE_SPECS[table], threshold=inputs.threshold)
        stem = _slug(table, g, m) if m else _slug(table, g)
        for ext in ("csv", "parquet"):
            f = directory / f"{stem}.{ext}"
            if ext == "csv":
                frame.to_csv(f, index=False, encoding="utf-8")
            else:
                frame.to_parquet(f, index=False)
            written.append({"file": f.name, "table": table, "target_group": g, "measure": m or "",
                            "rows": len(frame), "sha256": file_sha256(f)})

    for g in TARGET_GROUPS:
        for table in ("league_table", "coefficients"):
            t = tables[table]
            for m in MEASURES:
                sub = t[(t["target_group"] == g) & (t["measure"] == m)]
                if len(sub):
                    emit(sub.reset_index(drop=True), table, g, m)
        for table in ("chronogram", "cluster_typology"):
            t = tables[table]
            sub = t[t["target_group"] == g]
            if len(sub):
                emit(sub.reset_index(drop=True), table, g, None)
    return pd.DataFrame(written, columns=["file", "table", "target_group", "measure", "rows", "sha256"])


def write_exports(
    inputs: ReportInputs, directory: Path | str, *, workbook_name: str = "kommunebench.xlsx"
) -> pd.DataFrame:
    """Workbook plus CSV/Parquet files in ``directory``; returns the manifest of all files."""
    directory = Path(directory)
    protected = protect_inputs(inputs)
    book = write_excel(protected, directory / workbook_name, protected=True)
    manifest = write_csv_parquet(protected, directory, protected=True)
    row = {"file": book.name, "table": "workbook", "target_group": "", "measure": "",
           "rows": sum(len(t) for t in export_tables(protected, protected=True).values()),
           "sha256": file_sha256(book)}
    return pd.concat([pd.DataFrame([row]), manifest], ignore_index=True)
