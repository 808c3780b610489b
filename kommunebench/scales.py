"""The benchmark's one headline scale, shared by the benchmark and the synthetic truth.

A municipality's effect is theta = log(rate ratio): how much faster (theta > 0) or slower
its persons reach the event than the same persons would with the same framework conditions
in an average municipality. It is read as "X % faster" / "X % slower" with

    X = 100 sign(theta) (1 - exp(-|theta|)),

symmetric on the log scale (twice as fast reads +50 %, half as fast -50 %) and bounded by
+-100 %, so that no interval reads "-7,000 %". For effects of the size seen between
municipalities the figure is close to 100 theta (theta = 0.10 reads 9.5 %). Read as:

- "X % faster": the time it takes to reach the event is X % shorter than expected
  (the expected rate is X % below the municipality's);
- "X % slower": the rate at which persons reach the event is X % lower than expected.
"""

from __future__ import annotations

import numpy as np


def headline_pct(theta: np.ndarray | float) -> np.ndarray:
    """100 sign(theta) (1 - exp(-|theta|)): the symmetric, bounded "% faster"."""
    th = np.asarray(theta, dtype=float)
    with np.errstate(invalid="ignore"):
        return 100.0 * np.sign(th) * -np.expm1(-np.abs(th))


def theta_of_pct(pct: np.ndarray | float) -> np.ndarray:
    """Inverse of ``headline_pct`` (|pct| < 100)."""
    p = np.asarray(pct, dtype=float) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sign(p) * np.log1p(-np.abs(p))
