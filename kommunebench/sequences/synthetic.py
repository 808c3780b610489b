"""Synthetic state sequences for tests and benchmarks (no real persons)."""

from __future__ import annotations

import numpy as np

from kommunebench.states import ALPHABET, STATE_INDEX


def markov_sequences(n: int, length: int = 156, *, n_states: int = 10, stay: float = 0.97,
                     seed: int = 0) -> np.ndarray:
    """``n`` weekly Markov chains over the first ``n_states`` states of the alphabet
    with long spells: each week a person keeps the state with probability ``stay``,
    else moves to another state drawn from a fixed random row of a transition matrix
    (seeded). The start state follows a fixed random distribution."""
    if not 2 <= n_states <= len(ALPHABET):
        raise ValueError(f"n_states must be between 2 and {len(ALPHABET)}")
    if not 0 <= stay < 1:
        raise ValueError("stay must be in [0, 1)")
    rng = np.random.default_rng(seed)
    move = rng.gamma(0.6, size=(n_states, n_states))
    np.fill_diagonal(move, 0.0)
    move /= move.sum(axis=1, keepdims=True)
    cum = np.cumsum(move, axis=1)
    start = rng.dirichlet(np.full(n_states, 2.0))
    out = np.empty((n, length), dtype=np.int8)
    out[:, 0] = rng.choice(n_states, size=n, p=start)
    for t in range(1, length):
        prev = out[:, t - 1].astype(np.int64)
        leave = rng.random(n) >= stay
        u = rng.random(n)
        nxt = (u[:, None] > cum[prev]).sum(axis=1)
        out[:, t] = np.where(leave, np.minimum(nxt, n_states - 1), prev)
    return out


def archetype_sequences(sizes: list[int], length: int = 104, *, noise: float = 0.02,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clearly separated groups of sequences around fixed archetypes (returns the
    sequences and the true group of each): group 0 ``JOB`` throughout, group 1
    ``PASSIVE`` then ``JOB`` from a third of the way, group 2 ``EDU`` throughout,
    group 3 ``INTERN`` then ``WS_PRIV`` then ``JOB``, group 4 ``SICK`` throughout.
    Each week is replaced by a random state with probability ``noise``."""
    if not 1 <= len(sizes) <= 5:
        raise ValueError("between 1 and 5 groups")
    J, P, E, I, W, S = (STATE_INDEX[x] for x in ("JOB", "PASSIVE", "EDU", "INTERN", "WS_PRIV", "SICK"))
    third = length // 3
    arche = [
        np.full(length, J),
        np.r_[np.full(third, P), np.full(length - third, J)],
        np.full(length, E),
        np.r_[np.full(third, I), np.full(third, W), np.full(length - 2 * third, J)],
        np.full(length, S),
    ]
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for g, m in enumerate(sizes):
        block = np.tile(arche[g], (m, 1))
        flip = rng.random(block.shape) < noise
        block[flip] = rng.integers(0, len(ALPHABET) - 1, size=int(flip.sum()))
        rows.append(block)
        truth.append(np.full(m, g))
    return np.concatenate(rows).astype(np.int8), np.concatenate(truth)
