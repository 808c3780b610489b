"""Distances and substitution costs against TraMineR 2.2.12 and hand-computed vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kommunebench.sequences import (
    condensed_rows,
    cross_distances,
    dhd_costs,
    from_strings,
    resolve_costs,
    seqdist,
    seqsubm,
    seqtrate,
    unique_sequences,
)
from kommunebench.states import ALPHABET

REF = Path(__file__).resolve().parents[1] / "data" / "traminer"
ABC = ("A", "B", "C")
DTYPES = [(np.float64, 1e-6), (np.float32, 1e-5)]


@pytest.fixture(scope="module")
def reference_sequences() -> np.ndarray:
    d = pd.read_csv(REF / "sequences.csv.gz")
    index = {a: i for i, a in enumerate(ALPHABET)}
    return d.iloc[:, 1:].apply(lambda c: c.map(index)).to_numpy().astype(np.int8)


def _abc(*rows: str) -> np.ndarray:
    return from_strings(list(rows), ABC)


def _dist(rows: np.ndarray, dtype=np.float64, **kw) -> np.ndarray:
    """Full matrix over the input rows (expanded from the distinct sequences)."""
    return seqdist(rows, n_states=3, dtype=dtype, **kw).expanded().astype(np.float64)


def test_trate_costs_equal_traminer(reference_sequences):
    ref = pd.read_csv(REF / "subm_trate.csv.gz", index_col=0)
    assert list(ref.index) == list(ALPHABET)
    np.testing.assert_allclose(seqsubm(reference_sequences, "TRATE"), ref.to_numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,rtol", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", [
    ("om_trate_indel1", {"method": "OM", "sm": "TRATE", "indel": 1.0}),
    ("om_const2_indel1", {"method": "OM", "sm": "CONSTANT", "cval": 2.0, "indel": 1.0}),
    ("ham", {"method": "HAM", "sm": None}),
    ("dhd", {"method": "DHD", "sm": None}),
    ("lcs", {"method": "LCS"}),
])
def test_distances_equal_traminer(reference_sequences, name, kwargs, dtype, rtol):
    ref = pd.read_csv(REF / f"dist_{name}.csv.gz").to_numpy()
    dm = seqdist(reference_sequences, dtype=dtype, **kwargs)
    assert dm.condensed.dtype == np.dtype(dtype)
    got = dm.expanded().astype(np.float64)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)


def test_each_distinct_sequence_computed_once(reference_sequences):
    doubled = np.concatenate([reference_sequences, reference_sequences[:50]])
    dm = seqdist(doubled, sm="CONSTANT")
    assert dm.n_unique == unique_sequences(reference_sequences).n_unique
    assert dm.condensed.shape == (dm.n_unique * (dm.n_unique - 1) // 2,)
    assert dm.unique.counts.sum() == doubled.shape[0]
    np.testing.assert_array_equal(dm.unique.sequences[dm.unique.inverse], doubled)
    full = dm.expanded()
    np.testing.assert_array_equal(full[300:, :], full[:50, :])


@pytest.mark.parametrize("s1,s2,kwargs,expected", [
    ("AAABBB", "AABBBB", {"method": "HAM", "sm": None}, 1.0),
    ("AAABBB", "AABBBB", {"method": "OM", "sm": "CONSTANT", "cval": 2.0, "indel": 1.0}, 2.0),
    ("ABCABC", "CABCAB", {"method": "HAM", "sm": None}, 6.0),
    ("ABCABC", "CABCAB", {"method": "OM", "sm": "CONSTANT", "cval": 2.0, "indel": 1.0}, 2.0),
    ("ABCABC", "CABCAB", {"method": "OM", "sm": "CONSTANT", "cval": 1.0, "indel": 2.0}, 4.0),
    ("ABCABC", "CABCAB", {"method": "LCS"}, 2.0),
    ("ABCABC", "CABCAB", {"method": "OM", "sm": "CONSTANT", "cval": 2.0, "indel": 1.0, "norm": "maxlength"}, 1 / 3),
    ("AABBCC", "ABC", {"method": "OM", "sm": "CONSTANT", "cval": 2.0, "indel": 1.0}, 3.0),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hand_vectors(s1, s2, kwargs, expected, dtype):
    d = _dist(_abc(s1, s2), dtype=dtype, **kwargs)
    assert d[0, 1] == pytest.approx(expected, rel=1e-6)
    assert d[1, 0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_user_cost_matrix_and_indel(dtype):
    sm = np.array([[0, 1, 2], [1, 0, 1.5], [2, 1.5, 0]])
    d = _dist(_abc("AAAAAA", "AAACCC", "AAABBB", "BBBCCC"), dtype=dtype, method="OM", sm=sm, indel=1.5)
    expected = np.array([[0, 6, 3, 9], [6, 0, 4.5, 3], [3, 4.5, 0, 7.5], [9, 3, 7.5, 0]])
    np.testing.assert_allclose(d, expected, rtol=1e-6)


def test_small_data_set_trate_ham_dhd():
    rows = _abc("AAABBB", "AABBCC")
    sm = seqsubm(rows, "TRATE", n_states=3)
    np.testing.assert_allclose(sm, [[0, 1.6, 2.0], [1.6, 0, 1.75], [2.0, 1.75, 0]], atol=1e-12)
    p = seqtrate(rows, n_states=3)
    assert p[0, 1] == pytest.approx(2 / 5) and p[1, 2] == pytest.approx(1 / 4)
    assert _dist(rows, method="OM", sm="TRATE", indel=1.0)[0, 1] == pytest.approx(3.75)
    assert _dist(rows, method="HAM", sm=None)[0, 1] == pytest.approx(3.0)
    assert _dist(rows, method="DHD", sm=None)[0, 1] == pytest.approx(10.0)
    assert dhd_costs(rows, n_states=3).shape == (6, 3, 3)


def test_weights_enter_trate():
    rows = _abc("AAABBB", "AABBCC")
    # doubling the weight of the first sequence is the same as repeating it
    np.testing.assert_allclose(seqsubm(rows, "TRATE", weights=np.array([2.0, 1.0]), n_states=3),
                               seqsubm(_abc("AAABBB", "AAABBB", "AABBCC"), "TRATE", n_states=3))


def test_block_rows_and_cross_match_full(reference_sequences):
    s = reference_sequences[:150]
    spec = resolve_costs(s, "OM", sm="TRATE")
    full = condensed_rows(s, 0, 150, spec, np.float64)
    n = 150
    for i0, i1 in [(0, 1), (3, 70), (70, 150), (149, 150)]:
        a = n * i0 - i0 * (i0 + 1) // 2
        b = n * i1 - i1 * (i1 + 1) // 2
        np.testing.assert_array_equal(condensed_rows(s, i0, i1, spec, np.float64), full[a:b])
    cross = cross_distances(s[10:13], s, spec, np.float64)
    sq = np.zeros((n, n))
    sq[np.triu_indices(n, 1)] = full
    sq = sq + sq.T
    np.testing.assert_allclose(cross, sq[10:13], rtol=1e-12)


def test_dask_route_equals_in_process(reference_sequences):
    from dask.distributed import Client, LocalCluster

    s = reference_sequences[:120]
    local = seqdist(s, sm="TRATE", dtype=np.float64)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dk = seqdist(s, sm="TRATE", dtype=np.float64, scheduler=client, n_blocks=5)
    np.testing.assert_array_equal(dk.condensed, local.condensed)
    assert dk.info["route"] == "dask"


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="state codes"):
        seqdist(np.array([[0, 1, 11]]))
    with pytest.raises(ValueError, match="2-D"):
        seqdist(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="void"):
        seqdist(np.array([[0, -1, 1], [0, 1, 1]]))
    with pytest.raises(ValueError, match="equal length"):
        seqdist(_abc("AAB", "AB"), method="HAM", sm=None, n_states=3)
    with pytest.raises(ValueError, match="diagonal"):
        seqdist(_abc("AAB", "ABB"), sm=np.ones((3, 3)), n_states=3)
    with pytest.raises(ValueError, match="method"):
        seqdist(_abc("AAB", "ABB"), method="EUCLID", n_states=3)
    with pytest.raises(ValueError, match="indel"):
        seqdist(_abc("AAB", "ABB"), sm="CONSTANT", indel=-1, n_states=3)
