"""Run sequenzo (OM with TRATE costs, indel 1, then its weighted PAM) on a CSV of
state sequences. Runs in a throwaway venv that has sequenzo; not part of the project.

usage: python sequenzo_run.py DATA.csv OUT_PREFIX K
Writes OUT_PREFIX.npy (distance matrix over all rows, float64) and OUT_PREFIX.json
(timings in wall and CPU seconds, medoids).
"""

import json
import resource
import sys
import time

import numpy as np
import pandas as pd


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    path, prefix, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    from sequenzo import SequenceData, get_distance_matrix
    from sequenzo.clustering import KMedoids
    import sequenzo

    d = pd.read_csv(path)
    cols = [c for c in d.columns if c != "id"]
    states = [s for s in json.loads(open(path + ".states.json").read())]
    seq = SequenceData(d, time=cols, states=states, id_col="id")
    w0, c0 = time.perf_counter(), cpu()
    D = get_distance_matrix(seq, method="OM", sm="TRATE", indel=1)
    w1, c1 = time.perf_counter(), cpu()
    D = np.asarray(D, dtype=np.float64)
    res = KMedoids(D, k, method="PAMonce", verbose=False)
    w2, c2 = time.perf_counter(), cpu()
    np.save(prefix + ".npy", D)
    out = {"version": getattr(sequenzo, "__version__", "?"),
           "dist_wall": w1 - w0, "dist_cpu": c1 - c0, "pam_wall": w2 - w1, "pam_cpu": c2 - c1,
           "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "medoids_1based": sorted(set(np.asarray(res).ravel().tolist()))[:50]}
    with open(prefix + ".json", "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
