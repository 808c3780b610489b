"""``run_benchmark``: the league table of municipalities, actual against expected.

See the package docstring (``kommunebench.benchmark``) for the method and the choice of scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from kommunebench.benchmark.aft import fit_weibull_aft
from kommunebench.benchmark.bootstrap import BootstrapData, BootstrapReplicates, run_bootstrap
from kommunebench.benchmark.diagnostics import calibration_table, coefficient_table, ph_test_table
from kommunebench.benchmark.hierarchy import Heterogeneity, heterogeneity, posterior_draws, shrinkage_weight
from kommunebench.benchmark.model import (
    PersonExpected,
    design_matrix,
    design_spec,
    fit_expected_model,
    log_expected_jacobian,
    predict_expected,
)
from kommunebench.benchmark.ranks import rank_confidence_sets
from kommunebench.benchmark.settings import JOB_CENTRE_POOLS, BenchmarkSettings
from kommunebench.benchmark.stats import (
    benjamini_hochberg,
    fifth_of,
    garwood_interval,
    km_restricted_mean,
    random_effects,
    rank_of,
)
from kommunebench.scales import headline_pct

CLASSES = ("better", "as_expected", "worse", "not_distinguishable", "too_small")
#: Fewer units passing the size limits than this: nothing is compared (one per fifth at least).
MIN_UNITS = 5


@dataclass(frozen=True)
class BenchmarkResult:
    """Everything one benchmark run produces. Only ``person_expected`` holds person rows: it
    stays in the warehouse and never goes into logs, metadata, reports or exports."""

    league_table: pd.DataFrame
    summary: dict[str, object]
    coefficients: pd.DataFrame
    calibration: pd.DataFrame
    ph_test: pd.DataFrame
    funnel: pd.DataFrame
    aft: pd.DataFrame
    framework_effects: pd.DataFrame
    person_expected: pd.DataFrame
    concordance: float
    framework_share_explained: float
    tau: float
    tau_lo: float
    tau_hi: float
    distinguishable: bool
    tau2_without_framework: float
    tau2_with_framework: float
    weibull_shape: float
    log_likelihood: float
    n: int
    events: int
    bootstrap_seconds: float | None
    bootstrap_startup_seconds: float | None
    bootstrap_workers: int | None
    settings: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------- input and units


def unit_map(codes: np.ndarray, pool: bool) -> np.ndarray:
    """Reporting unit code of each municipality code: itself, or the pool's code when pooling."""
    out = np.asarray(codes).astype(np.int64).copy()
    if pool:
        for unit, members in JOB_CENTRE_POOLS.items():
            out[np.isin(out, members)] = unit
    return out


def unit_names(units: list[int], pool: bool) -> dict[int, tuple[str, str]]:
    """unit code -> (name, members as 'code,code'); pooled names joined with '-'."""
    from kommunebench.refdata import municipalities

    ref = municipalities().to_pandas()
    names = dict(zip(ref["kommunekode"].astype(int), ref["navn"]))
    out: dict[int, tuple[str, str]] = {}
    for u in units:
        members = JOB_CENTRE_POOLS[u] if pool and u in JOB_CENTRE_POOLS else (u,)
        out[u] = ("-".join(names[m] for m in members), ",".join(str(m) for m in members))
    return out


def prepare_persons(
    persons: pd.DataFrame, covariates: list[str], settings: BenchmarkSettings
) -> pd.DataFrame:
    """Validate the input and censor at the horizon. Raises ValueError naming the problem.

    Rules: the id, unit, stratum, duration and event columns and every covariate exist; no
    missing values in them; one row per id; duration whole weeks >= 1; event 0/1; unit codes are
    known municipality codes. Durations beyond the horizon become (horizon, no event).
    """
    from kommunebench.refdata import municipalities

    st = settings
    needed = [st.id_col, st.unit_col, st.strata_col, st.duration_col, st.event_col]
    missing = [c for c in needed + covariates if c not in persons.columns]
    if missing:
        raise ValueError(f"persons frame lacks columns {missing}")
    if len(persons) == 0:
        raise ValueError("persons frame is empty")
    for c in needed:
        n_na = int(persons[c].isna().sum())
        if n_na:
            raise ValueError(f"column {c!r} has {n_na} missing values")
    dup = int(persons[st.id_col].duplicated().sum())
    if dup:
        raise ValueError(f"column {st.id_col!r}: rule 'one row per person' broken by {dup} rows")
    t = persons[st.duration_col]
    if not pd.api.types.is_integer_dtype(t):
        raise ValueError(f"column {st.duration_col!r} must hold whole weeks (integer), has {t.dtype}")
    if (t < 1).any():
        raise ValueError(f"column {st.duration_col!r}: rule '>= 1 week' broken by {int((t < 1).sum())} rows")
    e = persons[st.event_col]
    bad = ~e.isin([0, 1])
    if bad.any():
        raise ValueError(f"column {st.event_col!r}: rule 'event in (0, 1)' broken by {int(bad.sum())} rows")
    known = set(municipalities()["kommunekode"].to_list())
    unknown = sorted(set(persons[st.unit_col].astype(int).unique()) - known)
    if unknown:
        raise ValueError(f"column {st.unit_col!r}: unknown municipality codes {unknown[:10]}")
    if not pd.api.types.is_integer_dtype(persons[st.strata_col]):
        raise ValueError(f"column {st.strata_col!r} must be an integer cohort year")

    df = persons.copy()
    over = df[st.duration_col] > st.horizon
    df.loc[over, st.event_col] = 0
    df.loc[over, st.duration_col] = st.horizon
    df["_unit"] = unit_map(df[st.unit_col].to_numpy(), st.pool_job_centres)
    return df


