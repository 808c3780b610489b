"""Static PNG versions of the main plots (matplotlib, Agg) for Dagster metadata thumbnails.

Each function returns PNG bytes and draws only tables that have been through
``disclosure.protect``. ``matplotlib.figure.Figure`` is used directly (no pyplot), so the
functions are safe to call from several threads.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Polygon as MplPolygon  # noqa: E402

from kommunebench.report.geo import municipality_shapes  # noqa: E402
from kommunebench.report.inputs import CLASS_LABELS, GROUP_LABELS, MEASURE_LABELS, TARGET_GROUPS  # noqa: E402
from kommunebench.report.plots import (  # noqa: E402
    CLASS_COLOURS,
    SUPPRESSED_COLOUR,
    TOO_SMALL_COLOUR,
    chronogram_with_suppressed,
)
from kommunebench.states import ALPHABET, COLOURS, LABELS  # noqa: E402


def _png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _subset(league: pd.DataFrame, target_group: str, measure: str) -> pd.DataFrame:
    sub = league[(league["target_group"] == target_group) & (league["measure"] == measure)]
    if sub.empty:
        raise ValueError(f"league table: no rows for target_group={target_group!r}, measure={measure!r}")
    return sub


def chronogram_png(chronogram: pd.DataFrame, *, dpi: int = 90) -> bytes:
    """Stacked state distribution per week, one panel per target group."""
    df = chronogram_with_suppressed(chronogram)
    groups = [g for g in TARGET_GROUPS if g in set(df["target_group"])]
    if not groups:
        raise ValueError("chronogram: no rows")
    fig = Figure(figsize=(4 * len(groups), 3.4))
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
    states = [*ALPHABET, "SUPPRESSED"]
    colours = {**COLOURS, "SUPPRESSED": SUPPRESSED_COLOUR}
    labels = {**LABELS, "SUPPRESSED": "Suppressed (< 5)"}
    handles = {}
    for ax, g in zip(axes, groups):
        wide = df[df["target_group"] == g].pivot_table(index="week", columns="state", values="share", aggfunc="sum")
        wide = wide.reindex(columns=[s for s in states if s in wide.columns]).fillna(0)
        polys = ax.stackplot(wide.index, (wide.T.to_numpy() * 100), colors=[colours[s] for s in wide.columns],
                             linewidth=0)
        for s, p in zip(wide.columns, polys):
            if wide[s].gt(0).any():
                handles.setdefault(s, p)
        ax.set_title(GROUP_LABELS[g], fontsize=10)
        ax.set_xlabel("week")
        ax.set_xlim(wide.index.min(), wide.index.max())
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("% of sequences")
    fig.legend([handles[s] for s in states if s in handles], [labels[s] for s in states if s in handles],
               loc="lower center", ncol=6, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.12))
    return _png(fig, dpi)


def silhouette_png(quality: pd.DataFrame, *, dpi: int = 100) -> bytes:
    """Weighted average silhouette by number of clusters, one line per target group, the
    chosen k circled."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    asw = "asw" if "asw" in quality.columns else [c for c in quality.columns if "sil" in c.lower() or "asw" in c.lower()][0]
    for g, d in quality.groupby("target_group"):
        ax.plot(d["k"], d[asw], marker="o", label=g)
        chosen = d[d["chosen"]]
        ax.scatter(chosen["k"], chosen[asw], s=120, facecolors="none", edgecolors="black")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("weighted average silhouette")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig, dpi)


