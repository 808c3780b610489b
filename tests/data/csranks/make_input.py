"""Write the input of the csranks cross-check (estimates and covariance of 30 units).

The covariance has a shared component like the one the benchmark's expected model creates
(every unit's log E moves with the same coefficients), plus independent Poisson noise.

    uv run python tests/data/csranks/make_input.py
    R_LIBS=/path/to/a/library/with/csranks Rscript tests/data/csranks/csranks_reference.R

csranks 1.2.3 (CRAN, Mogstad, Romano, Shaikh and Wilhelm) was installed from its CRAN source into a
library outside the project; the R script only calls it.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
rng = np.random.default_rng(20240101)
n = 30
# two cases: "wide" (noisy, as the benchmark at national size) and "sharp" (many pairs separated)
for case, (sd, s_lo, s_hi) in {"wide": (0.25, 0.05, 0.20), "sharp": (0.40, 0.02, 0.08)}.items():
    theta = rng.normal(0.0, sd, n)
    s = rng.uniform(s_lo, s_hi, n)
    J = rng.normal(0.0, 0.05 if case == "wide" else 0.02, (n, 3))  # shared model uncertainty: three coefficients
    cov = np.diag(s**2) + J @ J.T
    np.savetxt(HERE / f"theta_{case}.csv", theta, delimiter=",", fmt="%.17g")
    np.savetxt(HERE / f"sigma_{case}.csv", cov, delimiter=",", fmt="%.17g")