# ---------------------------------------------------------------- main


def run_benchmark(
    persons: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    framework: list[str],
    settings: BenchmarkSettings | None = None,
) -> BenchmarkResult:
    """Run the municipality benchmark on one target group (pooled cohort years).

    ``numeric`` and ``categorical`` are the individual covariates, ``framework`` the framework
    conditions (rammevilkår; they may also appear in ``numeric``). Success is
    ``settings.duration_col``/``settings.event_col``: pass the partial-success columns there to
    benchmark partial success with the same machinery.
    """
    st = settings or BenchmarkSettings()
    if st.blas_threads is None:
        return _run(persons, numeric, categorical, framework, st)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=st.blas_threads, user_api="blas"):
        return _run(persons, numeric, categorical, framework, st)


def _run(
    persons: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    framework: list[str],
    st: BenchmarkSettings,
) -> BenchmarkResult:
    fw = list(framework)
    model_numeric = list(numeric) + [f for f in fw if f not in numeric]
    df = prepare_persons(persons, model_numeric + list(categorical), st)

    duration = df[st.duration_col].to_numpy(dtype=np.int64)
    event = df[st.event_col].to_numpy(dtype=np.int64)
    strata = df[st.strata_col].to_numpy(dtype=np.int64)
    if event.sum() == 0:
        raise ValueError("no events: nobody succeeds within the horizon")

    spec = design_spec(df, model_numeric, list(categorical))
    X = design_matrix(df, spec)
    model = fit_expected_model(X, spec.terms, duration, event, strata, st.horizon, engine=st.cox_engine)
    pe = predict_expected(model, X, duration, strata)

    units_all = np.sort(np.unique(df["_unit"].to_numpy()))
    unit_index = np.searchsorted(units_all, df["_unit"].to_numpy())
    league = _unit_aggregates(df, st, units_all, unit_index, duration, event, pe)
    ranked = ~league["too_small"].to_numpy()
    too_few_units = int(ranked.sum()) < MIN_UNITS
    if too_few_units:
        # fewer units than fifths: no comparison at all; every unit is reported as too small
        league["too_small"] = True
        ranked = np.zeros(len(league), bool)

    # ---- what the expected model's uncertainty does to every unit at once
    jac = log_expected_jacobian(model, X, duration, event, strata, unit_index, units_all.size)
    cov_log_e = jac @ model.cov @ jac.T

    # ---- model-based weeks and persons as functions of theta, per unit
    effects = UnitEffectScales.build(model, pe, X, duration, event, strata, unit_index, units_all.size)

    het, draws, tau_draws = _performance(league, st, cov_log_e, effects)

    # ---- peers: the units with the most similar framework conditions
    _peer_columns(league, df, fw, st, draws)

    # ---- Weibull AFT: a sensitivity analysis with unit dummies
    aft_table = pd.DataFrame()
    shape = float("nan")
    if st.weibull_aft and not too_few_units:
        ind_terms = [t for t in spec.terms if t not in fw]
        cols = [spec.terms.index(t) for t in ind_terms]
        reported = league.loc[ranked, "kom"].astype(int).tolist()
        aft = fit_weibull_aft(
            X[:, cols], ind_terms, duration, event, strata, df["_unit"].to_numpy(), reported, st.level
        )
        shape = aft.shape
        names = dict(zip(league["kom"], league["unit_name"]))
        aft_table = aft.table.rename(columns={"unit": "kom"})
        aft_table.insert(1, "unit_name", aft_table["kom"].map(names))
        aft_table["shape"] = aft.shape
        aft_table["shape_se"] = aft.shape_se
        _net_of_framework(aft_table, df, fw, st)
        league["aft_time_ratio_pct"] = league["kom"].map(aft_table.set_index("kom")["time_ratio_net_pct"])

    # ---- framework share: second stage on estimates from a model without framework conditions
    share, tau2_without, tau2_with, fw_effects = _framework_share(
        df, st, spec, X, fw, duration, event, strata, units_all, unit_index, league
    )

    # ---- bootstrap (optional)
    boot: BootstrapReplicates | None = None
    if st.bootstrap_replicates > 0:
        boot = run_bootstrap(
            BootstrapData(
                X=X, terms=spec.terms, duration=duration, event=event, strata=strata,
                unit_index=unit_index, n_units=units_all.size, horizon=st.horizon, beta=model.beta,
            ),
            st.bootstrap_replicates, st.seed, scheduler=st.dask_scheduler, workers=st.dask_workers,
        )
        _bootstrap_columns(league, boot, st)

    summary = _summary(league, het, draws, tau_draws, effects, st)
    funnel = _funnel_grid(league, het.tau**2, st)
    calibration = calibration_table(duration, event, pe, st.horizon, st.calibration_groups)
    ph = ph_test_table(X, spec.terms, duration, event, strata, st.ph_test_max_persons, st.seed)
    person_expected = pd.DataFrame(
        {
            st.id_col: df[st.id_col].to_numpy(),
            st.strata_col: strata,
            st.unit_col: df[st.unit_col].to_numpy(),
            "unit": df["_unit"].to_numpy(),
            "duration": duration,
            "event": event,
            "linear_predictor": pe.eta,
            "expected_cumhaz": pe.cumhaz_at_t,
            "expected_rmst": pe.rmst,
            "predicted_risk_at_horizon": pe.risk_at_horizon,
        }
    )
    return BenchmarkResult(
        league_table=league.reset_index(drop=True),
        summary=summary,
        coefficients=coefficient_table(model, st.coef_level),
        calibration=calibration,
        ph_test=ph,
        funnel=funnel,
        aft=aft_table,
        framework_effects=fw_effects,
        person_expected=person_expected,
        concordance=model.concordance,
        framework_share_explained=share,
        tau=het.tau,
        tau_lo=het.tau_lo,
        tau_hi=het.tau_hi,
        distinguishable=het.distinguishable,
        tau2_without_framework=tau2_without,
        tau2_with_framework=tau2_with,
        weibull_shape=shape,
        log_likelihood=model.log_likelihood,
        n=int(len(df)),
        events=int(event.sum()),
        bootstrap_seconds=None if boot is None else boot.seconds,
        bootstrap_startup_seconds=None if boot is None else boot.startup_seconds,
        bootstrap_workers=None if boot is None else boot.workers,
        settings=st.as_dict(),
    )


