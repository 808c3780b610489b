"""Sequence analysis of the weekly state paths, in TraMineR's and WeightedCluster's
vocabulary: descriptives (``seqstatd``, ``seqmeant``, ``seqtrate``), substitution
costs (``seqsubm``), distances (``seqdist``: OM, LCS, HAM, DHD), clustering (weighted
PAM, weighted Ward, CLARA, average silhouette) and the headline indicators.

Input convention: an integer array ``(n, L)`` of positions in
:data:`kommunebench.states.ALPHABET` (``-1`` pads shorter sequences at the end),
optional weights per sequence and optional municipality codes.
"""

from kommunebench.sequences.clustering import (
    ClusterRangeResult,
    PamResult,
    Partition,
    adjusted_rand,
    clara,
    cluster_range,
    cut_tree,
    medoids_of,
    pam,
    silhouette,
    ward,
)
from kommunebench.sequences.costs import dhd_costs, seqsubm, seqtrate
from kommunebench.sequences.data import UniqueSequences, check_sequences, from_strings, to_sps, unique_sequences
from kommunebench.sequences.descriptives import (
    INDICATORS,
    entropy_by_week,
    headline_indicators,
    index_plot_bands,
    mean_time,
    state_distribution,
    transition_rates,
)
from kommunebench.sequences.distances import (
    CostSpec,
    DistanceMatrix,
    condensed_rows,
    condensed_to_square,
    cross_distances,
    resolve_costs,
    seqdist,
)
from kommunebench.sequences.pipeline import SequenceAnalysisResult, run_sequence_analysis

__all__ = [
    "ClusterRangeResult", "CostSpec", "DistanceMatrix", "INDICATORS", "PamResult", "Partition",
    "SequenceAnalysisResult", "UniqueSequences", "adjusted_rand", "check_sequences", "clara",
    "cluster_range", "condensed_rows", "condensed_to_square", "cross_distances", "cut_tree",
    "dhd_costs", "entropy_by_week", "from_strings", "headline_indicators", "index_plot_bands",
    "mean_time", "medoids_of", "pam", "resolve_costs", "run_sequence_analysis", "seqdist",
    "seqsubm", "seqtrate", "silhouette", "state_distribution", "to_sps", "transition_rates",
    "unique_sequences", "ward",
]
