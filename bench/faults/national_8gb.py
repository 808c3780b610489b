"""The whole pipeline at national scale under an 8 GB address-space limit.

Reproduce (generation first, not timed; the extract is reused when it is already there):

    uv run python bench/faults/national_8gb.py --persons 500000 --out /tmp/kb_nat --write

What it does:

1. ``generate``: ``kommunebench generate --persons <n> --seed 2016`` (the embedded
   default's seed, parquet, register years 2008-2018) into ``<out>/landing``.
2. ``run``: on a fresh ``KOMMUNEBENCH_HOME=<out>/home``,
   ``prlimit --as=<limit> -- kommunebench materialize`` (every stage, default settings,
   the project's Dagster instance), i.e. the command line a data engineer runs, with the
   supervisor and its worker both under the limit. ``--as`` caps the address space, which
   is stricter than a cap on resident memory (mapped libraries and thread stacks count).
   The memory settings are the defaults fitted by ``kommunebench.machine`` (DuckDB gets
   half of what the limit leaves after the libraries are loaded). Wall time per run from
   the command's own progress lines; peak resident memory of the process tree sampled
   every 0.5 s with psutil, and the kernel's high-water mark of the largest process
   (``RUSAGE_CHILDREN``).

``--write`` saves ``bench/faults/results/national_<n>_<limit>.json`` and re-renders the
table in ``bench/faults/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEED = 2016
STEP = re.compile(r"^\[(\d+)/(\d+)\] (\S+)(?: \[(\w+)\])? (ok|FAILED) \(([\d.]+) s\)$")


def kommunebench() -> str:
    exe = Path(sys.executable).parent / "kommunebench"
    return str(exe) if exe.exists() else "kommunebench"


def env_for(out: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("KOMMUNEBENCH_WAREHOUSE", "KOMMUNEBENCH_OUTPUTS", "KOMMUNEBENCH_TRUTH", "KOMMUNEBENCH_FAILPOINTS",
                 "KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT", "KOMMUNEBENCH_REGISTER_YEARS", "KOMMUNEBENCH_COHORT_YEARS"):
        env.pop(name, None)
    env.update(KOMMUNEBENCH_HOME=str(out / "home"), KOMMUNEBENCH_LANDING=str(out / "landing"),
               DAGSTER_HOME=str(out / "home" / "dagster"), TQDM_DISABLE="1", DAGSTER_DISABLE_TELEMETRY="1")
    return env


def generate(out: Path, persons: int) -> dict:
    marker = out / "generated.json"
    want = {"persons": persons, "seed": SEED}
    if marker.exists() and json.loads(marker.read_text()).get("settings") == want:
        return {**json.loads(marker.read_text()), "reused": True}
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = time.perf_counter()
    subprocess.run([kommunebench(), "generate", "--persons", str(persons), "--seed", str(SEED), "--no-progress",
                    "--out", str(out / "landing"), "--truth", str(out / "truth")], env=env_for(out), check=True)
    info = {"settings": want, "seconds": time.perf_counter() - t,
            "landing_bytes": sum(p.stat().st_size for p in (out / "landing").rglob("*") if p.is_file())}
    marker.write_text(json.dumps(info))
    return {**info, "reused": False}


class TreeSampler:
    """Peak resident memory of a process and its descendants, sampled every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.5):
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_tree = 0
        self.peak_one = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        while not self._stop.wait(self.interval):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                rss = []
                for p in procs:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
                self.peak_tree = max(self.peak_tree, sum(rss))
                self.peak_one = max(self.peak_one, max(rss, default=0))
            except psutil.Error:
                return

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def run(out: Path, limit: int, label: str, args: list[str], fresh: bool) -> dict:
    if fresh:
        shutil.rmtree(out / "home", ignore_errors=True)
    cmd = ["prlimit", f"--as={limit}", "--", kommunebench(), *args]
    t = time.perf_counter()
    lines: list[str] = []
    proc = subprocess.Popen(cmd, env=env_for(out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeSampler(proc.pid) as sampler:
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
        rc = proc.wait()
    wall = time.perf_counter() - t
    steps = []
    for line in lines:
        m = STEP.match(line)
        if m:
            steps.append({"job": m.group(3), "partition": m.group(4), "ok": m.group(5) == "ok",
                          "seconds": float(m.group(6))})
    return {
        "label": label, "command": " ".join(cmd[3:]), "limit_bytes": limit, "exit_code": rc, "wall": wall,
        "steps": steps, "peak_rss_tree": sampler.peak_tree, "peak_rss_process_sampled": sampler.peak_one,
        "peak_rss_largest_process": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "output_tail": lines[-12:],
    }


def summarise(runs: list[dict]) -> str:
    out = ["| run | exit | wall | raw | register years (11) | cohorts (5) | pooled | peak RSS (tree) | peak RSS (largest process) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        by = {}
        for s in r["steps"]:
            by[s["job"]] = by.get(s["job"], 0.0) + s["seconds"]
        out.append(
            f"| {r['label']} | {r['exit_code']} | {r['wall'] / 60:.1f} min | {by.get('load_registers', 0):.0f} s | "
            f"{by.get('register_years', 0):.0f} s | {by.get('cohorts', 0):.0f} s | {by.get('pooled_results', 0):.0f} s | "
            f"{r['peak_rss_tree'] / 2**30:.2f} GB | {r['peak_rss_largest_process'] / 2**30:.2f} GB |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=500_000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/kb_nat"))
    ap.add_argument("--limit-gb", type=float, default=8.0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--label", default="", help="appended to the results file name (e.g. the commit)")
    a = ap.parse_args()
    limit = int(a.limit_gb * 2**30)
    gen = generate(a.out, a.persons)
    runs = [run(a.out, limit, f"full run, {a.persons:,} persons, prlimit --as={a.limit_gb:g}G", ["materialize"], fresh=True)]
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {"date": dt.date.today().isoformat(), "commit": commit, "persons": a.persons, "generate": gen, "runs": runs,
              "machine": {"cpus": os.cpu_count(), "load_at_start": os.getloadavg()}}
    print(summarise(runs))
    if a.write:
        (HERE / "results").mkdir(exist_ok=True)
        path = HERE / "results" / f"national_{a.persons}_as{a.limit_gb:g}G{'_' + a.label if a.label else ''}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
