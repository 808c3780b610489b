"""The default run's time per step, and a re-run with nothing changed.

Reproduce (the extract is generated once, not timed, and reused):

    uv run python bench/operations/default_run.py --out /tmp/kb_default --label <name> --write

1. ``generate``: ``kommunebench generate`` with its defaults (the embedded synthetic
   default: persons, seed 2016, parquet) into ``<out>/landing``.
2. ``first``: ``kommunebench materialize`` on a fresh ``KOMMUNEBENCH_HOME`` (every stage,
   default settings), as a data engineer runs it.
3. ``again``: the same command once more, nothing changed.

Per run: wall time of the command; per Dagster run (job and partition) its seconds as the
command printed them; per step (asset op) its seconds from the Dagster event log
(STEP_START to STEP_SUCCESS/FAILURE); for the pooled step, the benchmark's seconds per
target group and measure (``models.fit_summary.seconds``) and the sequence analysis'
seconds per group (the ``runs`` metadata of ``sequences/cluster_solution``).

``--write`` saves ``bench/operations/results/default_run_<label>.json``; RESULTS.md
holds the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
JOB_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+)(?: \[(\w+)\])? (ok|FAILED|unchanged)[^(]*(?:\(([\d.]+) s\))?")


def kommunebench() -> str:
    exe = Path(sys.executable).parent / "kommunebench"
    return str(exe) if exe.exists() else "kommunebench"


def env_for(out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOMMUNEBENCH_")}
    env.update(KOMMUNEBENCH_HOME=str(out / "home"), KOMMUNEBENCH_LANDING=str(out / "landing"),
               DAGSTER_HOME=str(out / "home" / "dagster"), TQDM_DISABLE="1", DAGSTER_DISABLE_TELEMETRY="1")
    return env


def generate(out: Path) -> dict:
    marker = out / "generated.json"
    if marker.exists():
        return {**json.loads(marker.read_text()), "reused": True}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = time.perf_counter()
    p = subprocess.run([kommunebench(), "generate", "--no-progress", "--out", str(out / "landing"),
                        "--truth", str(out / "truth")], env=env_for(out), capture_output=True, text=True, check=True)
    info = {"seconds": time.perf_counter() - t, "output": p.stdout.strip().splitlines()[:1]}
    marker.write_text(json.dumps(info))
    return {**info, "reused": False}


def step_times(home: Path, since: float) -> list[dict]:
    import dagster as dg

    out = []
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        for rec in instance.get_run_records():
            run = rec.dagster_run
            if rec.create_timestamp.timestamp() < since:
                continue
            starts = {}
            for e in instance.all_logs(run.run_id):
                ev = e.dagster_event
                if ev is None or ev.step_key is None:
                    continue
                if ev.event_type_value == "STEP_START":
                    starts[ev.step_key] = e.timestamp
                elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in starts:
                    out.append({"job": run.job_name, "partition": run.tags.get("dagster/partition"),
                                "step": ev.step_key, "seconds": e.timestamp - starts[ev.step_key],
                                "ok": ev.event_type_value == "STEP_SUCCESS"})
    return out


def pooled_detail(home: Path) -> dict:
    import duckdb

    db = home / "warehouse.duckdb"
    detail: dict = {}
    try:
        with duckdb.connect(str(db), read_only=True) as conn:
            detail["benchmark_seconds"] = [
                {"target_group": g, "measure": m, "persons": int(n), "seconds": float(s)}
                for g, m, n, s in conn.execute(
                    "SELECT target_group, measure, persons, seconds FROM models.fit_summary ORDER BY ALL").fetchall()]
    except duckdb.Error as e:
        detail["benchmark_seconds_error"] = str(e)
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        recs = instance.fetch_materializations(dg.AssetKey(["sequences", "cluster_solution"]), limit=1).records
        if recs:
            runs = recs[0].asset_materialization.metadata.get("runs")
            detail["sequences"] = json.loads(runs.value) if runs is not None else None
    return detail


def run(out: Path, label: str, fresh: bool) -> dict:
    if fresh:
        shutil.rmtree(out / "home", ignore_errors=True)
    since = time.time()
    t = time.perf_counter()
    p = subprocess.run([kommunebench(), "materialize"], env=env_for(out), capture_output=True, text=True)
    wall = time.perf_counter() - t
    print(p.stdout[-3000:], flush=True)
    jobs = []
    for line in p.stdout.splitlines():
        m = JOB_LINE.match(line)
        if m and not line.endswith("..."):
            jobs.append({"job": m.group(3), "partition": m.group(4), "status": m.group(5),
                         "seconds": float(m.group(6)) if m.group(6) else None})
    return {"label": label, "exit_code": p.returncode, "wall": wall, "jobs": jobs,
            "steps": step_times(out / "home", since), "pooled": pooled_detail(out / "home"),
            "stdout_tail": p.stdout.splitlines()[-8:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/kb_default"))
    ap.add_argument("--label", required=True)
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    gen = generate(a.out)
    first = run(a.out, "first run", fresh=True)
    again = run(a.out, "again, nothing changed", fresh=False)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {"date": dt.datetime.now().isoformat(timespec="minutes"), "commit": commit, "label": a.label,
              "load_at_start": os.getloadavg(), "generate": gen, "runs": [first, again]}
    for r in (first, again):
        print(f"{r['label']}: exit {r['exit_code']}, {r['wall']:.0f} s")
    if a.write:
        (HERE / "results").mkdir(exist_ok=True)
        path = HERE / "results" / f"default_run_{a.label}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
