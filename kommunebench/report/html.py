"""The self-contained HTML report (jinja2 template + plotly figures, plotly.js embedded).

``render_report`` takes raw aggregate inputs, passes them through disclosure control,
checks every published table with ``disclosure.assert_aggregate`` and returns one HTML
string that opens offline (no network request of any kind: plotly.js is inlined and the
map draws the shipped GeoJSON on a ``geo`` subplot with the base map switched off).
"""

from __future__ import annotations

import datetime as dt
import html as _html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from kommunebench.report import disclosure as sdc
from kommunebench.report import plots
from kommunebench.report.exports import export_tables, flatten_settings
from kommunebench.report.geo import ATTRIBUTION
from kommunebench.report.inputs import (
    ACTIVITY_COLUMNS,
    CLASS_LABELS,
    GROUP_LABELS,
    MEASURE_LABELS,
    ReportInputs,
    protect_inputs,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
MAP_DIV_ID = "map"
#: plotly.js fetches a base-map topojson (world_110m) from a CDN for every geo subplot, even
#: with the base map hidden. An empty topology registered under that name beforehand in
#: ``window.PlotlyGeoAssets`` (plotly.js's own asset cache) keeps the report offline.
EMPTY_TOPOJSON = {
    "type": "Topology",
    "arcs": [],
    "objects": {
        name: {"type": "GeometryCollection", "geometries": []}
        for name in ("land", "ocean", "lakes", "rivers", "countries", "coastlines", "subunits")
    },
}
GEO_ASSETS_SCRIPT = "window.PlotlyGeoAssets = " + json.dumps({"topojson": {"world_110m": EMPTY_TOPOJSON}}) + ";"
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png"}}


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )


def _json_for_script(obj: Any) -> str:
    """JSON safe inside <script type="application/json"> (no '</' sequences)."""
    return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")


def _fig_html(fig: go.Figure | None, div_id: str, post_script: str | None = None) -> str:
    if fig is None:
        return ""
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG,
                       post_script=post_script)


def _cell(row: pd.Series, col: str, spec: str, *, suffix: str = "") -> dict[str, Any]:
    text = plots.fmt(row, col, spec, suffix)
    v = row.get(col)
    sup = text == plots.SUPPRESSED_TEXT
    return {"text": "suppressed" if sup else text, "v": "" if sup or plots._is_na(v) else v,
            "cls": "num sup" if sup else "num"}


def _level_pct(inputs: ReportInputs) -> str:
    """The interval level of the benchmark that produced the tables, as '90 %'."""
    level = (inputs.settings.get("benchmark") or {}).get("level") if isinstance(inputs.settings, Mapping) else None
    return f"{100 * float(level):g} %" if level else "90 %"


def _league_rows(league: pd.DataFrame) -> tuple[list[tuple[str, bool]], list[dict[str, Any]]]:
    acts = [c for c in ACTIVITY_COLUMNS if c in league.columns]
    head = [("Unit", False), ("Code", True), ("Persons", True), ("Indicator %", True), ("Interval", False),
            ("Weeks diff.", True), ("Rank", True), ("Rank interval", False), ("Fifth", True),
            ("P(top fifth)", True), ("Class", False), ("Obs. events", True), ("Exp. events", True),
            ("O/E", True)] + [(ACTIVITY_COLUMNS[a], True) for a in acts]
    rows = []
    for _, r in league.sort_values(["target_group", "measure", "rank", "unit_name"], na_position="last").iterrows():
        interval = plots.fmt_interval(r, "indicator_lower", "indicator_upper", "+.1f")
        rank_iv = plots.fmt_interval(r, "rank_lower", "rank_upper", "d")
        cls = str(r["class"])
        cells = [
            {"text": r["unit_name"], "v": r["unit_name"], "cls": ""},
            {"text": f"{int(r['kom']):03d}" if "+" not in str(r["members"]) else str(r["members"]),
             "v": int(r["kom"]), "cls": "num"},
            _cell(r, "persons", "d"),
            _cell(r, "indicator_pct", "+.1f"),
            {"text": interval, "v": "", "cls": "sup" if interval == plots.SUPPRESSED_TEXT else ""},
            _cell(r, "weeks_difference", "+.1f"),
            _cell(r, "rank", "d"),
            {"text": rank_iv, "v": "", "cls": ""},
            _cell(r, "fifth", "d"),
            _cell(r, "p_top_fifth", ".0%"),
            {"text": CLASS_LABELS.get(cls, cls), "v": cls, "cls": f"cls-{cls}"},
            _cell(r, "events_observed", "d"),
            _cell(r, "events_expected", ".1f"),
            _cell(r, "oe_ratio", ".2f"),
        ] + [_cell(r, a, ".1%") for a in acts]
        rows.append({"key": plots.key_of(r["target_group"], r["measure"]), "kom": int(r["kom"]), "cells": cells})
    return head, rows


