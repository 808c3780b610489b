"""Descriptive tables, headline indicators on hand-built sequences, and the whole stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kommunebench.sequences import (
    entropy_by_week,
    headline_indicators,
    index_plot_bands,
    mean_time,
    run_sequence_analysis,
    state_distribution,
    to_sps,
    transition_rates,
)
from kommunebench.sequences.synthetic import archetype_sequences
from kommunebench.states import STATE_INDEX


def seq(*spells: tuple[str, int]) -> list[int]:
    """A weekly sequence from (state, weeks) spells."""
    out: list[int] = []
    for st, weeks in spells:
        out += [STATE_INDEX[st]] * weeks
    return out


def indicator(df: pd.DataFrame, name: str) -> pd.Series:
    return df.set_index("indicator").loc[name]


# ten weeks each
HAND = np.array([
    seq(("PASSIVE", 2), ("JOB", 3), ("PASSIVE", 5)),       # 0 job run of 3, no active before
    seq(("INTERN", 2), ("JOB", 8)),                        # 1 job after internship
    seq(("JOB", 2), ("PASSIVE", 1), ("JOB", 2), ("PASSIVE", 5)),  # 2 no run of 3
    seq(("PASSIVE", 9), ("SICK", 1)),                      # 3 passive 90 %
    seq(("PASSIVE", 8), ("SICK", 2)),                      # 4 passive 80 %
    seq(("NONE", 10)),                                     # 5 never wages or benefits
    seq(("NONE", 6), ("CENS", 4)),                         # 6 never, then censored
    seq(("CENS", 10)),                                     # 7 never observed
    seq(("UPSKILL", 3), ("PASSIVE", 1), ("JOB", 6)),       # 8 job after upskilling (active, not WS/intern)
    seq(("WS_PUB", 4), ("PASSIVE", 5), ("NONE", 1)),       # 9 wage subsidy, no job
], dtype=np.int8)


def test_headline_indicators_on_hand_built_sequences():
    df = headline_indicators(HAND, min_cell=0)
    job = indicator(df, "job_within_followup")
    assert (job["n_numerator"], job["n_denominator"]) == (3, 10)  # persons 0, 1, 8
    passive = indicator(df, "passive_almost_all_time")
    assert (passive["n_numerator"], passive["n_denominator"]) == (1, 9)  # person 3; person 7 unobserved
    ws = indicator(df, "ever_wage_subsidy_or_internship")
    assert (ws["n_numerator"], ws["n_denominator"]) == (2, 10)  # persons 1, 9
    first = indicator(df, "first_job_without_prior_active_measure")
    assert (first["n_numerator"], first["n_denominator"]) == (1, 3)  # person 0 of 0, 1, 8
    never = indicator(df, "never_wages_or_benefits")
    assert (never["n_numerator"], never["n_denominator"]) == (2, 9)  # persons 5, 6
    assert never["share"] == pytest.approx(2 / 9)


def test_indicator_parameters_change_the_counts():
    df = headline_indicators(HAND, job_run_weeks=2, passive_share=0.8, none_includes_censored=False, min_cell=0)
    assert indicator(df, "job_within_followup")["n_numerator"] == 4  # person 2 now counts
    assert indicator(df, "passive_almost_all_time")["n_numerator"] == 2  # persons 3 and 4
    assert indicator(df, "never_wages_or_benefits")["n_numerator"] == 1  # person 6 excluded
    early = headline_indicators(HAND, within_weeks=4, min_cell=0)
    assert indicator(early, "job_within_followup")["n_numerator"] == 0  # no run of 3 in the first 4 weeks
    assert indicator(early, "ever_wage_subsidy_or_internship")["n_numerator"] == 2


def test_indicators_weighted_and_by_group_with_suppression():
    w = np.arange(1, 11, dtype=float)
    df = headline_indicators(HAND, w, min_cell=0)
    job = indicator(df, "job_within_followup")
    assert job["numerator"] == pytest.approx(1 + 2 + 9) and job["denominator"] == pytest.approx(55)
    groups = np.array([101] * 5 + [147] * 5)
    by = headline_indicators(HAND, groups=groups, min_cell=5, group_name="kom")
    row = by[(by["kom"] == 101) & (by["indicator"] == "job_within_followup")].iloc[0]
    assert row["suppressed"] and np.isnan(row["share"])  # 2 persons of 5
    row = by[(by["kom"] == 101) & (by["indicator"] == "ever_wage_subsidy_or_internship")].iloc[0]
    assert row["suppressed"]  # 1 person


def test_state_distribution_entropy_mean_time_and_rates():
    S = np.array([seq(("JOB", 4)), seq(("PASSIVE", 2), ("JOB", 2)), seq(("PASSIVE", 4)), seq(("JOB", 4))],
                 dtype=np.int8)
    sd = state_distribution(S, min_cell=0)
    wk1 = sd[sd["week"] == 1].set_index("state")
    assert wk1.loc["JOB", "share"] == pytest.approx(0.5) and wk1.loc["PASSIVE", "n_persons"] == 2
    assert sd.groupby("week")["share"].sum().round(12).eq(1).all()
    ent = entropy_by_week(S, min_cell=0)
    assert ent.loc[0, "entropy"] == pytest.approx(np.log(2) / np.log(11))  # 50/50 over 11 states
    assert ent.loc[3, "entropy"] == pytest.approx(-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)) / np.log(11))
    mt = mean_time(S, min_cell=0).set_index("state")
    assert mt.loc["JOB", "mean_weeks"] == pytest.approx(10 / 4)
    assert mt.loc["PASSIVE", "mean_weeks"] == pytest.approx(6 / 4)
    tr = transition_rates(S, min_cell=0).set_index(["from_state", "to_state"])
    assert tr.loc[("PASSIVE", "JOB"), "rate"] == pytest.approx(1 / 5)  # 1 of 5 PASSIVE weeks followed by a week
    assert tr.loc[("PASSIVE", "JOB"), "n_transitions"] == 1
    supp = transition_rates(S, min_cell=5).set_index(["from_state", "to_state"])
    assert supp.loc[("PASSIVE", "JOB"), "suppressed"] and np.isnan(supp.loc[("PASSIVE", "JOB"), "rate"])


def test_state_distribution_suppresses_small_cells_per_group():
    S = np.array([seq(("JOB", 3))] * 6 + [seq(("SICK", 3))] * 2, dtype=np.int8)
    sd = state_distribution(S, groups=np.array([1] * 8), min_cell=5, group_name="kom")
    sick = sd[(sd["state"] == "SICK") & (sd["week"] == 1)].iloc[0]
    job = sd[(sd["state"] == "JOB") & (sd["week"] == 1)].iloc[0]
    assert sick["suppressed"] and np.isnan(sick["share"])
    assert not job["suppressed"] and job["share"] == pytest.approx(6 / 8)


def test_index_plot_bands_are_aggregates_of_at_least_band_persons():
    S, _ = archetype_sequences([40, 30], length=30, noise=0.05, seed=1)
    bands = index_plot_bands(S, sample=70, band=5, seed=2)
    assert (bands["n_persons"] >= 5).all()
    assert bands.groupby("band")["week_end"].max().eq(30).all()
    assert bands["band"].nunique() == 14
    assert not {"id", "person", "pnr"} & set(bands.columns)


def test_sps_format():
    assert to_sps(np.array(seq(("PASSIVE", 20), ("JOB", 136)))) == "(PASSIVE,20)-(JOB,136)"


def test_run_sequence_analysis_end_to_end_and_deterministic():
    S, truth = archetype_sequences([150, 100, 80], length=52, noise=0.02, seed=11)
    kom = np.random.default_rng(0).choice([101, 147, 751], size=S.shape[0])
    a = run_sequence_analysis(S, kom=kom, k_range=range(2, 6), seed=3)
    b = run_sequence_analysis(S, kom=kom, k_range=range(2, 6), seed=3)
    np.testing.assert_array_equal(a.assignments, b.assignments)
    assert a.info["k"] == 3 and a.info["route"] == "exact"
    assert a.assignments.shape == (S.shape[0],)
    assert list(a.clusters["name"]) == ["JOB", "PASSIVE -> JOB", "EDU"]  # ordered by size
    assert a.clusters["n_persons"].tolist() == [150, 100, 80]
    assert a.cluster_quality["chosen"].sum() == 1
    assert set(a.cluster_mix_by_kom["kom"]) == {101, 147, 751}
    assert set(a.indicators_by_kom["kom"]) == {101, 147, 751}
    # the CLARA route gives the same typology on this clearly clustered data
    c = run_sequence_analysis(S, k_range=range(2, 6), clara_threshold=10, clara_sample_size=200,
                              clara_n_samples=2, seed=3)
    assert c.info["route"] == "clara" and c.info["k"] == 3
    np.testing.assert_array_equal(c.assignments, a.assignments)
    w = run_sequence_analysis(S, k=3, cluster_method="ward", seed=3)
    assert list(w.clusters["name"]) == ["JOB", "PASSIVE -> JOB", "EDU"]
    # no table carries person-level rows
    for name in ("state_distribution", "indicators", "index_plot", "clusters", "cluster_state_distribution"):
        assert len(getattr(a, name)) < S.shape[0] * 52


def test_run_sequence_analysis_rejects_bad_input():
    S, _ = archetype_sequences([20, 20], length=10)
    with pytest.raises(ValueError, match="kom"):
        run_sequence_analysis(S, kom=np.zeros(3))
    with pytest.raises(ValueError, match="cluster_method"):
        run_sequence_analysis(S, cluster_method="kmeans")
    with pytest.raises(ValueError, match="Ward needs the full matrix"):
        run_sequence_analysis(S, k=2, cluster_method="ward", clara_threshold=5)
