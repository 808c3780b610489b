"""Counter-based random numbers: one stream per person, week and purpose.

The weekly simulation draws every random number as a pure function of
``(seed, person, week, slot)``: a 64-bit key hashed with two rounds of the SplitMix64
finaliser (Steele, Lea & Flood 2014, the mixer behind ``java.util.SplittableRandom``).
Nothing depends on which other persons are simulated, in which order or how many draws
came before. That is what the counterfactual truth needs: a person simulated again
(alone, or as a copy in which the municipality effect is switched off) receives exactly
the same numbers, so two worlds differ only where the effect changes a decision
(common random numbers).

``slot`` names the purpose of a draw (``process.Slot``); a purpose that needs several
numbers in one week uses consecutive slots.
"""

from __future__ import annotations

import numpy as np
from scipy import special

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K_PERSON = np.uint64(0xD1B54A32D192ED03)
_K_WEEK = np.uint64(0xAEF17502108EF2D9)
_K_SLOT = np.uint64(0xDB4F0B9175AE2165)
_TO_UNIT = 1.0 / float(1 << 53)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


class CounterRNG:
    """Uniform, normal and derived draws keyed by (person, week, slot) under one seed."""

    def __init__(self, seed: int, stream: int = 0) -> None:
        base = np.array([(int(seed) * 0x2545F4914F6CDD1D + int(stream) * 0x9E3779B97F4A7C15) & (2**64 - 1)], np.uint64)
        self._seed = _mix(_mix(base))[0]

    def uniform(self, person: np.ndarray, week: int, slot: int) -> np.ndarray:
        """U(0, 1), open at both ends, one per element of ``person`` (global person numbers)."""
        pid = np.asarray(person, dtype=np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            key = (
                self._seed
                ^ (pid * _K_PERSON)
                ^ (np.uint64(week & 0xFFFFFFFF) * _K_WEEK)
                ^ (np.uint64(slot & 0xFFFF) * _K_SLOT)
            )
            z = _mix(_mix(key + _GOLDEN))
        return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * _TO_UNIT

    def normal(self, person: np.ndarray, week: int, slot: int) -> np.ndarray:
        """Standard normal by the inverse CDF of ``uniform``."""
        return special.ndtri(self.uniform(person, week, slot))

    def integers(self, person: np.ndarray, week: int, slot: int, low: int, high: int) -> np.ndarray:
        """Whole numbers in [low, high), like ``Generator.integers``."""
        u = self.uniform(person, week, slot)
        return (low + np.floor(u * (high - low))).astype(np.int64)

    def exponential(self, person: np.ndarray, week: int, slot: int, scale: float) -> np.ndarray:
        return -scale * np.log(self.uniform(person, week, slot))

    def beta(self, person: np.ndarray, week: int, slot: int, a: float, b: float) -> np.ndarray:
        """Beta(a, b) by the inverse of the regularised incomplete beta function."""
        return special.betaincinv(a, b, self.uniform(person, week, slot))
