"""Failpoints: named places where a test can kill the process for real.

The fault tests (``tests/faults/``) must show that a run killed at the worst moment
(inside the transaction that publishes a delivery, inside a register year, between
writing the report and publishing it) leaves the last good results whole and does not
block the next run. Waiting for the right moment from outside is a race; instead the
test sets ``KOMMUNEBENCH_FAILPOINTS=<name>[,<name>...]`` and the process sends itself
SIGKILL when it reaches that place: no cleanup, no ``finally``, exactly as if the
machine had killed it. A name may carry a count, ``spells_year@3``: killed the third
time the place is reached. Without the variable (always, outside those tests) a
failpoint costs one dictionary lookup.

``KOMMUNEBENCH_FAILPOINT_SCOPE=group`` kills the whole process group (the command-line
supervisor and its worker), as ``kill -9 -<pgid>`` would.
"""

from __future__ import annotations

import os
import signal
import sys

_hits: dict[str, int] = {}


def _armed() -> dict[str, int]:
    spec = os.environ.get("KOMMUNEBENCH_FAILPOINTS", "")
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, nth = part.partition("@")
        out[name] = int(nth or 1)
    return out


def failpoint(name: str) -> None:
    """SIGKILL this process (or its group) here if the failpoint ``name`` is armed."""
    armed = _armed()
    if name not in armed:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != armed[name]:
        return
    sys.stdout.flush()
    sys.stderr.write(f"failpoint {name}: SIGKILL\n")
    sys.stderr.flush()
    if os.environ.get("KOMMUNEBENCH_FAILPOINT_SCOPE") == "group":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
