"""Raw and spells at scale: the real Dagster jobs vs. the DuckDB floor vs. a pandas loop.

Reproduce (generation first, not timed as part of the pipeline; every phase runs in its
own child process so each peak RSS is that phase's own kernel high-water mark):

    uv run python bench/raw_spells/bench_raw_spells.py --persons 500000 --out /tmp/kb_rs500k --write
    uv run python bench/raw_spells/bench_raw_spells.py --persons 50000 --out /tmp/kb_rs50k --write

Phases, in this order, in one invocation:

1. ``generate``: a synthetic Parquet extract, 2008-2018 (574 ISO weeks), seed 1, chunk
   50,000 persons (reused when ``<out>/landing`` already holds the same extract).
2. ``pipeline``: ``orchestration.runner.run_pipeline(stages=("registers",
   "register_years"))`` on a temporary ``KOMMUNEBENCH_HOME`` with the project's Dagster
   instance settings (SQLite run storage in a temporary ``DAGSTER_HOME``),
   ``build_defs(default_resources())``: ``load_registers`` (reference tables + 5 raw
   assets with their Great Expectations and SQL checks) and ``register_years`` for every
   year 2008..2018 (``spells/person_weeks`` + ``spells/spells`` with their checks).
   Per-step seconds come from Dagster's event log; peak RSS per step from a 0.2 s psutil
   sampler; the whole phase's peak RSS from ``getrusage``.
3. ``floor``: DuckDB (in memory, default settings) reading the same DREAM Parquet files
   and unpivoting every ``Y_yyww`` column, counted (``count(*), count(code)``).
4. ``floor_table``: the same unpivot materialised into a table of a fresh DuckDB file.
4b. ``floor_load``: every file of the extract read into a table of a fresh DuckDB file
   (``SELECT *`` per register: no typing, no checks) plus the same unpivot into a table:
   the two materialisations any load of this extract into a warehouse must do. This is
   the floor the ratio target is judged against (see RESULTS.md for why).
5. ``pandas``: the analyst's loop on a sample of persons (iterate persons, iterate the
   weekly columns, map codes through a dict, GRAD for blank weeks, collapse runs to
   spells per year), timed and scaled linearly; its spells are compared with the
   pipeline's for the same persons (counts only; no person-level output).
6. ``explain``: ``EXPLAIN ANALYZE`` of ``sql/spells/person_weeks.sql`` for one year
   on the pipeline's warehouse (written to ``<out>/explain_person_weeks_<year>.txt``).

``--write`` saves the figures as ``bench/raw_spells/results/persons_<n>.json`` and
re-renders the table between the markers in ``bench/raw_spells/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

SEED = 1
CHUNK = 50_000
FIRST_YEAR, LAST_YEAR = 2008, 2018
TARGET_SECONDS = 300.0
TARGET_BYTES = 8e9
TARGET_RATIO = 2.5


# ------------------------------------------------------------------ helpers


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class RssSampler:
    """Samples this process's RSS every ``interval`` seconds: (time.time(), bytes)."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._proc.memory_info().rss))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, t0: float, t1: float) -> int:
        vals = [b for t, b in self.samples if t0 <= t <= t1]
        return max(vals) if vals else 0


