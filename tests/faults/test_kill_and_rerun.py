"""A run killed with SIGKILL at the worst moments never leaves half a table, never mixes
two deliveries in a table, and never blocks the next run.

The command line is run as a user runs it (``kommunebench run`` in its own session);
failpoints (``kommunebench.faults``) make it SIGKILL its whole process group, supervisor
and worker, at a named place: inside the transaction that publishes a delivery, inside
the transaction that writes a register year, and between writing the report and
publishing it. After each kill the warehouse is inspected, and the next run must start
without help (the dead run is marked failed and its pool slot freed, said on its
output) and go on. One chain, to keep it fast:

    A: run (good)  ->  B: killed publishing raw  ->  B: killed in register year 2009
       ->  B: plain run up to the cohorts  ->  B: killed in reports  ->  B: plain run

B is A without 200 persons, so every table says which delivery it was built from.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.integration

PERSONS = 12_000  # the benchmark needs a few thousand persons per group to fit its models
YEARS = list(range(2008, 2019))


def kommunebench() -> str:
    exe = Path(sys.executable).parent / "kommunebench"
    return str(exe) if exe.exists() else "kommunebench"


def env_for(home: Path, landing: Path, failpoints: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOMMUNEBENCH_")}
    env.update(KOMMUNEBENCH_HOME=str(home), KOMMUNEBENCH_LANDING=str(landing), DAGSTER_HOME=str(home / "dagster"),
               TQDM_DISABLE="1", DAGSTER_DISABLE_TELEMETRY="1")
    if failpoints:
        env.update(KOMMUNEBENCH_FAILPOINTS=failpoints, KOMMUNEBENCH_FAILPOINT_SCOPE="group")
    return env


def kb(home: Path, landing: Path, *args: str, failpoints: str | None = None) -> subprocess.CompletedProcess:
    # its own session, so a failpoint's kill of the process group reaches nothing else
    proc = subprocess.Popen([kommunebench(), *args], env=env_for(home, landing, failpoints), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    out, err = proc.communicate(timeout=1200)
    session_gone(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def session_gone(sid: int, timeout: float = 30.0) -> None:
    """Wait until every process of the session has exited (a killed worker may still be
    releasing its files for a moment after the leader was reaped)."""
    import time

    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for p in psutil.process_iter(["pid", "status"]):
            try:
                if os.getsid(p.pid) == sid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(p.pid)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes of session {sid} still running: {alive}")


def sha_of(landing: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in sorted(landing.rglob("*")):
        if p.is_file() and p.parent != landing:
            out.setdefault(p.parent.name, set()).add(hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def q(db: Path, sql: str, params=None):
    import time

    deadline = time.monotonic() + 30
    while True:  # a killed worker may hold the file for a moment while the kernel tears it down
        try:
            conn = duckdb.connect(str(db), read_only=True)
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        return conn.execute(sql, params or {}).fetchall()


def raw_delivery(db: Path, deliveries: dict[str, dict[str, set[str]]]) -> str:
    """Which delivery every raw table holds; fails if two deliveries are mixed or a table is partial."""
    names = set(deliveries)
    for reg in ("DREAM", "BEF", "OPHG", "UDDA", "RAMMEVILKAAR"):
        rows = q(db, "SELECT file, sha256, rows FROM raw.load_audit WHERE register = $r AND status = 'published' AND "
                     "run_id = (SELECT arg_max(run_id, loaded_at) FROM raw.load_audit WHERE register = $r "
                     "AND status = 'published')", {"r": reg})
        shas = {r[1] for r in rows}
        which = {n for n, d in deliveries.items() if d[reg] == shas}  # both, where A and B share the files
        assert which, f"raw.{reg.lower()} is from no delivery"
        names &= which
        # whole: the table holds exactly the rows of the files its audit names
        per_file = dict(q(db, f"SELECT _source_file, count(*) FROM raw.{reg.lower()} GROUP BY 1"))
        assert per_file == {r[0]: r[2] for r in rows}, reg
    assert len(names) == 1, f"raw tables from two deliveries: {names}"
    return names.pop()


def partitions_whole(db: Path) -> dict[int, int]:
    """Every register year of person-weeks complete (persons x ISO weeks) and its spells reconciled."""
    import datetime as dt

    out = {}
    for year, n, persons in q(db, "SELECT year, count(*), count(DISTINCT PNR) FROM spells.person_weeks GROUP BY 1 ORDER BY 1"):
        weeks = dt.date(year, 12, 28).isocalendar()[1]
        assert n == persons * weeks, year
        spell_weeks = q(db, "SELECT sum(n_weeks) FROM spells.spells WHERE year = $y", {"y": year})[0][0]
        assert spell_weeks == n, year
        out[year] = persons
    return out


def no_run_in_progress(home: Path) -> None:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        stuck = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]))
        assert stuck == []
        assert instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots == []


def release(home: Path) -> tuple[str, str]:
    """The current release's run id, and the report's run label (the same run)."""
    out = home / "outputs"
    current = (out / "current").resolve().name
    html = (out / "report.html").read_text(encoding="utf-8")
    assert (out / "exports").resolve().parent.name == current
    return current, html


def without_persons(src: Path, dst: Path, n: int) -> None:
    """Delivery B: delivery A without ``n`` persons (every register; framework conditions as they were)."""
    import polars as pl

    pnrs = pl.read_parquet(next((src / "DREAM").glob("*.parquet")), columns=["PNR"])["PNR"].sort().gather_every(
        12_000 // n)[:n]
    for f in src.rglob("*.parquet"):
        out = dst / f.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        df = pl.read_parquet(f)
        if "PNR" in df.columns:
            df = df.filter(~pl.col("PNR").is_in(pnrs.to_list()))
        df.write_parquet(out)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    landings = {"A": root / "landing_A", "B": root / "landing_B"}
    # seed 11 at this size is the end-to-end test's extract, on which every model fits
    p = subprocess.run([kommunebench(), "generate", "--persons", str(PERSONS), "--seed", "11", "--no-progress",
                        "--out", str(landings["A"]), "--truth", str(root / "truth")],
                       env=env_for(root / "gen", landings["A"]), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    without_persons(landings["A"], landings["B"], 200)
    return root / "home", landings, {n: sha_of(p) for n, p in landings.items()}


STATE: dict = {}


def test_kill_publishing_a_delivery_and_writing_a_register_year(chain):
    home, landing, sha = chain
    db = home / "warehouse.duckdb"

    # A: a good run (the pooled step may not fit on this small extract; see the next test)
    r = kb(home, landing["A"], "run")
    assert "[17/18] cohorts [2015] ok" in r.stdout, r.stdout + r.stderr
    STATE["pooled_a"] = r.returncode == 0
    STATE["pooled_error"] = r.stdout.split("pooled_results FAILED", 1)[-1].strip().splitlines()[1:2]
    assert raw_delivery(db, sha) == "A"
    persons_a = partitions_whole(db)
    assert sorted(persons_a) == YEARS
    STATE["persons_a"] = persons_a

    # B arrives; the run is killed inside the transaction publishing it (one register renamed)
    r = kb(home, landing["B"], "run", failpoints="raw_publish")
    assert r.returncode == -9, r.stdout + r.stderr
    assert raw_delivery(db, sha) == "A"
    assert partitions_whole(db) == persons_a

    # the next run recovers, publishes B, and is killed writing register year 2009
    r = kb(home, landing["B"], "run", failpoints="partition:spells.person_weeks@2")
    assert r.returncode == -9, r.stdout + r.stderr
    assert "recovered: run" in r.stdout and "(load_registers)" in r.stdout and "marked failed" in r.stdout
    assert "dropped stage table(s) raw._stage_" in r.stdout
    assert raw_delivery(db, sha) == "B"
    whole = partitions_whole(db)  # 2008 from B, 2009 rolled back to A's, whole
    assert sorted(whole) == YEARS and whole[2009] == persons_a[2009] != whole[2008] == persons_a[2008] - 200

    # a plain run of the stages up to the cohorts completes, and they are all from B
    r = kb(home, landing["B"], "materialize", "--stage", "registers", "--stage", "register_years", "--stage", "cohorts")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "recovered: run" in r.stdout and "(register_years [2009])" in r.stdout
    assert raw_delivery(db, sha) == "B"
    persons_b = partitions_whole(db)
    assert all(persons_b[y] == persons_a[y] - 200 for y in YEARS)
    no_run_in_progress(home)


def test_kill_publishing_the_report_then_a_plain_run(chain):
    home, landing, sha = chain
    db = home / "warehouse.duckdb"
    if "pooled_a" not in STATE:
        pytest.fail("the previous test did not get as far as the first run")
    if not STATE["pooled_a"]:
        pytest.skip(f"the pooled step cannot fit its models on this {PERSONS:,}-person extract "
                    f"({' '.join(STATE['pooled_error'])}), so there is no report to keep")
    release_a, html_a = release(home)

    # the run is killed after writing the new report, before publishing report and exports
    r = kb(home, landing["B"], "run", failpoints="reports_written")
    assert r.returncode == -9, r.stdout + r.stderr
    current, html = release(home)
    assert current == release_a and html == html_a  # the last good report and exports, of one run
    assert next(iter(sha["A"]["DREAM"])) in html

    # a plain run completes, and everything is from B
    r = kb(home, landing["B"], "run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "recovered: run" in r.stdout and "(pooled_results)" in r.stdout
    assert "partial release left by a run that did not finish" in r.stdout
    assert raw_delivery(db, sha) == "B"
    current, html = release(home)
    assert current != release_a and current[:8] in html
    assert next(iter(sha["B"]["DREAM"])) in html and next(iter(sha["A"]["DREAM"])) not in html
    assert any(p.suffix == ".xlsx" for p in (home / "outputs" / "exports").iterdir())
    no_run_in_progress(home)
