"""Paths to a job (kommunebench.sequences.paths) on hand-built persons."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kommunebench.sequences.paths import (
    PATHS,
    PATHS_TO_JOB_COLUMNS,
    check_paths_table,
    clopper_pearson,
    path_before_job,
    path_counts,
    paths_to_job,
    protect_path_counts,
    relation_to_benchmark,
    suppress_lines,
)
from kommunebench.states import STATE_INDEX as S

L = 60


def person(*spells: tuple[str, int]) -> np.ndarray:
    """A sequence from (state, weeks) spells, padded with -1 to L weeks."""
    out = np.full(L, -1, dtype=np.int8)
    t = 0
    for st, w in spells:
        out[t:t + w] = S[st]
        t += w
    return out


def first_job_week(seq: np.ndarray, run: int = 3) -> int:
    """The success week by hand: first week of the first run of >= run JOB weeks."""
    r = 0
    for t, x in enumerate(seq):
        r = r + 1 if x == S["JOB"] else 0
        if r == run:
            return t - run + 2
    return 0


# (persons, their expected path)
HAND_BUILT = [
    (person(("PASSIVE", 10), ("INTERN", 8), ("JOB", 42)), "internship_or_wage_subsidy"),
    (person(("UPSKILL", 20), ("WS_PRIV", 4), ("PASSIVE", 10), ("JOB", 26)), "internship_or_wage_subsidy"),
    (person(("WS_PUB", 5), ("JOB", 55)), "internship_or_wage_subsidy"),
    (person(("UPSKILL", 30), ("JOB", 30)), "other_activation"),
    # internship in weeks 1-5, passive 6-40, job from week 41: the internship lies 36+ weeks back
    (person(("INTERN", 5), ("PASSIVE", 35), ("JOB", 20)), "direct"),
    # upskilling ends exactly 26 weeks before the job (weeks 1-5, passive 6-30, job in week 31): in the window
    (person(("UPSKILL", 5), ("PASSIVE", 25), ("JOB", 30)), "other_activation"),
    # ... and 27 weeks before (weeks 1-4, passive 5-30, job in week 31): outside it
    (person(("UPSKILL", 4), ("PASSIVE", 26), ("JOB", 30)), "direct"),
    (person(("JOB", 60)), "direct"),  # job from week 1: an empty window
    (person(("NONE", 12), ("JOB", 48)), "direct"),
    (person(("SICK", 12), ("OTHER", 3), ("JOB", 45)), "direct"),
    # a 2-week job (too short) after internship, then passive, then a lasting job with upskilling before it
    (person(("INTERN", 6), ("JOB", 2), ("PASSIVE", 30), ("UPSKILL", 2), ("JOB", 20)), "other_activation"),
    # never a job of 3 weeks
    (person(("INTERN", 10), ("JOB", 2), ("PASSIVE", 48)), None),
    # a short sequence (data end) with no job
    (person(("PASSIVE", 20)), None),
]


def hand_built() -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    seqs = np.stack([p for p, _ in HAND_BUILT])
    weeks = np.array([first_job_week(p) for p, _ in HAND_BUILT], dtype=float)
    return seqs, weeks, [e for _, e in HAND_BUILT]


def test_path_of_each_hand_built_person():
    seqs, weeks, expected = hand_built()
    got = path_before_job(seqs, weeks, lookback_weeks=26)
    names = [PATHS[g] if g >= 0 else None for g in got]
    assert names == expected


def test_lookback_is_a_setting():
    p = person(("INTERN", 5), ("PASSIVE", 35), ("JOB", 20))  # job in week 41, internship in weeks 1-5
    assert path_before_job(p[None], np.array([41.0]), lookback_weeks=36)[0] == 0   # week 5 = 41 - 36: inside
    assert path_before_job(p[None], np.array([41.0]), lookback_weeks=35)[0] == 2   # outside
    assert path_before_job(p[None], np.array([41.0]), lookback_weeks=0)[0] == 2


def test_bad_input_is_refused():
    seqs, weeks, _ = hand_built()
    with pytest.raises(ValueError, match="shape"):
        path_before_job(seqs, weeks[:-1])
    with pytest.raises(ValueError, match="beyond"):
        path_before_job(seqs, np.full(len(seqs), L + 1.0))
    with pytest.raises(ValueError, match="whole week"):
        path_before_job(seqs, np.full(len(seqs), 2.5))


def test_clopper_pearson_matches_the_beta_quantiles():
    lo, hi = clopper_pearson(np.array([0, 3, 10]), np.array([10, 10, 10]), 0.90)
    assert lo[0] == 0 and hi[2] == 1
    assert lo[1] == pytest.approx(stats.beta.ppf(0.05, 3, 8))
    assert hi[1] == pytest.approx(stats.beta.ppf(0.95, 4, 7))
    # the exact interval of 3 of 10 at 90 %: 0.0872 .. 0.6066 (binom.test(3, 10, conf.level = 0.9) in R)
    assert (round(lo[1], 4), round(hi[1], 4)) == (0.0873, 0.6066)


def test_table_counts_and_shares_without_suppression():
    seqs, weeks, expected = hand_built()
    kom = np.array([101] * 7 + [147] * 6, dtype=float)
    t = paths_to_job(seqs, weeks, kom, min_cell=0)
    assert list(t.columns) == [c for c in PATHS_TO_JOB_COLUMNS if c != "target_group"]
    country = t[t["kom"].isna()].set_index("path")
    assert country["job_entries"].tolist() == [11, 11, 11]
    assert country.loc["internship_or_wage_subsidy", "persons"] == 3
    assert country.loc["other_activation", "persons"] == 3
    assert country.loc["direct", "persons"] == 5
    assert country["share_pct"].sum() == pytest.approx(100.0)
    k101 = t[t["kom"] == 101].set_index("path")
    assert k101["job_entries"].iloc[0] == 7
    assert k101["persons"].tolist() == [3, 2, 2]
    assert k101.loc["internship_or_wage_subsidy", "share_pct"] == pytest.approx(300 / 7)
    lo, hi = clopper_pearson(np.array([3]), np.array([7]))
    assert k101.loc["internship_or_wage_subsidy", "share_pct_lo"] == pytest.approx(100 * lo[0])
    assert k101.loc["internship_or_wage_subsidy", "share_pct_hi"] == pytest.approx(100 * hi[0])
    k147 = t[t["kom"] == 147].set_index("path")
    assert k147["job_entries"].iloc[0] == 4 and k147["persons"].tolist() == [0, 1, 3]
    assert (t["lookback_weeks"] == 26).all()


def test_small_cells_are_suppressed_so_none_can_be_recomputed():
    seqs, weeks, _ = hand_built()
    kom = np.array([101] * 7 + [147] * 6, dtype=float)
    t = paths_to_job(seqs, weeks, kom)
    # 147 has 4 job entries: everything of it suppressed; 101 (7 entries: 3, 2, 2) keeps no
    # path count but its total; the country (11: 3, 3, 5) loses what would give 147's cells back
    k147 = t[t["kom"] == 147]
    assert k147["job_entries"].isna().all() and k147["persons"].isna().all() and k147["share_pct"].isna().all()
    k101 = t[t["kom"] == 101]
    assert k101["persons"].isna().all()
    # 101's job entries would give 147's as country - 101: one of them is suppressed with it
    assert k101["job_entries"].isna().all() or t[t["kom"].isna()]["job_entries"].isna().all()
    outcome = {o.rule: o for o in check_paths_table(t.assign(target_group="g"), {"g": (11, 3)})}
    assert outcome["no_recoverable_small_cell"].passed, outcome["no_recoverable_small_cell"].message()


def test_suppress_lines_adds_a_second_cell_to_every_line_with_one():
    # two municipalities x (a, b, total) and the country row: a 3 x 3 table with margins
    v = np.array([3, 10, 13,   8, 9, 17,   11, 19, 30])
    cells = v.reshape(3, 3)
    idx = np.arange(9).reshape(3, 3)
    lines = [idx[0], idx[1], idx[2], idx[:, 0], idx[:, 1], idx[:, 2]]
    prim = np.zeros(9, dtype=bool)
    prim[0] = True  # 3 < 5
    marg = np.zeros(9, dtype=bool)
    marg[[2, 5, 6, 7, 8]] = True
    sup = suppress_lines(v, lines, prim, margins=marg)
    for line in lines:
        assert sup[line].sum() != 1
    assert sup[0] and sup[1] and sup[3]  # row 1: 3 and 10; column a: 3 and 8
    assert cells.size == 9


def test_hidden_unit_counts_as_suppressed():
    # persons with an unknown municipality are in the country only: the country minus the
    # municipalities is their (unpublished) cell, so a municipality's lone small cell needs a partner
    paths = np.array([0] * 6 + [1] * 6 + [2] * 6 + [0, 1, 2, 2, 2])
    kom = np.array([101.0] * 18 + [np.nan] * 5)
    counts = path_counts(paths, kom)
    prot = protect_path_counts(counts)
    muni = prot[prot["kom"] == 101]
    country = prot[prot["kom"].isna()]
    for name in PATHS:
        line = [muni.loc[muni["path"] == name, "persons"].iloc[0], country.loc[country["path"] == name, "persons"].iloc[0]]
        assert sum(pd.isna(x) for x in line) >= 1  # with the hidden cell at least two in the line


def test_check_fails_on_a_table_that_does_not_add_up():
    seqs, weeks, _ = hand_built()
    t = paths_to_job(seqs, weeks, np.full(len(seqs), 101.0), min_cell=0).assign(target_group="g")
    ok = {o.rule: o.passed for o in check_paths_table(t, {"g": (11, 3)}, min_cell=0)}
    assert all(ok.values()), ok
    bad = t.copy()
    bad.loc[bad.index[0], "persons"] = 4  # 4 + 3 + 5 != 11
    assert not {o.rule: o.passed for o in check_paths_table(bad, {"g": (11, 3)}, min_cell=0)}["paths_add_up"]
    assert not {o.rule: o.passed for o in check_paths_table(t, {"g": (12, 3)}, min_cell=0)}["country_matches_outcomes"]


def test_check_fails_on_an_unprotected_small_cell():
    seqs, weeks, _ = hand_built()
    kom = np.array([101] * 7 + [147] * 6, dtype=float)
    raw = paths_to_job(seqs, weeks, kom, min_cell=0).assign(target_group="g")
    assert not {o.rule: o.passed for o in check_paths_table(raw, {"g": (11, 3)})}["no_recoverable_small_cell"]
    one = paths_to_job(seqs, weeks, kom).assign(target_group="g")
    # publish one suppressed small cell again: caught
    i = one.index[(one["kom"] == 101) & (one["path"] == "direct")][0]
    one.loc[i, "persons"] = 2
    assert not {o.rule: o.passed for o in check_paths_table(one, {"g": (11, 3)})}["no_recoverable_small_cell"]


def test_duckdb_types_are_the_agreed_schema():
    seqs, weeks, _ = hand_built()
    t = paths_to_job(seqs, weeks, np.full(len(seqs), 101.0)).assign(target_group="g")
    t = t[["target_group", *[c for c in t.columns if c != "target_group"]]]
    with duckdb.connect() as conn:
        conn.register("f", t)
        got = conn.execute("DESCRIBE SELECT * FROM f").fetchall()
    assert [(r[0], r[1]) for r in got] == [
        ("target_group", "VARCHAR"), ("kom", "INTEGER"), ("path", "VARCHAR"), ("job_entries", "INTEGER"),
        ("persons", "INTEGER"), ("share_pct", "DOUBLE"), ("share_pct_lo", "DOUBLE"), ("share_pct_hi", "DOUBLE"),
        ("lookback_weeks", "INTEGER")]


def test_relation_to_benchmark_pools_job_centres_and_skips_units_without_result():
    rng = np.random.default_rng(3)
    n_units = 30
    komlist = np.arange(101, 101 + n_units)
    kom = np.repeat(komlist, 40)
    # the share of internship paths rises with the unit's planted benchmark result
    effect = np.linspace(-10, 10, n_units)
    p_wsi = 0.2 + 0.02 * effect
    paths = np.where(rng.random(kom.size) < np.repeat(p_wsi, 40), 0, 2)
    paths[rng.random(kom.size) < 0.2] = -1  # no job entry
    counts = path_counts(paths, kom.astype(float))
    league = pd.DataFrame({"kom": komlist, "members": komlist.astype(str), "too_small": False, "indicator_pct": effect})
    league.loc[0, "too_small"] = True
    league.loc[1, "indicator_pct"] = np.nan
    # units 103 and 104 pooled into one job centre
    league.loc[2, "members"] = "103+104"
    league = league.drop(index=3)
    rel = relation_to_benchmark(counts, league, reps=500, seed=1).set_index("path")
    assert rel.loc["internship_or_wage_subsidy", "units"] == n_units - 3
    r = rel.loc["internship_or_wage_subsidy"]
    assert r["spearman"] > 0.5 and r["spearman_lo"] < r["spearman"] < r["spearman_hi"]
    assert rel.loc["direct", "spearman"] < -0.5
    assert np.isnan(rel.loc["other_activation", "spearman"])  # nobody takes that path: no variation
