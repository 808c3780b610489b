"""Descriptive tables of state sequences (TraMineR's ``seqstatd``, ``seqmeant``,
``seqtrate``) and the headline indicators of domain.md section 6.

All tables are aggregates. Disclosure control: a cell built from fewer than
``min_cell`` persons (unweighted count, > 0) has its numbers replaced by missing values
and ``suppressed = True``; ``min_cell=0`` turns this off. Weeks are numbered from 1.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd

from kommunebench.sequences.costs import seqtrate, transition_counts
from kommunebench.sequences.data import VOID, check_sequences, check_weights
from kommunebench.states import ALPHABET, STATE_INDEX, WAGE_SUBSIDY_OR_INTERNSHIP, ACTIVE_STATES

MIN_CELL = 5


def _suppress(df: pd.DataFrame, count_col: str, value_cols: list[str], min_cell: int) -> pd.DataFrame:
    small = (df[count_col] > 0) & (df[count_col] < min_cell) if min_cell > 0 else pd.Series(False, index=df.index)
    df["suppressed"] = small.to_numpy()
    for c in value_cols + [count_col]:
        df[c] = df[c].astype("float64")
        df.loc[small, c] = np.nan
    return df


def _alphabet(n_states: int, alphabet: tuple[str, ...] | None) -> tuple[str, ...]:
    a = alphabet or (ALPHABET if n_states == len(ALPHABET) else tuple(f"S{i}" for i in range(n_states)))
    if len(a) != n_states:
        raise ValueError(f"alphabet has {len(a)} names for {n_states} states")
    return a


def _group_codes(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    if groups is None:
        return np.zeros(n, dtype=np.int64), np.array([0])
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"group codes must have shape ({n},); got {g.shape}")
    if pd.isna(pd.Series(g)).any():
        raise ValueError("group codes contain missing values")
    levels, codes = np.unique(g, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), levels


def state_distribution(seqs: np.ndarray, weights: np.ndarray | None = None, groups: np.ndarray | None = None,
                       *, n_states: int = len(ALPHABET), alphabet: tuple[str, ...] | None = None,
                       min_cell: int = MIN_CELL, group_name: str = "group") -> pd.DataFrame:
    """State distribution by week (TraMineR ``seqstatd``'s frequencies; the chronogram).

    Long format: (``group``,) ``week``, ``state``, ``n_persons`` (unweighted count),
    ``weight`` (sum of weights), ``share`` = weight / weight of valid (non-void)
    states that week (within the group), ``suppressed``.
    """
    s = check_sequences(seqs, n_states)
    n, L = s.shape
    w = check_weights(weights, n)
    alpha = _alphabet(n_states, alphabet)
    g, levels = _group_codes(groups, n)
    G = levels.size
    valid = s != VOID
    code = (g[:, None] * L + np.arange(L)[None, :]) * n_states + s.astype(np.int64)
    size = G * L * n_states
    cnt = np.bincount(code[valid], minlength=size).reshape(G, L, n_states)
    wt = np.bincount(code[valid], weights=np.broadcast_to(w[:, None], s.shape)[valid], minlength=size).reshape(G, L, n_states)
    tot = wt.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, wt / np.where(tot > 0, tot, 1), np.nan)
    gi, ti, si = np.meshgrid(np.arange(G), np.arange(L), np.arange(n_states), indexing="ij")
    df = pd.DataFrame({
        "week": ti.ravel() + 1,
        "state": np.asarray(alpha, dtype=object)[si.ravel()],
        "n_persons": cnt.ravel(),
        "weight": wt.ravel(),
        "share": share.ravel(),
    })
    if groups is not None:
        df.insert(0, group_name, levels[gi.ravel()])
    return _suppress(df, "n_persons", ["weight", "share"], min_cell)


def entropy_by_week(seqs: np.ndarray, weights: np.ndarray | None = None, *, n_states: int = len(ALPHABET),
                    normalised: bool = True, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Cross-sectional Shannon entropy per week (TraMineR ``seqstatd``'s ``Entropy``):
    ``h_t = -sum_s p_ts log p_ts`` over valid states, divided by ``log K`` (``K`` the
    alphabet size) when ``normalised``. Columns ``week``, ``n_valid``, ``entropy``."""
    s = check_sequences(seqs, n_states)
    n, L = s.shape
    w = check_weights(weights, n)
    valid = s != VOID
    code = np.arange(L)[None, :] * n_states + s.astype(np.int64)
    wt = np.bincount(code[valid], weights=np.broadcast_to(w[:, None], s.shape)[valid],
                     minlength=L * n_states).reshape(L, n_states)
    tot = wt.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(tot > 0, wt / np.where(tot > 0, tot, 1), 0.0)
        h = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0), axis=1)
    if normalised and n_states > 1:
        h = h / np.log(n_states)
    df = pd.DataFrame({"week": np.arange(1, L + 1), "n_valid": valid.sum(axis=0), "entropy": h})
    small = (df["n_valid"] < min_cell) if min_cell > 0 else pd.Series(False, index=df.index)
    df["suppressed"] = small.to_numpy()
    df.loc[small, "entropy"] = np.nan
    return df


