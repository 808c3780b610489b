"""Interactive plotly figures for the HTML report.

Every function takes tables that have already been through ``disclosure.protect``
(suppressed cells are NA and listed in the ``suppressed`` column) and draws only what is
there. Figures that cover several (target group, measure) pairs carry a plotly drop-down
(``layout.updatemenus``) that switches between them with ``restyle``/``update``: no
hand-written JavaScript is needed to switch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kommunebench.refdata import municipalities
from kommunebench.report.geo import load_municipality_geojson
from kommunebench.report.inputs import (
    ACTIVITY_COLUMNS,
    CLASS_LABELS,
    GROUP_LABELS,
    MEASURE_LABELS,
    MEASURES,
    TARGET_GROUPS,
)
from kommunebench.states import ALPHABET, COLOURS, LABELS

SUPPRESSED_TEXT = "suppressed (< 5 persons)"
NOT_AVAILABLE = "–"
DIVERGING_SCALE = "RdBu"  # red = slower than expected, blue = faster
TOO_SMALL_COLOUR = "#c8c8c8"
CLASS_COLOURS = {
    "better": "#2166ac", "as_expected": "#7f7f7f", "worse": "#b2182b",
    "not_distinguishable": "#bcbd22", "too_small": TOO_SMALL_COLOUR,
}
SUPPRESSED_COLOUR = "#eeeeee"


def key_of(target_group: str, measure: str) -> str:
    return f"{target_group}|{measure}"


def key_label(target_group: str, measure: str) -> str:
    short = {"success": "job", "partial_success": "internship/wage subsidy"}[measure]
    return f"{GROUP_LABELS[target_group]}: {short}"


def present_keys(league: pd.DataFrame) -> list[tuple[str, str]]:
    """(target_group, measure) pairs in the table, in the canonical order."""
    have = set(zip(league["target_group"], league["measure"]))
    return [(g, m) for g in TARGET_GROUPS for m in MEASURES if (g, m) in have]


def _is_na(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt(row: pd.Series, col: str, spec: str = ".1f", suffix: str = "") -> str:
    """A cell as text: 'suppressed (< 5 persons)' when suppressed, '–' when absent."""
    if col in str(row.get("suppressed", "")).split(";"):
        return SUPPRESSED_TEXT
    v = row.get(col)
    if _is_na(v):
        return NOT_AVAILABLE
    if spec == "d":
        return f"{int(round(float(v))):d}{suffix}"
    return f"{float(v):{spec}}{suffix}"


def fmt_interval(row: pd.Series, lo: str, hi: str, spec: str = ".1f") -> str:
    a, b = fmt(row, lo, spec), fmt(row, hi, spec)
    if SUPPRESSED_TEXT in (a, b):
        return SUPPRESSED_TEXT
    if NOT_AVAILABLE in (a, b):
        return NOT_AVAILABLE
    return f"{a} to {b}"


def unit_details(row: pd.Series) -> list[tuple[str, str]]:
    """The (label, value) pairs shown for a reporting unit on hover/click and in tables."""
    ind = fmt(row, "indicator_pct", "+.1f", " %")
    details = [
        ("Indicator (faster + / slower − than expected)", ind),
        ("Interval", fmt_interval(row, "indicator_lower", "indicator_upper", "+.1f")),
        ("Weeks difference (expected − observed)", fmt(row, "weeks_difference", "+.1f")),
        ("Weeks difference, interval", fmt_interval(row, "weeks_lower", "weeks_upper", "+.1f")),
        ("Shrunken indicator (empirical Bayes)", fmt(row, "indicator_eb", "+.1f", " %")),
        ("Rank (1 = best)", fmt(row, "rank", "d")),
        ("Rank, interval", fmt_interval(row, "rank_lower", "rank_upper", "d")),
        ("Fifth (1 = best)", fmt(row, "fifth", "d")),
        ("Class", CLASS_LABELS.get(str(row.get("class")), str(row.get("class")))),
        ("Persons", fmt(row, "persons", "d")),
        ("Events observed", fmt(row, "events_observed", "d")),
        ("Events expected", fmt(row, "events_expected", ".1f")),
        ("Observed / expected events", fmt(row, "oe_ratio", ".2f")),
        ("Restricted mean time to event, observed (weeks)", fmt(row, "rmst_observed", ".1f")),
        ("Restricted mean time to event, expected (weeks)", fmt(row, "rmst_expected", ".1f")),
    ]
    for col, label in ACTIVITY_COLUMNS.items():
        if col in row.index:
            v = fmt(row, col, ".1%")
            details.append((label, v))
    members = str(row.get("members", ""))
    if "+" in members:
        details.append(("Reporting unit", f"{row.get('unit_name')} (pooled: {members})"))
    return details


def _by_municipality(league: pd.DataFrame) -> pd.DataFrame:
    """One row per (target_group, measure, municipality): pooled units expanded to members."""
    df = league.copy()
    df["member_kom"] = df["members"].astype(str).str.split("+")
    df = df.explode("member_kom")
    df["member_kom"] = df["member_kom"].astype(int)
    return df


def _map_arrays(league: pd.DataFrame, g: str, m: str, names: dict[int, str]) -> dict[str, Any]:
    sub = _by_municipality(league[(league["target_group"] == g) & (league["measure"] == m)])
    rows = {int(r["member_kom"]): r for _, r in sub.iterrows()}
    ranked: dict[str, list[Any]] = {"locations": [], "z": [], "text": []}
    other: dict[str, list[Any]] = {"locations": [], "z": [], "text": []}
    details: dict[str, Any] = {}
    for kom, name in names.items():
        r = rows.get(kom)
        if r is None:
            lines = [("Status", "no persons in this target group")]
            status = "No data"
            z = None
        else:
            lines = unit_details(r)
            z = r.get("indicator_pct")
            z = None if _is_na(z) else float(z)
            status = (
                "Too few persons to rank" if bool(r.get("too_small")) or str(r.get("class")) == "too_small"
                else ("Suppressed" if z is None else None)
            )
        details[str(kom)] = {"name": name, "status": status, "rows": [list(x) for x in lines]}
        head = f"<b>{name}</b> ({kom:03d})"
        if z is not None and status is None:
            ranked["locations"].append(kom)
            ranked["z"].append(round(z, 2))
            short = [lines[0], lines[1], lines[2], lines[6], lines[8], lines[9]]
            ranked["text"].append(head + "<br>" + "<br>".join(f"{a}: {b}" for a, b in short))
        else:
            other["locations"].append(kom)
            other["z"].append(0)
            persons = next((b for a, b in lines if a == "Persons"), NOT_AVAILABLE)
            other["text"].append(f"{head}<br><i>{status}</i><br>Persons: {persons}")
    return {"ranked": ranked, "other": other, "details": details}


def map_figure(league: pd.DataFrame, *, geojson: dict[str, Any] | None = None) -> tuple[go.Figure, dict[str, Any]]:
    """Choropleth of the 98 municipalities coloured by ``indicator_pct``.

    Diverging scale centred on 0 (blue = faster than expected, red = slower); units too
    small to rank (or suppressed, or absent) in grey. A drop-down in the legend area
    switches target group and measure. Returns the figure and the per-municipality
    details (``{key: {kom: {name, status, rows}}}``) for the click panel.
    """
    geojson = geojson or load_municipality_geojson()
    ref = municipalities().to_pandas()
    names = {int(k): n for k, n in zip(ref["kommunekode"], ref["navn"])}
    keys = present_keys(league)
    if not keys:
        raise ValueError("league table: no (target_group, measure) rows to map")
    arrays = {key_of(g, m): _map_arrays(league, g, m, names) for g, m in keys}
    zs = [abs(v) for a in arrays.values() for v in a["ranked"]["z"]]
    zmax = max(5.0, math.ceil(max(zs, default=10.0) / 5) * 5)
    first = arrays[key_of(*keys[0])]
    common = dict(geojson=geojson, featureidkey="properties.kom", hovertemplate="%{text}<extra></extra>",
                  marker_line_color="white", marker_line_width=0.5)
    fig = go.Figure()
    fig.add_trace(go.Choropleth(
        **common, locations=first["ranked"]["locations"], z=first["ranked"]["z"], text=first["ranked"]["text"],
        colorscale=DIVERGING_SCALE, zmin=-zmax, zmax=zmax, zmid=0, meta=key_of(*keys[0]),
        name="indicator", colorbar=dict(
            title=dict(text="% faster (+) or<br>slower (−)<br>than expected", side="top"),
            ticksuffix=" %", len=0.6, y=0.38, x=1.02, xanchor="left", thickness=14,
        ),
    ))
    fig.add_trace(go.Choropleth(
        **common, locations=first["other"]["locations"], z=first["other"]["z"], text=first["other"]["text"],
        colorscale=[[0, TOO_SMALL_COLOUR], [1, TOO_SMALL_COLOUR]], showscale=False, meta=key_of(*keys[0]),
        name="too small",
    ))
    buttons = []
    for g, m in keys:
        a = arrays[key_of(g, m)]
        buttons.append(dict(
            label=key_label(g, m), method="update",
            args=[
                {"locations": [a["ranked"]["locations"], a["other"]["locations"]],
                 "z": [a["ranked"]["z"], a["other"]["z"]],
                 "text": [a["ranked"]["text"], a["other"]["text"]],
                 "meta": [key_of(g, m), key_of(g, m)]},
                {"title.text": f"{GROUP_LABELS[g]}: {MEASURE_LABELS[m]}"},
                [0, 1],
            ],
        ))
    fig.update_layout(
        title=dict(text=f"{GROUP_LABELS[keys[0][0]]}: {MEASURE_LABELS[keys[0][1]]}", x=0.01, font_size=15),
        geo=dict(visible=False, fitbounds="locations", projection_type="mercator", bgcolor="rgba(0,0,0,0)",
                 scope="world", resolution=110),
        margin=dict(l=0, r=300, t=40, b=0), height=620,
        updatemenus=[dict(
            type="dropdown", direction="down", buttons=buttons, active=0, showactive=True,
            x=1.02, xanchor="left", y=1.0, yanchor="top", pad=dict(l=0, t=0), bgcolor="white",
            bordercolor="#888", font_size=12,
        )],
        annotations=[dict(
            text="Grey: too few persons<br>to rank (or no data)", x=1.02, xanchor="left", y=0.02, yanchor="bottom",
            xref="paper", yref="paper", showarrow=False, align="left", font_size=11,
            bgcolor=TOO_SMALL_COLOUR,
        )],
        paper_bgcolor="white",
    )
    return fig, {k: a["details"] for k, a in arrays.items()}


def _selector(fig: go.Figure, labels: Sequence[str], traces_per_key: Sequence[Sequence[int]],
              titles: Sequence[str] | None = None) -> None:
    """Add a drop-down showing only the traces of the chosen key (the first one at start)."""
    n = len(fig.data)
    buttons = []
    for i, (label, idx) in enumerate(zip(labels, traces_per_key)):
        vis = [j in set(idx) for j in range(n)]
        layout = {"title.text": titles[i]} if titles else {}
        buttons.append(dict(label=label, method="update", args=[{"visible": vis}, layout]))
        if i == 0:
            for j, tr in enumerate(fig.data):
                tr.visible = vis[j]
    fig.update_layout(updatemenus=[dict(
        type="dropdown", buttons=buttons, active=0, x=1.0, xanchor="right", y=1.13, yanchor="top",
        bgcolor="white", bordercolor="#888", font_size=12,
    )])
    if titles:
        fig.update_layout(title_text=titles[0])


def funnel_figure(league: pd.DataFrame) -> go.Figure:
    """Funnel plot: observed/expected events against expected events, with the funnel
    limits of each row (``funnel_lower``/``funnel_upper``) drawn as lines; points
    coloured by class. One view per (target group, measure)."""
    fig = go.Figure()
    labels, groups = [], []
    for g, m in present_keys(league):
        sub = league[(league["target_group"] == g) & (league["measure"] == m)]
        idx = []
        lim = sub.dropna(subset=["events_expected", "funnel_lower", "funnel_upper"]).sort_values("events_expected")
        lim = lim[lim["events_expected"] >= 1]  # below one expected event the limits run off the chart
        for col, name in (("funnel_upper", "funnel limit"), ("funnel_lower", "funnel limit")):
            fig.add_trace(go.Scatter(
                x=lim["events_expected"], y=lim[col], mode="lines", line=dict(color="#555", dash="dash", width=1),
                name=name, showlegend=col == "funnel_upper", hoverinfo="skip",
            ))
            idx.append(len(fig.data) - 1)
        fig.add_trace(go.Scatter(
            x=[lim["events_expected"].min(), lim["events_expected"].max()], y=[1, 1], mode="lines",
            line=dict(color="#222", width=1), name="O/E = 1", hoverinfo="skip",
        ))
        idx.append(len(fig.data) - 1)
        pts = sub.dropna(subset=["events_expected", "oe_ratio"])
        for cls, colour in CLASS_COLOURS.items():
            c = pts[pts["class"] == cls]
            if c.empty:
                continue
            fig.add_trace(go.Scatter(
                x=c["events_expected"], y=c["oe_ratio"], mode="markers", name=CLASS_LABELS[cls],
                marker=dict(color=colour, size=8, line=dict(color="white", width=0.5)),
                text=c["unit_name"], customdata=c[["persons"]].astype("float").to_numpy(),
                hovertemplate="<b>%{text}</b><br>expected %{x:.1f}<br>O/E %{y:.2f}<extra></extra>",
            ))
            idx.append(len(fig.data) - 1)
        labels.append(key_label(g, m))
        groups.append(idx)
    _selector(fig, labels, groups, [f"Funnel plot: {lab}" for lab in labels])
    ratios = pd.to_numeric(league.get("oe_ratio"), errors="coerce") if "oe_ratio" in league else pd.Series(dtype=float)
    ratios = ratios[np.isfinite(ratios)]
    fig.update_yaxes(range=[0, max(3.0, 1.15 * float(ratios.max())) if len(ratios) else 3.0])
    fig.update_layout(
        xaxis_title="Expected events (indirect standardisation)", yaxis_title="Observed / expected events",
        height=480, margin=dict(l=60, r=20, t=70, b=50), legend=dict(orientation="h", y=-0.18),
    )
    return fig


def caterpillar_figure(league: pd.DataFrame) -> go.Figure:
    """Caterpillar plot: units ordered by ``indicator_pct`` with their intervals, the
    shrunken (empirical-Bayes) estimate and the ±5 % "as expected" band."""
    fig = go.Figure()
    labels, groups = [], []
    for g, m in present_keys(league):
        sub = league[(league["target_group"] == g) & (league["measure"] == m)].dropna(subset=["indicator_pct"])
        sub = sub.sort_values("indicator_pct").reset_index(drop=True)
        x = np.arange(1, len(sub) + 1)
        idx = []
        fig.add_trace(go.Scatter(
            x=x, y=sub["indicator_pct"], mode="markers", name="Indicator with interval",
            marker=dict(color=[CLASS_COLOURS.get(c, "#333") for c in sub["class"]], size=6),
            error_y=dict(type="data", symmetric=False,
                         array=(sub["indicator_upper"] - sub["indicator_pct"]).astype(float),
                         arrayminus=(sub["indicator_pct"] - sub["indicator_lower"]).astype(float),
                         thickness=1, width=0, color="#888"),
            text=sub["unit_name"],
            hovertemplate="<b>%{text}</b><br>%{y:+.1f} %<extra></extra>",
        ))
        idx.append(len(fig.data) - 1)
        if "indicator_eb" in sub:
            fig.add_trace(go.Scatter(
                x=x, y=sub["indicator_eb"], mode="markers", name="Shrunken (empirical Bayes)",
                marker=dict(symbol="circle-open", color="#444", size=6), text=sub["unit_name"],
                hovertemplate="<b>%{text}</b><br>EB %{y:+.1f} %<extra></extra>",
            ))
            idx.append(len(fig.data) - 1)
        labels.append(key_label(g, m))
        groups.append(idx)
    _selector(fig, labels, groups, [f"Intervals by unit: {lab}" for lab in labels])
    fig.add_hrect(y0=-5, y1=5, fillcolor="#999", opacity=0.15, line_width=0)
    fig.add_hline(y=0, line_color="#222", line_width=1)
    fig.update_layout(
        xaxis_title="Units ordered by indicator", yaxis_title="% faster (+) / slower (−) than expected",
        height=460, margin=dict(l=60, r=20, t=70, b=50), legend=dict(orientation="h", y=-0.18),
    )
    return fig


def activity_scatter_figure(league: pd.DataFrame, measure: str = "success") -> go.Figure | None:
    """Activity indicator (x, %) against the success indicator (y) per unit, with an
    ordinary least-squares line y = a + b x (``numpy.polyfit``) and its slope and Pearson
    r in the legend. ``None`` when the league table has no activity columns."""
    acts = [c for c in ACTIVITY_COLUMNS if c in league.columns and league[c].notna().any()]
    if not acts:
        return None
    fig = go.Figure()
    labels, groups = [], []
    for g in TARGET_GROUPS:
        sub = league[(league["target_group"] == g) & (league["measure"] == measure)]
        for act in acts:
            d = sub.dropna(subset=[act, "indicator_pct"])
            if len(d) < 3:
                continue
            x = d[act].astype(float).to_numpy() * 100
            y = d["indicator_pct"].astype(float).to_numpy()
            b, a = np.polyfit(x, y, 1)
            r = float(np.corrcoef(x, y)[0, 1])
            xs = np.array([x.min(), x.max()])
            fig.add_trace(go.Scatter(
                x=x, y=y, mode="markers", name="Units", text=d["unit_name"],
                marker=dict(color=[CLASS_COLOURS.get(c, "#333") for c in d["class"]], size=8, opacity=0.85),
                hovertemplate="<b>%{text}</b><br>%{x:.1f} %, indicator %{y:+.1f} %<extra></extra>",
            ))
            fig.add_trace(go.Scatter(
                x=xs, y=a + b * xs, mode="lines", line=dict(color="#222"),
                name=f"OLS: {b:+.2f} per point, r = {r:.2f}",
            ))
            labels.append(f"{GROUP_LABELS[g]}: {ACTIVITY_COLUMNS[act].lower()}")
            groups.append([len(fig.data) - 2, len(fig.data) - 1])
    if not groups:
        return None
    _selector(fig, labels, groups, [f"Activity and success: {lab}" for lab in labels])
    fig.update_layout(
        xaxis_title="Activity indicator (%)", yaxis_title=f"{MEASURE_LABELS[measure]}: % faster than expected",
        height=460, margin=dict(l=60, r=20, t=70, b=50), legend=dict(orientation="h", y=-0.18),
    )
    return fig


def chronogram_with_suppressed(chronogram: pd.DataFrame) -> pd.DataFrame:
    """Chronogram with one extra pseudo-state ``SUPPRESSED`` per week holding the total
    share of the suppressed cells (1 − sum of published shares; never one cell alone,
    since secondary suppression leaves at least two suppressed cells per week)."""
    df = chronogram.copy()
    df["share"] = pd.to_numeric(df["share"], errors="coerce")
    rest = 1 - df.groupby(["target_group", "week"])["share"].sum(min_count=0)
    rest = rest.clip(lower=0).rename("share").reset_index()
    rest["state"] = "SUPPRESSED"
    rest.loc[rest["share"] < 1e-9, "share"] = 0.0
    return pd.concat([df[["target_group", "week", "state", "share"]], rest], ignore_index=True)


def chronogram_figure(chronogram: pd.DataFrame) -> go.Figure:
    """State distribution plot (TraMineR ``seqdplot``): share of sequences in each state
    per week, stacked, one panel per target group, colours from ``kommunebench.states``."""
    df = chronogram_with_suppressed(chronogram)
    groups = [g for g in TARGET_GROUPS if g in set(df["target_group"])]
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[GROUP_LABELS[g] for g in groups],
                        shared_yaxes=True, horizontal_spacing=0.03)
    states = [*ALPHABET, "SUPPRESSED"]
    colours = {**COLOURS, "SUPPRESSED": SUPPRESSED_COLOUR}
    labels = {**LABELS, "SUPPRESSED": "Suppressed (< 5 persons)"}
    seen: set[str] = set()
    for col, g in enumerate(groups, start=1):
        wide = df[df["target_group"] == g].pivot_table(index="week", columns="state", values="share", aggfunc="sum")
        for s in states:
            if s not in wide.columns or not (wide[s].fillna(0) > 0).any():
                continue
            fig.add_trace(go.Scatter(
                x=wide.index, y=(wide[s].fillna(0) * 100).round(2), mode="lines", stackgroup=f"g{col}",
                line=dict(width=0), fillcolor=colours[s], name=labels[s], legendgroup=s,
                showlegend=s not in seen,
                hovertemplate=f"{labels[s]}<br>week %{{x}}: %{{y:.1f}} %<extra></extra>",
            ), row=1, col=col)
            seen.add(s)
        fig.update_xaxes(title_text="Week since clock start", row=1, col=col)
    fig.update_yaxes(title_text="Share of sequences (%)", range=[0, 100], row=1, col=1)
    fig.update_layout(title_text="State distribution by week (chronogram)", height=460,
                      margin=dict(l=60, r=20, t=70, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def parse_sequence(medoid: Any) -> list[str]:
    """A medoid as a list of weekly state codes. Accepts a list/array of codes, a string
    of codes separated by '-', ',', ';' or spaces, or TraMineR's SPS format
    ``(PASSIVE,52)-(JOB,104)``. Raises ``ValueError`` on a code outside the alphabet."""
    if isinstance(medoid, (list, tuple, np.ndarray)):
        seq = [str(s) for s in medoid]
    elif _is_na(medoid):
        return []
    else:
        text = str(medoid).strip()
        if text.startswith("["):
            seq = [str(s) for s in json.loads(text)]
        elif "(" in text:
            seq = []
            for part in text.replace(" ", "").split(")"):
                part = part.lstrip("-(")
                if not part:
                    continue
                state, _, k = part.partition(",")
                seq.extend([state] * int(k or 1))
        else:
            for sep in (",", ";", " "):
                text = text.replace(sep, "-")
            seq = [s for s in text.split("-") if s]
    bad = sorted(set(seq) - set(ALPHABET))
    if bad:
        raise ValueError(f"medoid sequence: state codes {bad} not in the alphabet {ALPHABET}")
    return seq


def _runs(seq: Sequence[str]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for i, s in enumerate(seq):
        if out and out[-1][0] == s:
            out[-1] = (s, out[-1][1], out[-1][2] + 1)
        else:
            out.append((s, i, 1))
    return out


def cluster_figure(clusters: pd.DataFrame) -> go.Figure:
    """Cluster typology: per target group, each cluster's medoid (representative
    sequence, as in TraMineR's ``seqrplot``) drawn as coloured runs of weeks, labelled
    with the cluster's name, share of sequences and average silhouette."""
    groups = [g for g in TARGET_GROUPS if g in set(clusters["target_group"])]
    fig = make_subplots(rows=len(groups), cols=1, subplot_titles=[GROUP_LABELS[g] for g in groups],
                        vertical_spacing=0.12)
    seen: set[str] = set()
    for r, g in enumerate(groups, start=1):
        sub = clusters[clusters["target_group"] == g].sort_values("cluster")
        for _, row in sub.iterrows():
            share = fmt(row, "share", ".0%")
            sil = fmt(row, "silhouette", ".2f")
            ylab = f"{row['cluster']}. {row['label']} ({share}; silhouette {sil})"
            seq = [] if "medoid" in str(row.get("suppressed", "")).split(";") else parse_sequence(row["medoid"])
            if not seq:
                fig.add_trace(go.Bar(x=[0], y=[ylab], orientation="h", showlegend=False, hoverinfo="skip"),
                              row=r, col=1)
                continue
            for state, start, length in _runs(seq):
                fig.add_trace(go.Bar(
                    x=[length], base=[start], y=[ylab], orientation="h", marker_color=COLOURS[state],
                    name=LABELS[state], legendgroup=state, showlegend=state not in seen,
                    hovertemplate=f"{LABELS[state]}: weeks {start + 1}-{start + length}<extra></extra>",
                ), row=r, col=1)
                seen.add(state)
        fig.update_xaxes(title_text="Week" if r == len(groups) else None, row=r, col=1)
    fig.update_layout(barmode="overlay", title_text="Cluster typology: representative sequence (medoid) per cluster",
                      height=260 * len(groups) + 80, margin=dict(l=20, r=20, t=70, b=40),
                      legend=dict(orientation="h", y=-0.08), bargap=0.25)
    fig.update_yaxes(automargin=True, autorange="reversed")
    return fig
