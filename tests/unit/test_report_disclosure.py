"""Disclosure control: where it fails and where it passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kommunebench.report import disclosure as sdc
from kommunebench.report.demo import build_demo_inputs
from kommunebench.report.inputs import disclosure_report, protect_inputs


def league(persons: list[int], events: list[int], *, measure: str = "success") -> pd.DataFrame:
    n = len(persons)
    expected = np.array(events, dtype=float) * 0.9 + 1
    return pd.DataFrame({
        "target_group": "flygtninge", "measure": measure, "kom": np.arange(101, 101 + n),
        "unit_name": [f"unit {i}" for i in range(n)], "persons": persons, "events_observed": events,
        "events_expected": expected, "oe_ratio": np.array(events) / expected,
        "oe_lower": 0.5, "oe_upper": 1.5, "indicator_pct": np.linspace(-5, 5, n),
        "funnel_lower": 1 - 1.96 / np.sqrt(expected), "funnel_upper": 1 + 1.96 / np.sqrt(expected),
    })


def suppressed(frame: pd.DataFrame, col: str) -> list[bool]:
    return [col in s.split(";") for s in frame["suppressed"]]


def test_small_count_is_suppressed_with_a_complementary_cell():
    out = sdc.protect(league([3, 40, 12, 60], [0, 20, 6, 30]), sdc.LEAGUE_TABLE)
    assert out["persons"].isna().tolist() == [True, False, True, False]  # 3 primary, 12 the smallest other
    assert out["persons"].dtype == "Int64"
    sdc.assert_aggregate(out, sdc.LEAGUE_TABLE)  # passes


def test_row_with_small_base_publishes_no_statistics():
    out = sdc.protect(league([3, 40, 12, 60], [1, 20, 6, 30]), sdc.LEAGUE_TABLE)
    row = out.iloc[0]
    for col in ("events_observed", "oe_ratio", "indicator_pct", "funnel_lower"):
        assert pd.isna(row[col]), col
    assert not pd.isna(out.loc[2, "indicator_pct"])  # secondary suppression keeps the estimate


def test_derived_rates_go_with_a_suppressed_count():
    out = sdc.protect(league([40, 50, 60, 70], [2, 20, 30, 35]), sdc.LEAGUE_TABLE)
    assert suppressed(out, "events_observed")[0]
    for col in ("oe_ratio", "oe_lower", "oe_upper"):
        assert pd.isna(out.loc[0, col]), col
    # the single small events count got a partner in the same table
    assert out["events_observed"].isna().sum() >= 2


def test_small_complement_suppresses_the_part():
    # 40 persons, 38 with the event: 2 without it is a small cell
    out = sdc.protect(league([40, 50, 60, 70], [38, 20, 30, 35]), sdc.LEAGUE_TABLE)
    assert pd.isna(out.loc[0, "events_observed"])
    assert not pd.isna(out.loc[0, "persons"])


def test_person_count_suppressed_hides_funnel_limits():
    out = sdc.protect(league([4, 50, 9, 70], [0, 20, 5, 35]), sdc.LEAGUE_TABLE)
    for i in (0, 2):
        assert pd.isna(out.loc[i, "persons"])
        assert pd.isna(out.loc[i, "funnel_lower"]) and pd.isna(out.loc[i, "funnel_upper"])


def test_small_cell_fails_the_check():
    raw = league([3, 40, 12, 60], [0, 20, 6, 30])
    v = sdc.disclosure_violations(raw, sdc.LEAGUE_TABLE)
    assert "small_cell" in set(v["rule"])
    with pytest.raises(sdc.DisclosureError, match="small_cell in column 'persons'"):
        sdc.assert_aggregate(raw, sdc.LEAGUE_TABLE)


def test_person_level_frame_is_refused():
    frame = pd.DataFrame({"PNR": ["0101011234", "0202021234"], "kom": [101, 147], "JOB": [1, 0]})
    with pytest.raises(sdc.PersonLevelDataError, match="PNR"):
        sdc.protect(frame)
    with pytest.raises(sdc.PersonLevelDataError):
        sdc.assert_aggregate(frame)
    assert set(sdc.disclosure_violations(frame)["rule"]) == {"person_identifier"}


def test_generic_count_column_under_threshold_is_refused():
    # no spec: a 'persons'-like column with counts under 5 marks the frame as unpublishable
    frame = pd.DataFrame({"kom": [101, 147, 151], "n": [1, 1, 1]})
    with pytest.raises(sdc.DisclosureError, match="'n'"):
        sdc.assert_aggregate(frame)
    assert sdc.protect(frame)["n"].isna().all()


def test_single_suppression_beside_a_total_is_recoverable_and_fails():
    out = sdc.protect(league([3, 40, 12, 60], [0, 20, 6, 30]), sdc.LEAGUE_TABLE)
    leaked = out.copy()
    leaked.loc[2, "persons"] = 12  # publish the complementary cell again
    leaked.loc[2, "suppressed"] = ""
    total = 3 + 40 + 12 + 60
    assert total - leaked["persons"].sum() == 3  # the small cell is recoverable from the total
    v = sdc.disclosure_violations(leaked, sdc.LEAGUE_TABLE)
    assert "single_suppression_in_total" in set(v["rule"])
    with pytest.raises(sdc.DisclosureError, match="recoverable"):
        sdc.assert_aggregate(leaked, sdc.LEAGUE_TABLE)


def test_published_rate_of_a_suppressed_count_fails():
    out = sdc.protect(league([40, 50, 60, 70], [2, 20, 30, 35]), sdc.LEAGUE_TABLE)
    leaked = out.copy()
    leaked.loc[0, "oe_ratio"] = 0.9
    v = sdc.disclosure_violations(leaked, sdc.LEAGUE_TABLE)
    assert v.loc[v["rule"] == "dependent_of_suppressed", "column"].tolist() == ["oe_ratio"]


def test_linked_tables_share_suppression():
    a = league([3, 50, 7, 70], [0, 20, 0, 35], measure="success")
    b = league([3, 50, 70], [0, 20, 35], measure="partial_success")
    b["kom"] = [101, 102, 104]  # the unit with 7 persons has no row for this measure
    alone = sdc.protect(b, sdc.LEAGUE_TABLE)
    assert alone["persons"].isna().tolist() == [True, True, False]  # 50 is the complement here
    out = sdc.protect(pd.concat([a, b], ignore_index=True), sdc.LEAGUE_TABLE)
    state = out.groupby("kom")["persons"].apply(lambda s: s.isna().nunique())
    assert (state == 1).all()  # a unit's persons is shown in both tables or in neither
    assert out[(out.kom == 102) & (out.measure == "success")]["persons"].isna().all()
    assert sdc.disclosure_violations(out, sdc.LEAGUE_TABLE).empty


def test_protect_is_idempotent_and_threshold_is_a_parameter():
    raw = league([3, 40, 12, 60, 8], [0, 20, 6, 30, 4])
    once = sdc.protect(raw, sdc.LEAGUE_TABLE)
    pd.testing.assert_frame_equal(once, sdc.protect(once, sdc.LEAGUE_TABLE))
    strict = sdc.protect(raw, sdc.LEAGUE_TABLE, threshold=10)
    # 8 persons: published statistics at threshold 5 (persons only hidden as a complement),
    # a small base with no statistics at threshold 10
    assert not pd.isna(once.loc[4, "indicator_pct"])
    assert pd.isna(strict.loc[4, "indicator_pct"])


def test_zero_counts_published_unless_asked():
    raw = league([40, 50, 60, 70], [0, 20, 30, 35])
    assert sdc.protect(raw, sdc.LEAGUE_TABLE).loc[0, "events_observed"] == 0
    assert pd.isna(sdc.protect(raw, sdc.LEAGUE_TABLE, protect_zeros=True).loc[0, "events_observed"])


def test_chronogram_week_never_has_a_single_suppressed_cell():
    chrono = pd.DataFrame({
        "target_group": "flygtninge", "week": [1] * 4 + [2] * 4,
        "state": ["JOB", "PASSIVE", "SICK", "EDU"] * 2,
        "n": [50, 40, 3, 7, 50, 45, 0, 5],
    })
    chrono["share"] = chrono["n"] / chrono.groupby("week")["n"].transform("sum")
    out = sdc.protect(chrono, sdc.CHRONOGRAM)
    w1 = out[out.week == 1]
    assert w1["n"].isna().tolist() == [False, False, True, True]
    assert w1["share"].isna().tolist() == [False, False, True, True]
    assert out[out.week == 2]["n"].isna().sum() == 0  # zero and five are publishable
    assert sdc.disclosure_violations(out, sdc.CHRONOGRAM).empty


def test_cluster_with_few_members_hides_its_medoid():
    clusters = pd.DataFrame({
        "target_group": "flygtninge", "cluster": [1, 2, 3], "label": ["a", "b", "c"],
        "size": [300, 200, 3], "share": [0.6, 0.39, 0.01],
        "medoid": [["JOB"] * 3, ["PASSIVE"] * 3, ["CENS"] * 3], "silhouette": [0.3, 0.2, 0.5],
    })
    out = sdc.protect(clusters, sdc.CLUSTER_TYPOLOGY)
    assert out["size"].isna().tolist() == [False, True, True]
    assert out.loc[2, "medoid"] is pd.NA or pd.isna(out.loc[2, "medoid"])
    assert out.loc[1, "medoid"] == ["PASSIVE"] * 3


def test_demo_inputs_fail_raw_and_pass_after_protection():
    inputs = build_demo_inputs(3)
    raw = disclosure_report(inputs, protected=False)
    assert {"small_cell", "row_statistic_on_small_base"} <= set(raw["rule"])
    assert {"league_table", "chronogram", "cluster_typology"} <= set(raw["table"])
    assert disclosure_report(inputs).empty
    p = protect_inputs(inputs)
    persons = p.league["persons"].dropna()
    assert (persons >= 5).all()
    for (_, _), g in p.league.groupby(["target_group", "measure"]):
        assert g["persons"].isna().sum() != 1
