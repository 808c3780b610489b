"""Cox fit time with one BLAS thread against OpenBLAS's default (all cores), on a busy machine.

    cd /work/main && uv run python bench/benchmark/blas_threads.py --persons 40000 --repeats 5

Alternates the two settings; reports min and median wall time of the lifelines fit and of the
numpy Efron fitter (``cox_efron_newton``) on the refugee-sized simulated data.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from kommunebench.benchmark import simulate_benchmark_data
from kommunebench.benchmark.model import cox_efron_newton, design_matrix, design_spec, fit_expected_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=40_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sim = simulate_benchmark_data(args.persons, seed=7, horizon=156, success_share=0.25)
    p = sim.persons
    spec = design_spec(p, sim.numeric + sim.framework, sim.categorical)
    X = design_matrix(p, spec)
    t, e, s = p["duration"].to_numpy(), p["event"].to_numpy(), p["cohort_year"].to_numpy()
    default_threads = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=0)
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for threads in (None, 1):
            for engine in ("lifelines", "numpy"):
                key = f"{engine}_{'default' if threads is None else 'one'}_thread"
                with threadpool_limits(limits=threads, user_api="blas"):
                    t0 = time.perf_counter()
                    if engine == "lifelines":
                        fit_expected_model(X, spec.terms, t, e, s, 156, keep_fitter=False)
                    else:
                        cox_efron_newton(X, t, e, s)
                    times.setdefault(key, []).append(time.perf_counter() - t0)
    out = {
        "persons": args.persons,
        "terms": len(spec.terms),
        "blas_default_threads": default_threads,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    for key, v in times.items():
        out[f"{key}_min_s"] = round(float(np.min(v)), 3)
        out[f"{key}_median_s"] = round(float(np.median(v)), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