def mean_time(seqs: np.ndarray, weights: np.ndarray | None = None, *, n_states: int = len(ALPHABET),
              alphabet: tuple[str, ...] | None = None, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Mean time (weeks) spent in each state per person (TraMineR ``seqmeant``), with
    the weighted standard deviation and the number of persons ever in the state."""
    s = check_sequences(seqs, n_states)
    n, _ = s.shape
    w = check_weights(weights, n)
    alpha = _alphabet(n_states, alphabet)
    dur = np.zeros((n, n_states))
    for k in range(n_states):
        dur[:, k] = (s == k).sum(axis=1)
    W = w.sum()
    mean = w @ dur / W
    var = w @ (dur - mean) ** 2 / W
    df = pd.DataFrame({"state": list(alpha), "mean_weeks": mean, "sd_weeks": np.sqrt(var),
                       "n_persons_ever": (dur > 0).sum(axis=0)})
    return _suppress(df, "n_persons_ever", ["mean_weeks", "sd_weeks"], min_cell)


def transition_rates(seqs: np.ndarray, weights: np.ndarray | None = None, *, n_states: int = len(ALPHABET),
                     alphabet: tuple[str, ...] | None = None, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Transition rates at lag 1 (TraMineR ``seqtrate``) in long format: ``from_state``,
    ``to_state``, ``rate`` = p(to | from), ``n_transitions`` (unweighted count)."""
    alpha = _alphabet(n_states, alphabet)
    P = seqtrate(seqs, weights, n_states=n_states)
    C = transition_counts(seqs, n_states)
    fi, ti = np.meshgrid(np.arange(n_states), np.arange(n_states), indexing="ij")
    names = np.asarray(alpha, dtype=object)
    df = pd.DataFrame({"from_state": names[fi.ravel()], "to_state": names[ti.ravel()],
                       "rate": P.ravel(), "n_transitions": C.ravel()})
    return _suppress(df, "n_transitions", ["rate"], min_cell)


def index_plot_bands(seqs: np.ndarray, groups: np.ndarray | None = None, *, sample: int = 1000,
                     band: int = MIN_CELL, seed: int = 0, n_states: int = len(ALPHABET),
                     alphabet: tuple[str, ...] | None = None, group_name: str = "group") -> pd.DataFrame:
    """Aggregated index plot of a random sample: never one person's sequence.

    Draws ``sample`` sequences (seeded), sorts them (by ``groups`` first, then
    lexicographically by state codes, i.e. by the state of the first weeks), cuts the
    sorted list into consecutive bands of ``band`` persons (the last band takes the
    remainder) and gives, for each band and week, the most frequent state of its
    members. Returns spells: (``group``,) ``band``, ``state``, ``week_start``,
    ``week_end`` (inclusive), ``n_persons`` in the band. Plot each band as one row.
    """
    s = check_sequences(seqs, n_states)
    if band < 1:
        raise ValueError("band must be at least 1")
    alpha = _alphabet(n_states, alphabet)
    n, L = s.shape
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    sub = s[pick]
    g = np.zeros(pick.size, dtype=np.int64) if groups is None else np.asarray(groups)[pick]
    keys = [sub[:, t] for t in range(L - 1, -1, -1)] + [g]
    order = np.lexsort(keys)
    sub, g = sub[order], g[order]
    out = []
    band_id = 0
    for gv in np.unique(g):
        members = sub[g == gv]
        m = members.shape[0]
        nb_ = max(1, m // band)
        edges = [i * band for i in range(nb_)] + [m]
        for b in range(nb_):
            block = members[edges[b]:edges[b + 1]]
            counts = np.stack([(block == k).sum(axis=0) for k in range(n_states)])  # (K, L)
            modal = np.where(counts.max(axis=0) > 0, counts.argmax(axis=0), VOID)
            change = np.flatnonzero(np.diff(modal)) + 1
            starts = np.concatenate(([0], change))
            ends = np.concatenate((change, [L]))
            for a, e in zip(starts, ends):
                if modal[a] == VOID:
                    continue
                row = {"band": band_id, "state": alpha[int(modal[a])], "week_start": int(a) + 1,
                       "week_end": int(e), "n_persons": int(block.shape[0])}
                if groups is not None:
                    row = {group_name: gv, **row}
                out.append(row)
            band_id += 1
    return pd.DataFrame(out)


@nb.njit(cache=True)
def _person_flags(S, job, passive, cens, none, ws_int, active, job_run, horizon):
    n, L = S.shape
    has_job = np.zeros(n, dtype=np.bool_)
    job_start = np.full(n, -1, dtype=np.int64)
    observed = np.zeros(n, dtype=np.int64)
    n_passive = np.zeros(n, dtype=np.int64)
    ever_wsi = np.zeros(n, dtype=np.bool_)
    active_before = np.zeros(n, dtype=np.bool_)
    only_none = np.zeros(n, dtype=np.bool_)
    n_none = np.zeros(n, dtype=np.int64)
    for i in range(n):
        run = 0
        any_active = False
        all_none = True
        for t in range(min(L, horizon)):
            x = S[i, t]
            if x < 0:
                break
            if x != cens:
                observed[i] += 1
            if x == passive:
                n_passive[i] += 1
            if x == none:
                n_none[i] += 1
            elif x != cens:
                all_none = False
            if ws_int[x]:
                ever_wsi[i] = True
            if x == job:
                run += 1
                if run >= job_run and not has_job[i]:
                    has_job[i] = True
                    job_start[i] = t - run + 1
                    active_before[i] = any_active
            else:
                run = 0
            if active[x] and not has_job[i]:
                # counts only weeks before the start of the first qualifying job run;
                # a job run is all JOB weeks, so an active week cannot fall inside it
                any_active = True
        only_none[i] = all_none and n_none[i] > 0
    return has_job, job_start, observed, n_passive, ever_wsi, active_before, only_none, n_none


INDICATORS = {
    "job_within_followup": "a run of >= job_run_weeks consecutive JOB weeks within the follow-up; "
                           "denominator: all persons",
    "passive_almost_all_time": "PASSIVE in >= passive_share of the observed (non-CENS) weeks; "
                               "denominator: persons with >= 1 observed week",
    "ever_wage_subsidy_or_internship": "at least one week in WS_PRIV, WS_PUB or INTERN; denominator: all persons",
    "first_job_without_prior_active_measure": "no week in an active measure (WS_PRIV, WS_PUB, INTERN, UPSKILL) "
                                              "before the first job run; denominator: persons with a job run",
    "never_wages_or_benefits": "every observed week NONE (CENS weeks allowed if none_includes_censored), "
                               "at least one NONE week; denominator: persons with >= 1 observed week",
}


def person_indicator_flags(seqs: np.ndarray, *, job_run_weeks: int = 3, passive_share: float = 0.9,
                           within_weeks: int | None = None, none_includes_censored: bool = True) -> pd.DataFrame:
    """Per-person numerator/denominator flags of the headline indicators (internal to
    :func:`headline_indicators`; person-level, never to be exported)."""
    s = check_sequences(seqs, len(ALPHABET))
    if job_run_weeks < 1:
        raise ValueError("job_run_weeks must be at least 1")
    if not 0 < passive_share <= 1:
        raise ValueError("passive_share must be in (0, 1]")
    horizon = s.shape[1] if within_weeks is None else int(within_weeks)
    if horizon < 1:
        raise ValueError("within_weeks must be at least 1")
    K = len(ALPHABET)
    wsi = np.zeros(K, dtype=np.bool_)
    for st in WAGE_SUBSIDY_OR_INTERNSHIP:
        wsi[STATE_INDEX[st]] = True
    act = np.zeros(K, dtype=np.bool_)
    for st in ACTIVE_STATES:
        act[STATE_INDEX[st]] = True
    has_job, job_start, observed, n_passive, ever_wsi, active_before, only_none, n_none = _person_flags(
        s, STATE_INDEX["JOB"], STATE_INDEX["PASSIVE"], STATE_INDEX["CENS"], STATE_INDEX["NONE"],
        wsi, act, job_run_weeks, horizon)
    if not none_includes_censored:
        only_none = only_none & (n_none == observed) & (observed == (s[:, :horizon] != VOID).sum(axis=1))
    obs = observed > 0
    return pd.DataFrame({
        "job_within_followup__num": has_job, "job_within_followup__den": np.ones(s.shape[0], dtype=bool),
        "passive_almost_all_time__num": obs & (n_passive >= passive_share * observed),
        "passive_almost_all_time__den": obs,
        "ever_wage_subsidy_or_internship__num": ever_wsi,
        "ever_wage_subsidy_or_internship__den": np.ones(s.shape[0], dtype=bool),
        "first_job_without_prior_active_measure__num": has_job & ~active_before,
        "first_job_without_prior_active_measure__den": has_job,
        "never_wages_or_benefits__num": obs & only_none,
        "never_wages_or_benefits__den": obs,
    })


def headline_indicators(seqs: np.ndarray, weights: np.ndarray | None = None, groups: np.ndarray | None = None,
                        *, job_run_weeks: int = 3, passive_share: float = 0.9, within_weeks: int | None = None,
                        none_includes_censored: bool = True, min_cell: int = MIN_CELL,
                        group_name: str = "group") -> pd.DataFrame:
    """The headline indicators of domain.md section 6 (definitions in ``INDICATORS``),
    overall and, with ``groups`` (e.g. municipality codes), per group.

    Needs the default alphabet. Columns: (``group``,) ``indicator``, ``numerator`` and
    ``denominator`` (weighted), ``share``, ``n_numerator`` and ``n_denominator``
    (persons), ``suppressed`` (numerator or denominator of 1..min_cell-1 persons).
    ``within_weeks`` limits the follow-up to the first weeks (e.g. 104 for two years).
    """
    s = check_sequences(seqs, len(ALPHABET))
    n = s.shape[0]
    w = check_weights(weights, n)
    flags = person_indicator_flags(s, job_run_weeks=job_run_weeks, passive_share=passive_share,
                                   within_weeks=within_weeks, none_includes_censored=none_includes_censored)
    g, levels = _group_codes(groups, n)
    rows = []
    for name in INDICATORS:
        num = flags[f"{name}__num"].to_numpy()
        den = flags[f"{name}__den"].to_numpy()
        G = levels.size
        wn = np.bincount(g, weights=w * num, minlength=G)
        wd = np.bincount(g, weights=w * den, minlength=G)
        cn = np.bincount(g, weights=num.astype(float), minlength=G).astype(np.int64)
        cd = np.bincount(g, weights=den.astype(float), minlength=G).astype(np.int64)
        for i in range(G):
            row = {"indicator": name, "numerator": wn[i], "denominator": wd[i],
                   "share": wn[i] / wd[i] if wd[i] > 0 else np.nan,
                   "n_numerator": cn[i], "n_denominator": cd[i]}
            if groups is not None:
                row = {group_name: levels[i], **row}
            rows.append(row)
    df = pd.DataFrame(rows)
    small = pd.Series(False, index=df.index)
    if min_cell > 0:
        for c in ("n_numerator", "n_denominator"):
            small |= (df[c] > 0) & (df[c] < min_cell)
    df["suppressed"] = small.to_numpy()
    for c in ("numerator", "denominator", "share", "n_numerator", "n_denominator"):
        df[c] = df[c].astype("float64")
        df.loc[small, c] = np.nan
    return df
