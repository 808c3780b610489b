"""Write the fixed data set of the R cross-check (run once; the CSV is committed).

    cd /work/main && uv run python tests/data/r_coxph/make_data.py
    Rscript tests/data/r_coxph/coxph_efron.R tests/data/r_coxph

Synthetic persons from ``simulate_benchmark_data`` (20 municipalities, 3,000 persons, 4 cohort
years, horizon 104 weeks); no real person data.
"""

from pathlib import Path

from kommunebench.benchmark.simulate import simulate_benchmark_data

HERE = Path(__file__).parent

if __name__ == "__main__":
    sim = simulate_benchmark_data(3000, n_muni=20, sd_effect=0.2, seed=20161)
    cols = ["cohort_year", "kom", "duration", "event"] + sim.numeric + sim.framework + sim.categorical
    sim.persons[cols].to_csv(HERE / "persons.csv", index=False)
