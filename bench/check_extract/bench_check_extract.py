"""Time and memory of `kommunebench check-extract` on a synthetic extract of a given size.

    uv run python bench/check_extract/bench_check_extract.py --persons 500000 --out /tmp/kb_check500k
    uv run python bench/check_extract/bench_check_extract.py --landing /tmp/kbdef/landing --write

Generates the extract first when --out is given and holds no DREAM folder yet (the
generation is not timed), then runs the check once in this process and reports wall
time, CPU time and peak resident memory (of this process, which also held the generator
if it ran: run the check on an existing folder for a clean memory figure). With --write
the row is appended to bench/check_extract/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time
from pathlib import Path

from kommunebench.extract_check import check_extract

OUT = Path(__file__).with_name("RESULTS.md")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="folder for a generated extract (landing/ inside)")
    ap.add_argument("--landing", type=Path, default=None, help="check an existing landing folder instead")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.landing is None:
        if args.out is None or args.persons is None:
            ap.error("give --landing, or --out and --persons")
        landing = args.out / "landing"
        if not (landing / "DREAM").is_dir():
            from kommunebench.synth import generate

            generate(landing, n_persons=args.persons, seed=2016, truth_dir=args.out / "truth", progress=False)
    else:
        landing = args.landing
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in files)
    t0, c0 = time.perf_counter(), time.process_time()
    report = check_extract(landing)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    dream_rows = sum(f.rows for f in report.files if f.register == "DREAM")
    row = (f"| {dt.date.today()} | {dream_rows:,} | {len(report.files)} | {size / 1e6:.0f} MB | {wall:.1f} s | "
           f"{cpu:.1f} s | {peak_gb:.2f} GB | {'OK' if report.ok else 'NOT OK'} |")
    print(row)
    if args.write:
        if not OUT.exists():
            OUT.write_text(
                "# check-extract: time and memory\n\n"
                "Command: see the docstring of `bench_check_extract.py`. Parquet extracts made by the\n"
                "generator (seed 2016, 2008-2018); one process; the machine is shared (2 cores).\n\n"
                "| date | DREAM persons | files | size on disk | wall time | CPU time | peak RSS | result |\n"
                "|---|---|---|---|---|---|---|---|\n"
            )
        with OUT.open("a") as f:
            f.write(row + "\n")


if __name__ == "__main__":
    main()