def _unit_aggregates(
    df: pd.DataFrame,
    st: BenchmarkSettings,
    units: np.ndarray,
    unit_index: np.ndarray,
    duration: np.ndarray,
    event: np.ndarray,
    pe: PersonExpected,
) -> pd.DataFrame:
    """persons, O, E, Kaplan-Meier and expected restricted means per unit."""
    k = units.size
    persons = np.bincount(unit_index, minlength=k)
    o = np.bincount(unit_index, weights=event, minlength=k)
    e = np.bincount(unit_index, weights=pe.cumhaz_at_t, minlength=k)
    rmst_exp = np.bincount(unit_index, weights=pe.rmst, minlength=k) / persons
    rmst_obs = np.empty(k)
    rmst_se = np.empty(k)
    order = np.argsort(unit_index, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(persons)))
    for j in range(k):
        rows = order[bounds[j] : bounds[j + 1]]
        km = km_restricted_mean(duration[rows], event[rows], st.horizon)
        rmst_obs[j], rmst_se[j] = km.rmst, km.se
    names = unit_names(units.tolist(), st.pool_job_centres)
    return pd.DataFrame(
        {
            "kom": units.astype(int),
            "unit_name": [names[u][0] for u in units.tolist()],
            "members": [names[u][1] for u in units.tolist()],
            "persons": persons.astype(int),
            "too_small": (persons < st.min_persons) | (e < st.min_expected_events),
            "events_observed": o.astype(int),
            "events_expected": e,
            "rmst_observed": rmst_obs,
            "rmst_observed_se": rmst_se,
            "rmst_expected": rmst_exp,
        }
    )


@dataclass(frozen=True)
class UnitEffectScales:
    """Per unit, what a log rate ratio theta means in weeks and in persons, by the expected model.

    weeks(theta) = mean over the unit's persons of [RMST_i(0) - RMST_i(theta)], the expected
    restricted mean time to the event within the follow-up without minus with the hazard
    multiplied by exp(theta) (positive = sooner); persons(theta) = sum over the persons of
    [F_i(c_i; theta) - F_i(c_i; 0)], the expected number more reaching the event within the
    time they were observable (c_i = their censoring time if they left before the horizon
    without the event, else the horizon). Tabulated on a theta grid and interpolated.
    """

    grid: np.ndarray
    weeks: np.ndarray  # [unit, grid]
    persons: np.ndarray  # [unit, grid]

    @classmethod
    def build(cls, model, pe: PersonExpected, X, duration, event, strata, unit_index, n_units: int) -> UnitEffectScales:
        from kommunebench.benchmark.model import _stratum_index

        grid = np.linspace(-3.0, 3.0, 61)
        sidx = _stratum_index(model.strata, strata)
        h = model.horizon
        base = model.base_cumhaz[sidx, :h]  # H0 at k = 0..h-1, per person
        c = np.where((event == 0) & (duration < h), duration, h)
        base_c = model.base_cumhaz[sidx, c]
        risk = np.exp(pe.eta)
        counts = np.bincount(unit_index, minlength=n_units).astype(float)
        weeks = np.zeros((n_units, grid.size))
        persons = np.zeros((n_units, grid.size))
        rmst0 = np.exp(-base * risk[:, None]).sum(axis=1)
        f0 = 1 - np.exp(-base_c * risk)
        for gi, th in enumerate(grid):
            r = risk * np.exp(th)
            rm = np.exp(-base * r[:, None]).sum(axis=1)
            f = 1 - np.exp(-base_c * r)
            weeks[:, gi] = np.bincount(unit_index, weights=rmst0 - rm, minlength=n_units) / counts
            persons[:, gi] = np.bincount(unit_index, weights=f - f0, minlength=n_units)
        return cls(grid=grid, weeks=weeks, persons=persons)

    def at(self, table: str, theta: np.ndarray, units: np.ndarray | None = None) -> np.ndarray:
        """Interpolate ``weeks`` or ``persons`` at theta ([unit] or [draw, unit] for ``units``)."""
        tab = getattr(self, table) if units is None else getattr(self, table)[units]
        th = np.clip(np.asarray(theta, dtype=float), self.grid[0], self.grid[-1])
        if th.ndim == 1:
            return np.array([np.interp(th[j], self.grid, tab[j]) for j in range(th.size)])
        return np.column_stack([np.interp(th[:, j], self.grid, tab[j]) for j in range(th.shape[1])])


