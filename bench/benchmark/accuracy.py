"""Accuracy of the municipality benchmark against planted truth.

    cd /work/main && uv run python bench/benchmark/accuracy.py --persons 20000 --reps 10
    cd /work/main && uv run python bench/benchmark/accuracy.py --persons 500000 --reps 3

Each replicate simulates persons with ``simulate_benchmark_data`` (98 municipalities, true
log-hazard effects sd 0.10, framework conditions, 4 cohort years, horizon 104 weeks), runs
``run_benchmark`` and compares the league table with the truth. The truth is centred the way
O/E is: O_j / E_j estimates exp(u_j) / k with k = sum_j E_j exp(u_j) / sum_j E_j (sum O = sum E),
so the target of log(O_j / E_j) is u_j - log k. Metrics over the ranked units:

Targets: ``c_`` the centred truth, ``n_`` the centred truth net of framework conditions (see
``accuracy_metrics``; the estimand of a benchmark that adjusts for them).

- spearman: rank correlation of estimate and centred truth (raw log O/E; EB shrunken);
- right_fifth: share put in their true fifth; top_found: share of the true top fifth that the
  estimate puts in the top fifth (chance 0.20);
- coverage: share of 90 % intervals that hold the centred truth (raw: Garwood interval of O/E;
  shrunken: EB posterior mean +- 1.645 posterior sd); rank_cover: true rank inside the
  simulated 90 % rank interval;
- rmse of the log-hazard estimate; share of units per class; framework share estimated vs true.

``accuracy_metrics(league, truth)`` is reusable for other data with a truth table
(kom, true_log_hr).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from kommunebench.benchmark import BenchmarkSettings, run_benchmark, simulate_benchmark_data
from kommunebench.benchmark.stats import fifth_of, rank_of

OUT = Path(__file__).parent / "results"


def accuracy_metrics(
    league: pd.DataFrame,
    truth: pd.DataFrame,
    framework_means: pd.DataFrame | None = None,
    level: float = 0.90,
) -> dict[str, float]:
    """Compare a league table with true log-hazard effects (truth columns kom, true_log_hr).

    Two targets: ``c`` = centred truth u_j - log k; ``n`` (when ``framework_means``, indexed by
    kom, is given) = the centred truth net of its E-weighted linear projection on the units'
    mean framework conditions. The benchmark adjusts for framework conditions, so the part of
    a municipality's effect that happens to line up with them (98 units, chance correlations
    of about 0.1) is attributed to the conditions: ``n`` is what it can estimate.
    """
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    m = league.merge(truth[["kom", "true_log_hr"]], on="kom", how="left", validate="one_to_one")
    if m["true_log_hr"].isna().any():
        raise ValueError("truth lacks units of the league table")
    e = m["events_expected"].to_numpy()
    u = m["true_log_hr"].to_numpy()
    k = np.sum(e * np.exp(u)) / e.sum()
    targets = {"c": u - np.log(k)}
    if framework_means is not None:
        F = framework_means.reindex(m["kom"]).to_numpy(dtype=float)
        Xm = np.column_stack([np.ones(len(m)), F])
        b = np.linalg.solve(Xm.T @ (e[:, None] * Xm), Xm.T @ (e * u))
        targets["n"] = u - Xm @ b
    ranked = ~m["too_small"].to_numpy()
    r = m[ranked]
    n = len(r)
    out: dict[str, float] = {"units_ranked": float(n)}
    from kommunebench.scales import theta_of_pct

    with np.errstate(divide="ignore"):
        ests = {
            "raw": (r["log_oe"].to_numpy(), np.log(r["oe_lo"]).to_numpy(), np.log(r["oe_hi"]).to_numpy()),
            "eb": (
                r["log_oe_shrunken"].to_numpy(),
                theta_of_pct(r["indicator_pct_shrunken_lo"].to_numpy()),
                theta_of_pct(r["indicator_pct_shrunken_hi"].to_numpy()),
            ),
        }
    ranks_published = r["rank"].notna().all()
    rl, rh = r["rank_lo"].to_numpy(dtype=float), r["rank_hi"].to_numpy(dtype=float)
    for tname, target_all in targets.items():
        target = target_all[ranked]
        true_rank = rank_of(target)
        true_fifth = fifth_of(true_rank, n)
        for name, (est, lo, hi) in ests.items():
            out[f"{tname}_spearman_{name}"] = float(spearmanr(est, target).statistic)
            out[f"{tname}_coverage_{name}"] = float(np.mean((lo <= target) & (target <= hi)))
            out[f"{tname}_rmse_{name}"] = float(np.sqrt(np.mean((est - target) ** 2)))
        # fifths and ranks only where the benchmark publishes them (units can be told apart)
        if ranks_published:
            fifth = r["fifth"].to_numpy(dtype=float)
            out[f"{tname}_right_fifth"] = float(np.mean(fifth == true_fifth))
            out[f"{tname}_top_found"] = float(np.mean(fifth[true_fifth == 1] == 1))
            out[f"{tname}_rank_cover"] = float(np.mean((rl <= true_rank) & (true_rank <= rh)))
            out[f"{tname}_sim_rank_cover_all"] = float(np.all((r["rank_sim_lo"].to_numpy(float) <= true_rank) & (true_rank <= r["rank_sim_hi"].to_numpy(float))))
            out[f"{tname}_top_set_holds_true_top"] = float(r["in_top_fifth_set"].astype(bool).to_numpy()[true_fifth == 1].all())
        out[f"{tname}_p_top_fifth_of_true_top"] = float(r["p_top_fifth"].to_numpy()[true_fifth == 1].mean())
    out["ranks_published"] = float(ranks_published)
    if ranks_published:
        out["rank_interval_width"] = float(np.mean(rh - rl))
    for cls in ("better", "as_expected", "worse", "not_distinguishable"):
        out[f"class_{cls}"] = float(np.mean(r["class"] == cls))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--sd", type=float, default=0.10)
    ap.add_argument("--no-aft", action="store_true", help="skip the Weibull AFT sensitivity model")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    rows = []
    for rep in range(args.reps):
        sim = simulate_benchmark_data(args.persons, sd_effect=args.sd, seed=args.seed + rep)
        st = BenchmarkSettings(seed=args.seed + rep)
        if args.no_aft:
            st = st.replace(weibull_aft=False)
        t0 = time.perf_counter()
        res = run_benchmark(sim.persons, sim.numeric, sim.categorical, sim.framework, st)
        secs = time.perf_counter() - t0
        fw_means = sim.persons.groupby("kom")[sim.framework].mean()
        met = accuracy_metrics(res.league_table, sim.truth, fw_means)
        met.update(
            rep=rep,
            seconds=secs,
            framework_share=res.framework_share_explained,
            framework_share_true=sim.true_framework_share,
            tau=res.tau,
            distinguishable=float(res.distinguishable),
            events_share=res.events / res.n,
        )
        rows.append(met)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in met.items()}), flush=True)
    df = pd.DataFrame(rows)
    tag = f"accuracy_n{args.persons}_sd{args.sd}{'_noaft' if args.no_aft else ''}"
    df.to_csv(OUT / f"{tag}.csv", index=False)
    summary = df.drop(columns=["rep"]).agg(["mean", "min", "max"]).T
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