def typology_png(cluster_sd: pd.DataFrame, *, dpi: int = 90) -> bytes:
    """State distribution per week of each cluster: one row of panels per target group."""
    groups = list(cluster_sd["target_group"].unique())
    kmax = int(cluster_sd["cluster"].max()) + 1
    fig = Figure(figsize=(2.2 * kmax, 1.8 * len(groups)))
    axes = fig.subplots(len(groups), kmax, squeeze=False, sharey=True)
    share = "share" if "share" in cluster_sd.columns else "freq"
    for i, g in enumerate(groups):
        for k in range(kmax):
            ax = axes[i][k]
            d = cluster_sd[(cluster_sd["target_group"] == g) & (cluster_sd["cluster"] == k)]
            if d.empty:
                ax.axis("off")
                continue
            wide = d.pivot_table(index="week", columns="state", values=share, aggfunc="sum").reindex(columns=list(ALPHABET)).fillna(0)
            ax.stackplot(wide.index, wide.T.values, colors=[COLOURS[s] for s in ALPHABET], linewidth=0)
            ax.set_title(f"{g[:12]} {k}", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _png(fig, dpi)


def funnel_png(league: pd.DataFrame, target_group: str, measure: str, *, dpi: int = 90) -> bytes:
    """Observed/expected events against expected events with the rows' funnel limits."""
    sub = _subset(league, target_group, measure)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    lim = sub.dropna(subset=["events_expected", "funnel_lower", "funnel_upper"]).sort_values("events_expected")
    lim = lim[lim["events_expected"] >= 1]  # below one expected event the limits run off the chart
    ax.plot(lim["events_expected"], lim["funnel_upper"], "--", color="#555", lw=1, label="funnel limits")
    ax.plot(lim["events_expected"], lim["funnel_lower"], "--", color="#555", lw=1)
    ax.axhline(1, color="#222", lw=0.8)
    pts = sub.dropna(subset=["events_expected", "oe_ratio"])
    for cls, colour in CLASS_COLOURS.items():
        c = pts[pts["class"] == cls]
        if len(c):
            ax.scatter(c["events_expected"].astype(float), c["oe_ratio"].astype(float), s=18, color=colour,
                       label=CLASS_LABELS[cls], edgecolor="white", linewidth=0.4)
    ax.set_xscale("log")
    shown = pd.to_numeric(pts["oe_ratio"], errors="coerce")
    shown = shown[np.isfinite(shown)]
    ax.set_ylim(0, max(3.0, 1.2 * float(shown.max())) if len(shown) else 3.0)
    ax.set_xlabel("expected events")
    ax.set_ylabel("observed / expected")
    ax.set_title(f"{GROUP_LABELS[target_group]}: {MEASURE_LABELS[measure]}", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig, dpi)


def map_png(league: pd.DataFrame, target_group: str, measure: str, *, dpi: int = 80) -> bytes:
    """Thumbnail map of ``indicator_pct`` by municipality (diverging, grey = not ranked)."""
    sub = _subset(league, target_group, measure)
    shapes = municipality_shapes()
    value: dict[int, float] = {}
    for _, r in sub.iterrows():
        v = r.get("indicator_pct")
        for k in str(r["members"]).split("+"):
            value[int(k)] = np.nan if pd.isna(v) or bool(r.get("too_small")) else float(v)
    finite = [abs(v) for v in value.values() if np.isfinite(v)]
    vmax = max(5.0, float(np.ceil(max(finite, default=10.0) / 5) * 5))
    norm = TwoSlopeNorm(vmin=-vmax, vcenter=0.0, vmax=vmax)
    cmap = matplotlib.colormaps["RdBu"]
    fig = Figure(figsize=(5.2, 4.2))
    ax = fig.subplots()
    patches, colours = [], []
    for kom, geom in shapes.items():
        v = value.get(kom, np.nan)
        colour = TOO_SMALL_COLOUR if not np.isfinite(v) else cmap(norm(v))
        for poly in getattr(geom, "geoms", [geom]):
            patches.append(MplPolygon(np.asarray(poly.exterior.coords), closed=True))
            colours.append(colour)
    ax.add_collection(PatchCollection(patches, facecolor=colours, edgecolor="white", linewidth=0.2))
    ax.autoscale_view()
    ax.set_aspect(1 / np.cos(np.radians(56)))
    ax.set_axis_off()
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, ax=ax, shrink=0.6, pad=0.01)
    cb.set_label("% faster (+) / slower (−) than expected", fontsize=7)
    ax.set_title(f"{GROUP_LABELS[target_group]}: {MEASURE_LABELS[measure]}\n(grey: too few persons to rank)",
                 fontsize=8)
    return _png(fig, dpi)
