"""Synthetic register deliveries with a planted truth (issue 3).

``generate(out_dir, n_persons=..., seed=...)`` writes DREAM, BEF, OPHG, UDDA and
RAMMEVILKAAR in the layout of ``kommunebench.contract`` and the true municipality
effects to a truth folder outside ``out_dir``. See ``kommunebench/synth/README.md``.
"""

from kommunebench.synth.generate import (
    DEFAULT_N_PERSONS,
    NATIONAL_N_PERSONS,
    GeneratedFile,
    GenerateSummary,
    generate,
)
from kommunebench.synth.params import Behaviour

__all__ = ["DEFAULT_N_PERSONS", "NATIONAL_N_PERSONS", "Behaviour", "GeneratedFile", "GenerateSummary", "generate"]
