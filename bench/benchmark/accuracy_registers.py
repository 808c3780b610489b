"""Accuracy of the benchmark on the project's own synthetic registers, against the truth on its
own scale (``benchmark_truth.parquet``: counterfactual simulation, ``kommunebench.synth.truth``).

For every (size, seed, effect law) the script generates a register world, runs the pipeline's
stages up to the cohorts with the command line (``kommunebench materialize``), then the benchmark
exactly as the ``models/duration_models`` asset does (the asset's SQL, covariate rule and
default settings), and compares the league table with the truth, per target group and measure:

- coverage of the 90 % intervals of theta (raw: exact Garwood; shrunken: posterior), over the
  ranked units whose truth is defined;
- Spearman rank correlation of the shrunken estimate (posterior mean) with the true theta, and
  the oracle limit: the same hierarchy fed with the true expected counts
  (``expected_events_true``, the delivered world's exposure times the counterfactual rate);
- right fifth: share of ranked units placed in their true fifth (only when the benchmark ranks;
  a run that does not rank contributes no hits and no misses, and says so);
- wrong-side calls: "better"/"worse" calls whose true theta has the other sign;
- the simultaneous rank sets: all true ranks inside [rank_sim_lo, rank_sim_hi] at once; every
  truly top-fifth (bottom-fifth) unit inside the top (bottom) set.

    uv run python bench/benchmark/accuracy_registers.py --sizes default national --seeds 2016 7 \\
        --laws normal t3 --replicates 8 --replicates-default 16 --work /tmp/kbacc --write

Writes ``results/registers_<size>_<seed>_<law>.csv`` (one row per group and measure) and the
summary ``REGISTERS.md``. A run's rows are kept between invocations, so runs can be added.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

HERE = Path(__file__).parent
RESULTS = HERE / "results"
OUT = HERE / "REGISTERS.md"
SIZES = {"default": None, "national": "national"}
GROUPS = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")
MEASURES = {"success": ("success_weeks", "success_event"), "partial_success": ("partial_weeks", "partial_event")}


def sh(cmd: list[str], env: dict[str, str]) -> None:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-3000:] + r.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    print(f"  {' '.join(cmd[3:])}: {time.perf_counter() - t0:.0f} s", flush=True)


def build(home: Path, size: str, seed: int, law: str, replicates: int) -> None:
    env = {**os.environ, "KOMMUNEBENCH_HOME": str(home)}
    if (home / "warehouse.duckdb").exists() and (home / "truth" / "benchmark_truth.parquet").exists():
        print(f"  reusing {home}")
        return
    gen = [sys.executable, "-m", "kommunebench.cli", "generate", "--seed", str(seed), "--effect-law", law,
           "--truth-replicates", str(replicates), "--no-progress"]
    if SIZES[size] == "national":
        gen.append("--national")
    sh(gen, env)
    sh([sys.executable, "-m", "kommunebench.cli", "materialize", "--stage", "registers", "--stage", "register_years",
        "--stage", "cohorts"], env)


def benchmark(home: Path) -> dict[tuple[str, str], object]:
    """The benchmark as the models asset runs it (same SQL, covariate rule, default settings)."""
    from assets.models import BenchmarkConfig
    from kommunebench.benchmark import FRAMEWORK, choose_covariates, run_benchmark
    from orchestration.code_version import sql_text

    cfg = BenchmarkConfig()
    out = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        years = [r[0] for r in conn.execute("SELECT DISTINCT cohort_year FROM cohorts.cohort_members ORDER BY 1").fetchall()]
        for g in GROUPS:
            persons = conn.execute(sql_text("models/benchmark_persons"), {"group": g, "years": years}).df()
            for m, (dcol, ecol) in MEASURES.items():
                horizon = int(persons["followup_weeks"].max())
                usable = persons[persons[dcol] >= 1]
                ch = choose_covariates(usable, ecol)
                out[(g, m)] = run_benchmark(ch.persons, ch.numeric, ch.categorical, list(FRAMEWORK), cfg.settings(horizon, dcol, ecol))
    return out


def oracle_spearman(league: pd.DataFrame, truth: pd.DataFrame, level: float) -> float:
    from kommunebench.benchmark.hierarchy import heterogeneity, posterior_draws

    d = league[~league["too_small"]].merge(truth, left_on="kom", right_on="KOM")
    d = d[np.isfinite(d["expected_events_true"]) & (d["expected_events_true"] > 0) & np.isfinite(d["log_rate_ratio"])]
    o = d["events_observed"].to_numpy(float)
    e = d["expected_events_true"].to_numpy(float)
    het = heterogeneity(o, e, level=level)
    draws, _ = posterior_draws(o, e, het, 2000, seed=1)
    return float(spearmanr(draws.mean(axis=0), d["log_rate_ratio"]).statistic)


def metrics(res, truth: pd.DataFrame, level: float) -> dict[str, object]:
    from scipy.stats import chi2

    L = res.league_table
    d = L[~L["too_small"]].merge(truth, left_on="kom", right_on="KOM", how="left")
    ok = np.isfinite(d["log_rate_ratio"])
    d = d[ok]
    a = (1 - level) / 2
    o = d["events_observed"].to_numpy(float)
    e = d["events_expected"].to_numpy(float)
    lo = np.where(o > 0, chi2.ppf(a, 2 * o) / 2, 0.0)
    hi = chi2.ppf(1 - a, 2 * (o + 1)) / 2
    with np.errstate(divide="ignore"):
        raw_lo, raw_hi = np.log(lo / e), np.log(hi / e)
    th = d["log_rate_ratio"].to_numpy()
    from kommunebench.scales import theta_of_pct

    sh_lo = theta_of_pct(d["indicator_pct_shrunken_lo"].to_numpy())
    sh_hi = theta_of_pct(d["indicator_pct_shrunken_hi"].to_numpy())
    # the truth has its own Monte Carlo error: widen each side by it in quadrature
    from scipy.stats import norm

    zz = float(norm.ppf(0.5 + level / 2))
    mc = np.nan_to_num(d["log_rate_ratio_mc_se"].to_numpy(), nan=0.0) * zz

    def widen(est: np.ndarray, lo_: np.ndarray, hi_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore"):
            return est - np.sqrt((est - lo_) ** 2 + mc**2), est + np.sqrt((hi_ - est) ** 2 + mc**2)

    raw_est = d["log_oe"].to_numpy()
    sh_est = d["log_oe_shrunken"].to_numpy()
    rw_lo, rw_hi = widen(raw_est, np.where(np.isfinite(raw_lo), raw_lo, -np.inf), raw_hi)
    sw_lo, sw_hi = widen(sh_est, sh_lo, sh_hi)
    n = len(d)
    true_rank = n - np.argsort(np.argsort(th))
    top = n // 5
    true_fifth = np.ceil(5 * true_rank / n)
    calls = d[d["class"].isin(["better", "worse"])]
    wrong = int(((calls["class"] == "better") & (calls["log_rate_ratio"] < 0)).sum()
                + ((calls["class"] == "worse") & (calls["log_rate_ratio"] > 0)).sum())
    out: dict[str, object] = {
        "units_ranked": n, "distinguishable": bool(res.distinguishable), "tau": round(res.tau, 4),
        "true_sd": float(np.std(th)), "truth_mc_se_median": float(np.nanmedian(d["log_rate_ratio_mc_se"])),
        "coverage_raw": float(np.mean((raw_lo <= th) & (th <= raw_hi))),
        "coverage_shrunken": float(np.mean((sh_lo <= th) & (th <= sh_hi))),
        "coverage_raw_with_truth_error": float(np.mean((rw_lo <= th) & (th <= rw_hi))),
        "coverage_shrunken_with_truth_error": float(np.mean((sw_lo <= th) & (th <= sw_hi))),
        "truth_reliability": float(max(0.0, 1 - np.nanmean(d["log_rate_ratio_mc_se"] ** 2) / np.var(th))),
        "spearman_shrunken": float(spearmanr(d["log_oe_shrunken"], th).statistic),
        "spearman_raw": float(spearmanr(d["log_oe"], th).statistic),
        "spearman_oracle": oracle_spearman(L, truth, level),
        "calls": int(len(calls)), "wrong_side_calls": wrong,
        "share_better": float((d["class"] == "better").mean()), "share_worse": float((d["class"] == "worse").mean()),
        "share_as_expected": float((d["class"] == "as_expected").mean()),
    }
    if res.distinguishable:
        out["right_fifth"] = float(np.mean(d["fifth"].astype(float).to_numpy() == true_fifth))
        out["ranked_with_fifths"] = n
        out["all_ranks_in_sim_sets"] = bool(np.all((d["rank_sim_lo"].astype(float) <= true_rank) & (true_rank <= d["rank_sim_hi"].astype(float))))
        out["top_set_holds_true_top"] = bool(d["in_top_fifth_set"].astype(bool).to_numpy()[true_rank <= top].all())
        out["bottom_set_holds_true_bottom"] = bool(d["in_bottom_fifth_set"].astype(bool).to_numpy()[true_rank > n - top].all())
        out["top_set_size"] = int(d["in_top_fifth_set"].astype(bool).sum())
    else:
        out.update({"right_fifth": np.nan, "ranked_with_fifths": 0, "all_ranks_in_sim_sets": None,
                    "top_set_holds_true_top": None, "bottom_set_holds_true_bottom": None, "top_set_size": None})
    return out


def summarise(rows: pd.DataFrame) -> str:
    def pct(x: float) -> str:
        return "n/a" if pd.isna(x) else f"{100 * x:.0f} %"

    lines = []
    for (size, g, m), d in rows.groupby(["size", "target_group", "measure"], sort=False):
        ranked = d[d["ranked_with_fifths"] > 0]
        sets = ranked["top_set_holds_true_top"].astype(bool)
        lines.append({
            "size": size, "group": g, "measure": m, "runs": len(d),
            "runs that rank": f"{len(ranked)}/{len(d)}",
            "true sd (theta)": f"{d['true_sd'].mean():.3f}",
            "truth reliability": f"{d['truth_reliability'].mean():.2f}",
            "coverage raw": f"{pct(d['coverage_raw'].mean())} ({pct(d['coverage_raw_with_truth_error'].mean())})",
            "coverage shrunken": f"{pct(d['coverage_shrunken'].mean())} ({pct(d['coverage_shrunken_with_truth_error'].mean())})",
            "Spearman shrunken / raw / oracle": f"{d['spearman_shrunken'].mean():.2f} / {d['spearman_raw'].mean():.2f} / {d['spearman_oracle'].mean():.2f}",
            "right fifth (ranked runs)": "n/a" if ranked.empty else pct((ranked["right_fifth"] * ranked["ranked_with_fifths"]).sum() / ranked["ranked_with_fifths"].sum()),
            "wrong-side calls": f"{int(d['wrong_side_calls'].sum())} of {int(d['calls'].sum())}",
            "all ranks in sim. sets": "n/a" if ranked.empty else f"{int(ranked['all_ranks_in_sim_sets'].astype(bool).sum())}/{len(ranked)}",
            "top-fifth set holds true top": "n/a" if ranked.empty else f"{int(sets.sum())}/{len(ranked)}",
        })
    return pd.DataFrame(lines).to_markdown(index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["default"], choices=list(SIZES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[2016])
    ap.add_argument("--laws", nargs="+", default=["normal"])
    ap.add_argument("--replicates", type=int, default=8, help="truth replicate pairs at national size")
    ap.add_argument("--replicates-default", type=int, default=16, help="truth replicate pairs at the default size")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kbacc"))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for size in args.sizes:
        for seed in args.seeds:
            for law in args.laws:
                home = args.work / f"{size}_{seed}_{law}"
                print(f"{size} seed {seed} law {law}", flush=True)
                t0 = time.perf_counter()
                build(home, size, seed, law, args.replicates_default if size == "default" else args.replicates)
                truth = pd.read_parquet(home / "truth" / "benchmark_truth.parquet")
                results = benchmark(home)
                rows = []
                for (g, m), res in results.items():
                    t = truth[(truth["target_group"] == g) & (truth["measure"] == m)]
                    rows.append({"size": size, "seed": seed, "law": law, "target_group": g, "measure": m,
                                 "persons": res.n, "events": res.events, **metrics(res, t, 0.90)})
                df = pd.DataFrame(rows)
                print(df[["target_group", "measure", "distinguishable", "coverage_raw", "coverage_shrunken",
                          "spearman_shrunken", "spearman_oracle", "wrong_side_calls", "calls"]].round(3).to_string(), flush=True)
                print(f"  {time.perf_counter() - t0:.0f} s in all", flush=True)
                if args.write:
                    df.to_csv(RESULTS / f"registers_{size}_{seed}_{law}.csv", index=False)
    if args.write:
        files = sorted(RESULTS.glob("registers_*.csv"))
        allrows = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        text = "\n".join([
            "# Benchmark accuracy on the synthetic registers, against the truth on the benchmark's scale",
            "",
            f"Updated {dt.date.today()}; 2 cores shared with other work. Truth: `benchmark_truth.parquet` written by the",
            "generator (counterfactual simulation: the same persons and random numbers with every municipality effect",
            "set to 0 from the clock start, replicate pairs pooled; `kommunebench/synth/truth.py`). Estimates: the",
            "pipeline's benchmark with its default settings on the pipeline's own cohorts. One row per size, group and",
            "measure, pooled over the runs listed below (seeds x effect laws). Intervals at 90 %.",
            "",
            "Reproduce:",
            "",
            "```bash",
            "uv run python bench/benchmark/accuracy_registers.py --sizes default national --seeds 2016 7 \\",
            "    --laws normal t3 --replicates 8 --replicates-default 16 --work /tmp/kbacc --write",
            "```",
            "",
            "Runs: " + ", ".join(f"{r.size}/seed {r.seed}/{r.law}" for r in allrows.drop_duplicates(["size", "seed", "law"]).itertuples()),
            "",
            summarise(allrows),
            "",
            "Coverage in brackets: with the truth's own Monte Carlo error added in quadrature to each side of the",
            "interval (the truth is itself simulated; *truth reliability* = 1 - mean MC variance / variance of the truth).",
            "",
            "Columns: *runs that rank* = runs in which the likelihood interval of tau excluded 0 (otherwise the",
            "benchmark publishes no ranks or fifths, and right fifth and the rank sets do not apply); *true sd* = the",
            "spread of the truth over the ranked units (its Monte Carlo error is in the per-run CSVs,",
            "`truth_mc_se_median`); *oracle* = the same hierarchy fed with the true expected counts; *wrong-side",
            "calls* = better/worse calls whose true effect has the other sign. Per-run rows: `results/registers_*.csv`.",
            "",
        ])
        OUT.write_text(text)
        print(text)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    main()
