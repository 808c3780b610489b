"""Transition rates and substitution costs (TraMineR's ``seqtrate``, ``seqsubm``).

* ``seqtrate``: ``p(i -> j) = N(x_t = i, x_{t+1} = j) / N(x_t = i, x_{t+1} valid)``,
  counted over all positions ``t`` (lag 1) and all sequences, each sequence counted
  with its weight; a state never followed by a valid state gets rates 0.
* ``seqsubm(method="TRATE")``: ``sub(i, j) = 2 - p(i -> j) - p(j -> i)``, 0 on the
  diagonal. ``method="CONSTANT"``: ``cval`` off the diagonal.
* ``dhd_costs``: the time-varying costs of the dynamic Hamming distance (Lesnard's DHD
  as TraMineR computes it) from the rates ``p_t`` of the transitions between
  positions ``t`` and ``t+1``: at an inner position ``t``
  ``4 - p_{t-1}(i->j) - p_{t-1}(j->i) - p_t(i->j) - p_t(j->i)``; at the first position
  ``2 (2 - p_1(i->j) - p_1(j->i))`` and at the last ``2 (2 - p_{L-1}(i->j) - p_{L-1}(j->i))``.
"""

from __future__ import annotations

import numpy as np

from kommunebench.sequences.data import VOID, check_sequences, check_weights
from kommunebench.states import ALPHABET


def _pair_counts(s: np.ndarray, w: np.ndarray, n_states: int, time_varying: bool) -> np.ndarray:
    a = s[:, :-1].astype(np.int64)
    b = s[:, 1:].astype(np.int64)
    valid = (a != VOID) & (b != VOID)
    L1 = a.shape[1]
    ww = np.broadcast_to(w[:, None], a.shape)
    code = a * n_states + b
    if time_varying:
        code = code + (np.arange(L1, dtype=np.int64) * n_states * n_states)[None, :]
        size = L1 * n_states * n_states
    else:
        size = n_states * n_states
    counts = np.bincount(code[valid], weights=ww[valid], minlength=size)
    if time_varying:
        return counts.reshape(L1, n_states, n_states)
    return counts.reshape(n_states, n_states)


def _rates(counts: np.ndarray) -> np.ndarray:
    den = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, counts / np.where(den > 0, den, 1.0), 0.0)
    return r


def seqtrate(seqs: np.ndarray, weights: np.ndarray | None = None, *,
             n_states: int = len(ALPHABET), time_varying: bool = False) -> np.ndarray:
    """Transition rates between states at lag 1 (TraMineR ``seqtrate``).

    Returns ``P`` of shape ``(K, K)`` with ``P[i, j] = p(i -> j)`` (rows sum to 1 for
    states that are followed by a valid state, else 0), or with ``time_varying=True``
    shape ``(L-1, K, K)`` with the rates of the transitions from position ``t`` to ``t+1``.
    """
    s = check_sequences(seqs, n_states)
    w = check_weights(weights, s.shape[0])
    if s.shape[1] < 2:
        raise ValueError("transition rates need sequences of length 2 or more")
    return _rates(_pair_counts(s, w, n_states, time_varying))


def transition_counts(seqs: np.ndarray, n_states: int = len(ALPHABET)) -> np.ndarray:
    """Unweighted number of observed transitions ``i -> j`` (for disclosure control)."""
    s = check_sequences(seqs, n_states)
    return _pair_counts(s, np.ones(s.shape[0]), n_states, False).astype(np.int64)


def trate_costs(rates: np.ndarray) -> np.ndarray:
    """``2 - p(i->j) - p(j->i)`` with a zero diagonal, from a ``(K, K)`` rate matrix."""
    sm = 2.0 - rates - rates.T
    np.fill_diagonal(sm, 0.0)
    return sm


def seqsubm(seqs: np.ndarray | None = None, method: str = "TRATE", *,
            weights: np.ndarray | None = None, cval: float = 2.0,
            n_states: int = len(ALPHABET)) -> np.ndarray:
    """Substitution-cost matrix as TraMineR's ``seqsubm`` (``"TRATE"`` or ``"CONSTANT"``).

    ``TRATE`` needs the sequences (costs estimated from all of them, weighted);
    ``CONSTANT`` gives ``cval`` off the diagonal and 0 on it.
    """
    m = method.upper()
    if m == "CONSTANT":
        if not np.isfinite(cval) or cval < 0:
            raise ValueError(f"cval must be a finite non-negative number; got {cval}")
        sm = np.full((n_states, n_states), float(cval))
        np.fill_diagonal(sm, 0.0)
        return sm
    if m == "TRATE":
        if seqs is None:
            raise ValueError("method='TRATE' needs the sequences to estimate transition rates")
        return trate_costs(seqtrate(seqs, weights, n_states=n_states))
    raise ValueError(f"method must be 'TRATE' or 'CONSTANT'; got {method!r}")


def dhd_costs(seqs: np.ndarray, weights: np.ndarray | None = None, *,
              n_states: int = len(ALPHABET)) -> np.ndarray:
    """Time-varying substitution costs of the dynamic Hamming distance, shape ``(L, K, K)``."""
    s = check_sequences(seqs, n_states)
    if s.shape[1] < 2:
        raise ValueError("DHD needs sequences of length 2 or more")
    p = seqtrate(s, weights, n_states=n_states, time_varying=True)  # (L-1, K, K)
    sym = p + np.transpose(p, (0, 2, 1))  # p_t(i->j) + p_t(j->i)
    L = s.shape[1]
    costs = np.empty((L, n_states, n_states))
    costs[0] = 2.0 * (2.0 - sym[0])
    costs[L - 1] = 2.0 * (2.0 - sym[L - 2])
    if L > 2:
        costs[1:L - 1] = 4.0 - sym[:-1] - sym[1:]
    idx = np.arange(n_states)
    costs[:, idx, idx] = 0.0
    return costs


def check_substitution_matrix(sm: np.ndarray, n_states: int) -> np.ndarray:
    """Validate a user substitution matrix: ``(K, K)``, finite, non-negative, zero diagonal."""
    a = np.asarray(sm, dtype=np.float64)
    if a.shape != (n_states, n_states):
        raise ValueError(f"substitution matrix must have shape ({n_states}, {n_states}); got {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("substitution costs must be finite and non-negative")
    if np.any(np.diag(a) != 0):
        raise ValueError("substitution costs must be 0 on the diagonal (a state against itself)")
    return a


def check_indel(indel: float | np.ndarray | str, n_states: int, sm: np.ndarray) -> np.ndarray:
    """Insertion/deletion cost per state: a number, a vector of ``K``, or ``"auto"``
    (TraMineR 2: half the largest substitution cost)."""
    if isinstance(indel, str):
        if indel != "auto":
            raise ValueError(f"indel must be a number, a vector or 'auto'; got {indel!r}")
        return np.full(n_states, float(sm.max()) / 2.0)
    a = np.asarray(indel, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n_states, float(a))
    if a.shape != (n_states,):
        raise ValueError(f"indel must be a number or a vector of {n_states} costs; got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("indel costs must be finite and positive")
    return a
