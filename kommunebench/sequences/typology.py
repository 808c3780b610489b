"""Describing a cluster solution: names from dominant states, representative
sequences (medoids), sizes and the cluster mix per group. Aggregates only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kommunebench.sequences.data import VOID, UniqueSequences, to_sps
from kommunebench.states import ALPHABET


def order_by_size(labels: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Map old cluster numbers to new ones ordered by decreasing weight (ties: old number)."""
    tot = np.bincount(labels, weights=weights, minlength=k)
    order = np.lexsort((np.arange(k), -tot))
    new = np.empty(k, dtype=np.int64)
    new[order] = np.arange(k)
    return new


def _weighted_state_time(useq: UniqueSequences, labels: np.ndarray, k: int, n_states: int) -> np.ndarray:
    """Weighted person-weeks per (cluster, week, state): shape (k, L, K)."""
    s = useq.sequences
    L = s.shape[1]
    valid = s != VOID
    code = (labels[:, None] * L + np.arange(L)[None, :]) * n_states + s.astype(np.int64)
    return np.bincount(code[valid], weights=np.broadcast_to(useq.weights[:, None], s.shape)[valid],
                       minlength=k * L * n_states).reshape(k, L, n_states)


def dominant_state_names(useq: UniqueSequences, labels: np.ndarray, k: int, *, n_periods: int = 3,
                         n_states: int = len(ALPHABET), alphabet: tuple[str, ...] = ALPHABET) -> list[str]:
    """Cluster names from dominant states, e.g. ``"PASSIVE -> JOB"``.

    The follow-up is cut into ``n_periods`` equal periods; in each the state with the
    most weighted person-weeks of the cluster is taken; repeats are collapsed and the
    states joined with ``" -> "``. Equal names get a suffix ``" (2)"``, ``" (3)"`` in
    cluster order.
    """
    if n_periods < 1:
        raise ValueError("n_periods must be at least 1")
    T = _weighted_state_time(useq, labels, k, n_states)
    L = T.shape[1]
    edges = np.linspace(0, L, n_periods + 1).round().astype(int)
    names: list[str] = []
    seen: dict[str, int] = {}
    for c in range(k):
        parts: list[str] = []
        for a, b in zip(edges[:-1], edges[1:]):
            if b <= a:
                continue
            tot = T[c, a:b].sum(axis=0)
            if tot.sum() <= 0:
                continue
            st = alphabet[int(tot.argmax())]
            if not parts or parts[-1] != st:
                parts.append(st)
        name = " -> ".join(parts) if parts else "(empty)"
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


def cluster_table(useq: UniqueSequences, labels: np.ndarray, medoids: np.ndarray, dist_to_medoid: np.ndarray,
                  names: list[str], *, min_cell: int = 5, n_states: int = len(ALPHABET),
                  alphabet: tuple[str, ...] = ALPHABET) -> pd.DataFrame:
    """One row per cluster: ``cluster``, ``name``, ``n_persons``, ``weight``, ``share``,
    ``mean_dist_to_medoid`` (weighted), ``medoid_sps`` (the medoid in TraMineR's SPS
    form, shown only if at least ``min_cell`` persons have exactly that sequence),
    ``medoid_n_identical``, ``modal_sps`` (the week-by-week most frequent state of the
    cluster, an aggregate), ``suppressed`` (cluster of 1..min_cell-1 persons)."""
    k = len(names)
    w = useq.weights
    cnt = useq.counts
    npers = np.bincount(labels, weights=cnt, minlength=k).astype(np.int64)
    wt = np.bincount(labels, weights=w, minlength=k)
    mdist = np.bincount(labels, weights=w * dist_to_medoid, minlength=k)
    T = _weighted_state_time(useq, labels, k, n_states)
    rows = []
    for c in range(k):
        m = int(medoids[c])
        modal = np.where(T[c].sum(axis=1) > 0, T[c].argmax(axis=1), VOID)
        ident = int(cnt[m])
        small = 0 < npers[c] < min_cell if min_cell > 0 else False
        rows.append({
            "cluster": c, "name": names[c], "n_persons": npers[c], "weight": wt[c],
            "share": wt[c] / w.sum(),
            "mean_dist_to_medoid": mdist[c] / wt[c] if wt[c] > 0 else np.nan,
            "medoid_sps": to_sps(useq.sequences[m], alphabet) if ident >= max(min_cell, 1) else None,
            "medoid_n_identical": ident,
            "modal_sps": None if small else to_sps(modal, alphabet),
            "suppressed": bool(small),
        })
    df = pd.DataFrame(rows)
    for c in ("n_persons", "weight", "share", "mean_dist_to_medoid", "medoid_n_identical"):
        df[c] = df[c].astype("float64")
        df.loc[df["suppressed"], c] = np.nan
    return df


def cluster_mix(person_labels: np.ndarray, groups: np.ndarray, weights: np.ndarray, names: list[str], *,
                min_cell: int = 5, group_name: str = "group") -> pd.DataFrame:
    """Share of each cluster within each group (e.g. municipality): ``group``,
    ``cluster``, ``name``, ``n_persons``, ``weight``, ``share``, ``suppressed``."""
    k = len(names)
    levels, g = np.unique(np.asarray(groups), return_inverse=True)
    g = g.reshape(-1)
    G = levels.size
    code = g * k + person_labels
    cnt = np.bincount(code, minlength=G * k).reshape(G, k)
    wt = np.bincount(code, weights=weights, minlength=G * k).reshape(G, k)
    tot = wt.sum(axis=1, keepdims=True)
    share = wt / np.where(tot > 0, tot, 1)
    gi, ci = np.meshgrid(np.arange(G), np.arange(k), indexing="ij")
    df = pd.DataFrame({group_name: levels[gi.ravel()], "cluster": ci.ravel(),
                       "name": np.asarray(names, dtype=object)[ci.ravel()],
                       "n_persons": cnt.ravel(), "weight": wt.ravel(), "share": share.ravel()})
    small = (df["n_persons"] > 0) & (df["n_persons"] < min_cell) if min_cell > 0 else pd.Series(False, index=df.index)
    df["suppressed"] = small.to_numpy()
    for c in ("n_persons", "weight", "share"):
        df[c] = df[c].astype("float64")
        df.loc[small, c] = np.nan
    return df
