"""Calibration of the synthetic registers against the published figures (domain.md §6).

Computes the six descriptive figures straight from the generated LANDING FILES with
DuckDB, following the cohort and success definitions the pipeline uses:

- week state = codebook state of ``Y_yyww``; a blank week is JOB if ``GRAD_yyyy_mm``
  of the month of the week's Monday is > 0, else NONE;
- success = first week of the first run of >= 3 consecutive JOB weeks inside the
  follow-up, counted only if it starts before the first week of education (EDU) or of
  a censoring period (CENS state, or a code with an ``exclusion`` in the codebook);
- refugees: first permit whose GRUNDLAG maps to ``flygtninge`` in the cohort year,
  non-western origin (BEF OPR_LAND), aged 18-64 at the permit, INTPGMSTDT not null;
  clock at the permit week, 156 weeks; family-reunified the same with
  ``familiesammenfoerte``;
- weakest immigrants: IE_TYPE 2, non-western, aged 16-64, >= 3 years since
  INDVAN_FOERSTE, first new spell on public support in the cohort year (a week in a
  support state without exclusion after a week that is not) with match group 2-3
  (MATCH, to 2013) or VISIT = 2 (from 2014) in that quarter; 104 weeks.

Shares are simple proportions of the cohort (persons censored early count as not
reaching the outcome). Usage::

    uv run python bench/synth/calibration.py --generate --n-persons 45000 --seed 2016 \
        --out /tmp/kb_calib --markdown bench/synth/CALIBRATION.md
    uv run python bench/synth/calibration.py --landing path/to/landing
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kommunebench import refdata  # noqa: E402
from kommunebench.states import SUPPORT_STATES  # noqa: E402

COHORT_YEARS = (2011, 2012, 2013, 2014, 2015)
RUN_LENGTH = 3

TARGETS = [
    # key, label, target text, target value (for the table only)
    ("weak_success_104", "weakest immigrants with a job >= 3 weeks within 2 years", "about 1 in 6 (17 %)"),
    ("ref_success_156", "refugees with a job >= 3 weeks within 3 years", "about 1 in 4 (25 %)"),
    ("fam_success_156", "family-reunified in ordinary work (job >= 3 weeks) within 3 years", "over 65 %"),
    ("weak_passive_104", "weakest immigrants passive >= 90 % of the 2 years", "about 4 in 10 (40 %)"),
    ("ref_activated_156", "refugees ever in wage subsidy or company internship within 3 years", "about half (50 %)"),
    ("fam_never_156", "family-reunified never with wages or benefits in 3 years", "about 1 in 4 (25 %)"),
]


def _glob(landing: Path, reg: str) -> str:
    files = sorted((landing / reg).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files in {landing / reg} (the calibration reads Parquet deliveries)")
    return str(landing / reg / "*.parquet")


def build(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    """Person-week states, cohorts and outcomes as DuckDB tables."""
    cb = refdata.codebook().select("code", "state", "exclusion")
    con.register("codebook_df", cb.to_arrow())
    con.execute("CREATE TABLE codebook AS SELECT * FROM codebook_df")
    grund = refdata.ophg_grundlag().select("GRUNDLAG", "target_group").to_arrow()
    con.register("grund_df", grund)
    ctry = refdata.countries().select("OPR_LAND", "western").to_arrow()
    con.register("ctry_df", ctry)
    support = ", ".join(f"'{s}'" for s in sorted(SUPPORT_STATES))

    con.execute(f"CREATE VIEW dream AS SELECT * FROM read_parquet('{_glob(landing, 'DREAM')}')")
    con.execute(f"CREATE VIEW bef AS SELECT * FROM read_parquet('{_glob(landing, 'BEF')}')")
    con.execute(f"CREATE VIEW ophg AS SELECT * FROM read_parquet('{_glob(landing, 'OPHG')}')")
    con.execute(r"""
        CREATE TABLE weeks_raw AS
        SELECT PNR, col, code FROM (UNPIVOT (SELECT PNR, COLUMNS('^Y_\d{4}$') FROM dream)
                                  ON COLUMNS('^Y_\d{4}$') INTO NAME col VALUE code)
    """)
    con.execute(r"""
        CREATE TABLE grad AS
        SELECT PNR, CAST(substr(col, 6, 4) AS INTEGER) AS yyyy, CAST(substr(col, 11, 2) AS INTEGER) AS mm, g
        FROM (UNPIVOT (SELECT PNR, COLUMNS('^GRAD_\d{4}_\d{2}$') FROM dream)
              ON COLUMNS('^GRAD_\d{4}_\d{2}$') INTO NAME col VALUE g)
    """)
    con.execute(f"""
        CREATE TABLE pw AS
        WITH w AS (
            SELECT PNR, code,
                   2000 + CAST(substr(col, 3, 2) AS INTEGER) AS iy,
                   CAST(substr(col, 5, 2) AS INTEGER) AS iw
            FROM weeks_raw
        ), d AS (
            SELECT *, make_date(iy, 1, 4) - CAST(isodow(make_date(iy, 1, 4)) - 1 AS INTEGER)
                      + CAST((iw - 1) * 7 AS INTEGER) AS monday
            FROM w
        )
        SELECT d.PNR, d.monday,
               CASE WHEN cb.state = 'NONE' AND coalesce(gr.g, 0) > 0 THEN 'JOB' ELSE cb.state END AS state,
               cb.exclusion <> '' AS excl,
               d.code
        FROM d
        JOIN codebook cb ON cb.code = coalesce(d.code, '')
        LEFT JOIN grad gr ON gr.PNR = d.PNR AND gr.yyyy = year(d.monday) AND gr.mm = month(d.monday)
    """)
    con.execute(r"""
        CREATE TABLE assess AS
        SELECT PNR, substr(col, 1, 5) AS kind, CAST(substr(col, 7, 1) AS INTEGER) AS q,
               CAST(substr(col, 10, 4) AS INTEGER) AS yyyy, val
        FROM (UNPIVOT (SELECT PNR, COLUMNS('^(MATCH|VISIT)_[1-4]KV\d{4}$') FROM dream)
              ON COLUMNS('^(MATCH|VISIT)_[1-4]KV\d{4}$') INTO NAME col VALUE val)
    """)
    con.execute(r"""
        CREATE TABLE nykom AS
        SELECT PNR, CAST(substr(col, 6, 4) AS INTEGER) AS yyyy, kom
        FROM (UNPIVOT (SELECT PNR, COLUMNS('^NYKOM\d{4}$') FROM dream)
              ON COLUMNS('^NYKOM\d{4}$') INTO NAME col VALUE kom)
    """)
    con.execute("""
        CREATE MACRO age_at(b, d) AS
        date_diff('year', b, d) - CASE WHEN strftime(d, '%m%d') < strftime(b, '%m%d') THEN 1 ELSE 0 END
    """)
    con.execute("""
        CREATE TABLE person AS
        SELECT d.PNR, d.FOEDDT, d.INTPGMSTDT, b.IE_TYPE, b.OPR_LAND, b.INDVAN_FOERSTE,
               NOT coalesce(c.western, true) AS nonwestern
        FROM dream d
        LEFT JOIN (SELECT PNR, any_value(IE_TYPE) AS IE_TYPE, any_value(OPR_LAND) AS OPR_LAND,
                          min(INDVAN_FOERSTE) AS INDVAN_FOERSTE FROM bef GROUP BY PNR) b USING (PNR)
        LEFT JOIN ctry_df c ON c.OPR_LAND = b.OPR_LAND
    """)
    years = ", ".join(str(y) for y in COHORT_YEARS)
    con.execute(f"""
        CREATE TABLE cohort AS
        WITH permits AS (
            SELECT o.PNR, g.target_group, min(o.TILLADELSESDATO) AS start_date
            FROM ophg o JOIN grund_df g USING (GRUNDLAG)
            WHERE g.target_group IN ('flygtninge', 'familiesammenfoerte')
            GROUP BY o.PNR, g.target_group
        ), arrivals AS (
            SELECT p.PNR, p.target_group, p.start_date, 156 AS followup
            FROM permits p JOIN person USING (PNR)
            WHERE year(p.start_date) IN ({years}) AND person.nonwestern
              AND person.INTPGMSTDT IS NOT NULL
              AND age_at(person.FOEDDT, p.start_date) BETWEEN 18 AND 64
        ), marked AS (
            SELECT PNR, monday, state, excl,
                   state IN ({support}) AND NOT excl AS sup,
                   lag(state IN ({support}) AND NOT excl) OVER (PARTITION BY PNR ORDER BY monday) AS prev_sup
            FROM pw
        ), starts AS (
            SELECT m.PNR, m.monday
            FROM marked m
            JOIN assess a ON a.PNR = m.PNR AND a.yyyy = year(m.monday) AND a.q = quarter(m.monday)
            WHERE m.sup AND m.prev_sup = false AND year(m.monday) IN ({years})
              AND ((a.kind = 'MATCH' AND a.yyyy <= 2013 AND a.val IN (2, 3))
                   OR (a.kind = 'VISIT' AND a.yyyy >= 2014 AND a.val = 2))
        ), weak AS (
            SELECT s.PNR, 'svage_indvandrere' AS target_group, min(s.monday) AS start_date, 104 AS followup
            FROM starts s JOIN person p USING (PNR)
            WHERE p.IE_TYPE = 2 AND p.nonwestern
              AND age_at(p.FOEDDT, s.monday) BETWEEN 16 AND 64
              AND s.monday >= p.INDVAN_FOERSTE + INTERVAL 3 YEAR
            GROUP BY s.PNR, year(s.monday)
        )
        SELECT PNR, target_group, start_date, followup, year(start_date) AS cohort_year FROM arrivals
        UNION ALL
        SELECT PNR, target_group, start_date, followup, year(start_date) AS cohort_year FROM weak
    """)
    con.execute("""
        CREATE TABLE fu AS
        SELECT c.PNR, c.target_group, c.cohort_year, c.followup, pw.monday, pw.state, pw.excl,
               CAST((pw.monday - (c.start_date - CAST(isodow(c.start_date) - 1 AS INTEGER))) / 7 AS INTEGER) AS wk
        FROM cohort c JOIN pw ON pw.PNR = c.PNR
        WHERE pw.monday >= c.start_date - CAST(isodow(c.start_date) - 1 AS INTEGER)
          AND pw.monday < c.start_date - CAST(isodow(c.start_date) - 1 AS INTEGER) + CAST(7 * c.followup AS INTEGER)
    """)
    con.execute(f"""
        CREATE TABLE outcome AS
        WITH runs AS (
            SELECT *, wk - row_number() OVER (PARTITION BY PNR, target_group, cohort_year, state = 'JOB' ORDER BY wk) AS grp
            FROM fu
        ), job_runs AS (
            SELECT PNR, target_group, cohort_year, min(wk) AS run_start, count(*) AS run_len
            FROM runs WHERE state = 'JOB' GROUP BY PNR, target_group, cohort_year, grp
        ), first_success AS (
            SELECT PNR, target_group, cohort_year, min(run_start) AS success_wk
            FROM job_runs WHERE run_len >= {RUN_LENGTH} GROUP BY ALL
        ), first_stop AS (
            SELECT PNR, target_group, cohort_year, min(wk) AS stop_wk
            FROM fu WHERE state IN ('EDU', 'CENS') OR excl GROUP BY ALL
        ), per AS (
            SELECT PNR, target_group, cohort_year, any_value(followup) AS followup, count(*) AS n_weeks,
                   count(*) FILTER (WHERE state = 'PASSIVE') AS passive_weeks,
                   bool_or(state IN ('WS_PRIV', 'WS_PUB', 'INTERN')) AS activated,
                   bool_and(state IN ('NONE', 'CENS')) AS never
            FROM fu GROUP BY PNR, target_group, cohort_year
        )
        SELECT per.*, s.success_wk, st.stop_wk,
               s.success_wk IS NOT NULL AND (st.stop_wk IS NULL OR s.success_wk < st.stop_wk) AS success
        FROM per
        LEFT JOIN first_success s USING (PNR, target_group, cohort_year)
        LEFT JOIN first_stop st USING (PNR, target_group, cohort_year)
    """)


def figures(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    q = con.execute("""
        SELECT
          avg(success::INT) FILTER (WHERE target_group = 'svage_indvandrere'),
          avg(success::INT) FILTER (WHERE target_group = 'flygtninge'),
          avg(success::INT) FILTER (WHERE target_group = 'familiesammenfoerte'),
          avg((passive_weeks >= 0.9 * followup)::INT) FILTER (WHERE target_group = 'svage_indvandrere'),
          avg(activated::INT) FILTER (WHERE target_group = 'flygtninge'),
          avg(never::INT) FILTER (WHERE target_group = 'familiesammenfoerte')
        FROM outcome
    """).fetchone()
    keys = [k for k, _, _ in TARGETS]
    return dict(zip(keys, q))


def cohort_sizes(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("""
        SELECT cohort_year,
               count(*) FILTER (WHERE target_group = 'flygtninge'),
               count(*) FILTER (WHERE target_group = 'familiesammenfoerte'),
               count(*) FILTER (WHERE target_group = 'svage_indvandrere')
        FROM cohort GROUP BY cohort_year ORDER BY cohort_year
    """).fetchall()


def municipality_relation(con: duckdb.DuckDBPyConnection, landing: Path) -> list[tuple]:
    """Per target group: correlation over municipalities (>= 20 persons) between the
    share ever in internship/wage subsidy and the success share; spread of success."""
    return con.execute(f"""
        WITH kom AS (
            SELECT o.target_group, k.kom, o.success, o.activated
            FROM outcome o JOIN nykom k ON k.PNR = o.PNR AND k.yyyy = o.cohort_year
        ), m AS (
            SELECT target_group, kom, count(*) AS n, avg(success::INT) AS s, avg(activated::INT) AS a
            FROM kom WHERE kom IS NOT NULL GROUP BY ALL HAVING count(*) >= 20
        ), ranked AS (
            SELECT *, ntile(5) OVER (PARTITION BY target_group ORDER BY s) AS fifth FROM m
        )
        SELECT target_group, count(*) AS municipalities, corr(a, s) AS corr_activation_success,
               avg(s) FILTER (WHERE fifth = 5) - avg(s) FILTER (WHERE fifth = 1) AS top_minus_bottom_fifth
        FROM ranked GROUP BY target_group ORDER BY target_group
    """).fetchall()


def run(landing: Path) -> tuple[dict[str, float], list[tuple], list[tuple], float]:
    t0 = time.perf_counter()
    con = duckdb.connect()
    build(con, landing)
    fig = figures(con)
    sizes = cohort_sizes(con)
    rel = municipality_relation(con, landing)
    con.close()
    return fig, sizes, rel, time.perf_counter() - t0


def markdown(fig, sizes, rel, *, command: str, gen_seconds: float | None, query_seconds: float, n_persons, seed) -> str:
    out = [
        "# Calibration of the synthetic registers",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {dt.date.today().isoformat()}; machine: 2 cores, busy ({platform.machine()}); "
        f"n_persons = {n_persons}, seed = {seed}, cohort years {COHORT_YEARS[0]}-{COHORT_YEARS[-1]}.",
        "Figures computed from the generated landing files with DuckDB "
        "(definitions in the docstring of `bench/synth/calibration.py`). "
        "Target = the published figure (domain.md section 6).",
        "",
        "| figure | target | synthetic |",
        "|---|---|---|",
    ]
    for key, label, target in TARGETS:
        v = fig[key]
        out.append(f"| {label} | {target} | {'n/a' if v is None else f'{100 * v:.1f} %'} |")
    out += ["", "## Cohort sizes (persons per cohort year)", "",
            "| cohort year | refugees | family-reunified | weakest immigrants |", "|---|---|---|---|"]
    for y, r, f, w in sizes:
        out.append(f"| {y} | {r:,} | {f:,} | {w:,} |")
    out += ["", "## Municipalities (>= 20 persons, all cohort years pooled, raw shares)", "",
            "| target group | municipalities | corr(share in internship/wage subsidy, success share) | success: top fifth - bottom fifth |",
            "|---|---|---|---|"]
    for g, k, c, d in rel:
        cs = "n/a" if c is None else f"{c:.2f}"
        ds = "n/a" if d is None else f"{100 * d:.1f} points"
        out.append(f"| {g} | {k} | {cs} | {ds} |")
    out += ["", f"Generation took {gen_seconds:.1f} s; the queries {query_seconds:.1f} s." if gen_seconds is not None
            else f"The queries took {query_seconds:.1f} s.", ""]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--landing", type=Path, help="an existing landing folder (Parquet)")
    ap.add_argument("--generate", action="store_true", help="generate first (into --out)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/kb_calibration"))
    ap.add_argument("--n-persons", type=int, default=None)
    ap.add_argument("--seed", type=int, default=2016)
    ap.add_argument("--markdown", type=Path, help="write the results table here")
    args = ap.parse_args()
    gen_seconds = None
    n_persons = args.n_persons
    if args.generate:
        from kommunebench.synth import DEFAULT_N_PERSONS, generate

        n_persons = n_persons or DEFAULT_N_PERSONS
        landing = args.out / "landing"
        s = generate(landing, n_persons=n_persons, seed=args.seed, progress=False)
        gen_seconds = s.seconds
    elif args.landing is not None:
        landing = args.landing
    else:
        ap.error("give --landing or --generate")
    fig, sizes, rel, secs = run(landing)
    command = "uv run python bench/synth/calibration.py " + " ".join(sys.argv[1:])
    text = markdown(fig, sizes, rel, command=command, gen_seconds=gen_seconds, query_seconds=secs,
                    n_persons=n_persons, seed=args.seed)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
