"""sequences.paths_to_job through the pipeline, on hand-built refugees whose every week is known."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest

from builders import Person, write_delivery
from orchestration.runner import run_job

pytestmark = pytest.mark.integration
D = dt.date
YEARS = range(2010, 2016)
START = D(2012, 2, 27)  # the Monday of the permit's week: week 1 of the follow-up


def refugee(i: int, kom: int = 101) -> Person:
    return Person(f"{i:010d}", birth=D(1985, 1, 1), kom=kom, permit=(D(2012, 3, 1), "7_1"),
                  intpgm=(D(2012, 3, 5), D(2015, 3, 1)))


def persons() -> list[Person]:
    out = []
    for i in range(5):  # integration benefit 10 weeks, private internship 8 weeks, job from week 19
        out.append(refugee(i).weeks(START, ["135"] * 10 + ["221"] * 8).job_weeks(START + dt.timedelta(weeks=18), 12))
    for i in range(5, 10):  # Danish course 10 weeks, job from week 11
        out.append(refugee(i).weeks(START, ["212"] * 10).job_weeks(START + dt.timedelta(weeks=10), 12))
    for i in range(10, 15):  # private internship in weeks 1-4, benefit 5-40, job from week 41: internship outside the window
        out.append(refugee(i).weeks(START, ["221"] * 4 + ["135"] * 36).job_weeks(START + dt.timedelta(weeks=40), 12))
    # a job of two weeks only (then benefit again): no job entry
    out.append(refugee(15).weeks(START, ["135"] * 20).job_weeks(START + dt.timedelta(weeks=20), 2)
               .weeks(START + dt.timedelta(weeks=22), ["135"] * 140))
    out.append(refugee(16, kom=147).weeks(START, ["135"] * 6).job_weeks(START + dt.timedelta(weeks=6), 10))  # direct
    return out


def test_paths_to_job_on_hand_built_refugees(defs, resources, instance):
    write_delivery(persons(), resources["landing"].root, YEARS)
    assert run_job(defs, "load_registers", instance=instance).success
    for y in YEARS:
        step = run_job(defs, "register_years", instance=instance, partition=str(y))
        assert step.success, step.error
    step = run_job(defs, "cohorts", instance=instance, partition="2012")
    assert step.success, step.error
    step = run_job(defs, "pooled_results", instance=instance, selection=[dg.AssetKey(["sequences", "paths_to_job"])])
    assert step.success, step.error
    with duckdb.connect(resources["warehouse"].database, read_only=True) as conn:
        got = conn.execute("SELECT kom, path, job_entries, persons, share_pct, lookback_weeks FROM sequences.paths_to_job "
                           "WHERE target_group = 'flygtninge' ORDER BY kom NULLS FIRST, path").fetchall()
        comments = dict(conn.execute("SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = 'sequences' "
                                     "AND table_name = 'paths_to_job'").fetchall())
    country = {r[1]: r[2:] for r in got if r[0] is None}
    assert country == {"direct": (16, 6, 37.5, 26), "internship_or_wage_subsidy": (16, 5, 31.25, 26),
                       "other_activation": (16, 5, 31.25, 26)}
    # 147 has one job entry; with it, every cell of 101 that would give 147's back is suppressed too
    muni = [r for r in got if r[0] is not None]
    assert {r[0] for r in muni} == {101, 147}
    assert all(r[3] is None and r[4] is None for r in muni)
    assert all(comments[c] for c in ("target_group", "kom", "path", "job_entries", "persons", "share_pct",
                                     "share_pct_lo", "share_pct_hi", "lookback_weeks"))
