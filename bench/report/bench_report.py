"""Time and size of the report outputs on demo inputs (94 units x 3 groups x 2 measures).

Run: uv run python bench/report/bench_report.py > bench/report/results.md
"""

from __future__ import annotations

import datetime as dt
import platform
import statistics
import tempfile
import time
from pathlib import Path

from kommunebench.report import geo
from kommunebench.report.demo import build_demo_inputs
from kommunebench.report.exports import write_exports
from kommunebench.report.html import render_report
from kommunebench.report.inputs import protect_inputs
from kommunebench.report.static import chronogram_png, funnel_png, map_png


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    inputs = build_demo_inputs(2016)
    rows = []
    t, _ = timed(lambda: geo.build_simplified_geojson(geo.DEFAULT_SOURCE))
    rows.append(("build simplified GeoJSON from DAGI (311 polygons)", t,
                 f"{geo.SIMPLIFIED_PATH.stat().st_size / 1024:.0f} KiB shipped"))
    t, p = timed(lambda: protect_inputs(inputs))
    rows.append(("disclosure control of all tables (protect_inputs)", t,
                 f"{len(p.league)} league rows, {len(p.chronogram)} chronogram rows"))
    t, html = timed(lambda: render_report(inputs))
    rows.append(("render HTML report", t, f"{len(html.encode()) / 1e6:.1f} MB (plotly.js inlined)"))
    with tempfile.TemporaryDirectory() as d:
        t, manifest = timed(lambda: write_exports(inputs, Path(d)))
        size = sum(f.stat().st_size for f in Path(d).iterdir())
    rows.append(("write workbook + CSV + Parquet", t, f"{len(manifest)} files, {size / 1e6:.1f} MB"))
    t, _ = timed(lambda: (chronogram_png(p.chronogram), funnel_png(p.league, "flygtninge", "success"),
                          map_png(p.league, "flygtninge", "success")))
    rows.append(("three PNG thumbnails (matplotlib)", t, ""))
    print("# Report outputs: time and size\n")
    print("Command: `uv run python bench/report/bench_report.py > bench/report/results.md`  ")
    print(f"Machine: {platform.machine()}, 2 cores, busy (other sessions running), Python "
          f"{platform.python_version()}  ")
    print(f"Date: {dt.date.today().isoformat()}; median of 3 runs; demo inputs (seed 2016)\n")
    print("| step | seconds | size / notes |\n|---|---:|---|")
    for name, t, note in rows:
        print(f"| {name} | {t:.2f} | {note} |")


if __name__ == "__main__":
    main()