def dream_files(landing: Path) -> list[str]:
    files = sorted(str(p) for p in (landing / "DREAM").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{landing / 'DREAM'}: no DREAM Parquet files (run the generate phase first)")
    return files


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def phase_env(out: Path) -> None:
    home = out / "home"
    os.environ["KOMMUNEBENCH_HOME"] = str(home)
    os.environ["KOMMUNEBENCH_LANDING"] = str(out / "landing")
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    os.environ["KOMMUNEBENCH_REGISTER_YEARS"] = f"{FIRST_YEAR}-{LAST_YEAR}"
    for name in ("KOMMUNEBENCH_WAREHOUSE", "KOMMUNEBENCH_OUTPUTS", "KOMMUNEBENCH_TRUTH"):
        os.environ.pop(name, None)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")


# ------------------------------------------------------------------ phases (run in child processes)


def phase_generate(out: Path, persons: int) -> dict:
    from kommunebench.synth import generate

    landing = out / "landing"
    marker = out / "generated.json"
    want = {"persons": persons, "seed": SEED, "chunk": CHUNK, "years": [FIRST_YEAR, LAST_YEAR], "fmt": "parquet"}
    if marker.exists() and landing.is_dir() and json.loads(marker.read_text()).get("settings") == want:
        info = json.loads(marker.read_text())
        info["reused"] = True
        return info
    if out.exists():
        shutil.rmtree(out)
    t = time.perf_counter()
    s = generate(landing, n_persons=persons, seed=SEED, first_year=FIRST_YEAR, last_year=LAST_YEAR,
                 fmt="parquet", chunk_size=CHUNK, progress=False)
    info = {
        "settings": want,
        "seconds": time.perf_counter() - t,
        "files": len(s.files),
        "dream_files": len([f for f in s.files if f.register == "DREAM"]),
        "landing_bytes": dir_bytes(landing),
        "dream_bytes": sum(Path(f).stat().st_size for f in dream_files(landing)),
        "dream_rows": s.rows("DREAM"),
        "peak_rss": peak_rss_bytes(),
        "reused": False,
    }
    marker.write_text(json.dumps(info))
    return info


def _step_times(instance, run_id: str) -> list[tuple[str, float, float]]:
    """(step_key, start, end) from a run's STEP_START / STEP_SUCCESS|FAILURE events."""
    starts: dict[str, float] = {}
    out = []
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None or ev.step_key is None:
            continue
        if ev.event_type_value == "STEP_START":
            starts[ev.step_key] = rec.timestamp
        elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in starts:
            out.append((ev.step_key, starts[ev.step_key], rec.timestamp))
    return out


def phase_pipeline(out: Path) -> dict:
    phase_env(out)
    home = out / "home"
    if home.exists():
        shutil.rmtree(home)
    from orchestration.definitions import build_defs
    from orchestration.resources import default_resources
    from orchestration.runner import project_instance, run_pipeline

    years = list(range(FIRST_YEAR, LAST_YEAR + 1))
    resources = default_resources()
    defs = build_defs(resources)
    instance = project_instance()  # SQLite storage in the temporary DAGSTER_HOME, project dagster.yaml
    messages: list[str] = []
    import psutil

    startup = time.time() - psutil.Process().create_time()  # imports + definitions, not timed below
    cpu0 = cpu_seconds()
    with RssSampler() as sampler:
        t0 = time.perf_counter()
        report = run_pipeline(
            defs, instance=instance, register_years=years, cohort_years=[],
            stages=("registers", "register_years"), progress=messages.append,
        )
        wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    if not report.success:
        raise RuntimeError("pipeline failed:\n" + "\n".join(messages))
    runs, steps = [], []
    for s in report.steps:
        st = _step_times(instance, s.run_id)
        t_first = min((a for _, a, _ in st), default=0.0)
        t_last = max((b for _, _, b in st), default=0.0)
        runs.append({"job": s.job, "partition": s.partition, "seconds": s.seconds,
                     "peak_rss": sampler.peak_between(t_first - 1, t_last + 1)})
        for key, a, b in st:
            steps.append({"job": s.job, "partition": s.partition, "step": key, "seconds": b - a,
                          "peak_rss": sampler.peak_between(a, b)})
    instance.dispose()
    import duckdb

    db = Path(resources["warehouse"].database)
    with duckdb.connect(str(db), read_only=True) as conn:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("raw.dream", "raw.bef", "raw.udda", "raw.ophg", "raw.rammevilkaar", "spells.person_weeks", "spells.spells")
        }
        tables = conn.execute(
            "SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables() ORDER BY 1"
        ).fetchall()
    return {
        "wall": wall,
        "startup": startup,
        "cpu": cpu,
        "peak_rss": peak_rss_bytes(),
        "runs": runs,
        "steps": steps,
        "rows": counts,
        "tables": dict(tables),
        "warehouse_bytes": db.stat().st_size,
        "wal_bytes": (db.with_name(db.name + ".wal").stat().st_size if db.with_name(db.name + ".wal").exists() else 0),
        "dagster_home_bytes": dir_bytes(home / "dagster"),
    }


