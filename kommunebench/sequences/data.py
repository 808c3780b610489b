"""State-sequence input: validation, de-duplication and the SPS text format.

Convention used throughout :mod:`kommunebench.sequences`: a set of ``n`` state
sequences is an integer array of shape ``(n, L)`` whose values are positions in the
alphabet (by default :data:`kommunebench.states.ALPHABET`, so ``0`` = ``JOB`` ...
``10`` = ``CENS``). A sequence shorter than ``L`` is padded at its end with ``-1``
(TraMineR's *void*); voids may only follow the last state. Weights, when given, are
one non-negative number per sequence (TraMineR's ``seqdef(weights=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kommunebench.states import ALPHABET

VOID = -1


def check_sequences(seqs: np.ndarray, n_states: int = len(ALPHABET)) -> np.ndarray:
    """Validate ``seqs`` and return it as a C-contiguous ``int8`` array.

    Raises ``ValueError`` naming the problem: wrong shape, non-integer values, codes
    outside ``[0, n_states)`` (other than the ``-1`` void), or a void followed by a
    state.
    """
    arr = np.asarray(seqs)
    if arr.ndim != 2:
        raise ValueError(f"sequences must be a 2-D array (n, L); got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"sequences must have at least one row and one column; got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"sequences must hold integer state codes; got dtype {arr.dtype}")
    if not 1 <= n_states <= 120:
        raise ValueError(f"n_states must be between 1 and 120; got {n_states}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < VOID or hi >= n_states:
        bad = arr[(arr < VOID) | (arr >= n_states)]
        raise ValueError(
            f"state codes must lie in 0..{n_states - 1} (or -1 for void); found {np.unique(bad)[:10].tolist()}"
        )
    out = np.ascontiguousarray(arr, dtype=np.int8)
    if lo == VOID:
        is_void = out == VOID
        # a void followed by a non-void state anywhere in a row
        bad_rows = np.flatnonzero(np.any(is_void[:, :-1] & ~is_void[:, 1:], axis=1))
        if bad_rows.size:
            raise ValueError(
                f"void (-1) may only pad the end of a sequence; {bad_rows.size} sequences have a state after a void"
            )
        if np.any(is_void[:, 0]):
            raise ValueError("a sequence is entirely void (-1 in its first position)")
    return out


def check_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Return float64 weights of length ``n`` (ones when ``None``); reject negative/NaN."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    if w.sum() <= 0:
        raise ValueError("weights sum to zero")
    return w


def sequence_lengths(seqs: np.ndarray) -> np.ndarray:
    """Length of each sequence: the number of non-void positions."""
    return (np.asarray(seqs) != VOID).sum(axis=1).astype(np.int64)


@dataclass(frozen=True)
class UniqueSequences:
    """Distinct sequences with their multiplicities.

    ``sequences[inverse]`` reproduces the input; ``counts`` is the number of input
    rows per distinct sequence and ``weights`` the sum of their weights.
    """

    sequences: np.ndarray
    inverse: np.ndarray
    counts: np.ndarray
    weights: np.ndarray

    @property
    def n(self) -> int:
        return int(self.inverse.shape[0])

    @property
    def n_unique(self) -> int:
        return int(self.sequences.shape[0])


def unique_sequences(seqs: np.ndarray, weights: np.ndarray | None = None,
                     n_states: int = len(ALPHABET)) -> UniqueSequences:
    """De-duplicate ``seqs`` (rows), keeping counts, summed weights and the inverse index."""
    s = check_sequences(seqs, n_states)
    w = check_weights(weights, s.shape[0])
    uniq, inverse, counts = np.unique(s, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    wsum = np.bincount(inverse, weights=w, minlength=uniq.shape[0])
    return UniqueSequences(np.ascontiguousarray(uniq, dtype=np.int8), inverse,
                           counts.astype(np.int64), wsum)


def to_sps(seq: np.ndarray, alphabet: tuple[str, ...] = ALPHABET) -> str:
    """TraMineR's SPS text form of one sequence, e.g. ``(PASSIVE,20)-(JOB,136)``."""
    s = np.asarray(seq)
    s = s[s != VOID]
    if s.size == 0:
        return ""
    change = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [s.size]))
    return "-".join(f"({alphabet[int(s[a])]},{int(b - a)})" for a, b in zip(starts, ends))


def from_strings(rows: list[str] | list[list[str]], alphabet: tuple[str, ...]) -> np.ndarray:
    """Encode sequences given as strings of one-letter states (``"AABB"``) or lists of
    state names into the integer convention, padding shorter ones with ``-1``."""
    index = {a: i for i, a in enumerate(alphabet)}
    L = max(len(r) for r in rows)
    out = np.full((len(rows), L), VOID, dtype=np.int8)
    for i, r in enumerate(rows):
        for t, st in enumerate(r):
            if st not in index:
                raise ValueError(f"state {st!r} (sequence {i}, position {t}) is not in the alphabet {alphabet}")
            out[i, t] = index[st]
    return out


def pad_sequences(rows, length: int | None = None) -> np.ndarray:
    """Sequences given as lists of state codes (e.g. the warehouse's ``sequence`` column)
    as an ``(n, L)`` int8 array padded with ``-1``; longer lists are cut at ``length``."""
    rows = list(rows)
    L = int(length) if length is not None else max((len(r) for r in rows), default=0)
    out = np.full((len(rows), L), VOID, dtype=np.int8)
    for i, r in enumerate(rows):
        a = np.asarray(r, dtype=np.int8)[:L]
        out[i, : a.size] = a
    return out
