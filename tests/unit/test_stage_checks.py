"""Every check of the spells, cohorts, outcomes, models and sequences stages, on crafted
staged data in which it fails (and on clean data in which it passes)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.cohorts import cohort_outcomes
from assets.models import league_outcomes, oe_total_outcome
from assets.outcomes import outcome_outcomes
from assets.sequences import assignment_outcome, share_outcome
from assets.spells import person_weeks_outcomes, spells_outcomes


@pytest.fixture
def conn():
    c = duckdb.connect()
    for s in ("stage", "raw", "spells", "cohorts", "ref"):
        c.execute(f"CREATE SCHEMA {s}")
    c.execute("CREATE TABLE ref.municipalities AS SELECT * FROM (VALUES (101), (147)) t(kommunekode)")
    yield c
    c.close()


# ---------------------------------------------------------------- spells

def _person_weeks(conn, rows, persons=("a", "b")):
    conn.execute("CREATE OR REPLACE TABLE raw.dream AS SELECT * FROM (VALUES " + ",".join(f"('{p}')" for p in persons) + ") t(PNR)")
    conn.execute(
        "CREATE OR REPLACE TABLE spells.person_weeks AS SELECT * FROM (VALUES " + ",".join(
            f"('{p}', 2012, {w}, {'NULL' if s is None else repr(s)})" for p, w, s in rows
        ) + ") t(PNR, year, week_seq, state)"
    )


def test_person_weeks_checks_pass_on_clean_stage(conn):
    _person_weeks(conn, [(p, w, "NONE") for p in "ab" for w in (1, 2)])
    unique, complete = person_weeks_outcomes(conn, 2012, n_weeks=2)
    assert unique.passed and complete.passed


def test_person_week_unique_fails_on_duplicate_person(conn):
    # a person delivered twice gives every one of their weeks twice
    _person_weeks(conn, [("a", 1, "NONE"), ("a", 1, "NONE"), ("a", 2, "NONE"), ("a", 2, "NONE"), ("b", 1, "NONE"),
                         ("b", 2, "NONE")], persons=("a", "a", "b"))
    unique, _ = person_weeks_outcomes(conn, 2012, n_weeks=2)
    assert not unique.passed and unique.failing_rows == 2


@pytest.mark.parametrize("rows", [
    [("a", 1, "NONE"), ("a", 2, "NONE"), ("b", 1, "NONE")],            # a missing week
    [("a", 1, "NONE"), ("a", 2, None), ("b", 1, "NONE"), ("b", 2, "NONE")],  # a week without a state
    [("a", 1, "NONE"), ("a", 2, "LIMBO"), ("b", 1, "NONE"), ("b", 2, "NONE")],  # a state not in the alphabet
])
def test_person_weeks_complete_fails(conn, rows):
    _person_weeks(conn, rows)
    _, complete = person_weeks_outcomes(conn, 2012, n_weeks=2)
    assert not complete.passed and complete.failing_rows >= 1


def _spells(conn, spells, pw_weeks):
    """spells: (PNR, start, end, n_weeks[, state]); pw_weeks: PNR -> weeks (state NONE) or (week, state) pairs."""
    def cell(w):
        return w if isinstance(w, tuple) else (w, "NONE")
    conn.execute("CREATE OR REPLACE TABLE spells.person_weeks AS SELECT * FROM (VALUES " + ",".join(
        f"('{p}', 2012, {cell(w)[0]}, '{cell(w)[1]}')" for p, ws in pw_weeks.items() for w in ws)
        + ") t(PNR, year, week_seq, state)")
    conn.execute("CREATE OR REPLACE TABLE spells.spells AS SELECT * FROM (VALUES " + ",".join(
        f"('{sp[0]}', 2012, {sp[1]}, {sp[2]}, {sp[3]}, '{sp[4] if len(sp) > 4 else 'NONE'}')" for sp in spells)
        + ") t(PNR, year, start_week_seq, end_week_seq, n_weeks, state)")


def test_spell_checks_pass_on_clean_spells(conn):
    _spells(conn, [("a", 1, 2, 2), ("a", 3, 4, 2)], {"a": [1, 2, 3, 4]})
    valid, rec = spells_outcomes(conn, 2012)
    assert all(o.passed for o in valid + rec)


def test_spells_valid_fails_on_overlap_and_bad_order(conn):
    _spells(conn, [("a", 1, 3, 3), ("a", 3, 4, 2), ("a", 6, 5, 1)], {"a": [1, 2, 3, 4, 5, 6]})
    valid, _ = spells_outcomes(conn, 2012)
    by_rule = {o.rule: o for o in valid}
    assert not by_rule["spells_do_not_overlap"].passed
    assert not by_rule["spell_start_le_end"].passed


def test_spells_reconcile_fails_when_weeks_are_lost(conn):
    _spells(conn, [("a", 1, 2, 2)], {"a": [1, 2, 3]})
    _, rec = spells_outcomes(conn, 2012)
    assert not rec[0].passed and rec[0].failing_rows == 1


def test_spells_reconcile_fails_when_a_spell_swallows_another_state(conn):
    # the weeks add up, but weeks 3-4 were JOB and the spell says NONE (a missed spell start)
    _spells(conn, [("a", 1, 4, 4, "NONE")], {"a": [1, 2, (3, "JOB"), (4, "JOB")]})
    _, rec = spells_outcomes(conn, 2012)
    assert not rec[0].passed and rec[0].failing_rows == 2


# ---------------------------------------------------------------- cohorts

def _members(conn, rows):
    conn.execute(
        "CREATE OR REPLACE TABLE stage.cohort_members AS SELECT * FROM (VALUES " + ",".join(
            f"('{p}', '{g}', DATE '{d}', {k}, {f}, {a})" for p, g, d, k, f, a in rows
        ) + ") t(PNR, target_group, start_date, kom, ledighed_pendling, age)"
    )


GOOD = [("a", "flygtninge", "2013-03-01", 101, 4.0, 30), ("b", "svage_indvandrere", "2013-05-06", 147, 5.0, 50)]


def test_cohort_checks_pass_on_clean_members(conn):
    _members(conn, GOOD)
    uniq, valid, sizes, _ = cohort_outcomes(conn, 2013, {"flygtninge": 1, "svage_indvandrere": 1, "familiesammenfoerte": 0})
    assert all(o.passed for o in uniq + valid + sizes)


def test_one_row_per_person_group_cohort_fails(conn):
    _members(conn, GOOD + [GOOD[0]])
    uniq, _, _, _ = cohort_outcomes(conn, 2013, None)
    assert not uniq[0].passed and uniq[0].failing_rows == 1


@pytest.mark.parametrize("bad, rule", [
    (("c", "flygtninge", "2012-12-01", 101, 4.0, 30), "start_in_cohort_year"),
    (("c", "flygtninge", "2013-02-01", 999, 4.0, 30), "valid_municipality"),
    (("c", "flygtninge", "2013-02-01", 101, "NULL", 30), "framework_conditions_present"),
    (("c", "flygtninge", "2013-02-01", 101, 4.0, 17), "age_within_limits"),
    (("c", "svage_indvandrere", "2013-02-01", 101, 4.0, 70), "age_within_limits"),
])
def test_members_valid_fails(conn, bad, rule):
    _members(conn, GOOD + [bad])
    _, valid, _, _ = cohort_outcomes(conn, 2013, None)
    failed = {o.rule for o in valid if not o.passed}
    assert failed == {rule}


def test_cohort_sizes_fail_when_a_year_is_doubled_or_lost(conn):
    _members(conn, GOOD)
    _, _, sizes, _ = cohort_outcomes(conn, 2013, {"flygtninge": 2, "svage_indvandrere": 1, "familiesammenfoerte": 0})
    assert [o.column for o in sizes if not o.passed] == ["flygtninge"]


# ---------------------------------------------------------------- outcomes

def _outcomes(conn, members, rows):
    conn.execute("CREATE OR REPLACE TABLE cohorts.cohort_members AS SELECT * FROM (VALUES " + ",".join(
        f"('{p}', 2013)" for p in members) + ") t(PNR, cohort_year)")
    conn.execute(
        "CREATE OR REPLACE TABLE stage.outcomes AS SELECT PNR, target_group, followup_weeks, success_weeks, success_event, "
        "partial_weeks, exit_type, observed_weeks, sequence FROM (VALUES " + ",".join(
            f"('{p}', 'flygtninge', 156, {sw}, {ev}, {pw}, '{ex}', {ob}, {seq})" for p, sw, ev, pw, ex, ob, seq in rows
        ) + ") t(PNR, target_group, followup_weeks, success_weeks, success_event, partial_weeks, exit_type, observed_weeks, sequence)"
    )


OK_ROW = ("a", 10, "true", 156, "success", 3, "[0, 0, 0]")


def test_outcome_checks_pass_on_clean_outcomes(conn):
    _outcomes(conn, ["a"], [OK_ROW])
    one, consistent = outcome_outcomes(conn, 2013)
    assert all(o.passed for o in one + consistent)


def test_one_outcome_per_member_fails_on_missing_member(conn):
    _outcomes(conn, ["a", "b"], [OK_ROW])
    one, _ = outcome_outcomes(conn, 2013)
    assert not one[0].passed


@pytest.mark.parametrize("row, rule", [
    (("a", 200, "false", 156, "end_of_followup", 3, "[0, 0, 0]"), "durations_within_followup"),
    (("a", 10, "false", 156, "success", 3, "[0, 0, 0]"), "event_flag_matches_exit"),
    (("a", 0, "true", 156, "success", 3, "[0, 0, 0]"), "event_after_week_zero"),
    (("a", 10, "true", 156, "success", 5, "[0, 0, 0]"), "sequence_length_equals_observed_weeks"),
])
def test_durations_and_flags_consistent_fails(conn, row, rule):
    _outcomes(conn, ["a"], [row])
    _, consistent = outcome_outcomes(conn, 2013)
    assert {o.rule for o in consistent if not o.passed} == {rule}


# ---------------------------------------------------------------- models / benchmark

def _league(**over):
    df = pd.DataFrame({
        "target_group": "flygtninge", "measure": "success", "kom": [101, 147, 151],
        "persons": [100, 50, 10], "too_small": [False, False, True],
        "events_observed": [20.0, 10.0, 1.0], "events_expected": [18.0, 12.0, 1.0],
        "indicator_pct": [2.0, -3.0, np.nan], "indicator_pct_lo": [-1.0, -9.0, np.nan], "indicator_pct_hi": [4.0, 2.0, np.nan],
        "indicator_pct_shrunken": [1.0, -1.0, np.nan],
        "rank": [1.0, 2.0, np.nan], "rank_lo": [1.0, 1.0, np.nan], "rank_hi": [2.0, 2.0, np.nan],
        "fifth": [1.0, 5.0, np.nan], "class": ["as_expected", "not_distinguishable", "too_small"],
        "distinguishable": True,
    })
    for k, v in over.items():
        df[k] = v
    return df


def test_league_checks_pass_on_clean_table():
    size, ints = league_outcomes(_league(), 20)
    assert all(o.passed for o in size + ints)
    assert oe_total_outcome(_league(), "x").passed


def test_no_small_municipality_ranked_fails():
    size, _ = league_outcomes(_league(rank=[1.0, 2.0, 3.0]), 20)
    assert not size[0].passed
    size, _ = league_outcomes(_league(too_small=[False, False, False]), 20)  # 10 persons, not flagged
    assert not size[0].passed


def test_intervals_contain_estimates_fails():
    _, ints = league_outcomes(_league(indicator_pct=[15.0, -3.0, np.nan]), 20)
    assert {o.rule for o in ints if not o.passed} == {"indicator_within_interval", "classes_as_documented"} - {"classes_as_documented"}
    _, ints = league_outcomes(_league(rank_hi=[2.0, 5.0, np.nan]), 20)
    assert {o.rule for o in ints if not o.passed} == {"rank_interval_valid"}
    _, ints = league_outcomes(_league(rank_lo=[2.0, 1.0, np.nan], rank_hi=[1.0, 2.0, np.nan]), 20)
    assert {o.rule for o in ints if not o.passed} == {"rank_interval_valid"}


def test_classes_as_documented_fails():
    # "as expected" whose interval leaves the ±5 % band
    _, ints = league_outcomes(_league(indicator_pct_lo=[-7.0, -9.0, np.nan]), 20)
    assert {o.rule for o in ints if not o.passed} == {"classes_as_documented"}
    # "better" whose interval reaches below 0
    _, ints = league_outcomes(_league(**{"class": ["better", "not_distinguishable", "too_small"]}), 20)
    assert {o.rule for o in ints if not o.passed} == {"classes_as_documented"}


def test_percentages_off_the_bounded_scale_fail():
    _, ints = league_outcomes(_league(indicator_pct_lo=[-1.0, -7000.0, np.nan]), 20)
    assert {o.rule for o in ints if not o.passed} == {"percentages_on_the_bounded_scale"}
    # the Weibull AFT sensitivity column is read on the same bounded scale
    _, ints = league_outcomes(_league(aft_time_ratio_pct=[3.0, -429.5, np.nan]), 20)
    assert {o.rule for o in ints if not o.passed} == {"percentages_on_the_bounded_scale"}


def test_ranks_where_units_cannot_be_told_apart_fail():
    _, ints = league_outcomes(_league(distinguishable=False), 20)
    assert {o.rule for o in ints if not o.passed} == {"no_ranks_when_units_cannot_be_told_apart"}
    clean = _league(distinguishable=False, rank=np.nan, rank_lo=np.nan, rank_hi=np.nan, fifth=np.nan)
    _, ints = league_outcomes(clean, 20)
    assert all(o.passed for o in ints)


def test_observed_equals_expected_fails_when_totals_differ():
    assert not oe_total_outcome(_league(events_expected=[18.0, 14.0, 1.0]), "x").passed


# ---------------------------------------------------------------- sequences

def test_every_person_in_one_cluster():
    assert assignment_outcome(np.array([0, 1, 2]), 3, 3, "g").passed
    assert not assignment_outcome(np.array([0, 1, 3]), 3, 3, "g").passed
    assert not assignment_outcome(np.array([0, 1]), 3, 3, "g").passed


def test_state_shares_sum_to_one():
    seqs = np.array([[0, 1, -1], [2, 2, 2]], dtype=np.int8)
    assert share_outcome(seqs, "g").passed
    seqs[0, 0] = 42  # not a state of the alphabet
    assert not share_outcome(seqs, "g").passed


# ---------------------------------------------------------------- reports

def test_disclosure_check_fails_on_unprotected_small_cell():
    from dataclasses import replace

    from kommunebench.report import build_demo_inputs, disclosure_report, protect_inputs

    inputs = build_demo_inputs(1)
    league = inputs.league.copy()
    league.loc[league.index[0], "persons"] = 3
    league.loc[league.index[0], "too_small"] = True
    raw_inputs = replace(inputs, league=league)
    assert not disclosure_report(raw_inputs, protected=False).empty       # the check fails as given
    assert disclosure_report(protect_inputs(raw_inputs), protected=False).empty  # and passes once protected