# count(nullif(code, '')) makes DuckDB touch every code string (a blank week is the empty
# string, not NULL, so count(code) alone could be answered from validity masks).
FLOOR_SQL = (
    "SELECT count(*) AS n, count(nullif(code, '')) AS n_code FROM "
    "(SELECT PNR, COLUMNS('^Y_') FROM read_parquet($files)) "
    "UNPIVOT INCLUDE NULLS (code FOR col IN (COLUMNS('^Y_')))"
)
FLOOR_TABLE_SQL = (
    "CREATE TABLE person_weeks AS SELECT PNR, col, code FROM "
    "(SELECT PNR, COLUMNS('^Y_') FROM read_parquet($files)) "
    "UNPIVOT INCLUDE NULLS (code FOR col IN (COLUMNS('^Y_')))"
)


def phase_floor(out: Path) -> dict:
    import duckdb

    files = dream_files(out / "landing")
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    conn = duckdb.connect()  # in memory, DuckDB defaults (all cores, 80 % of RAM)
    n, n_code = conn.execute(FLOOR_SQL, {"files": files}).fetchall()[0]
    wall = time.perf_counter() - t
    conn.close()
    return {"wall": wall, "cpu": cpu_seconds() - cpu0, "peak_rss": peak_rss_bytes(),
            "person_weeks": int(n), "coded_weeks": int(n_code)}


def _timed_fresh_db(out: Path, name: str, work) -> dict:
    """Run ``work(conn)`` on a fresh DuckDB file (default settings), timed from connect to
    close; the file is removed afterwards. ``work`` returns extra figures for the result."""
    import duckdb

    db = out / name
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    conn = duckdb.connect(str(db))
    extra = work(conn)
    conn.close()
    wall = time.perf_counter() - t
    size = db.stat().st_size
    db.unlink()
    return {"wall": wall, "cpu": cpu_seconds() - cpu0, "peak_rss": peak_rss_bytes(), "file_bytes": size, **extra}


def _unpivot_into_table(conn, landing: Path) -> dict:
    conn.execute(FLOOR_TABLE_SQL, {"files": dream_files(landing)})
    return {"person_weeks": int(conn.execute("SELECT count(*) FROM person_weeks").fetchall()[0][0])}


def phase_floor_table(out: Path) -> dict:
    return _timed_fresh_db(out, "floor.duckdb", lambda conn: _unpivot_into_table(conn, out / "landing"))


def phase_floor_load(out: Path) -> dict:
    """Every file of the extract read into a table of a fresh DuckDB file (one table per
    register, ``SELECT *``: no typing, no checks), plus DREAM's weekly columns unpivoted
    into ``(PNR, col, code)``: the two materialisations any warehouse load of this extract
    has to do, and nothing else."""
    landing = out / "landing"

    def work(conn) -> dict:
        rows = {}
        for reg in sorted(d.name for d in landing.iterdir() if d.is_dir()):
            files = sorted(str(p) for p in (landing / reg).glob("*.parquet"))
            conn.execute(f'CREATE TABLE "{reg.lower()}" AS SELECT * FROM read_parquet($files, union_by_name = true)',
                         {"files": files})
            rows[reg] = conn.execute(f'SELECT count(*) FROM "{reg.lower()}"').fetchall()[0][0]
        return {**_unpivot_into_table(conn, landing), "register_rows": rows}

    return _timed_fresh_db(out, "floor_load.duckdb", work)


