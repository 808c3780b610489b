"""The whole sequence-analysis stage as one function: descriptives, indicators,
distances and clustering, with aggregate tables out and one cluster number per person."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from kommunebench.sequences import descriptives as desc
from kommunebench.sequences.clustering import ClusterRangeResult, clara, cluster_range
from kommunebench.sequences.data import check_sequences, check_weights, unique_sequences
from kommunebench.sequences.distances import resolve_costs, seqdist
from kommunebench.sequences.typology import (
    cluster_mix,
    cluster_table,
    dominant_state_names,
    order_by_size,
)
from kommunebench.states import ALPHABET


@dataclass
class SequenceAnalysisResult:
    """Tables of one sequence analysis (pandas, aggregates only, small cells suppressed)
    and ``assignments``: the cluster of each input sequence (person-level: for the
    warehouse only, never for reports or exports)."""

    state_distribution: pd.DataFrame
    entropy: pd.DataFrame
    mean_time: pd.DataFrame
    transition_rates: pd.DataFrame
    substitution_costs: pd.DataFrame
    indicators: pd.DataFrame
    index_plot: pd.DataFrame
    cluster_quality: pd.DataFrame
    clusters: pd.DataFrame
    cluster_state_distribution: pd.DataFrame
    assignments: np.ndarray
    state_distribution_by_kom: pd.DataFrame | None = None
    indicators_by_kom: pd.DataFrame | None = None
    cluster_mix_by_kom: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)


def run_sequence_analysis(
    seqs: np.ndarray,
    weights: np.ndarray | None = None,
    kom: np.ndarray | None = None,
    *,
    method: str = "OM",
    sm: str | np.ndarray = "TRATE",
    indel: float | np.ndarray | str = 1.0,
    cval: float = 2.0,
    norm: str = "none",
    dtype: np.dtype = np.float32,
    cluster_method: str = "pam",
    k: int | None = None,
    k_range: Sequence[int] = range(2, 11),
    clara_threshold: int = 12_000,
    clara_sample_size: int = 2000,
    clara_n_samples: int = 5,
    scheduler: Any = None,
    job_run_weeks: int = 3,
    passive_share: float = 0.9,
    within_weeks: int | None = None,
    none_includes_censored: bool = True,
    index_sample: int = 1000,
    n_label_periods: int = 3,
    min_cell: int = desc.MIN_CELL,
    seed: int = 0,
) -> SequenceAnalysisResult:
    """Run the sequence stage on ``seqs`` (``(n, L)`` codes of ``states.ALPHABET``).

    Steps: descriptives (state distribution by week overall and per ``kom``, entropy,
    mean time, transition rates), headline indicators, index-plot bands; distances
    (``method``/``sm``/``indel``/``norm`` as :func:`~kommunebench.sequences.distances.seqdist`,
    costs estimated once on all data) between distinct sequences; clustering for ``k``
    (or each k in ``k_range``, choosing the highest weighted ASW) by weighted PAM or
    Ward on the full matrix when there are at most ``clara_threshold`` distinct
    sequences, else by CLARA (PAM only) with ``clara_n_samples`` samples of
    ``clara_sample_size`` persons. Clusters are numbered by decreasing size and named
    by their dominant states. Deterministic given ``seed``.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    s = check_sequences(seqs, len(ALPHABET))
    n = s.shape[0]
    w = check_weights(weights, n)
    if kom is not None:
        kom = np.asarray(kom)
        if kom.shape != (n,):
            raise ValueError(f"kom must have shape ({n},); got {kom.shape}")
    if cluster_method not in ("pam", "ward"):
        raise ValueError(f"cluster_method must be 'pam' or 'ward'; got {cluster_method!r}")
    ks = [int(k)] if k is not None else list(k_range)

    res_desc = {
        "state_distribution": desc.state_distribution(s, w, min_cell=min_cell),
        "entropy": desc.entropy_by_week(s, w, min_cell=min_cell),
        "mean_time": desc.mean_time(s, w, min_cell=min_cell),
        "transition_rates": desc.transition_rates(s, w, min_cell=min_cell),
        "indicators": desc.headline_indicators(s, w, job_run_weeks=job_run_weeks, passive_share=passive_share,
                                               within_weeks=within_weeks,
                                               none_includes_censored=none_includes_censored, min_cell=min_cell),
        "index_plot": desc.index_plot_bands(s, sample=index_sample, band=max(min_cell, 1), seed=seed),
    }
    by_kom = {}
    if kom is not None:
        by_kom["state_distribution_by_kom"] = desc.state_distribution(s, w, kom, min_cell=min_cell, group_name="kom")
        by_kom["indicators_by_kom"] = desc.headline_indicators(
            s, w, kom, job_run_weeks=job_run_weeks, passive_share=passive_share, within_weeks=within_weeks,
            none_includes_censored=none_includes_censored, min_cell=min_cell, group_name="kom")
    timings["descriptives"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    costs = resolve_costs(s, method, sm=sm, indel=indel, cval=cval, norm=norm, weights=w)
    u = unique_sequences(s, w)
    route = "exact" if u.n_unique <= clara_threshold else "clara"
    if route == "exact":
        dm = seqdist(s, costs=costs, weights=w, dtype=dtype, scheduler=scheduler)
        timings["distances"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        D = dm.square()
        cr: ClusterRangeResult = cluster_range(D, ks, u.weights, method=cluster_method)
        part = cr.best
        del D
    else:
        if cluster_method != "pam":
            raise ValueError(f"{u.n_unique} distinct sequences exceed clara_threshold={clara_threshold}; "
                             "Ward needs the full matrix: use cluster_method='pam' (CLARA) or raise the threshold")
        t2 = time.perf_counter()
        cr = clara(u, costs, ks, sample_size=clara_sample_size, n_samples=clara_n_samples, seed=seed, dtype=dtype)
        part = cr.best
    timings["clustering"] = time.perf_counter() - t2

    kk = part.k
    remap = order_by_size(part.labels, u.weights, kk)
    labels_u = remap[part.labels]
    medoids = np.empty(kk, dtype=np.int64)
    medoids[remap] = part.medoids
    names = dominant_state_names(u, labels_u, kk, n_periods=n_label_periods)
    clusters = cluster_table(u, labels_u, medoids, part.dist, names, min_cell=min_cell)
    person_labels = labels_u[u.inverse]
    cluster_sd = desc.state_distribution(s, w, person_labels, min_cell=min_cell, group_name="cluster")
    mix = cluster_mix(person_labels, kom, w, names, min_cell=min_cell, group_name="kom") if kom is not None else None

    sub = costs.sub if costs.sub.ndim == 2 else costs.sub.mean(axis=0)
    quality = cr.quality.copy()
    quality.insert(0, "method", cr.method)
    quality["chosen"] = quality["k"] == kk
    info = {"n": n, "n_unique": u.n_unique, "share_unique": u.n_unique / n, "route": route,
            "cluster_method": cr.method, "k": kk, "distance": costs.method, "norm": costs.norm,
            "indel": None if costs.indel is None else costs.indel.tolist(), "dtype": np.dtype(dtype).name,
            "seed": seed, "timings_s": timings, **({"clara": cr.info} if cr.info else {})}
    timings["total"] = time.perf_counter() - t0
    return SequenceAnalysisResult(
        substitution_costs=pd.DataFrame(sub, index=list(ALPHABET), columns=list(ALPHABET)),
        cluster_quality=quality, clusters=clusters, cluster_state_distribution=cluster_sd,
        assignments=person_labels, cluster_mix_by_kom=mix, info=info, **res_desc, **by_kom)
