"""``run_benchmark``: the league table of municipalities, actual against expected.

See the package docstring (``kommunebench.benchmark``) for the method and the choice of scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from kommunebench.benchmark.aft import fit_weibull_aft
from kommunebench.benchmark.bootstrap import BootstrapData, BootstrapReplicates, run_bootstrap
from kommunebench.benchmark.diagnostics import calibration_table, coefficient_table, ph_test_table
from kommunebench.benchmark.model import (
    PersonExpected,
    design_matrix,
    design_spec,
    fit_expected_model,
    predict_expected,
)
from kommunebench.benchmark.settings import JOB_CENTRE_POOLS, BenchmarkSettings
from kommunebench.benchmark.stats import (
    benjamini_hochberg,
    eb_shrink,
    fifth_of,
    garwood_interval,
    km_restricted_mean,
    random_effects,
    rank_of,
    simulate_ranks,
)

CLASSES = ("better", "as_expected", "worse", "inconclusive", "too_small")


@dataclass(frozen=True)
class BenchmarkResult:
    """Everything one benchmark run produces. Only ``person_expected`` holds person rows: it
    stays in the warehouse and never goes into logs, metadata, reports or exports."""

    league_table: pd.DataFrame
    coefficients: pd.DataFrame
    calibration: pd.DataFrame
    ph_test: pd.DataFrame
    funnel: pd.DataFrame
    aft: pd.DataFrame
    framework_effects: pd.DataFrame
    person_expected: pd.DataFrame
    concordance: float
    framework_share_explained: float
    tau2: float
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


# ---------------------------------------------------------------- scales


def scale_pct(log_hr: np.ndarray, scale: str, shape: float) -> np.ndarray:
    """Convert log hazard ratios (log O/E) to "% faster than expected" on a scale.

    hazard: 100 (HR - 1), "the job-finding rate is X % higher";
    time_ratio: 100 (1 - TR) with TR = HR^(-1/shape), "time to a job is X % shorter".
    Both increase with log_hr, so intervals map end to end.
    """
    x = np.asarray(log_hr, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if scale == "hazard":
            return 100.0 * np.expm1(x)
        if scale == "time_ratio":
            return -100.0 * np.expm1(-x / shape)
    raise ValueError(f"scale_pct: scale {scale!r} is not 'hazard' or 'time_ratio'")


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
    model = fit_expected_model(X, spec.terms, duration, event, strata, st.horizon)
    pe = predict_expected(model, X, duration, strata)

    units_all = np.sort(np.unique(df["_unit"].to_numpy()))
    unit_index = np.searchsorted(units_all, df["_unit"].to_numpy())
    league = _unit_aggregates(df, st, units_all, unit_index, duration, event, pe)
    reported = league.loc[~league["too_small"], "kom"].astype(int).tolist()
    if len(reported) < 5:
        raise ValueError(
            f"only {len(reported)} units have at least min_persons={st.min_persons} persons; "
            "at least 5 are needed to rank in fifths"
        )

    # ---- Weibull AFT: sensitivity analysis and the shape for the time-ratio scale
    shape = float("nan")
    aft_table = pd.DataFrame()
    if st.weibull_aft:
        ind_terms = [t for t in spec.terms if t not in fw]
        cols = [spec.terms.index(t) for t in ind_terms]
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

    tau2 = _performance(league, st, shape)
    if st.weibull_aft:
        league["aft_time_ratio_pct"] = league["kom"].map(aft_table.set_index("kom")["time_ratio_net_pct"])

    # ---- framework share: second stage on estimates from a model without framework conditions
    share, tau2_without, tau2_with, fw_effects = _framework_share(
        df, st, spec, X, fw, duration, event, strata, units_all, unit_index, league
    )

    # ---- bootstrap
    boot: BootstrapReplicates | None = None
    if st.bootstrap_replicates > 0:
        boot = run_bootstrap(
            BootstrapData(
                X=X,
                terms=spec.terms,
                duration=duration,
                event=event,
                strata=strata,
                unit_index=unit_index,
                n_units=units_all.size,
                horizon=st.horizon,
                beta=model.beta,
            ),
            st.bootstrap_replicates,
            st.seed,
            scheduler=st.dask_scheduler,
            workers=st.dask_workers,
        )
        _bootstrap_columns(league, boot, st, shape)

    funnel = _funnel_grid(league, tau2, st)
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
        coefficients=coefficient_table(model, st.coef_level),
        calibration=calibration,
        ph_test=ph,
        funnel=funnel,
        aft=aft_table,
        framework_effects=fw_effects,
        person_expected=person_expected,
        concordance=model.concordance,
        framework_share_explained=share,
        tau2=tau2,
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
            "too_small": persons < st.min_persons,
            "events_observed": o.astype(int),
            "events_expected": e,
            "rmst_observed": rmst_obs,
            "rmst_observed_se": rmst_se,
            "rmst_expected": rmst_exp,
        }
    )


def _performance(league: pd.DataFrame, st: BenchmarkSettings, shape: float) -> float:
    """Add O/E, scales, shrinkage, ranks, classes and funnel columns in place; return tau^2.

    - r_j = log(O_j / E_j), s_j = 1 / sqrt(O_j) (O_j = 0 replaced by 0.5, ``zero_events``);
      z_j = r_j / s_j, two-sided p_j, Benjamini-Hochberg q_j over the ranked units.
    - tau^2 from ``random_effects`` over the ranked units; B_j = tau^2 / (tau^2 + s_j^2),
      shrunken r_j = B_j r_j, posterior sd sqrt(B_j s_j^2 + 2/(k-2) (1-B_j)^2 r_j^2) (plug-in
      variance plus a Morris-type term for the uncertainty in tau^2; k = ranked units).
    - Intervals at ``settings.level``: O/E from Garwood, mapped to the hazard and time-ratio
      scales; restricted means from the Kaplan-Meier standard error (expected treated as
      known); shrunken intervals from the posterior.
    - Ranks (1 = best), rank intervals, P(top/bottom fifth) by ``simulate_ranks`` on the
      shrunken posterior (``rank_on="shrunken"``) or on (r_j, s_j); fifth = ceil(5 rank / n).
    - band_position of the headline interval against ±band: above, below, inside, overlaps.
    - class, in this order: too_small (never ranked); better / worse when q_j <= fdr_q (sign
      of r_j); as_expected when the headline interval reaches into the ±band (not shown to lie
      outside it); otherwise inconclusive (the unit's own interval lies outside the band, but
      the difference does not survive the false-discovery-rate control).
    - funnel_lo/hi = exp(-/+ funnel_z sqrt(1/E_j + tau^2)), O/E scale; funnel_flag.
    """
    z = st.z
    o = league["events_observed"].to_numpy(dtype=float)
    e = league["events_expected"].to_numpy(dtype=float)
    ranked = ~league["too_small"].to_numpy()

    lo, hi = garwood_interval(o, st.level)
    league["oe_ratio"] = o / e
    league["oe_lo"] = lo / e
    league["oe_hi"] = hi / e
    # log-hazard performance; O = 0 is replaced by 0.5 (flagged) so that r and s stay finite
    o_used = np.where(o > 0, o, 0.5)
    r = np.log(o_used / e)
    s = 1.0 / np.sqrt(o_used)
    league["log_oe"] = r
    league["log_oe_se"] = s
    league["zero_events"] = o == 0
    wald = r / s
    p = 2 * norm.sf(np.abs(wald))
    league["z"] = wald
    league["p_value"] = p
    q = np.full(r.size, np.nan)
    q[ranked] = benjamini_hochberg(p[ranked])
    league["q_value"] = q

    re = random_effects(r[ranked], s[ranked] ** 2, method=st.tau2_method)
    tau2 = re.tau2
    b, post_mean, post_sd = eb_shrink(r, s, tau2, k=int(ranked.sum()))
    league["shrinkage_factor"] = b
    league["log_oe_shrunken"] = post_mean
    league["log_oe_shrunken_sd"] = post_sd

    with np.errstate(divide="ignore"):
        log_lo, log_hi = np.log(lo / e), np.log(hi / e)
    for sc in ("hazard", "time_ratio"):
        if sc == "time_ratio" and not np.isfinite(shape):
            continue
        name = f"{sc}_pct"
        league[name] = scale_pct(r, sc, shape)
        league[name] = np.where(o > 0, league[name], scale_pct(np.full(r.size, -np.inf), sc, shape))
        league[f"{name}_lo"] = scale_pct(log_lo, sc, shape)
        league[f"{name}_hi"] = scale_pct(log_hi, sc, shape)
        league[f"{name}_shrunken"] = scale_pct(post_mean, sc, shape)
        league[f"{name}_shrunken_lo"] = scale_pct(post_mean - z * post_sd, sc, shape)
        league[f"{name}_shrunken_hi"] = scale_pct(post_mean + z * post_sd, sc, shape)

    # restricted-mean scale: (expected - observed) / expected; expected treated as known
    ex = league["rmst_expected"].to_numpy()
    ob = league["rmst_observed"].to_numpy()
    se = league["rmst_observed_se"].to_numpy()
    league["rmst_pct"] = 100 * (ex - ob) / ex
    league["rmst_pct_lo"] = 100 * (ex - (ob + z * se)) / ex
    league["rmst_pct_hi"] = 100 * (ex - (ob - z * se)) / ex
    league["weeks_difference"] = ex - ob
    league["weeks_difference_lo"] = ex - (ob + z * se)
    league["weeks_difference_hi"] = ex - (ob - z * se)
    # shrink the restricted-mean indicator with the same B_j (normal-normal on its own scale)
    rm_se = 100 * se / ex
    rm_b = _shrink_factor_same_scale(league["rmst_pct"].to_numpy(), rm_se, ranked, st)
    league["rmst_pct_shrunken"] = rm_b * league["rmst_pct"].to_numpy()

    head = st.scale
    league.insert(league.columns.get_loc("events_observed"), "indicator_scale", head)
    for suffix in ("", "_lo", "_hi", "_shrunken", "_shrunken_lo", "_shrunken_hi"):
        src = f"{head}_pct{suffix}"
        if head == "rmst" and suffix in ("_shrunken_lo", "_shrunken_hi"):
            rm_sd = np.sqrt(rm_b) * rm_se
            val = league["rmst_pct_shrunken"].to_numpy() + (z if suffix.endswith("hi") else -z) * rm_sd
        else:
            val = league[src].to_numpy()
        league[f"indicator_pct{suffix}"] = val

    # ---- ranks, fifths, P(top fifth) among ranked units
    if st.rank_on == "shrunken":
        m_rank, s_rank = post_mean, post_sd
        if head == "rmst":
            m_rank = league["rmst_pct_shrunken"].to_numpy()
            s_rank = np.sqrt(rm_b) * rm_se
    else:
        m_rank, s_rank = r, s
        if head == "rmst":
            m_rank, s_rank = league["rmst_pct"].to_numpy(), rm_se
    n_ranked = int(ranked.sum())
    sim = simulate_ranks(m_rank[ranked], s_rank[ranked], st.n_sim, st.level, st.seed)
    for col, values in (
        ("rank", sim.rank),
        ("rank_lo", sim.rank_lower),
        ("rank_hi", sim.rank_upper),
        # tied units (e.g. all of them when tau^2 = 0) share the fifth of their average rank
        ("fifth", fifth_of(np.ceil(rankdata(-m_rank[ranked], method="average")).astype(np.int64), n_ranked)),
    ):
        full = pd.array([pd.NA] * r.size, dtype="Int64")
        full[np.flatnonzero(ranked)] = values
        league[col] = full
    for col, values in (("rank_mean", sim.rank_mean), ("p_top_fifth", sim.p_top_fifth), ("p_bottom_fifth", sim.p_bottom_fifth)):
        full_f = np.full(r.size, np.nan)
        full_f[ranked] = values
        league[col] = full_f

    # ---- classes
    band = 100 * st.band
    ilo = league["indicator_pct_lo"].to_numpy()
    ihi = league["indicator_pct_hi"].to_numpy()
    position = np.where(ilo > band, "above", np.where(ihi < -band, "below", np.where((ilo >= -band) & (ihi <= band), "inside", "overlaps")))
    league["band_position"] = position
    better = ranked & (q <= st.fdr_q) & (r > 0)
    worse = ranked & (q <= st.fdr_q) & (r < 0)
    as_expected = ranked & ~better & ~worse & np.isin(position, ("inside", "overlaps"))
    cls = np.where(better, "better", np.where(worse, "worse", np.where(as_expected, "as_expected", "inconclusive")))
    cls = np.where(ranked, cls, "too_small")
    league["class"] = cls

    # ---- funnel limits with overdispersion, on the O/E scale at this unit's expected count
    width = st.funnel_z * np.sqrt(1.0 / e + tau2)
    league["funnel_lo"] = np.exp(-width)
    league["funnel_hi"] = np.exp(width)
    league["funnel_flag"] = np.where(
        league["oe_ratio"] > league["funnel_hi"], "high", np.where(league["oe_ratio"] < league["funnel_lo"], "low", "inside")
    )
    return tau2


def unit_framework_means(df: pd.DataFrame, fw: list[str], units: list[int]) -> pd.DataFrame:
    """Person-weighted mean of each framework condition per unit (rows in ``units`` order)."""
    return df.groupby("_unit")[fw].mean().reindex(units)


def _net_of_framework(aft_table: pd.DataFrame, df: pd.DataFrame, fw: list[str], st: BenchmarkSettings) -> None:
    """Add the AFT log time ratios net of framework conditions, in place.

    The AFT has unit dummies, so its unit effects include the framework conditions. As in the
    fixed-effects route of benchmark-notes.md they go to a second stage: a random-effects
    meta-regression of log TR_j on the units' standardised mean framework conditions; the
    residual log TR_j - x_j' beta is the performance (``log_time_ratio_net``), with the
    standard error of log TR_j.
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
    re = random_effects(y, v, Xm, method=st.tau2_method)
    net = y - Xm @ re.beta
    z = st.z
    se = np.sqrt(v)
    aft_table["log_time_ratio_net"] = net
    aft_table["time_ratio_net_pct"] = -100 * np.expm1(net)
    aft_table["time_ratio_net_pct_lo"] = -100 * np.expm1(net + z * se)
    aft_table["time_ratio_net_pct_hi"] = -100 * np.expm1(net - z * se)


