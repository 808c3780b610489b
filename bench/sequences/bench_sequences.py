"""Benchmark of the sequence stage against sequenzo (and TraMineR's recorded figures).

Same data, same run:
  1. n = 5,000 weekly Markov sequences (length 156, 10 states, long spells): OM with
     TRATE costs and indel 1 between distinct sequences, then weighted PAM (k = 6);
     float32 (default) and float64 kernels; OM with constant costs and LCS too.
  2. sequenzo 0.1.42 (if --sequenzo-python points at a venv that has it): the same
     distances and its weighted PAM; the matrices are compared entry by entry.
  3. The whole stage (run_sequence_analysis: descriptives, indicators, CLARA over
     k = 2..10) for 200,000 persons, in a fresh process: wall, CPU and peak memory.

usage (from the repository root):
  uv run python bench/sequences/bench_sequences.py --sequenzo-python /tmp/seqvenv/bin/python
Writes bench/out/sequences/ (data, matrices, JSON) and prints the RESULTS.md table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "sequences"
STAY = 0.9885  # weekly probability of staying: about 79 % distinct sequences at n = 5,000


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, *a, **kw):
    w0, c0 = time.perf_counter(), cpu()
    out = fn(*a, **kw)
    return out, time.perf_counter() - w0, cpu() - c0


def machine() -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.python_version()}, load {os.getloadavg()[0]:.2f}"


def run_small(n: int, k: int, seed: int, sequenzo_python: str | None) -> dict:
    import numba

    from kommunebench.sequences import pam, resolve_costs, seqdist
    from kommunebench.sequences.synthetic import markov_sequences
    from kommunebench.states import ALPHABET

    S = markov_sequences(n, 156, n_states=10, stay=STAY, seed=seed)
    # warm the compiled kernels on a small problem so that compile time is not timed
    warm = seqdist(S[:100], sm="TRATE")
    pam(warm.square(), 3, warm.unique.weights)
    seqdist(S[:100], sm="TRATE", dtype=np.float64)
    costs = resolve_costs(S, "OM", sm="TRATE", indel=1.0)
    res: dict = {"n": n, "k": k, "threads": numba.get_num_threads()}
    dm32, w, c = timed(seqdist, S, costs=costs, dtype=np.float32)
    res["n_unique"] = dm32.n_unique
    res["ours_f32_dist"] = (w, c)
    D32 = dm32.square()
    p32, w, c = timed(pam, D32, k, dm32.unique.weights)
    res["ours_f32_pam"] = (w, c)
    dm64, w, c = timed(seqdist, S, costs=costs, dtype=np.float64)
    res["ours_f64_dist"] = (w, c)
    D64 = dm64.square()
    p64, w, c = timed(pam, D64, k, dm64.unique.weights)
    res["ours_f64_pam"] = (w, c)
    for name, kw in (("const", {"sm": "CONSTANT", "cval": 2.0}), ("lcs", {"method": "LCS"})):
        _, w, c = timed(seqdist, S, dtype=np.float32, **kw)
        res[f"ours_f32_{name}"] = (w, c)
    off = ~np.eye(dm32.n_unique, dtype=bool)
    res["f32_vs_f64_max_rel"] = float(np.max(np.abs(D32[off].astype(np.float64) - D64[off]) / D64[off]))
    res["f32_vs_f64_max_abs"] = float(np.max(np.abs(D32.astype(np.float64) - D64)))
    w_u = dm64.unique.weights
    cost_f32_medoids = float(np.dot(w_u, D64[p32.medoids].min(axis=0)))
    res["pam_objective_f64"] = p64.cost
    res["pam_objective_f32_medoids_on_f64"] = cost_f32_medoids
    res["pam_same_medoids_f32_f64"] = sorted(p32.medoids.tolist()) == sorted(p64.medoids.tolist())
    cells = dm32.n_unique * (dm32.n_unique - 1) / 2 * 157 * 157
    res["cells"] = cells
    res["ns_per_cell_core_f32"] = res["ours_f32_dist"][1] / cells * 1e9

    if sequenzo_python:
        OUT.mkdir(parents=True, exist_ok=True)
        csv = OUT / f"markov_{n}.csv"
        d = pd.DataFrame(np.asarray(ALPHABET, dtype=object)[S], columns=[f"w{i + 1}" for i in range(S.shape[1])])
        d.insert(0, "id", np.arange(1, n + 1))
        d.to_csv(csv, index=False)
        (OUT / f"markov_{n}.csv.states.json").write_text(json.dumps(list(ALPHABET[:10])))
        prefix = OUT / f"sequenzo_{n}"
        w0 = time.perf_counter()
        proc = subprocess.run([sequenzo_python, str(Path(__file__).with_name("sequenzo_run.py")), str(csv),
                               str(prefix), str(k)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"sequenzo failed:\n{proc.stderr[-3000:]}")
        sq = json.loads(Path(f"{prefix}.json").read_text())
        sq["process_wall"] = time.perf_counter() - w0
        Dsq = np.load(f"{prefix}.npy")
        Dours = dm64.expanded()
        nz = Dsq > 0
        sq["max_rel_vs_ours_f64"] = float(np.max(np.abs(Dours[nz] - Dsq[nz]) / Dsq[nz]))
        sq["max_abs_vs_ours_f64"] = float(np.max(np.abs(Dours - Dsq)))
        D32e = dm32.expanded().astype(np.float64)
        sq["max_rel_vs_ours_f32"] = float(np.max(np.abs(D32e[nz] - Dsq[nz]) / Dsq[nz]))
        sq["zero_pattern_equal"] = bool(np.array_equal(Dsq == 0, Dours == 0))
        med = np.array(sq["medoids_1based"]) - 1
        # sequenzo's PAM objective over all persons, evaluated with our float64 matrix
        sq["pam_objective_on_ours"] = float(Dours[med].min(axis=0).sum())
        res["sequenzo"] = sq
        del Dsq, Dours, D32e
    return res


def run_big(n: int, seed: int) -> dict:
    """The whole stage for n persons; call in a fresh process for a clean peak RSS."""
    from kommunebench.sequences import run_sequence_analysis
    from kommunebench.sequences.synthetic import markov_sequences

    S = markov_sequences(n, 156, n_states=10, stay=STAY, seed=seed + 1)
    kom = np.random.default_rng(seed).choice(np.arange(101, 199), size=n)
    r, w, c = timed(run_sequence_analysis, S, kom=kom, seed=seed)
    q = r.cluster_quality
    return {"n": n, "n_unique": r.info["n_unique"], "route": r.info["route"], "k": r.info["k"],
            "wall": w, "cpu": c, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "timings": r.info["timings_s"], "quality": q.to_dict(orient="records"),
            "clusters": r.clusters[["cluster", "name", "n_persons", "share"]].to_dict(orient="records")}


def table(small: dict, big: dict | None, when: str, mach: str, cmd: str) -> str:
    L = []
    n, u, k = small["n"], small["n_unique"], small["k"]
    L.append("# Sequence stage: benchmark\n")
    L.append(f"Date: {when}. Machine: {mach} (shared and busy: compare CPU seconds and ratios, "
             "not wall times). numba threads: " + str(small["threads"]) + ".\n")
    L.append(f"Reproduce: `{cmd}`\n")
    L.append("TraMineR could not be run here: Debian 12 has no `r-cran-traminer` package and CRAN is not "
             "reachable from this machine, so TraMineR figures below are the ones recorded in "
             "`shared/sequence-notes.md` (same kind of data, TraMineR 2.2-12, 5,000 sequences, 3,957 distinct) "
             "and are labelled as such. Correctness against TraMineR itself is covered by the unit tests "
             "(`tests/unit/test_sequences_distances.py`: TraMineR 2.2.12's own matrices for OM-TRATE, "
             "OM-constant, HAM, DHD and LCS, 300 sequences of 156 weeks). sequenzo 0.1.42 ran on the same "
             "data in the same run, in a throwaway venv outside the project.\n")
    L.append(f"## OM (TRATE costs, indel 1) + PAM (k = {k}), n = {n:,} sequences of 156 weeks, {u:,} distinct "
             f"({u / n:.0%})\n")
    L.append("| tool | distances wall s | distances CPU s | PAM wall s | PAM CPU s | total CPU s | CPU ratio TraMineR / tool |")
    L.append("|---|---|---|---|---|---|---|")
    tram = 255.0
    L.append(f"| TraMineR 2.2-12 (recorded in notes, 3,957 distinct, distances only) | - | {tram:.0f} | - | - | >= {tram:.0f} | 1 |")
    if "sequenzo" in small:
        s = small["sequenzo"]
        tot = s["dist_cpu"] + s["pam_cpu"]
        L.append(f"| sequenzo {s['version']} (this run) | {s['dist_wall']:.1f} | {s['dist_cpu']:.1f} | "
                 f"{s['pam_wall']:.2f} | {s['pam_cpu']:.2f} | {tot:.1f} | {tram / tot:.2f} |")
    for tag, label in (("f64", "kommunebench float64 (exact path)"), ("f32", "kommunebench float32, 64 SIMD lanes")):
        dw, dc = small[f"ours_{tag}_dist"]
        pw, pc = small[f"ours_{tag}_pam"]
        L.append(f"| {label} (this run) | {dw:.1f} | {dc:.1f} | {pw:.2f} | {pc:.2f} | {dc + pc:.1f} | {tram / (dc + pc):.1f} |")
    dw, dc = small["ours_f32_dist"]
    pw, pc = small["ours_f32_pam"]
    L.append("")
    if "sequenzo" in small:
        sq = small["sequenzo"]
        eq = tram / 511.0 * sq["dist_cpu"]  # notes: TraMineR 255 s and sequenzo 511 s CPU on the same data
        L.append(f"Wall clock: the machine was shared while this ran, so wall times mostly measure the load. "
                 f"Against sequenzo in the same run, distances take {sq['dist_wall']:.1f} s vs {dw:.1f} s wall "
                 f"({sq['dist_wall'] / dw:.1f}x) and {sq['dist_cpu']:.1f} vs {dc:.1f} CPU s "
                 f"({sq['dist_cpu'] / dc:.1f}x). TraMineR's recorded figure is CPU time on one thread; scaled by "
                 f"the recorded TraMineR/sequenzo ratio (255/511 CPU s) to this run's sequenzo time, TraMineR "
                 f"would need about {eq:.0f} CPU s here: {eq / (dc + pc):.1f}x our float32 distances + PAM in CPU "
                 f"time, and about twice that in wall time on an idle 2-core machine (both cores busy, "
                 f"TraMineR on one).\n")
    L.append(f"Kernel speed: {small['ns_per_cell_core_f32']:.3f} ns per dynamic-programming cell per core "
             f"(float32; {small['cells']:.2e} cells); notes: TraMineR 1.34 ns, SIMD floor 0.06-0.07 ns.\n")
    L.append("Other costs, same data, float32: "
             f"OM with constant costs 2 / indel 1: {small['ours_f32_const'][0]:.1f} s wall, "
             f"{small['ours_f32_const'][1]:.1f} s CPU; LCS: {small['ours_f32_lcs'][0]:.1f} s wall, "
             f"{small['ours_f32_lcs'][1]:.1f} s CPU (the same kernel; no bit-parallel LCS shortcut).\n")
    L.append("### Equal distances\n")
    L.append(f"- float32 vs float64 kernel: max relative difference {small['f32_vs_f64_max_rel']:.1e}, "
             f"max absolute {small['f32_vs_f64_max_abs']:.1e}.")
    if "sequenzo" in small:
        s = small["sequenzo"]
        L.append(f"- sequenzo vs kommunebench float64 over all {n:,} x {n:,} entries: max relative difference "
                 f"{s['max_rel_vs_ours_f64']:.1e} (max absolute {s['max_abs_vs_ours_f64']:.1e}); float32: "
                 f"{s['max_rel_vs_ours_f32']:.1e}; zero entries identical: {s['zero_pattern_equal']}.")
        L.append(f"- PAM objective (sum of distances to the medoid, our float64 matrix): kommunebench "
                 f"{small['pam_objective_f64']:.1f}, sequenzo's medoids {s['pam_objective_on_ours']:.1f}.")
    L.append(f"- float32 PAM chose the same medoids as float64 PAM: {small['pam_same_medoids_f32_f64']} "
             f"(objective of the float32 medoids on the float64 matrix: {small['pam_objective_f32_medoids_on_f64']:.1f}).\n")
    if big:
        L.append(f"## Whole stage, n = {big['n']:,} persons ({big['n_unique']:,} distinct sequences)\n")
        L.append("`run_sequence_analysis` with defaults: descriptives and indicators (overall and for 98 "
                 "municipality codes), OM-TRATE float32, CLARA (5 samples of 2,000 persons, full-data TRATE "
                 "costs, every distinct sequence assigned to its nearest medoid) for k = 2..10, typology. "
                 "Fresh process.\n")
        t = big["timings"]
        L.append("| wall s | CPU s | peak RSS GB | descriptives s | clustering s | route | chosen k | target |")
        L.append("|---|---|---|---|---|---|---|---|")
        L.append(f"| {big['wall']:.0f} | {big['cpu']:.0f} | {big['maxrss_mb'] / 1024:.2f} | {t['descriptives']:.0f} | "
                 f"{t['clustering']:.0f} | {big['route']} | {big['k']} | < 600 s, < 8 GB |")
        L.append("")
        L.append("Recorded in the notes for comparison (not this run): sequenzo's own `clara` at 200,000: "
                 "822 s and about 6.6 GB.\n")
        L.append("CLARA quality by k (ASW on the kept sample, medoid silhouette over all data, adjusted Rand "
                 "between the best and runner-up sample partitions):\n")
        L.append("| k | ASW (sample) | medoid silhouette | objective | ARI runner-up | ARI mean |")
        L.append("|---|---|---|---|---|---|")
        for q in big["quality"]:
            L.append(f"| {q['k']} | {q['asw']:.3f} | {q['medoid_silhouette']:.3f} | {q['objective']:.4g} | "
                     f"{q['ari_runner_up']:.2f} | {q['ari_mean']:.2f} |")
        L.append("")
        L.append("Markov data with 10 states and no planted groups has no strong cluster structure: the low ASW "
                 "and the partition instability are properties of the data, which is why the stability "
                 "columns are reported.\n")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--big", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--sequenzo-python", default=None)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--big-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--write", action="store_true", help="write bench/sequences/RESULTS.md")
    ap.add_argument("--render-only", action="store_true",
                    help="re-render RESULTS.md from bench/out/sequences/{small,big}.json of the last run")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if a.big_only:
        print(json.dumps(run_big(a.big, a.seed)))
        return
    if a.render_only:
        small = json.loads((OUT / "small.json").read_text())
        big = json.loads((OUT / "big.json").read_text()) if (OUT / "big.json").exists() else None
        text = table(small, big, small["date"], small["machine"], small["command"])
        print(text)
        if a.write:
            (Path(__file__).with_name("RESULTS.md")).write_text(text)
        return
    when = dt.date.today().isoformat()
    mach = machine()
    cmd = "uv run python bench/sequences/bench_sequences.py --sequenzo-python /tmp/seqvenv/bin/python --write"
    small = run_small(a.n, a.k, a.seed, a.sequenzo_python)
    small.update({"date": when, "machine": mach, "command": cmd})
    (OUT / "small.json").write_text(json.dumps(small, indent=1, default=str))
    big = None
    if not a.skip_big:
        proc = subprocess.run([sys.executable, __file__, "--big-only", "--big", str(a.big), "--seed", str(a.seed)],
                              capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"big run failed:\n{proc.stderr[-3000:]}")
        big = json.loads(proc.stdout.strip().splitlines()[-1])
        (OUT / "big.json").write_text(json.dumps(big, indent=1))
    text = table(small, big, when, mach, cmd)
    print(text)
    if a.write:
        (Path(__file__).with_name("RESULTS.md")).write_text(text)


if __name__ == "__main__":
    main()
