"""Weighted PAM, weighted Ward, weighted silhouette and CLARA."""

from __future__ import annotations

import kmedoids
import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import adjusted_rand_score, silhouette_score

from kommunebench.sequences import (
    adjusted_rand,
    clara,
    cluster_range,
    cut_tree,
    pam,
    resolve_costs,
    seqdist,
    silhouette,
    unique_sequences,
    ward,
)
from kommunebench.sequences.synthetic import archetype_sequences, markov_sequences


@pytest.fixture(scope="module")
def points():
    """Four blobs of distinct points with integer multiplicities, and the repeated data."""
    rng = np.random.default_rng(1)
    U = np.concatenate([rng.normal(c, 0.8, size=(30, 2)) for c in ([0, 0], [5, 0], [0, 5], [5, 5])])
    w = rng.integers(1, 5, size=U.shape[0])
    X = np.repeat(U, w, axis=0)
    return U, w, X


@pytest.fixture(scope="module")
def archetypes():
    S, truth = archetype_sequences([120, 80, 60], length=60, noise=0.01, seed=5)
    return S, truth, seqdist(S, sm="TRATE", dtype=np.float64)


def test_weighted_pam_on_distinct_equals_pam_on_all(points):
    U, w, X = points
    ru = pam(squareform(pdist(U)), 4, w)
    ra = pam(squareform(pdist(X)), 4)
    assert ru.cost == pytest.approx(ra.cost, rel=1e-12)
    assert sorted(map(tuple, U[ru.medoids])) == sorted(map(tuple, X[ra.medoids]))
    assert adjusted_rand_score(np.repeat(ru.labels, w), ra.labels) == 1.0
    # same objective as the kmedoids package's FasterPAM on the repeated data
    ref = kmedoids.fasterpam(squareform(pdist(X)), 4, init="build", random_state=0)
    assert ru.cost == pytest.approx(float(ref.loss), rel=1e-9)


def test_weighted_pam_on_sequences(archetypes):
    S, _, dm = archetypes
    ru = pam(dm.square(), 3, dm.unique.weights)
    ra = pam(dm.expanded(), 3)
    assert ru.cost == pytest.approx(ra.cost, rel=1e-9)
    assert {dm.unique.sequences[m].tobytes() for m in ru.medoids} == {S[m].tobytes() for m in ra.medoids}


def test_pam_is_deterministic_and_improves_on_build(points):
    U, w, _ = points
    D = squareform(pdist(U))
    a, b = pam(D, 5, w), pam(D, 5, w)
    np.testing.assert_array_equal(a.medoids, b.medoids)
    np.testing.assert_array_equal(a.labels, b.labels)
    # starting from a bad solution, the swaps must reach a lower objective
    bad = pam(D, 5, w, init=np.arange(5), max_iter=0)
    good = pam(D, 5, w, init=np.arange(5))
    assert good.cost < bad.cost and good.n_swaps > 0


def test_weighted_silhouette_equals_silhouette_on_all(points):
    U, w, X = points
    lab = pam(squareform(pdist(U)), 4, w).labels
    asw, s = silhouette(squareform(pdist(U)), lab, w)
    ref = silhouette_score(squareform(pdist(X)), np.repeat(lab, w), metric="precomputed")
    assert asw == pytest.approx(ref, rel=1e-10)
    assert s.shape == (U.shape[0],)


def test_weighted_ward_equals_ward_on_all(points):
    U, w, X = points
    Zu = ward(squareform(pdist(U)), w)
    Za = linkage(pdist(X), "ward")
    for k in range(2, 10):
        assert adjusted_rand_score(np.repeat(cut_tree(Zu, k), w), fcluster(Za, k, "maxclust")) == 1.0
    # merge heights: all of them, after the zero-height merges of identical copies
    np.testing.assert_allclose(Zu[:, 2], Za[-Zu.shape[0]:, 2], rtol=1e-10)
    # SciPy's linkage on the scaled distances alone (no sizes) does not reproduce it
    scaled = squareform(pdist(U)) * np.sqrt(2 * np.outer(w, w) / (w[:, None] + w[None, :]))
    Zs = linkage(squareform(scaled, checks=False), "ward")
    assert not np.allclose(Zs[:, 2], Zu[:, 2])


def test_ward_is_deterministic(archetypes):
    _, _, dm = archetypes
    a = ward(dm.square(), dm.unique.weights)
    b = ward(dm.square(), dm.unique.weights)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["pam", "ward"])
def test_silhouette_picks_the_planted_number_of_clusters(archetypes, method):
    S, truth, dm = archetypes
    cr = cluster_range(dm.square(), range(2, 7), dm.unique.weights, method=method)
    assert cr.best_k == 3
    assert list(cr.quality["k"]) == [2, 3, 4, 5, 6]
    assert adjusted_rand_score(truth, cr.best.labels[dm.unique.inverse]) == 1.0


def test_clara_recovers_clusters_and_is_deterministic():
    S, truth = archetype_sequences([900, 600, 500], length=60, noise=0.02, seed=9)
    u = unique_sequences(S)
    costs = resolve_costs(S, "OM", sm="TRATE")
    a = clara(u, costs, range(2, 6), sample_size=300, n_samples=3, seed=4)
    b = clara(u, costs, range(2, 6), sample_size=300, n_samples=3, seed=4)
    assert a.best_k == 3
    assert adjusted_rand_score(truth, a.best.labels[u.inverse]) == 1.0
    np.testing.assert_array_equal(a.best.labels, b.best.labels)
    np.testing.assert_array_equal(a.best.medoids, b.best.medoids)
    q = a.quality.set_index("k")
    assert q.loc[3, "ari_runner_up"] == pytest.approx(1.0)
    assert set(q.columns) >= {"asw", "objective", "medoid_silhouette", "ari_runner_up", "ari_mean"}
    # the kept sample has the lowest full-data objective of the samples for that k
    assert (q["objective"] > 0).all()


def test_clara_objective_close_to_exact_pam():
    S = markov_sequences(600, 52, stay=0.95, seed=2)
    costs = resolve_costs(S, "OM", sm="TRATE")
    u = unique_sequences(S)
    exact = pam(seqdist(S, costs=costs, dtype=np.float64).square(), 4, u.weights)
    cl = clara(u, costs, [4], sample_size=400, n_samples=4, seed=1, dtype=np.float64)
    assert cl.best.objective >= exact.cost * (1 - 1e-9)
    assert cl.best.objective <= exact.cost * 1.10


def test_weighted_adjusted_rand_equals_ari_on_all(points):
    U, w, _ = points
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 3, U.shape[0]), rng.integers(0, 4, U.shape[0])
    assert adjusted_rand(a, b, w) == pytest.approx(adjusted_rand_score(np.repeat(a, w), np.repeat(b, w)), rel=1e-12)


def test_bad_k_is_rejected(points):
    U, w, _ = points
    with pytest.raises(ValueError, match="k"):
        pam(squareform(pdist(U)), U.shape[0], w)
    with pytest.raises(ValueError, match="k range"):
        cluster_range(squareform(pdist(U)), [1, 2], w)
    with pytest.raises(ValueError, match="weights"):
        pam(squareform(pdist(U)), 2, -w)
