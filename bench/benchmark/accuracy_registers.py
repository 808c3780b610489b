"""Accuracy of the benchmark on the project's synthetic registers, against their planted truth.

Reads the league table materialised by the pipeline and the generator's truth (never read
by the pipeline) and compares, per target group, the estimated municipality effects
(success measure) with the planted direct effect on the job hazard (`job_effect`), using
`accuracy_metrics` of bench/benchmark/accuracy.py. The planted effect is only the direct
channel: internship and wage subsidy add an indirect one (truth.json), so agreement is
measured against a part of what the benchmark estimates.

    KOMMUNEBENCH_HOME=/tmp/kbdef uv run kommunebench run
    KOMMUNEBENCH_HOME=/tmp/kbdef uv run python bench/benchmark/accuracy_registers.py --label "default (50,000 persons)" --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import accuracy_metrics  # noqa: E402

from kommunebench.paths import project_paths  # noqa: E402

OUT = Path(__file__).with_name("REGISTERS.md")
FW = ["ledighed_pendling", "job_pr_indb", "andel_ikkevestlig", "andel_industri"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="default")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    paths = project_paths()
    truth = pd.read_parquet(paths.truth / "municipality_effects.parquet")
    rows = []
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        league = conn.execute("SELECT * FROM benchmark.league_table WHERE measure = 'success'").df()
        fw = conn.execute(
            f"SELECT target_group, kom, {', '.join(f'avg({c}) AS {c}' for c in FW)} FROM cohorts.cohort_members GROUP BY ALL"
        ).df()
        persons = conn.execute("SELECT target_group, sum(persons) FROM benchmark.league_table WHERE measure = 'success' GROUP BY 1").fetchall()
    n_by_group = dict(persons)
    for g, lt in league.groupby("target_group"):
        t = truth[truth["target_group"] == g].rename(columns={"KOM": "kom", "job_effect": "true_log_hr"})
        fmeans = fw[fw["target_group"] == g].set_index("kom")[FW]
        m = accuracy_metrics(lt.reset_index(drop=True), t, fmeans.reindex(lt["kom"]).fillna(fmeans.mean()))
        rows.append({
            "target group": g, "persons": int(n_by_group[g]), "units ranked": int(m["units_ranked"]),
            "rank corr. raw -> EB": f"{m['n_spearman_raw']:.2f} -> {m['n_spearman_eb']:.2f}",
            "right fifth raw / EB": f"{m['n_right_fifth_raw']:.2f} / {m['n_right_fifth_eb']:.2f}",
            "true top fifth found raw / EB": f"{m['n_top_found_raw']:.2f} / {m['n_top_found_eb']:.2f}",
            "coverage of 90 % intervals raw / EB": f"{m['n_coverage_raw']:.2f} / {m['n_coverage_eb']:.2f}",
            "rank intervals holding the true rank": f"{m['n_rank_cover']:.2f}",
        })
    table = pd.DataFrame(rows)
    text = "\n".join([
        f"## {args.label}: benchmark against the planted truth of the synthetic registers",
        "",
        f"Date {dt.date.today()}; 2 busy cores. Truth = planted direct effect on the job hazard, net of its "
        "projection on the framework conditions (what the benchmark can estimate). Chance for 'right fifth' is 0.20.",
        "",
        "```bash",
        "KOMMUNEBENCH_HOME=/tmp/kbdef uv run kommunebench run",
        f'KOMMUNEBENCH_HOME=/tmp/kbdef uv run python bench/benchmark/accuracy_registers.py --label "{args.label}" --write',
        "```",
        "",
        table.to_markdown(index=False),
        "",
    ])
    print(text)
    if args.write:
        old = OUT.read_text() if OUT.exists() else "# Benchmark accuracy on the synthetic registers\n\n"
        start = old.find(f"## {args.label}:")
        if start >= 0:
            end = old.find("\n## ", start + 1)
            old = old[:start] + (old[end + 1:] if end >= 0 else "")
        OUT.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