def classify_units(
    pct_lo: np.ndarray, pct_hi: np.ndarray, theta: np.ndarray, q: np.ndarray, ranked: np.ndarray, band: float, fdr_q: float
) -> tuple[np.ndarray, np.ndarray]:
    """(band position, class) per unit, exactly as documented.

    Position of the interval [pct_lo, pct_hi] against ±100 band: above, below, inside (the
    whole interval within the band) or overlaps. Class: too_small unless ranked; better /
    worse when the Benjamini-Hochberg q <= fdr_q (sign of theta; the exact test and the
    Garwood interval agree, so the interval then excludes 0); as_expected only when the whole
    interval lies inside the band; not_distinguishable otherwise.
    """
    b = 100 * band
    position = np.where(pct_lo > b, "above", np.where(pct_hi < -b, "below",
                        np.where((pct_lo >= -b) & (pct_hi <= b), "inside", "overlaps")))
    sig = ranked & (np.nan_to_num(q, nan=1.0) <= fdr_q)
    better = sig & (theta > 0)
    worse = sig & (theta < 0)
    as_expected = ranked & ~better & ~worse & (position == "inside")
    cls = np.where(better, "better", np.where(worse, "worse", np.where(as_expected, "as_expected", "not_distinguishable")))
    return position, np.where(ranked, cls, "too_small")