def _table(frame: pd.DataFrame, *, table_id: str | None = None, key_cols: Iterable[str] | None = None,
           formats: Mapping[str, str] | None = None, sortable: bool = False) -> str:
    """A small HTML table: suppressed cells say so, booleans read yes/NO, numbers are
    right-aligned (``formats`` maps a column to a format spec; default: integers as
    such, other numbers with 3 significant digits). ``key_cols`` are not shown but
    joined with '|' into each row's ``data-key`` (for the filter drop-downs)."""
    formats = formats or {}
    key_cols = list(key_cols or [])
    cols = [c for c in frame.columns if c != sdc.SUPPRESSED_COLUMN and c not in key_cols]
    attrs = (f' id="{table_id}"' if table_id else "") + (' class="sortable"' if sortable else "")
    out = [f"<table{attrs}><thead><tr>"]
    for c in cols:
        num = pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        th_attr = ' class="num"' if num else ""
        out.append(f"<th{th_attr}>{_html.escape(str(c))}</th>")
    out.append("</tr></thead><tbody>")
    for _, r in frame.iterrows():
        key = "|".join(str(r[k]) for k in key_cols)
        out.append(f'<tr data-key="{_html.escape(key)}">' if key_cols else "<tr>")
        sup = set(str(r.get(sdc.SUPPRESSED_COLUMN, "")).split(";"))
        for c in cols:
            v = r[c]
            if c in sup:
                out.append('<td class="num sup">suppressed</td>')
            elif isinstance(v, (bool, np.bool_)):
                out.append(f'<td class="{"pass" if v else "fail"}">{"yes" if v else "NO"}</td>')
            elif not isinstance(v, (list, tuple, np.ndarray)) and plots._is_na(v):
                out.append('<td class="num">–</td>')
            elif isinstance(v, (int, float, np.integer, np.floating)):
                spec = formats.get(c) or ("d" if float(v).is_integer() else ".3g")
                text = f"{int(v):d}" if spec == "d" else f"{float(v):{spec}}"
                out.append(f'<td class="num" data-v="{v}">{_html.escape(text)}</td>')
            else:
                out.append(f"<td>{_html.escape(str(v))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _diagnostics_frame(diagnostics: Mapping[str, Any]) -> pd.DataFrame:
    """Model diagnostics as a table: one row per model when the dict is keyed by
    ``"<target_group>/<measure>"`` (every value a mapping), else one row per diagnostic."""
    if diagnostics and all(isinstance(v, Mapping) for v in diagnostics.values()):
        rows = []
        for key, diag in diagnostics.items():
            flat = flatten_settings(diag)
            rows.append({"model": key, **dict(zip(flat["setting"], flat["value"]))})
        return pd.DataFrame(rows)
    flat = flatten_settings(diagnostics)
    flat.columns = ["diagnostic", "value"]
    return flat


def _disclosure_summary(protected: ReportInputs) -> pd.DataFrame:
    rows = []
    for name, (frame, _) in {
        "league table": (protected.league, None), "chronogram": (protected.chronogram, None),
        "cluster typology": (protected.clusters, None), "data quality": (protected.data_quality, None),
    }.items():
        s = frame[sdc.SUPPRESSED_COLUMN].fillna("")
        cells = int(s.str.split(";").map(lambda x: len([c for c in x if c])).sum())
        rows.append({"table": name, "rows": len(frame), "rows with suppressed cells": int((s != "").sum()),
                     "suppressed cells": cells})
    return pd.DataFrame(rows)


def render_report(inputs: ReportInputs, *, generated: dt.datetime | None = None) -> str:
    """Render the report as one HTML string (see the module docstring)."""
    p = protect_inputs(inputs)
    tables = export_tables(p, protected=True)  # asserts every table is publishable
    league = tables["league_table"]
    keys = plots.present_keys(league)
    map_fig, details = plots.map_figure(league)
    key_labels = {plots.key_of(g, m): f"{GROUP_LABELS[g]}: {MEASURE_LABELS[m]}" for g, m in keys}
    head, rows = _league_rows(league)
    coefs = tables["coefficients"]
    coef_keys = plots.present_keys(coefs)
    clusters = tables["cluster_typology"][["target_group", "cluster", "label", "size", "share", "silhouette",
                                           "medoid", sdc.SUPPRESSED_COLUMN]]
    settings = tables["settings"]
    generated = generated or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ctx = {
        "title": p.title,
        "run_label": p.run_label,
        "code_version": p.code_version,
        "generated": generated.isoformat(),
        "plotly_js": get_plotlyjs(),
        "geo_assets_js": GEO_ASSETS_SCRIPT,
        "plotly_version": get_plotlyjs_version(),
        "map_html": _fig_html(map_fig, MAP_DIV_ID, post_script="kbInitMap('{plot_id}');"),
        "details_json": _json_for_script(details),
        "key_labels_json": _json_for_script(key_labels),
        "key_options": [(plots.key_of(g, m), f"{GROUP_LABELS[g]}: {MEASURE_LABELS[m]}") for g, m in keys],
        "league_head": head,
        "league_rows": rows,
        "league_note": f"Every interval is a {_level_pct(p)} interval (the benchmark's level setting); funnel limits "
                       "are the overdispersed limits of the funnel_z setting (default 99.8 %). A single rank mostly "
                       "reflects noise: read the rank interval. Suppressed: fewer than 5 persons, or a value that would "
                       "reveal such a cell.",
        "funnel_html": _fig_html(plots.funnel_figure(league), "funnel"),
        "caterpillar_html": _fig_html(plots.caterpillar_figure(league), "caterpillar"),
        "scatter_html": _fig_html(plots.activity_scatter_figure(league), "activity-scatter"),
        "chronogram_html": _fig_html(plots.chronogram_figure(tables["chronogram"]), "chronogram"),
        "cluster_html": _fig_html(plots.cluster_figure(p.clusters), "clusters"),
        "cluster_table": _table(clusters, formats={"share": ".1%", "silhouette": ".2f"}),
        "diagnostics_table": _table(_diagnostics_frame(p.diagnostics)) if p.diagnostics else "",
        "coef_options": [(plots.key_of(g, m), f"{GROUP_LABELS[g]}: {MEASURE_LABELS[m]}") for g, m in coef_keys],
        "coef_table": _table(coefs, table_id="coef-table", key_cols=["target_group", "measure"],
                             formats={"coef": ".3f", "se": ".3f", "hr": ".3f", "lower": ".3f", "upper": ".3f",
                                      "p": ".3g"}),
        "dq_table": _table(tables["data_quality"], sortable=True),
        "disclosure_table": _table(_disclosure_summary(p)),
        "threshold": p.threshold,
        "settings_table": _table(settings),
        "checksum_table": _table(tables["input_files"]),
        "attribution": ATTRIBUTION,
    }
    return _env().get_template("report.html.j2").render(**ctx)


def write_report(inputs: ReportInputs, path: Path | str, **kwargs: Any) -> Path:
    """Render (``render_report``) and write the report; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(inputs, **kwargs), encoding="utf-8")
    return path