def _shrink_factor_same_scale(y: np.ndarray, se: np.ndarray, ranked: np.ndarray, st: BenchmarkSettings) -> np.ndarray:
    """B_j for an indicator on its own scale: tau^2 from ``random_effects`` over ranked units."""
    ok = ranked & np.isfinite(y) & (se > 0)
    re = random_effects(y[ok], se[ok] ** 2, method=st.tau2_method)
    denom = re.tau2 + se**2
    return np.divide(re.tau2, denom, out=np.zeros_like(denom), where=denom > 0)


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
    r0 = np.log(o[ranked] / e0[ranked])
    v0 = 1.0 / o[ranked]
    means = unit_framework_means(df, fw, units.tolist()).to_numpy(dtype=float)[ranked]
    sd = means.std(axis=0, ddof=1)
    usable = sd > 0
    if not usable.any():
        raise ValueError(f"framework conditions {fw} do not vary between units")
    Z = (means[:, usable] - means[:, usable].mean(axis=0)) / sd[usable]
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


def _bootstrap_columns(league: pd.DataFrame, boot: BootstrapReplicates, st: BenchmarkSettings, shape: float) -> None:
    """Percentile intervals of the headline and restricted-mean indicators and of the ranks."""
    a = (1 - st.level) / 2
    ranked = ~league["too_small"].to_numpy()
    rm_pct = 100 * (boot.rmst_expected - boot.rmst_observed) / boot.rmst_expected
    if st.scale == "rmst":
        head = rm_pct
    else:
        head = scale_pct(boot.log_oe, st.scale, shape)
    league["indicator_pct_boot_lo"] = np.quantile(head, a, axis=0)
    league["indicator_pct_boot_hi"] = np.quantile(head, 1 - a, axis=0)
    league["rmst_pct_boot_lo"] = np.quantile(rm_pct, a, axis=0)
    league["rmst_pct_boot_hi"] = np.quantile(rm_pct, 1 - a, axis=0)
    wd = boot.rmst_expected - boot.rmst_observed
    league["weeks_difference_boot_lo"] = np.quantile(wd, a, axis=0)
    league["weeks_difference_boot_hi"] = np.quantile(wd, 1 - a, axis=0)
    ranks = np.vstack([rank_of(row[ranked]) for row in head])
    n_ranked = int(ranked.sum())
    for col, values in (
        ("rank_boot_lo", np.quantile(ranks, a, axis=0, method="inverted_cdf")),
        ("rank_boot_hi", np.quantile(ranks, 1 - a, axis=0, method="inverted_cdf")),
    ):
        full = pd.array([pd.NA] * len(league), dtype="Int64")
        full[np.flatnonzero(ranked)] = values.astype(int)
        league[col] = full
    p_top = np.full(len(league), np.nan)
    p_top[ranked] = (ranks <= n_ranked // 5).mean(axis=0)
    league["p_top_fifth_boot"] = p_top
    league["bootstrap_replicates"] = head.shape[0]


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


__all__ = ["BenchmarkResult", "run_benchmark", "prepare_persons", "unit_map", "unit_names", "scale_pct", "CLASSES"]