def _exact_poisson_p(o: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Two-sided exact Poisson p-value of O given mean E (twice the smaller tail, at most 1)."""
    from scipy.stats import poisson

    lower = poisson.cdf(o, e)
    upper = poisson.sf(o - 1, e)
    return np.minimum(1.0, 2 * np.minimum(lower, upper))


def _performance(
    league: pd.DataFrame, st: BenchmarkSettings, cov_log_e: np.ndarray, effects: UnitEffectScales
) -> tuple[Heterogeneity, np.ndarray, np.ndarray]:
    """Estimates, intervals, posterior, ranks, rank sets, fifths and classes, in place.

    Raw (the unit's own data): theta-hat = log(O/E) (O = 0 replaced by 0.5 and flagged), with
    the exact Garwood interval of O mapped to the headline scale (``scales.headline_pct``);
    p-value of the exact Poisson test; Benjamini-Hochberg q over the ranked units.
    Shrunken: posterior of the Poisson log-normal hierarchy (``hierarchy``) with tau
    integrated over, plus the expected model's uncertainty (log E ~ N(log E-hat, J cov J'),
    moved by the shrinkage weight); posterior mean and equal-tailed interval.
    Ranks, fifths and rank intervals exist only when the data can tell the units apart (the
    likelihood interval of tau excludes 0): rank = order of the posterior means, marginal
    rank interval = quantiles of the ranks over the draws, simultaneous rank bounds and the
    top/bottom-fifth sets of Mogstad et al. (``ranks``) from theta-hat and its covariance.
    Classes (ranked units): better / worse when q <= fdr_q (sign of theta-hat); as_expected
    when the whole raw interval lies within ±band; not_distinguishable otherwise.
    """
    z = st.z
    o = league["events_observed"].to_numpy(dtype=float)
    e = league["events_expected"].to_numpy(dtype=float)
    ranked = ~league["too_small"].to_numpy()
    idx = np.flatnonzero(ranked)
    n_r = idx.size

    lo, hi = garwood_interval(o, st.level)
    with np.errstate(divide="ignore"):
        theta_lo, theta_hi = np.log(lo / e), np.log(hi / e)
    o_used = np.where(o > 0, o, 0.5)
    theta = np.log(o_used / e)
    league["oe_ratio"] = o / e
    league["oe_lo"] = lo / e
    league["oe_hi"] = hi / e
    league["log_oe"] = theta
    league["log_oe_se"] = 1.0 / np.sqrt(o_used)
    league["zero_events"] = o == 0
    p = _exact_poisson_p(o, e)
    league["p_value"] = p
    q = np.full(o.size, np.nan)
    q[ranked] = benjamini_hochberg(p[ranked])
    league["q_value"] = q
    league["indicator_pct"] = headline_pct(np.where(o > 0, theta, -np.inf))
    league["indicator_pct_lo"] = headline_pct(theta_lo)
    league["indicator_pct_hi"] = headline_pct(theta_hi)
    league["hazard_pct"] = 100 * (o / e - 1)  # the unbounded reading, a point only (oe_lo/oe_hi hold its interval)

    # restricted mean (Kaplan-Meier) against expected: weeks within the follow-up
    ex = league["rmst_expected"].to_numpy()
    ob = league["rmst_observed"].to_numpy()
    se = league["rmst_observed_se"].to_numpy()
    league["rmst_pct"] = 100 * (ex - ob) / ex
    league["rmst_pct_lo"] = 100 * (ex - (ob + z * se)) / ex
    league["rmst_pct_hi"] = 100 * (ex - (ob - z * se)) / ex
    league["weeks_difference"] = ex - ob
    league["weeks_difference_lo"] = ex - (ob + z * se)
    league["weeks_difference_hi"] = ex - (ob - z * se)

    # model-based weeks and persons of the raw estimate (monotone in theta: ends map to ends)
    all_units = np.arange(o.size)
    th_clip = lambda x: np.where(np.isfinite(x), x, np.sign(x) * 3.0)  # noqa: E731
    league["weeks_faster"] = effects.at("weeks", th_clip(theta), all_units)
    league["weeks_faster_lo"] = effects.at("weeks", th_clip(theta_lo), all_units)
    league["weeks_faster_hi"] = effects.at("weeks", th_clip(theta_hi), all_units)
    league["gap_persons"] = effects.at("persons", th_clip(theta), all_units)
    league["gap_persons_lo"] = effects.at("persons", th_clip(theta_lo), all_units)
    league["gap_persons_hi"] = effects.at("persons", th_clip(theta_hi), all_units)

    if n_r < MIN_UNITS:
        return _no_comparison(league, st, o, e)

    # ---- the hierarchy over the ranked units
    het = heterogeneity(o[idx], e[idx], level=st.level, tau_max=st.tau_max)
    draws, tau_draws = posterior_draws(o[idx], e[idx], het, st.n_draws, st.seed)
    rng = np.random.default_rng(st.seed + 1)
    cov_r = cov_log_e[np.ix_(idx, idx)]
    chol = np.linalg.cholesky(cov_r + 1e-12 * np.eye(n_r))
    delta = rng.standard_normal((st.n_draws, n_r)) @ chol.T
    draws = draws + shrinkage_weight(o[idx], tau_draws) * delta
    a = (1 - st.level) / 2
    post_mean = np.full(o.size, np.nan)
    post_lo = np.full(o.size, np.nan)
    post_hi = np.full(o.size, np.nan)
    post_sd = np.full(o.size, np.nan)
    post_mean[idx] = draws.mean(axis=0)
    post_sd[idx] = draws.std(axis=0)
    post_lo[idx], post_hi[idx] = np.quantile(draws, [a, 1 - a], axis=0)
    league["log_oe_shrunken"] = post_mean
    league["log_oe_shrunken_sd"] = post_sd
    league["indicator_pct_shrunken"] = headline_pct(post_mean)
    league["indicator_pct_shrunken_lo"] = headline_pct(post_lo)
    league["indicator_pct_shrunken_hi"] = headline_pct(post_hi)
    w_draws = effects.at("weeks", draws, idx)
    g_draws = effects.at("persons", draws, idx)
    for name, d in (("weeks_faster_shrunken", w_draws), ("gap_persons_shrunken", g_draws)):
        full = np.full((3, o.size), np.nan)
        full[0, idx] = d.mean(axis=0)
        full[1, idx], full[2, idx] = np.quantile(d, [a, 1 - a], axis=0)
        league[name], league[f"{name}_lo"], league[f"{name}_hi"] = full
    league["distinguishable"] = het.distinguishable

    # ---- ranks, rank intervals, fifths: only when the units can be told apart
    n_top = n_r // 5
    draw_ranks = n_r - np.argsort(np.argsort(draws, axis=1), axis=1)  # rank 1 = largest theta
    p_top = np.full(o.size, np.nan)
    p_bottom = np.full(o.size, np.nan)
    p_top[idx] = (draw_ranks <= n_top).mean(axis=0)
    p_bottom[idx] = (draw_ranks > n_r - n_top).mean(axis=0)
    league["p_top_fifth"] = p_top
    league["p_bottom_fifth"] = p_bottom
    cov_theta = np.diag(1.0 / o_used[idx]) + cov_r
    sets = rank_confidence_sets(theta[idx], cov_theta, n_top=n_top, level=st.level, n_sim=st.n_rank_sim, seed=st.seed)
    int_cols = {c: pd.array([pd.NA] * o.size, dtype="Int64") for c in ("rank", "rank_lo", "rank_hi", "rank_sim_lo", "rank_sim_hi", "fifth")}
    bool_cols = {c: pd.array([pd.NA] * o.size, dtype="boolean") for c in ("in_top_fifth_set", "in_bottom_fifth_set")}
    rank_mean = np.full(o.size, np.nan)
    if het.distinguishable:
        point_rank = rank_of(post_mean[idx])
        int_cols["rank"][idx] = point_rank
        lo_r, hi_r = np.quantile(draw_ranks, [a, 1 - a], axis=0, method="inverted_cdf")
        int_cols["rank_lo"][idx] = lo_r.astype(int)
        int_cols["rank_hi"][idx] = hi_r.astype(int)
        int_cols["rank_sim_lo"][idx] = sets.lower
        int_cols["rank_sim_hi"][idx] = sets.upper
        int_cols["fifth"][idx] = fifth_of(point_rank, n_r)
        bool_cols["in_top_fifth_set"][idx] = sets.top_set
        bool_cols["in_bottom_fifth_set"][idx] = sets.bottom_set
        rank_mean[idx] = draw_ranks.mean(axis=0)
    for c, v in {**int_cols, **bool_cols}.items():
        league[c] = v
    league["rank_mean"] = rank_mean

    # ---- classes
    league["band_position"], league["class"] = classify_units(
        league["indicator_pct_lo"].to_numpy(), league["indicator_pct_hi"].to_numpy(), theta, q, ranked, st.band, st.fdr_q
    )

    # ---- funnel limits with overdispersion, on the O/E scale at this unit's expected count
    width = st.funnel_z * np.sqrt(1.0 / e + het.tau**2)
    league["funnel_lo"] = np.exp(-width)
    league["funnel_hi"] = np.exp(width)
    league["funnel_flag"] = np.where(
        league["oe_ratio"] > league["funnel_hi"], "high", np.where(league["oe_ratio"] < league["funnel_lo"], "low", "inside")
    )
    full_draws = np.full((st.n_draws, o.size), np.nan)
    full_draws[:, idx] = draws
    return het, full_draws, tau_draws


def _no_comparison(league: pd.DataFrame, st: BenchmarkSettings, o: np.ndarray, e: np.ndarray) -> tuple[Heterogeneity, np.ndarray, np.ndarray]:
    """Too few units to compare: the units' own statistics stay, everything comparative is empty."""
    nan = np.full(o.size, np.nan)
    for c in ("log_oe_shrunken", "log_oe_shrunken_sd", "indicator_pct_shrunken", "indicator_pct_shrunken_lo",
              "indicator_pct_shrunken_hi", "weeks_faster_shrunken", "weeks_faster_shrunken_lo", "weeks_faster_shrunken_hi",
              "gap_persons_shrunken", "gap_persons_shrunken_lo", "gap_persons_shrunken_hi", "p_top_fifth", "p_bottom_fifth",
              "rank_mean"):
        league[c] = nan
    league["distinguishable"] = False
    for c in ("rank", "rank_lo", "rank_hi", "rank_sim_lo", "rank_sim_hi", "fifth"):
        league[c] = pd.array([pd.NA] * o.size, dtype="Int64")
    for c in ("in_top_fifth_set", "in_bottom_fifth_set"):
        league[c] = pd.array([pd.NA] * o.size, dtype="boolean")
    league["band_position"], league["class"] = classify_units(
        league["indicator_pct_lo"].to_numpy(), league["indicator_pct_hi"].to_numpy(), league["log_oe"].to_numpy(),
        np.full(o.size, np.nan), np.zeros(o.size, bool), st.band, st.fdr_q)
    width = st.funnel_z * np.sqrt(1.0 / e)
    league["funnel_lo"] = np.exp(-width)
    league["funnel_hi"] = np.exp(width)
    league["funnel_flag"] = np.where(league["oe_ratio"] > league["funnel_hi"], "high",
                                     np.where(league["oe_ratio"] < league["funnel_lo"], "low", "inside"))
    het = Heterogeneity(tau=float("nan"), tau_lo=float("nan"), tau_hi=float("nan"), lr_statistic=float("nan"),
                        p_value=float("nan"), distinguishable=False, level=st.level, grid=np.zeros(1), posterior=np.ones(1))
    return het, np.full((1, o.size), np.nan), np.full(1, np.nan)