def analyst_spells(df, codebook: dict[str, str], week_cols: list[str]) -> tuple[list[tuple], list[tuple]]:
    """The register analyst's loop: person by person, week by week, then runs -> spells.

    A week's state is ``codebook[code]`` (unknown codes -> OTHER); a blank week is JOB
    when ``GRAD_<yyyy>_<mm>`` of the month holding the week's Monday is > 0, else NONE.
    Spells are maximal runs of one state within a calendar (ISO) year, as in
    ``sql/spells/spells.sql``: (PNR, year, state, start_week_seq, end_week_seq, n_weeks).
    """
    import math

    epoch = dt.date(2000, 1, 3)
    meta = []
    for col in week_cols:
        year, week = 2000 + int(col[2:4]), int(col[4:6])
        monday = dt.date.fromisocalendar(year, week, 1)
        meta.append((col, year, week, (monday - epoch).days // 7, f"GRAD_{monday.year}_{monday.month:02d}"))
    person_weeks = []
    for _, row in df.iterrows():
        pnr = row["PNR"]
        for col, year, week, seq, gcol in meta:
            code = row[col]
            if code is None or (isinstance(code, float) and math.isnan(code)) or str(code).strip() == "":
                grad = row[gcol] if gcol in row.index else None
                state = "JOB" if grad is not None and not math.isnan(grad) and grad > 0 else "NONE"
            else:
                state = codebook.get(str(code).strip(), "OTHER")
            person_weeks.append((pnr, year, week, seq, state))
    spells = []
    cur = None
    for pnr, year, _week, seq, state in person_weeks:  # already ordered by person, then week
        if cur is not None and cur[0] == pnr and cur[1] == year and cur[2] == state and cur[4] == seq - 1:
            cur[4] = seq
            cur[5] += 1
        else:
            if cur is not None:
                spells.append(tuple(cur))
            cur = [pnr, year, state, seq, seq, 1]
    if cur is not None:
        spells.append(tuple(cur))
    return person_weeks, spells


def phase_pandas(out: Path, sample: int) -> dict:
    import duckdb
    import pandas as pd
    import pyarrow.parquet as pq

    from kommunebench import refdata

    files = dream_files(out / "landing")
    schema = pq.read_schema(files[0])
    week_cols = [c for c in schema.names if c.startswith("Y_")]
    grad_cols = [c for c in schema.names if c.startswith("GRAD_")]
    t = time.perf_counter()
    table = pq.read_table(files[0], columns=["PNR", *week_cols, *grad_cols])
    df = table.slice(0, sample).to_pandas()
    read_seconds = time.perf_counter() - t
    del table
    cb = refdata.codebook()
    codebook = {c: s for c, s in zip(cb["code"].to_list(), cb["state"].to_list()) if c}
    import psutil

    rss0 = psutil.Process().memory_info().rss
    t = time.perf_counter()
    person_weeks, spells = analyst_spells(df, codebook, week_cols)
    spells_df = pd.DataFrame(spells, columns=["PNR", "year", "state", "start_week_seq", "end_week_seq", "n_weeks"])
    seconds = time.perf_counter() - t
    rss_growth = psutil.Process().memory_info().rss - rss0
    # Compare with the pipeline's spells for the same persons (counts only).
    db = out / "home" / "warehouse.duckdb"
    agree = None
    if db.exists():
        with duckdb.connect(str(db), read_only=True) as conn:
            conn.register("_sample", pd.DataFrame({"PNR": df["PNR"]}))
            ref = conn.execute(
                "SELECT PNR, year, state, start_week_seq, end_week_seq, n_weeks FROM spells.spells "
                "WHERE PNR IN (SELECT PNR FROM _sample)"
            ).fetchall()
        mine = {tuple(int(v) if i in (1, 3, 4, 5) else v for i, v in enumerate(s)) for s in spells}
        theirs = {tuple(int(v) if i in (1, 3, 4, 5) else v for i, v in enumerate(s)) for s in ref}
        agree = {"pandas_spells": len(mine), "pipeline_spells": len(theirs),
                 "only_pandas": len(mine - theirs), "only_pipeline": len(theirs - mine)}
    return {
        "sample": len(df), "read_seconds": read_seconds, "seconds": seconds,
        "person_weeks": len(person_weeks), "spells": len(spells_df),
        "rss_growth": rss_growth, "peak_rss": peak_rss_bytes(), "agreement": agree,
    }


def person_weeks_statement(conn, year: int) -> tuple[str, dict]:
    """``sql/spells/person_weeks.sql`` (materialised as a table, as the asset's INSERT writes it)
    and its parameters for one year.

    Follows the asset's current code: creates the ``_dream_year`` view when
    ``assets.spells`` builds one, and binds only the parameters the SQL names.
    """
    import re

    import assets.spells as spells_assets
    from kommunebench.states import ALPHABET
    from orchestration.code_version import sql_text

    yy = f"{year % 100:02d}"
    cols = [r[0] for r in conn.execute("DESCRIBE raw.dream").fetchall()]
    weeks = sorted(int(c[4:6]) for c in cols if c.startswith(f"Y_{yy}") and len(c) == 6)
    if hasattr(spells_assets, "dream_year_view"):
        conn.execute(spells_assets.dream_year_view(year, weeks, set(cols)))
    sql = "CREATE OR REPLACE TABLE stage.person_weeks AS " + sql_text("spells/person_weeks")
    every = {
        "year": year, "week_pattern": rf"^Y_{yy}\d\d$", "grad_pattern": rf"^GRAD_({year}_\d\d|{year - 1}_12)$",
        "kom_pattern": rf"^NYKOM{year}$", "alphabet": list(ALPHABET), "unknown_state": "OTHER",
        "first_week_seq": spells_assets.first_week_seq(year),
    }
    named = set(re.findall(r"\$([A-Za-z_]\w*)", re.sub(r"--[^\n]*", "", sql)))
    missing = named - set(every)
    if missing:
        raise KeyError(f"person_weeks.sql names parameters this bench does not know: {sorted(missing)}")
    return sql, {k: v for k, v in every.items() if k in named}


def phase_explain(out: Path, year: int) -> dict:
    import duckdb

    db = out / "home" / "warehouse.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS stage")
        sql, params = person_weeks_statement(conn, year)
        t = time.perf_counter()
        rows = conn.execute("EXPLAIN ANALYZE " + sql, params).fetchall()
        seconds = time.perf_counter() - t
        conn.execute("DROP TABLE IF EXISTS stage.person_weeks")
    text = "\n".join(r[1] for r in rows)
    path = out / f"explain_person_weeks_{year}.txt"
    path.write_text(text)
    return {"year": year, "seconds": seconds, "path": str(path), "peak_rss": peak_rss_bytes()}


PHASES = {
    "generate": lambda a: phase_generate(a.out, a.persons),
    "pipeline": lambda a: phase_pipeline(a.out),
    "floor": lambda a: phase_floor(a.out),
    "floor_table": lambda a: phase_floor_table(a.out),
    "floor_load": lambda a: phase_floor_load(a.out),
    "pandas": lambda a: phase_pandas(a.out, a.sample),
    "explain": lambda a: phase_explain(a.out, a.explain_year),
}


def run_child(phase: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--persons", str(args.persons),
           "--out", str(args.out), "--sample", str(args.sample), "--explain-year", str(args.explain_year)]
    print(f"-- {phase} ...", flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-5000:])
        raise RuntimeError(f"phase {phase} failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"   {phase} done in {time.perf_counter() - t:.1f} s", flush=True)
    return result


# ------------------------------------------------------------------ summary and RESULTS.md


def summarise(r: dict) -> dict:
    p, f, ft, pd_ = r["pipeline"], r["floor"], r["floor_table"], r["pandas"]
    by_asset: dict[str, float] = {}
    for s in p["steps"]:
        by_asset[s["step"]] = by_asset.get(s["step"], 0.0) + s["seconds"]
    scale = r["persons"] / pd_["sample"]
    return {
        "pipeline_s": p["wall"], "pipeline_peak_gb": p["peak_rss"] / 1e9, "pipeline_cpu_s": p["cpu"],
        "floor_s": f["wall"], "floor_peak_gb": f["peak_rss"] / 1e9,
        "floor_table_s": ft["wall"], "floor_table_peak_gb": ft["peak_rss"] / 1e9,
        "ratio": p["wall"] / f["wall"], "ratio_table": p["wall"] / ft["wall"],
        "floor_load_s": r["floor_load"]["wall"] if "floor_load" in r else None,
        "floor_load_peak_gb": r["floor_load"]["peak_rss"] / 1e9 if "floor_load" in r else None,
        "ratio_load": p["wall"] / r["floor_load"]["wall"] if "floor_load" in r else None,
        "pandas_scaled_s": pd_["seconds"] * scale, "pandas_scaled_rss_gb": pd_["rss_growth"] * scale / 1e9,
        "by_asset": by_asset,
        "load_registers_s": sum(x["seconds"] for x in p["runs"] if x["job"] == "load_registers"),
        "register_years_s": sum(x["seconds"] for x in p["runs"] if x["job"] == "register_years"),
    }


def fmt_s(x: float) -> str:
    return f"{int(x // 60)}:{x % 60:04.1f}" if x >= 60 else f"{x:.1f} s"


def render_table(results: list[dict]) -> str:
    head = (
        "| persons | date, commit | pipeline wall (load_registers + 11 register years) | CPU | peak RSS | "
        "floor: read + unpivot, count | floor: unpivot into a table | floor: load every file + unpivot, into tables | "
        "ratio pipeline / floor (load; table; count) | pandas loop, scaled | warehouse file | load avg at start |\n"
        "|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n"
    )
    lines = []
    for r in sorted(results, key=lambda r: (-r["persons"], r.get("tag", ""))):
        s = summarise(r)
        pd_ = r["pandas"]
        tag = f" ({r['tag']})" if r.get("tag") else ""
        lines.append(
            f"| {r['persons']:,}{tag} | {r['date']}, {r.get('commit', '?')}{'+' if r.get('uncommitted_pipeline_changes') else ''} | {fmt_s(s['pipeline_s'])} ({fmt_s(s['load_registers_s'])} + "
            f"{fmt_s(s['register_years_s'])}) | {s['pipeline_cpu_s'] / s['pipeline_s'] * 100:.0f} % | "
            f"{s['pipeline_peak_gb']:.2f} GB | {fmt_s(s['floor_s'])} ({s['floor_peak_gb']:.2f} GB) | "
            f"{fmt_s(s['floor_table_s'])} ({s['floor_table_peak_gb']:.2f} GB) | "
            + (f"{fmt_s(s['floor_load_s'])} ({s['floor_load_peak_gb']:.2f} GB) | **{s['ratio_load']:.2f}**; "
               if s["floor_load_s"] else "(not measured) | n/a; ")
            + f"{s['ratio_table']:.1f}; {s['ratio']:.1f} | "
            f"{fmt_s(s['pandas_scaled_s'])} ({pd_['sample']:,} persons in {pd_['seconds']:.1f} s) | "
            f"{r['pipeline']['warehouse_bytes'] / 1e9:.2f} GB | {r['loadavg'][0]:.1f} |"
        )
    return head + "\n".join(lines) + "\n"


def render_steps(r: dict) -> str:
    s = summarise(r)
    total = r["pipeline"]["wall"]
    rows = sorted(s["by_asset"].items(), key=lambda kv: -kv[1])
    peaks: dict[str, int] = {}
    for st in r["pipeline"]["steps"]:
        peaks[st["step"]] = max(peaks.get(st["step"], 0), st["peak_rss"])
    tag = f", {r['tag']}" if r.get("tag") else ""
    out = [f"Per step, {r['persons']:,} persons{tag} (sum over the 11 register years for the spells steps):\n",
           "| Dagster step | seconds | share of wall | peak RSS in step |", "|---|---:|---:|---:|"]
    for k, v in rows:
        peak = f"{peaks[k] / 1e9:.2f} GB" if peaks[k] else "(step shorter than one 0.2 s sample)"
        out.append(f"| `{k}` | {v:.1f} | {v / total * 100:.0f} % | {peak} |")
    step_sum = sum(s["by_asset"].values())
    out.append(f"| Dagster overhead (run start/stop, event log, between steps) | {total - step_sum:.1f} | "
               f"{(total - step_sum) / total * 100:.0f} % | |")
    return "\n".join(out) + "\n"


def write_results(result: dict) -> None:
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    tag = "_" + result["tag"].replace(" ", "_") if result.get("tag") else ""
    (results_dir / f"persons_{result['persons']}{tag}.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    results = [json.loads(p.read_text()) for p in sorted(results_dir.glob("persons_*.json"))]
    md = HERE / "RESULTS.md"
    text = md.read_text() if md.exists() else "<!-- table:start -->\n<!-- table:end -->\n"
    start, end = "<!-- table:start -->", "<!-- table:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{md}: markers {start} / {end} missing")
    explain = Path(result["explain"]["path"])
    if explain.exists():  # operator timings and row counts only
        shutil.copyfile(explain, results_dir / f"explain_person_weeks_{result['explain']['year']}_persons_{result['persons']}.txt")
    block = render_table(results) + "\n" + "\n".join(
        render_steps(r) for r in sorted(results, key=lambda r: (-r["persons"], r.get("tag", ""))))
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    md.write_text(before + start + "\n" + block + end + after)
    print(f"wrote {md}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--persons", type=int, default=500_000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/kb_raw_spells"))
    ap.add_argument("--write", action="store_true", help="save the JSON and re-render the table in RESULTS.md")
    ap.add_argument("--sample", type=int, default=2_000, help="persons in the pandas loop sample")
    ap.add_argument("--explain-year", type=int, default=2013)
    ap.add_argument("--tag", default="", help="a label for this run (a second row for the same size)")
    ap.add_argument("--keep", action="store_true", help="keep <out> (landing and warehouse) afterwards")
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("--from-json", type=Path, help="re-render RESULTS.md from a saved <out>/result.json (with --write)")
    args = ap.parse_args()
    args.out = args.out.resolve()
    if args.from_json:
        if not args.write:
            raise SystemExit("--from-json only makes sense with --write")
        write_results(json.loads(args.from_json.read_text()))
        return
    if args.phase:
        if args.phase != "generate":
            args.out.mkdir(parents=True, exist_ok=True)
        print(json.dumps(PHASES[args.phase](args)))
        return

    loadavg = os.getloadavg()
    result: dict = {
        "persons": args.persons, "tag": args.tag, "date": dt.date.today().isoformat(), "loadavg": list(loadavg),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    import duckdb

    result["duckdb"] = duckdb.__version__
    result["commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                      capture_output=True, text=True).stdout.strip()
    result["uncommitted_pipeline_changes"] = bool(subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "assets", "sql", "kommunebench", "orchestration"],
        capture_output=True, text=True).stdout.strip())
    for phase in ("generate", "pipeline", "floor", "floor_table", "floor_load", "pandas", "explain"):
        result[phase] = run_child(phase, args)
    result["loadavg_end"] = list(os.getloadavg())
    (args.out / "result.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    s = summarise(result)
    print(json.dumps({k: v for k, v in s.items() if k != "by_asset"}, indent=1))
    print(render_steps(result))
    verdict = {
        "under 5 minutes": s["pipeline_s"] <= TARGET_SECONDS,
        "under 8 GB": result["pipeline"]["peak_rss"] <= TARGET_BYTES,
        "ratio to the load floor <= 2.5": s["ratio_load"] <= TARGET_RATIO,
    }
    print("targets:", verdict)
    if args.write:
        write_results(result)
    if not args.keep:
        shutil.rmtree(args.out)


if __name__ == "__main__":
    main()
