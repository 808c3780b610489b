"""Hand-built persons whose group membership, event times and censoring are known exactly."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from builders import Person, write_delivery
from orchestration.runner import run_job

pytestmark = pytest.mark.integration
D = dt.date
YEARS = range(2010, 2019)


def persons() -> list[Person]:
    # person numbers are 10 characters, like real ones (the load refuses others): 00000000R1 is R1
    r1 = Person("00000000R1", birth=D(1985, 1, 1), permit=(D(2012, 3, 1), "7_1"), intpgm=(D(2012, 3, 5), D(2015, 3, 1)))
    r1.weeks(D(2012, 2, 27), ["135"] * 20).job_weeks(D(2012, 7, 16), 10)
    f1 = Person("00000000F1", kon="K", birth=D(1990, 5, 5), permit=(D(2013, 6, 10), "9_1_1"), intpgm=(D(2013, 6, 17), D(2016, 6, 1)))
    f1.weeks(D(2013, 6, 10), ["212"] * 8).job_weeks(D(2013, 8, 5), 2).weeks(D(2013, 8, 19), ["135"] * 4)
    f1.weeks(D(2013, 9, 16), ["651"] * 30)
    w1 = Person("00000000W1", birth=D(1970, 2, 2), first_immigration=D(2005, 3, 1), match={(2012, 2): 2})
    w1.weeks(D(2012, 5, 7), ["130"] * 104)
    w1.weeks(D(2012, 5, 7) + dt.timedelta(weeks=29), ["221"] * 6)  # t = 30..35: private internship
    w1.weeks(D(2012, 5, 7) + dt.timedelta(weeks=59), ["997"] * 200)  # t = 60: emigrates
    m1 = Person("00000000M1", permit=(D(2012, 5, 2), "7_1"), intpgm=(D(2012, 5, 7), D(2015, 5, 1)), kom={2012: 101, 2013: 147, 2014: 147, 2015: 147})
    m1.weeks(D(2012, 4, 30), ["135"] * 156)
    s1 = Person("00000000S1", opr_land=5120, permit=(D(2012, 4, 4), "7_1"), intpgm=(D(2012, 4, 9), D(2015, 4, 1)))  # Swedish: western
    k1 = Person("00000000K1", permit=(D(2015, 12, 15), "8_1"), intpgm=(D(2015, 12, 21), D(2018, 12, 1)))  # run across ISO week 53 of 2015
    k1.weeks(D(2015, 12, 14), ["135", "135"]).job_weeks(D(2015, 12, 28), 4)
    k1.weeks(D(2016, 1, 25), ["135"] * 10)
    return [r1, f1, w1, m1, s1, k1]


@pytest.fixture
def materialised(defs, resources, instance):
    write_delivery(persons(), resources["landing"].root, YEARS)
    assert run_job(defs, "load_registers", instance=instance).success
    for y in YEARS:
        step = run_job(defs, "register_years", instance=instance, partition=str(y))
        assert step.success, step.error
    for c in (2012, 2013, 2015):
        step = run_job(defs, "cohorts", instance=instance, partition=str(c))
        assert step.success, step.error
    return resources["warehouse"].database


def rows(db, sql):
    with duckdb.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_group_membership(materialised):
    got = rows(materialised, "SELECT PNR, target_group, cohort_year FROM cohorts.cohort_members ORDER BY PNR")
    assert got == [
        ("00000000F1", "familiesammenfoerte", 2013),
        ("00000000K1", "flygtninge", 2015),
        ("00000000M1", "flygtninge", 2012),
        ("00000000R1", "flygtninge", 2012),
        ("00000000W1", "svage_indvandrere", 2012),
    ]  # S1 (western origin) is not a member


def test_event_times_and_censoring(materialised):
    got = {
        r[0]: r[1:]
        for r in rows(
            materialised,
            "SELECT PNR, success_weeks, success_event, partial_weeks, partial_event, exit_type, followup_weeks "
            "FROM outcomes.outcomes",
        )
    }
    # R1: 20 weeks of integration benefit, job from week 21
    assert got["00000000R1"] == (21, True, 156, False, "success", 156)
    # F1: 8 weeks upskilling, a 2-week job (too short), 4 weeks benefit, education from week 15
    assert got["00000000F1"] == (14, False, 14, False, "education", 156)
    # W1: passive, private internship in weeks 30-35 (partial success), emigrates in week 60
    assert got["00000000W1"] == (59, False, 30, True, "censoring_code", 104)
    # M1: never a job, followed to the end
    assert got["00000000M1"][:2] == (156, False) and got["00000000M1"][4] == "end_of_followup"
    # K1: job run crossing ISO week 53 of 2015 starts in week 3
    assert got["00000000K1"][:2] == (3, True)


def test_mover_assigned_to_entry_municipality(materialised):
    got = dict(rows(materialised, "SELECT PNR, kom FROM cohorts.cohort_members"))
    assert got["00000000M1"] == 101
    longest = dict(rows(materialised, "SELECT PNR, kom_longest FROM cohorts.cohort_members"))
    assert longest["00000000M1"] == 147


def test_week_53_present_for_2015(materialised):
    got = rows(materialised, "SELECT year, max(week) FROM spells.person_weeks WHERE year IN (2014, 2015, 2016) GROUP BY year ORDER BY year")
    assert got == [(2014, 52), (2015, 53), (2016, 52)]


def test_sequence_of_weeks(materialised):
    from kommunebench.states import STATE_INDEX

    (seq,) = rows(materialised, "SELECT sequence FROM outcomes.outcomes WHERE PNR = '00000000W1'")[0]
    assert len(seq) == 104
    assert seq[0] == STATE_INDEX["PASSIVE"] and seq[29] == STATE_INDEX["INTERN"] and seq[59] == STATE_INDEX["CENS"]


def _spells_by_hand(db) -> set[tuple]:
    """Maximal runs of one state per person and year, collapsed here in Python from the
    person-weeks (an independent oracle for sql/spells/spells.sql)."""
    out, prev = set(), None
    for pnr, year, week_seq, state, last_of_prev in rows(
        db,
        "SELECT pw.PNR, pw.year, pw.week_seq, pw.state, lp.state FROM spells.person_weeks pw "
        "LEFT JOIN spells.person_weeks lp ON lp.PNR = pw.PNR AND lp.week_seq = pw.week_seq - 1 AND lp.year = pw.year - 1 "
        "ORDER BY pw.PNR, pw.week_seq",
    ):
        if prev and prev[0] == pnr and prev[1] == year and prev[2] == state and prev[4] == week_seq - 1:
            prev[4] = week_seq
            continue
        if prev:
            out.add(tuple(prev))
        prev = [pnr, year, state, week_seq, week_seq, last_of_prev == state]
    out.add(tuple(prev))
    return {(p, y, s, a, b, b - a + 1, c) for p, y, s, a, b, c in out}


def test_spells_are_the_maximal_runs_of_the_person_weeks(materialised):
    got = set(rows(materialised, "SELECT PNR, year, state, start_week_seq, end_week_seq, n_weeks, "
                                 "continues_previous_year FROM spells.spells"))
    assert got == _spells_by_hand(materialised)
    # R1 in 2012: nothing, 20 weeks of integration benefit from Monday 27 February, then job weeks
    # from 16 July; employment is monthly, so the blank week of Monday 24 September is a job
    # week too (September has a degree > 0): 11 job weeks, then nothing from 1 October
    r1 = rows(materialised, "SELECT state, DATE '2000-01-03' + 7 * start_week_seq, n_weeks FROM spells.spells "
                            "WHERE PNR = '00000000R1' AND year = 2012 ORDER BY start_week_seq")
    assert r1 == [("NONE", D(2012, 1, 2), 8), ("PASSIVE", D(2012, 2, 27), 20), ("JOB", D(2012, 7, 16), 11),
                  ("NONE", D(2012, 10, 1), 13)]
    # K1: the job run that starts in ISO week 53 of 2015 goes on into 2016
    k1 = rows(materialised, "SELECT state, n_weeks, continues_previous_year FROM spells.spells "
                            "WHERE PNR = '00000000K1' AND year = 2016 ORDER BY start_week_seq LIMIT 1")
    assert k1 == [("JOB", 3, True)]
