"""Can the default run tell municipalities apart? tau over 10 seeds at the default size.

For each seed: generate the default-size registers (no truth needed), run the pipeline's
stages up to the cohorts with the command line, then the benchmark of the success measure per
target group exactly as the models asset does, and record tau (maximum likelihood), its 90 %
likelihood interval and whether the municipalities can be told apart (the interval excludes 0).

    uv run python bench/calibration/variance_seeds.py --seeds 1 2 3 4 5 6 7 8 9 10 --work /tmp/kbseeds --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

HERE = Path(__file__).parent
OUT = HERE / "VARIANCE_SEEDS.md"
CSV = HERE / "variance_seeds.csv"
GROUPS = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")


def sh(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return time.perf_counter() - t0


def one_seed(seed: int, work: Path) -> list[dict]:
    from assets.models import BenchmarkConfig
    from kommunebench.benchmark import FRAMEWORK, choose_covariates, run_benchmark
    from orchestration.code_version import sql_text

    home = work / f"seed_{seed}"
    env = {**os.environ, "KOMMUNEBENCH_HOME": str(home)}
    secs = 0.0
    if not (home / "warehouse.duckdb").exists():
        secs += sh([sys.executable, "-m", "kommunebench.cli", "generate", "--seed", str(seed), "--no-truth", "--no-progress"], env)
        secs += sh([sys.executable, "-m", "kommunebench.cli", "materialize", "--stage", "registers", "--stage", "register_years",
                    "--stage", "cohorts"], env)
    rows = []
    cfg = BenchmarkConfig()
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        years = [r[0] for r in conn.execute("SELECT DISTINCT cohort_year FROM cohorts.cohort_members ORDER BY 1").fetchall()]
        for g in GROUPS:
            p = conn.execute(sql_text("models/benchmark_persons"), {"group": g, "years": years}).df()
            usable = p[p["success_weeks"] >= 1]
            ch = choose_covariates(usable, "success_event")
            t0 = time.perf_counter()
            res = run_benchmark(ch.persons, ch.numeric, ch.categorical, list(FRAMEWORK),
                                cfg.settings(int(p["followup_weeks"].max()), "success_weeks", "success_event"))
            rows.append({"seed": seed, "target_group": g, "persons": res.n, "events": res.events, "tau": res.tau,
                         "tau_lo": res.tau_lo, "tau_hi": res.tau_hi, "tau_above_0": res.tau > 0,
                         "distinguishable": res.distinguishable, "benchmark_seconds": time.perf_counter() - t0,
                         "build_seconds": secs})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(1, 11)))
    ap.add_argument("--work", type=Path, default=Path("/tmp/kbseeds"))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        r = one_seed(seed, args.work)
        print(pd.DataFrame(r)[["seed", "target_group", "events", "tau", "tau_lo", "distinguishable"]].round(3).to_string(), flush=True)
        rows += r
    df = pd.DataFrame(rows)
    if args.write:
        old = pd.read_csv(CSV) if CSV.exists() else pd.DataFrame()
        if not old.empty:
            old = old[~old["seed"].isin(df["seed"])]
        df = pd.concat([old, df], ignore_index=True).sort_values(["seed", "target_group"])
        df.to_csv(CSV, index=False)
    per = df.groupby("target_group").agg(seeds=("seed", "nunique"), tau_above_0=("tau_above_0", "sum"),
                                        told_apart=("distinguishable", "sum"), median_tau=("tau", "median"),
                                        median_events=("events", "median")).reset_index()
    text = "\n".join([
        "# Default size: can the benchmark tell municipalities apart? (success measure)",
        "",
        f"Updated {dt.date.today()}. Per seed: the default-size synthetic registers (`kommunebench generate --seed S`),",
        "the pipeline up to the cohorts, and the benchmark as the models asset runs it. *tau above 0*: the maximum-likelihood",
        "spread of the municipality effects is above 0; *told apart*: its 90 % likelihood interval excludes 0, which is",
        "when the benchmark ranks (otherwise it says that the municipalities cannot be told apart).",
        "",
        "```bash",
        "uv run python bench/calibration/variance_seeds.py --seeds 1 2 3 4 5 6 7 8 9 10 --work /tmp/kbseeds --write",
        "```",
        "",
        per.round(3).to_markdown(index=False),
        "",
        "Per seed (`variance_seeds.csv`):",
        "",
        df[["seed", "target_group", "persons", "events", "tau", "tau_lo", "tau_hi", "distinguishable"]].round(3).to_markdown(index=False),
        "",
    ])
    print(text)
    if args.write:
        OUT.write_text(text)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    main()