def _peer_columns(league: pd.DataFrame, df: pd.DataFrame, fw: list[str], st: BenchmarkSettings, draws: np.ndarray) -> None:
    """Each ranked unit against the ``n_peers`` ranked units with the most similar framework
    conditions (Euclidean distance of the standardised unit means): the posterior of
    theta_j - mean(theta_peers), on the headline scale."""
    ranked = ~league["too_small"].to_numpy()
    idx = np.flatnonzero(ranked)
    league["peers"] = pd.array([pd.NA] * len(league), dtype="string")
    for c in ("vs_peers_pct", "vs_peers_pct_lo", "vs_peers_pct_hi"):
        league[c] = np.nan
    if not fw or idx.size < MIN_UNITS:
        return
    means = unit_framework_means(df, fw, league["kom"].tolist()).to_numpy(dtype=float)[idx]
    sd = means.std(axis=0, ddof=1)
    Z = (means[:, sd > 0] - means[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    dist = np.sqrt(((Z[:, None, :] - Z[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(dist, np.inf)
    k = min(st.n_peers, idx.size - 1)
    peers = np.argsort(dist, axis=1)[:, :k]
    a = (1 - st.level) / 2
    d = draws[:, idx]
    diff = d - d[:, peers].mean(axis=2)
    codes = league["kom"].to_numpy()[idx]
    league.loc[idx, "peers"] = [",".join(str(int(codes[p])) for p in row) for row in peers]
    league.loc[idx, "vs_peers_pct"] = headline_pct(diff.mean(axis=0))
    lo, hi = np.quantile(diff, [a, 1 - a], axis=0)
    league.loc[idx, "vs_peers_pct_lo"] = headline_pct(lo)
    league.loc[idx, "vs_peers_pct_hi"] = headline_pct(hi)


def _summary(league: pd.DataFrame, het: Heterogeneity, draws: np.ndarray, tau_draws: np.ndarray,
             effects: UnitEffectScales, st: BenchmarkSettings) -> dict[str, object]:
    """The group's headline figures, each on the posterior draws (no winner's curse):
    mean effect of the best and the worst fifth (the fifths of each draw), their difference in
    % and in weeks, the difference between the most and the least successful unit, and the
    share of units truly within ±band; plus the share of each class and tau."""
    ranked = ~league["too_small"].to_numpy()
    idx = np.flatnonzero(ranked)
    n_r = idx.size
    if n_r < MIN_UNITS:
        out0: dict[str, object] = {"units": int(len(league)), "units_ranked": int(n_r), "top_fifth_units": 0,
                                   "distinguishable": False, "tau": float("nan"), "tau_lo": float("nan"),
                                   "tau_hi": float("nan"), "tau_lr_statistic": float("nan"), "tau_p_value": float("nan")}
        for k in ("best_fifth_pct", "worst_fifth_pct", "fifth_difference_pct", "fifth_difference_weeks", "range_pct",
                  "range_weeks", "share_within_band"):
            out0[k] = out0[f"{k}_lo"] = out0[f"{k}_hi"] = float("nan")
        for c in ("better", "worse", "as_expected", "not_distinguishable"):
            out0[f"n_{c}"], out0[f"share_{c}"] = 0, float("nan")
        out0["n_too_small"] = int(len(league))
        out0["in_top_fifth_set"] = out0["in_bottom_fifth_set"] = 0
        return out0
    d = draws[:, idx]
    n_top = n_r // 5
    order = np.argsort(d, axis=1)
    best = order[:, -n_top:]
    worst = order[:, :n_top]
    pct = headline_pct(d)
    weeks = effects.at("weeks", d, idx)
    rows = np.arange(d.shape[0])[:, None]
    a = (1 - st.level) / 2

    def summ(x: np.ndarray) -> tuple[float, float, float]:
        lo, mid, hi = np.quantile(x, [a, 0.5, 1 - a])
        return float(mid), float(lo), float(hi)

    figures = {
        "best_fifth_pct": summ(pct[rows, best].mean(axis=1)),
        "worst_fifth_pct": summ(pct[rows, worst].mean(axis=1)),
        "fifth_difference_pct": summ(pct[rows, best].mean(axis=1) - pct[rows, worst].mean(axis=1)),
        "fifth_difference_weeks": summ(weeks[rows, best].mean(axis=1) - weeks[rows, worst].mean(axis=1)),
        "range_pct": summ(pct.max(axis=1) - pct.min(axis=1)),
        "range_weeks": summ(weeks.max(axis=1) - weeks.min(axis=1)),
        "share_within_band": summ(100 * (np.abs(d) <= st.band_theta).mean(axis=1)),
    }
    out: dict[str, object] = {
        "units": int(len(league)), "units_ranked": int(n_r), "top_fifth_units": int(n_top),
        "distinguishable": bool(het.distinguishable), "tau": het.tau, "tau_lo": het.tau_lo, "tau_hi": het.tau_hi,
        "tau_lr_statistic": het.lr_statistic, "tau_p_value": het.p_value,
    }
    for k, (mid, lo, hi) in figures.items():
        out[k], out[f"{k}_lo"], out[f"{k}_hi"] = mid, lo, hi
    cls = league.loc[ranked, "class"]
    for c in ("better", "worse", "as_expected", "not_distinguishable"):
        out[f"n_{c}"] = int((cls == c).sum())
        out[f"share_{c}"] = float(100 * (cls == c).mean()) if n_r else float("nan")
    out["n_too_small"] = int((~ranked).sum())
    out["in_top_fifth_set"] = int(league["in_top_fifth_set"].fillna(False).sum())
    out["in_bottom_fifth_set"] = int(league["in_bottom_fifth_set"].fillna(False).sum())
    return out


def _bootstrap_columns(league: pd.DataFrame, boot: BootstrapReplicates, st: BenchmarkSettings) -> None:
    """Percentile intervals of the raw headline and restricted-mean indicators."""
    a = (1 - st.level) / 2
    head = headline_pct(boot.log_oe)
    rm_pct = 100 * (boot.rmst_expected - boot.rmst_observed) / boot.rmst_expected
    league["indicator_pct_boot_lo"] = np.quantile(head, a, axis=0)
    league["indicator_pct_boot_hi"] = np.quantile(head, 1 - a, axis=0)
    league["rmst_pct_boot_lo"] = np.quantile(rm_pct, a, axis=0)
    league["rmst_pct_boot_hi"] = np.quantile(rm_pct, 1 - a, axis=0)
    wd = boot.rmst_expected - boot.rmst_observed
    league["weeks_difference_boot_lo"] = np.quantile(wd, a, axis=0)
    league["weeks_difference_boot_hi"] = np.quantile(wd, 1 - a, axis=0)
    league["bootstrap_replicates"] = head.shape[0]


def unit_framework_means(df: pd.DataFrame, fw: list[str], units: list[int]) -> pd.DataFrame:
    """Person-weighted mean of each framework condition per unit (rows in ``units`` order)."""
    return df.groupby("_unit")[fw].mean().reindex(units)


def _net_of_framework(aft_table: pd.DataFrame, df: pd.DataFrame, fw: list[str], st: BenchmarkSettings) -> None:
    """Add the AFT log time ratios net of framework conditions, in place.

    The AFT has unit dummies, so its unit effects include the framework conditions. As in the
    fixed-effects route of benchmark-notes.md they go to a second stage: a random-effects
    meta-regression of log TR_j on the units' standardised mean framework conditions; the
    residual log TR_j - x_j' beta is the performance (``log_time_ratio_net``), with the
    standard error of log TR_j, read as "% faster" on the headline's bounded scale.
    """
    y = aft_table["log_time_ratio"].to_numpy()
    v = aft_table["log_time_ratio_se"].to_numpy() ** 2
    if fw:
        means = unit_framework_means(df, fw, aft_table["kom"].tolist()).to_numpy(dtype=float)
        sd = means.std(axis=0, ddof=1)
        Z = (means[:, sd > 0] - means[:, sd > 0].mean(axis=0)) / sd[sd > 0]
        Xm = np.column_stack([np.ones(y.size), Z])
    else:
        Xm = np.ones((y.size, 1))
    if y.size <= Xm.shape[1] + 1:
        # too few reported units for the second stage on the framework conditions
        for c in ("log_time_ratio_net", "time_ratio_net_pct", "time_ratio_net_pct_lo", "time_ratio_net_pct_hi"):
            aft_table[c] = np.nan
        return
    re = random_effects(y, v, Xm, method=st.tau2_method)
    net = y - Xm @ re.beta
    z = st.z
    se = np.sqrt(v)
    aft_table["log_time_ratio_net"] = net
    # "% faster" on the same bounded, symmetric scale as the headline (a time ratio of 1/2 reads
    # +50 %, of 2 reads -50 %), so that a unit with a handful of events cannot read "-7,000 %"
    aft_table["time_ratio_net_pct"] = headline_pct(-net)
    aft_table["time_ratio_net_pct_lo"] = headline_pct(-(net + z * se))
    aft_table["time_ratio_net_pct_hi"] = headline_pct(-(net - z * se))


def _framework_share(
    df: pd.DataFrame,
    st: BenchmarkSettings,
    spec,
    X: np.ndarray,
    fw: list[str],
    duration: np.ndarray,
    event: np.ndarray,
    strata: np.ndarray,
    units: np.ndarray,
    unit_index: np.ndarray,
    league: pd.DataFrame,
) -> tuple[float, float, float, pd.DataFrame]:
    """Share of between-unit variance explained by the framework conditions.

    Refit the expected model without the framework conditions, take r0_j = log(O_j / E0_j) with
    s0_j = 1 / sqrt(O_j) per ranked unit, and fit a random-effects model of r0 without and with
    the units' person-weighted mean framework conditions as moderators (standardised):
    share = 1 - tau2_with / tau2_without (0 when the moderators do not reduce tau2; NaN when
    tau2_without = 0). Also returns the second-stage coefficients of the framework conditions
    (per standard deviation of the unit means and per unit of the condition).
    """
    empty = pd.DataFrame(columns=["term", "coef_per_sd", "se_per_sd", "coef", "se", "p"])
    if not fw:
        return float("nan"), float("nan"), float("nan"), empty
    keep = [i for i, t in enumerate(spec.terms) if t not in fw]
    terms0 = [spec.terms[i] for i in keep]
    m0 = fit_expected_model(X[:, keep], terms0, duration, event, strata, st.horizon, engine="numpy")
    pe0 = predict_expected(m0, X[:, keep], duration, strata)
    k = units.size
    o = np.bincount(unit_index, weights=event, minlength=k)
    e0 = np.bincount(unit_index, weights=pe0.cumhaz_at_t, minlength=k)
    ranked = ~league["too_small"].to_numpy() & (o > 0)
    if ranked.sum() < MIN_UNITS:
        return float("nan"), float("nan"), float("nan"), empty
    r0 = np.log(o[ranked] / e0[ranked])
    v0 = 1.0 / o[ranked]
    means = unit_framework_means(df, fw, units.tolist()).to_numpy(dtype=float)[ranked]
    sd = means.std(axis=0, ddof=1)
    usable = sd > 0
    if not usable.any():
        raise ValueError(f"framework conditions {fw} do not vary between units")
    Z = (means[:, usable] - means[:, usable].mean(axis=0)) / sd[usable]
    if r0.size <= Z.shape[1] + 3:
        # too few units with events for a meta-regression on the conditions: say so, do not guess
        return float("nan"), float("nan"), float("nan"), empty
    re0 = random_effects(r0, v0, method=st.tau2_method)
    re1 = random_effects(r0, v0, np.column_stack([np.ones(r0.size), Z]), method=st.tau2_method)
    share = float("nan") if re0.tau2 <= 0 else float(max(0.0, 1.0 - re1.tau2 / re0.tau2))
    names = [c for c, u in zip(fw, usable) if u]
    coef = re1.beta[1:]
    se = re1.beta_se[1:]
    effects = pd.DataFrame(
        {
            "term": names,
            "coef_per_sd": coef,
            "se_per_sd": se,
            "coef": coef / sd[usable],
            "se": se / sd[usable],
            "p": 2 * norm.sf(np.abs(coef / se)),
        }
    )
    return share, re0.tau2, re1.tau2, effects


def _funnel_grid(league: pd.DataFrame, tau2: float, st: BenchmarkSettings, points: int = 200) -> pd.DataFrame:
    """Funnel-plot limits of O/E against expected events E on a log-spaced grid.

    Limits exp(+-z / sqrt(E)) (Poisson, normal on the log scale) and, overdispersed,
    exp(+-z sqrt(1 / E + tau^2)), at z = 1.96 (95 %) and ``settings.funnel_z`` (99.8 %). The
    points are the league table's (events_expected, oe_ratio).
    """
    e = league["events_expected"].to_numpy()
    grid = np.geomspace(max(0.5, 0.8 * e.min()), 1.25 * e.max(), points)
    out = {"events_expected": grid}
    for label, zz in (("95", 1.959963984540054), ("outer", st.funnel_z)):
        w = zz / np.sqrt(grid)
        w_od = zz * np.sqrt(1.0 / grid + tau2)
        out[f"lower_{label}"] = np.exp(-w)
        out[f"upper_{label}"] = np.exp(w)
        out[f"lower_{label}_od"] = np.exp(-w_od)
        out[f"upper_{label}_od"] = np.exp(w_od)
    frame = pd.DataFrame(out)
    frame["outer_z"] = st.funnel_z
    frame["tau2"] = tau2
    return frame



__all__ = ["BenchmarkResult", "UnitEffectScales", "classify_units", "run_benchmark", "prepare_persons", "unit_map", "unit_names", "CLASSES"]
