"""Where the time of raw.dream / raw.bef and of one register year goes, statement by statement.

Runs after ``bench_raw_spells.py --keep`` on its output folder (landing files and the
finished warehouse), on COPIES: nothing in the project is changed.

    uv run python bench/raw_spells/breakdown.py --out /tmp/kb_rs500k --year 2013

Part A (raw): the library calls of the raw asset body (:mod:`kommunebench.raw`) for one
register, each wrapped in a timer, in a scratch DuckDB file; then the candidate fix
"stage inside the target schema and publish by RENAME" against the current "CREATE OR
REPLACE TABLE raw.x AS SELECT * FROM stage.x" copy.

Part B (one register year): the statements of ``assets/spells`` (``person_weeks`` and
``spells`` bodies, same SQL files and parameters) on a copy of the warehouse, each
timed, and candidate alternatives for the slow ones, timed on the same copy.
Prints a Markdown table per part; figures only, no rows.

Written to find the fixes applied in runs 4-5 (see RESULTS.md): part B still times the
older flow (stage table, then checks, then a copy into the published table), kept so
the committed breakdown tables can be reproduced against that flow.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timer(module, name: str, label: str | None = None) -> None:
    """Wrap ``module.name`` so that its calls add to TIMES[label]."""
    fn = getattr(module, name)
    label = label or name

    def wrapped(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            TIMES[label] += time.perf_counter() - t
            CALLS[label] += 1

    setattr(module, name, wrapped)


def table(rows: list[tuple[str, float, str]], title: str) -> str:
    total = sum(r[1] for r in rows if not r[0].startswith(("&nbsp;", "(alt)")))
    out = [f"\n{title}\n", "| statement | seconds | note |", "|---|---:|---|"]
    out += [f"| {name} | {sec:.1f} | {note} |" for name, sec, note in rows]
    out.append(f"| **current total** (rows not indented, not (alt)) | {total:.1f} | |")
    return "\n".join(out)


def part_raw(out: Path, register_name: str) -> str:
    import duckdb

    from kommunebench import raw as rawlib

    TIMES.clear()
    CALLS.clear()
    if not getattr(rawlib, "_breakdown_timed", False):  # wrap once per process
        for name in ("discover", "stage_register", "validate_register", "publish_register"):
            timer(rawlib, name)
        for name in ("_type_outcomes", "run_expectations", "_codes_in_codebook", "_wide_in_set", "_wide_between"):
            timer(rawlib, name, "  " + name)
        rawlib._breakdown_timed = True
    db = out / "breakdown_raw.duckdb"
    db.unlink(missing_ok=True)
    register = rawlib.register_by_name(register_name)
    with duckdb.connect(str(db)) as conn:
        files = rawlib.discover(out / "landing", register)
        report = rawlib.stage_register(conn, register, files)
        outcomes = rawlib.validate_register(conn, register, report)
        failed = [o for o in outcomes if not o.passed and o.blocking]
        if failed:
            raise RuntimeError(f"{register_name}: unexpected failures {[o.message() for o in failed]}")
        alt_rows = _alternatives_raw(conn, register, report, files)
        # candidate publish: the stage copied once more (current) vs. a rename (proposed)
        conn.execute(f"CREATE TABLE stage.copy_for_rename AS SELECT * FROM stage.{rawlib.q(register_name.lower())}")
        rawlib.publish_register(conn, register, report, "breakdown")
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw2")
        conn.execute("ALTER TABLE stage.copy_for_rename DROP COLUMN _source_row")
        t = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        conn.execute(f"DROP TABLE IF EXISTS raw.{rawlib.q(register_name.lower())}")
        conn.execute(f"ALTER TABLE stage.copy_for_rename RENAME TO {rawlib.q(register_name.lower() + '_renamed')}")
        conn.execute("COMMIT")
        rename = time.perf_counter() - t
    size = db.stat().st_size
    db.unlink()
    rows = []
    for label in ("discover", "stage_register", "  _type_outcomes", "validate_register", "  run_expectations",
                  "  _codes_in_codebook", "  _wide_in_set", "  _wide_between", "publish_register"):
        if label in TIMES:
            rows.append((label.replace("  ", "&nbsp;&nbsp;- "), TIMES[label], f"{CALLS[label]} call(s)"))
    rows += alt_rows
    rows.append(("(alt) publish by RENAME in one transaction", rename,
                 "instead of publish_register's copy; the stage table must live in the target schema"))
    return table(rows, f"raw.{register_name.lower()} ({len(files)} file(s), scratch DuckDB file {size / 1e9:.2f} GB)")


def _alternatives_raw(conn, register, report, files) -> list[tuple[str, float, str]]:
    """Candidate fixes for the raw step, timed on the same scratch file and stage."""
    from kommunebench import raw as rawlib
    from kommunebench.validation import register_expectations, run_expectations

    rows = []
    if all(f.fmt == "parquet" for f in files):
        view, _ = rawlib.open_source(conn, files[0])
        src = rawlib.source_columns(conn, view)
        cols = rawlib.target_columns(register, list(src))
        exprs = ", ".join(f"{rawlib._cast_expr(c, cols[c], src[c])} AS {rawlib.q(c)}" for c in cols)
        extra = ", CAST(regexp_extract(parse_filename(filename), '(\\d{4})', 1) AS SMALLINT) AS \"AAR\"" if register.per_year and "AAR" not in cols else ""
        t = time.perf_counter()
        conn.execute(
            f"CREATE TABLE stage.alt_one_insert AS SELECT {exprs}{extra}, parse_filename(filename) AS _source_file, "
            "file_row_number + 1 AS _source_row FROM read_parquet($p, filename = true, file_row_number = true)",
            {"p": [str(f.path) for f in files]},
        )
        rows.append(("(alt) stage every file in ONE statement (read_parquet list, filename, file_row_number)",
                     time.perf_counter() - t, "instead of one INSERT per file with row_number() OVER (); same casts"))
        conn.execute("DROP TABLE stage.alt_one_insert")
    stage = f"stage.{rawlib.q(register.name.lower())}"
    fixed = [c for c in register.column_names if c in report.columns]
    dates = [c for c in fixed if report.columns[c] == "DATE"]
    if dates:
        codelists = rawlib.reference_codelists()
        t = time.perf_counter()
        for lf in report.files:
            cols = ", ".join(rawlib.q(c) for c in fixed + ["_source_row"])
            df = conn.execute(f"SELECT {cols} FROM {stage} WHERE _source_file = $f", {"f": lf.name}).df()
            exps = [e for e in register_expectations(register, fixed, codelists)
                    if type(e).__name__ != "ExpectColumnValuesToBeBetween"]
            run_expectations(df, exps, file=lf.name, suite_name="alt")
            conn.execute(
                "SELECT " + ", ".join(
                    f"count(*) FILTER (WHERE {rawlib.q(c)} < DATE '1900-01-01' OR {rawlib.q(c)} > DATE '2030-12-31')"
                    for c in dates) + f" FROM {stage} WHERE _source_file = $f", {"f": lf.name}
            ).fetchall()
        rows.append((f"(alt) GX suites without the date-range expectations + that rule as one SQL count per file",
                     time.perf_counter() - t, f"instead of validate_register's run_expectations; dates {', '.join(dates)}"))
    return rows


def part_year(out: Path, year: int) -> str:
    import duckdb

    from assets.spells import first_week_seq, iso_weeks_in_year
    from bench_raw_spells import person_weeks_statement
    from orchestration.code_version import sql_text

    src = out / "home" / "warehouse.duckdb"
    db = out / "breakdown_year.duckdb"
    shutil.copyfile(src, db)
    n_weeks = iso_weeks_in_year(year)
    rows: list[tuple[str, float, str]] = []
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS stage")
        stage_sql, params = person_weeks_statement(conn, year)

        def run(label: str, sql: str, p: dict | None = None, note: str = "") -> list:
            t = time.perf_counter()
            r = conn.execute(sql, p or {}).fetchall()
            rows.append((label, time.perf_counter() - t, note))
            return r

        conn.execute("CREATE SCHEMA IF NOT EXISTS stage")
        n_pw = run("pw: DESCRIBE raw.dream", "DESCRIBE raw.dream")
        run("pw: person_weeks.sql (CREATE stage.person_weeks)", stage_sql, params)
        run("pw: check_person_weeks_unique.sql", sql_text("spells/check_person_weeks_unique"))
        run("pw: check_person_weeks_complete.sql", sql_text("spells/check_person_weeks_complete"), {"year": year, "n_weeks": n_weeks})
        run("pw: count unknown codes", "SELECT count(*) FROM stage.person_weeks WHERE unknown_code")
        # publish_partition as in orchestration/warehouse.py
        conn.execute("BEGIN TRANSACTION")
        run("pw: publish DELETE WHERE list_contains($vals, year)",
            "DELETE FROM spells.person_weeks WHERE list_contains($vals, year)", {"vals": [year]},
            "")
        run("pw: publish INSERT BY NAME from stage", "INSERT INTO spells.person_weeks BY NAME SELECT * FROM stage.person_weeks",
            note="second write of the year's rows")
        conn.execute("DROP TABLE stage.person_weeks")
        conn.execute("COMMIT")
        run("pw: count published rows (list_contains)",
            "SELECT count(*) FROM spells.person_weeks WHERE list_contains($vals, year)", {"vals": [year]})
        run("pw: state distribution", "SELECT state, count(*) FROM spells.person_weeks WHERE year = $y GROUP BY state", {"y": year})
        run("pw: content version (bit_xor(hash(...)))",
            "SELECT count(*), coalesce(bit_xor(hash(PNR, week_seq, state, kom, code)), 0) FROM spells.person_weeks WHERE year = $y",
            {"y": year})
        run("pw: table_metadata count", "SELECT count(*) FROM spells.person_weeks WHERE year = $y", {"y": year})
        run("pw: table_metadata DESCRIBE", "DESCRIBE spells.person_weeks")
        # spells
        run("sp: spells.sql (CREATE stage.spells)", "CREATE OR REPLACE TABLE stage.spells AS " + sql_text("spells/spells"),
            {"year": year, "first_week_seq": first_week_seq(year)})
        run("sp: check_spells.sql", sql_text("spells/check_spells"), {"year": year})
        run("sp: count stage", "SELECT count(*) FROM stage.spells")
        conn.execute("BEGIN TRANSACTION")
        run("sp: publish DELETE WHERE list_contains", "DELETE FROM spells.spells WHERE list_contains($vals, year)", {"vals": [year]})
        run("sp: publish INSERT BY NAME", "INSERT INTO spells.spells BY NAME SELECT * FROM stage.spells")
        conn.execute("DROP TABLE stage.spells")
        conn.execute("COMMIT")
        run("sp: count published (list_contains)", "SELECT count(*) FROM spells.spells WHERE list_contains($vals, year)", {"vals": [year]})
        run("sp: spell lengths", "SELECT state, count(*), avg(n_weeks), median(n_weeks) FROM spells.spells WHERE year = $y GROUP BY state", {"y": year})
        run("sp: table_metadata count", "SELECT count(*) FROM spells.spells WHERE year = $y", {"y": year})

        # ---- alternative: write the year straight into the published table inside one transaction,
        # check it there (uniqueness follows from PNR unique in raw.dream + distinct weekly columns),
        # and COMMIT (or ROLLBACK on a failed check): one write instead of stage + copy.
        head = "CREATE OR REPLACE TABLE stage.person_weeks AS"
        select = stage_sql.split(head, 1)[1]
        t = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        conn.execute("DELETE FROM spells.person_weeks WHERE year = $y", {"y": year})
        conn.execute("INSERT INTO spells.person_weeks BY NAME " + select, params)
        dup = conn.execute("SELECT count(*) - count(DISTINCT PNR) FROM raw.dream").fetchall()[0][0]
        exp_, got, unmapped = conn.execute(
            "SELECT (SELECT count(*) FROM raw.dream) * $n, count(*), count(*) FILTER (WHERE state IS NULL OR state_code IS NULL) "
            "FROM spells.person_weeks WHERE year = $y", {"n": n_weeks, "y": year}).fetchall()[0]
        conn.execute("COMMIT" if dup == 0 and exp_ == got and unmapped == 0 else "ROLLBACK")
        rows.append(("(alt) pw: DELETE + INSERT the SELECT into spells.person_weeks + checks, one transaction",
                     time.perf_counter() - t, "replaces stage CTAS + unique GROUP BY + INSERT copy"))
    size = db.stat().st_size
    db.unlink()
    n = len(n_pw)
    return table(rows, f"register year {year} on a copy of the warehouse ({size / 1e9:.2f} GB after; raw.dream has {n} columns)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder of bench_raw_spells.py --keep")
    ap.add_argument("--year", type=int, default=2013)
    ap.add_argument("--parts", default="year,dream,bef", help="comma list of: year, dream, bef, udda, ophg")
    args = ap.parse_args()
    for part in args.parts.split(","):
        t = time.perf_counter()
        if part == "year":
            text = part_year(args.out, args.year)
        else:
            text = part_raw(args.out, part.upper())
        print(text)
        print(f"\n(part {part}: {time.perf_counter() - t:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
