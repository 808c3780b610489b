"""Person-level bootstrap of the benchmark with refits, run on Dask.

Each replicate resamples persons with replacement within every unit (unit sizes stay fixed, as
the benchmark conditions on who lives where), refits the expected Cox model (started from the
full-sample coefficients, with the numpy Efron fitter ``model.cox_efron_newton``: the same
likelihood as lifelines, several times faster on weekly data), and recomputes per unit: log(O/E), the Kaplan-Meier restricted mean
and the mean expected restricted mean. Percentile intervals of any indicator and of the ranks
follow from the replicate matrix. Replicates are independent tasks: they run on a Dask cluster
given by address, or on a ``LocalCluster`` of single-threaded worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kommunebench.benchmark.model import fit_expected_model, predict_expected
from kommunebench.benchmark.stats import km_restricted_mean


@dataclass(frozen=True)
class BootstrapData:
    """Everything a replicate needs, shipped once to every worker."""

    X: np.ndarray
    terms: list[str]
    duration: np.ndarray
    event: np.ndarray
    strata: np.ndarray
    unit_index: np.ndarray  # 0..n_units-1 per person
    n_units: int
    horizon: int
    beta: np.ndarray


@dataclass(frozen=True)
class BootstrapReplicates:
    """Replicate x unit matrices (rows = replicates, columns = units in league-table order)."""

    log_oe: np.ndarray
    rmst_observed: np.ndarray
    rmst_expected: np.ndarray
    seconds: float  # total wall time, cluster start and data transfer included
    startup_seconds: float  # cluster start, client connection and scatter of the data
    workers: int


def one_replicate(data: BootstrapData, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One bootstrap replicate: resample within units, refit, aggregate per unit.

    Runs with one BLAS thread (small matrices; parallelism comes from the replicates).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _replicate(data, seed)


def _replicate(data: BootstrapData, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    order = np.argsort(data.unit_index, kind="stable")
    counts = np.bincount(data.unit_index, minlength=data.n_units)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    draw = np.floor(rng.random(order.size) * np.repeat(counts, counts)).astype(np.int64)
    idx = order[np.repeat(starts, counts) + draw]
    X = data.X[idx]
    t = data.duration[idx]
    e = data.event[idx]
    s = data.strata[idx]
    u = data.unit_index[idx]
    model = fit_expected_model(
        X, data.terms, t, e, s, data.horizon, initial_point=data.beta, engine="numpy", keep_fitter=False
    )
    pe = predict_expected(model, X, t, s)
    o = np.bincount(u, weights=e, minlength=data.n_units)
    ex = np.bincount(u, weights=pe.cumhaz_at_t, minlength=data.n_units)
    with np.errstate(divide="ignore"):
        log_oe = np.log(np.where(o > 0, o, 0.5) / ex)
    rmst_exp = np.bincount(u, weights=pe.rmst, minlength=data.n_units) / counts
    rmst_obs = np.empty(data.n_units)
    for j in range(data.n_units):
        m = u == j
        rmst_obs[j] = km_restricted_mean(t[m], e[m], data.horizon).rmst
    return log_oe, rmst_obs, rmst_exp


def replicate_batch(data: BootstrapData, seeds: list[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Several replicates in one task (amortises Dask's per-task cost)."""
    return [one_replicate(data, s) for s in seeds]


def run_bootstrap(
    data: BootstrapData,
    replicates: int,
    seed: int,
    scheduler: str | None = None,
    workers: int = 2,
) -> BootstrapReplicates:
    """Run ``replicates`` replicates on Dask and stack the results.

    ``scheduler``: address of a running Dask scheduler (e.g. ``tcp://host:8786``); None starts
    a ``LocalCluster`` with ``workers`` single-threaded processes and closes it afterwards.
    Replicate r uses the seed sequence child r of ``seed``, so results do not depend on the
    number of workers.
    """
    import time

    from distributed import Client, LocalCluster

    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(replicates)]
    start = time.perf_counter()
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        n_workers = len(client.scheduler_info()["workers"])
        if n_workers == 0:
            raise ValueError(f"Dask cluster at {scheduler!r} has no workers")
        shared = client.scatter(data, broadcast=True)
        startup = time.perf_counter() - start
        # about 4 tasks per worker: balanced, and the per-task cost is paid only a few times
        n_tasks = min(replicates, 4 * n_workers)
        batches = [list(range(i, replicates, n_tasks)) for i in range(n_tasks)]
        futures = client.map(
            replicate_batch, [shared] * n_tasks, [[seeds[j] for j in b] for b in batches], pure=False
        )
        results: list = [None] * replicates
        for batch, out in zip(batches, client.gather(futures)):
            for j, rep in zip(batch, out):
                results[j] = rep
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    seconds = time.perf_counter() - start
    return BootstrapReplicates(
        log_oe=np.vstack([r[0] for r in results]),
        rmst_observed=np.vstack([r[1] for r in results]),
        rmst_expected=np.vstack([r[2] for r in results]),
        seconds=seconds,
        startup_seconds=startup,
        workers=n_workers,
    )
