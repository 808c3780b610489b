"""Paths to a job: what came before each person's first job entry.

The report asks whether refugees and immigrants who get a job come to it through company
internship or wage subsidy, through other activation, or directly from passive or other
support (domain.md section 6: "most newly arrived refugees who get a job find it themselves
straight away"). For each person whose first job entry (the success event of the benchmark:
the first week of the first run of at least three consecutive job weeks, before any exit)
lies within the follow-up, the weeks of the *lookback window* before it are examined:

* ``internship_or_wage_subsidy``: at least one week of company internship or wage subsidy
  (private or public: ``states.WAGE_SUBSIDY_OR_INTERNSHIP``) in the window;
* ``other_activation``: otherwise at least one week of other activation (guidance and
  upskilling, Danish courses included: the other ``states.ACTIVE_STATES``);
* ``direct``: otherwise (passive support, other support, sickness benefit, education or no
  support at all in the window).

The window is the ``lookback_weeks`` weeks before the entry week, within the follow-up
(weeks ``max(1, t - lookback) .. t - 1`` of the sequence for an entry in week ``t``): the
registers' weeks before the clock started are not part of the sequence. An entry in week 1
therefore has an empty window and is ``direct``.

Aggregates per unit (the whole country and each municipality at entry) with exact
(Clopper-Pearson) intervals, and disclosure control (see :func:`suppress_lines`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from kommunebench.sequences.data import check_sequences
from kommunebench.states import ACTIVE_STATES, ALPHABET, STATE_INDEX, WAGE_SUBSIDY_OR_INTERNSHIP

PATHS: tuple[str, ...] = ("internship_or_wage_subsidy", "other_activation", "direct")
PATH_LABELS = {
    "internship_or_wage_subsidy": "Company internship or wage subsidy in the weeks before the job",
    "other_activation": "Other activation (guidance, upskilling, Danish courses), no internship or wage subsidy",
    "direct": "Directly from passive or other support, or from no support",
}
PATH_LABELS_DA = {
    "internship_or_wage_subsidy": "Virksomhedspraktik eller løntilskud i ugerne før jobbet",
    "other_activation": "Anden aktivering (vejledning og opkvalificering, danskundervisning)",
    "direct": "Direkte fra passiv eller anden forsørgelse eller uden forsørgelse",
}
NO_ENTRY = -1
MIN_CELL = 5

#: Columns of ``sequences.paths_to_job`` (the schema the report builds against) and their meaning.
PATHS_TO_JOB_COLUMNS: dict[str, str] = {
    "target_group": "Target group (svage_indvandrere, flygtninge, familiesammenfoerte)",
    "kom": "Municipality at entry (3-digit code); NULL = the whole country",
    "path": "Path to the first job entry: internship_or_wage_subsidy (a week of company internship or private/public "
            "wage subsidy in the lookback window), else other_activation (a week of guidance/upskilling incl. Danish "
            "courses), else direct (passive support, other support or no support)",
    "job_entries": "Persons whose first job entry (the success event: first week of the first run of >= 3 job weeks, "
                   "before any exit) lies within the follow-up, in this unit; NULL = suppressed (under 5 persons, or "
                   "suppressed so that another suppressed cell cannot be recomputed)",
    "persons": "Of the job_entries, the persons whose path is `path`; NULL = suppressed",
    "share_pct": "persons / job_entries in per cent; NULL when suppressed or job_entries = 0",
    "share_pct_lo": "Lower limit of the exact (Clopper-Pearson) 90 % interval of share_pct",
    "share_pct_hi": "Upper limit of the exact (Clopper-Pearson) 90 % interval of share_pct",
    "lookback_weeks": "Weeks before the job entry examined for internship, wage subsidy or activation (a setting)",
}


def _state_mask(states: Sequence[str]) -> np.ndarray:
    m = np.zeros(len(ALPHABET), dtype=bool)
    for s in states:
        m[STATE_INDEX[s]] = True
    return m


def path_before_job(seqs: np.ndarray, job_week: np.ndarray, *, lookback_weeks: int = 26) -> np.ndarray:
    """The path to the job of each person: an index into :data:`PATHS`, or ``-1``
    (:data:`NO_ENTRY`) for a person without a job entry.

    ``seqs`` ``(n, L)`` state codes of :data:`kommunebench.states.ALPHABET` (``-1`` pads),
    ``job_week`` the week (1-based) of the first job entry, or ``0``/negative/NaN for none.
    A job week after the end of the sequence is an error.
    """
    s = check_sequences(seqs, len(ALPHABET))
    n, L = s.shape
    if lookback_weeks < 0:
        raise ValueError(f"lookback_weeks must be >= 0; got {lookback_weeks}")
    jw = np.asarray(job_week, dtype=np.float64)
    if jw.shape != (n,):
        raise ValueError(f"job_week must have shape ({n},); got {jw.shape}")
    has = np.isfinite(jw) & (jw >= 1)
    if np.any(jw[has] != np.round(jw[has])):
        raise ValueError("job_week must hold whole week numbers")
    t = np.where(has, jw, 0).astype(np.int64)
    if np.any(t > L):
        raise ValueError(f"job_week beyond the sequences' {L} weeks for {int((t > L).sum())} persons")
    wsi = _state_mask(WAGE_SUBSIDY_OR_INTERNSHIP)
    other = _state_mask(sorted(ACTIVE_STATES - WAGE_SUBSIDY_OR_INTERNSHIP))
    # week index (0-based) w lies in the window of an entry in week t when t-1-lookback <= w < t-1
    w = np.arange(L)[None, :]
    in_window = has[:, None] & (w < (t - 1)[:, None]) & (w >= (t - 1 - lookback_weeks)[:, None])
    code = np.where(s >= 0, s, 0).astype(np.int64)
    any_wsi = np.any(in_window & wsi[code] & (s >= 0), axis=1)
    any_other = np.any(in_window & other[code] & (s >= 0), axis=1)
    out = np.full(n, NO_ENTRY, dtype=np.int8)
    out[has] = 2
    out[has & any_other] = 1
    out[has & any_wsi] = 0
    return out


def clopper_pearson(k: np.ndarray, n: np.ndarray, level: float = 0.90) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval for ``k`` of ``n`` (as proportions; NaN where ``n`` = 0)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    a = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    bad = n <= 0
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def path_counts(paths: np.ndarray, kom: np.ndarray | None = None) -> pd.DataFrame:
    """Unsuppressed counts per unit and path (internal: for the relation to the benchmark and
    for :func:`paths_to_job`). Rows: the country (``kom`` missing) and every municipality
    that has persons (also those without a job entry); columns ``kom``, ``path``,
    ``job_entries``, ``persons``. Persons whose ``kom`` is missing count in the country only."""
    p = np.asarray(paths)
    n = p.shape[0]
    units: list[tuple[object, np.ndarray]] = [(pd.NA, np.ones(n, dtype=bool))]
    if kom is not None:
        kk = pd.to_numeric(pd.Series(kom), errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        if kk.shape != (n,):
            raise ValueError(f"kom must have shape ({n},); got {kk.shape}")
        for v in np.unique(kk[np.isfinite(kk)]):
            units.append((int(v), kk == v))
    rows = []
    for unit, m in units:
        entries = int(np.sum(m & (p >= 0)))
        for i, name in enumerate(PATHS):
            rows.append({"kom": unit, "path": name, "job_entries": entries, "persons": int(np.sum(m & (p == i)))})
    df = pd.DataFrame(rows)
    df["kom"] = pd.array(df["kom"], dtype="Int64")
    return df


def suppress_lines(values: np.ndarray, lines: list[np.ndarray], primary: np.ndarray, *,
                   margins: np.ndarray | None = None) -> np.ndarray:
    """Complementary suppression over additive lines.

    ``values`` are the cells' counts; each entry of ``lines`` lists the cells of one
    additive relation (parts and their total, e.g. the paths of a municipality and its job
    entries); ``primary`` marks the cells suppressed to begin with (small cells, and cells
    that are not published at all, such as persons with an unknown municipality).
    Until no line has exactly one suppressed cell, such a line gets a second one: its
    smallest positive unsuppressed part, else an unsuppressed zero part, else its total
    (``margins`` marks totals, which are taken last). A single suppressed cell in an additive
    line could be recomputed as the total minus the published parts; two or more cannot.
    Returns the final mask.
    """
    v = np.asarray(values, dtype=np.float64)
    sup = np.asarray(primary, dtype=bool).copy()
    marg = np.zeros(v.shape, dtype=bool) if margins is None else np.asarray(margins, dtype=bool)
    changed = True
    while changed:
        changed = False
        for line in lines:
            if int(sup[line].sum()) != 1:
                continue
            free = line[~sup[line]]
            if free.size == 0:
                continue
            parts = free[~marg[free]]
            pos = parts[v[parts] > 0]
            if pos.size:
                pick = pos[np.argmin(v[pos])]
            elif parts.size:
                pick = parts[0]
            else:
                pick = free[np.argmin(v[free])]
            sup[pick] = True
            changed = True
    return sup


def protect_path_counts(counts: pd.DataFrame, *, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Suppress small cells of :func:`path_counts` output so none can be recomputed.

    Cells: each unit's job entries (a total) and its three path counts. Primary: a count of
    1..min_cell-1; a unit with 1..min_cell-1 job entries has every cell suppressed (its
    shares describe fewer than ``min_cell`` persons). Persons with an unknown municipality
    form a hidden unit (never published, so suppressed). Lines: each unit (paths -> job
    entries) and, across municipalities, each path and the job entries (municipalities and
    the hidden unit -> the country). Returns the frame with ``persons``/``job_entries`` set
    to missing where suppressed and a boolean column ``persons_suppressed``,
    ``job_entries_suppressed``.
    """
    df = counts.reset_index(drop=True).copy()
    is_country = df["kom"].isna().to_numpy()
    units = ["__country__" if c else int(k) for c, k in zip(is_country, df["kom"].fillna(-1))]
    unit_list = list(dict.fromkeys(units))
    P = len(PATHS)
    # cell table: for each unit, P path cells and one total cell
    vals, prim, marg = [], [], []
    index: dict[tuple[object, int], int] = {}
    for u in unit_list:
        sub = df[[x == u for x in units]].set_index("path")
        tot = int(sub["job_entries"].iloc[0])
        small_unit = 0 < tot < min_cell
        for j, name in enumerate(PATHS):
            c = int(sub.loc[name, "persons"])
            index[(u, j)] = len(vals)
            vals.append(c)
            prim.append(small_unit or 0 < c < min_cell)
            marg.append(False)
        index[(u, P)] = len(vals)
        vals.append(tot)
        prim.append(small_unit)
        marg.append(True)
    munis = [u for u in unit_list if u != "__country__"]
    # the hidden unit: country minus the municipalities
    if "__country__" in unit_list and munis:
        hidden = []
        for j in range(P + 1):
            h = vals[index[("__country__", j)]] - sum(vals[index[(u, j)]] for u in munis)
            if h < 0:
                raise ValueError("municipality counts exceed the country's")
            hidden.append(h)
        if any(h > 0 for h in hidden):
            for j in range(P + 1):
                index[("__hidden__", j)] = len(vals)
                vals.append(hidden[j])
                prim.append(True)
                marg.append(j == P)
            munis = munis + ["__hidden__"]
    lines = [np.array([index[(u, j)] for j in range(P + 1)]) for u in unit_list]
    if "__hidden__" in {u for u, _ in index}:
        lines.append(np.array([index[("__hidden__", j)] for j in range(P + 1)]))
    if "__country__" in unit_list and munis:
        for j in range(P + 1):
            # the country's cell is the line's total
            lines.append(np.array([index[(u, j)] for u in munis] + [index[("__country__", j)]]))
    marg_arr = np.array(marg)
    # within the across-municipality lines the country cell is the total
    country_cells = np.array([index[("__country__", j)] for j in range(P + 1)]) if "__country__" in unit_list else np.array([], int)
    marg_arr[country_cells] = True
    sup = suppress_lines(np.array(vals), lines, np.array(prim), margins=marg_arr)
    df["persons_suppressed"] = [bool(sup[index[(u, PATHS.index(p))]]) for u, p in zip(units, df["path"])]
    df["job_entries_suppressed"] = [bool(sup[index[(u, P)]]) for u in units]
    df["persons"] = pd.array(df["persons"].where(~df["persons_suppressed"]), dtype="Int64")
    df["job_entries"] = pd.array(df["job_entries"].where(~df["job_entries_suppressed"]), dtype="Int64")
    return df


def paths_to_job(seqs: np.ndarray, job_week: np.ndarray, kom: np.ndarray | None = None, *,
                 lookback_weeks: int = 26, level: float = 0.90, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """The path-to-job table of one target group: one row per unit (the country, ``kom``
    missing, and each municipality at entry) and path, with the columns of
    :data:`PATHS_TO_JOB_COLUMNS` except ``target_group``. Shares in per cent with exact
    (Clopper-Pearson) ``level`` intervals; small cells suppressed (:func:`protect_path_counts`):
    a suppressed cell has ``persons`` and its share missing, a unit whose job entries are
    suppressed has all shares missing."""
    paths = path_before_job(seqs, job_week, lookback_weeks=lookback_weeks)
    counts = path_counts(paths, kom)
    df = protect_path_counts(counts, min_cell=min_cell) if min_cell > 0 else counts.assign(
        persons_suppressed=False, job_entries_suppressed=False)
    raw = counts["persons"].to_numpy(dtype=np.float64)
    tot = counts["job_entries"].to_numpy(dtype=np.float64)
    lo, hi = clopper_pearson(raw, tot, level)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, 100.0 * raw / np.where(tot > 0, tot, 1), np.nan)
    hide = df["persons_suppressed"].to_numpy() | df["job_entries_suppressed"].to_numpy()
    out = pd.DataFrame({
        "kom": pd.array(df["kom"], dtype="Int32"),
        "path": df["path"].astype(str),
        "job_entries": pd.array(df["job_entries"], dtype="Int32"),
        "persons": pd.array(df["persons"].where(~hide), dtype="Int32"),
        "share_pct": np.where(hide, np.nan, share),
        "share_pct_lo": np.where(hide, np.nan, 100.0 * lo),
        "share_pct_hi": np.where(hide, np.nan, 100.0 * hi),
        "lookback_weeks": np.int32(lookback_weeks),
    })
    return out


def unit_path_shares(counts: pd.DataFrame, league: pd.DataFrame) -> pd.DataFrame:
    """Path shares per benchmark unit (pooled job centres: their members' counts added),
    joined to the unit's benchmark result. ``counts`` from :func:`path_counts` (unsuppressed;
    internal), ``league`` the benchmark's rows of one target group and measure with
    ``kom``, ``members`` ("101" or "561+563"), ``too_small`` and ``indicator_pct``.
    Only units with a benchmark result (not too small, finite indicator) are returned."""
    c = counts[counts["kom"].notna()]
    rows = []
    for r in league.itertuples(index=False):
        members = [int(m) for m in str(r.members).split("+")]
        sub = c[c["kom"].isin(members)]
        if sub.empty or bool(r.too_small) or not np.isfinite(float(r.indicator_pct)):
            continue
        entries = int(sub.drop_duplicates("kom")["job_entries"].sum())
        row = {"kom": int(r.kom), "job_entries": entries, "indicator_pct": float(r.indicator_pct)}
        for name in PATHS:
            k = int(sub.loc[sub["path"] == name, "persons"].sum())
            row[f"share_{name}"] = 100.0 * k / entries if entries > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["kom", "job_entries", "indicator_pct", *[f"share_{p}" for p in PATHS]])


def spearman_interval(x: np.ndarray, y: np.ndarray, *, level: float = 0.90, reps: int = 2000,
                      seed: int = 0) -> tuple[float, float, float, int]:
    """Spearman rank correlation with a percentile bootstrap interval over the units (the
    method of ``benchmark.activity_relation``). Returns (rho, lower, upper, units); NaN
    with fewer than 5 units or no variation."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 5 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (np.nan, np.nan, np.nan, n)
    rho = float(stats.spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(reps):
        i = rng.integers(0, n, n)
        if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
            continue
        boots.append(stats.spearmanr(x[i], y[i]).statistic)
    a = (1 - level) / 2
    return rho, float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a)), n


PATHS_RELATION_COLUMNS: dict[str, str] = {
    "target_group": "Target group",
    "path": "Path to the first job entry (see sequences.paths_to_job)",
    "units": "Benchmark units (municipalities or pooled job centres) with a benchmark result that enter the correlation",
    "spearman": "Spearman rank correlation across units between the share of job entries by this path and the "
                "benchmark's '% faster than expected' (indicator_pct, success measure)",
    "spearman_lo": "Lower limit of the 90 % percentile bootstrap interval (units resampled, 2,000 replicates)",
    "spearman_hi": "Upper limit of the 90 % percentile bootstrap interval",
}


def relation_to_benchmark(counts: pd.DataFrame, league: pd.DataFrame, *, level: float = 0.90, reps: int = 2000,
                          seed: int = 0) -> pd.DataFrame:
    """Per path: Spearman correlation across benchmark units between the unit's share of
    job entries by that path and its benchmark result, with a bootstrap interval over units.
    Aggregates only (one row per path)."""
    units = unit_path_shares(counts, league)
    rows = []
    for name in PATHS:
        if units.empty:
            rho, lo, hi, n = np.nan, np.nan, np.nan, 0
        else:
            rho, lo, hi, n = spearman_interval(units[f"share_{name}"].to_numpy(), units["indicator_pct"].to_numpy(),
                                               level=level, reps=reps, seed=seed)
        rows.append({"path": name, "units": n, "spearman": rho, "spearman_lo": lo, "spearman_hi": hi})
    return pd.DataFrame(rows)


def check_paths_table(table: pd.DataFrame, expected: dict[str, tuple[int, int]], *,
                      min_cell: int = MIN_CELL, hidden: dict[str, int] | None = None) -> list:
    """The rules of the ``sequences.paths_to_job`` check, as rule outcomes.

    * ``paths_add_up``: in every unit whose cells are published, the paths' persons add up
      to the job entries, the shares to 100 %, and each interval holds its share within 0-100;
    * ``country_matches_outcomes``: the country's job entries and internship/wage-subsidy
      persons equal an independent count on the outcomes (``expected``: group -> (job
      entries, persons with an internship or wage-subsidy week in the window));
    * ``no_recoverable_small_cell``: no published count of 1..min_cell-1 persons, and no
      additive line (a unit's paths and job entries; a path across the municipalities and the
      country) with exactly one suppressed cell (``hidden``: persons per group with an
      unknown municipality, a cell that is never published).
    """
    from kommunebench.validation import RuleOutcome

    add_bad, add_n, small_bad, line_bad, lines_n = 0, 0, 0, 0, 0
    country_bad, examples = 0, []
    for group, g in table.groupby("target_group"):
        for unit, u in g.groupby(g["kom"].astype("float64").fillna(-1)):
            add_n += 1
            lines_n += 1
            p = u["persons"].astype("float64").to_numpy()
            je = u["job_entries"].astype("float64").to_numpy()
            nulls = int(np.isnan(p).sum()) + int(np.isnan(je[0]))
            if nulls == 1:
                line_bad += 1
            for v in np.r_[p, je[:1]]:
                if np.isfinite(v) and 0 < v < min_cell:
                    small_bad += 1
            if nulls == 0 and len(u) == len(PATHS):
                sh = u["share_pct"].to_numpy(dtype=np.float64)
                lo = u["share_pct_lo"].to_numpy(dtype=np.float64)
                hi = u["share_pct_hi"].to_numpy(dtype=np.float64)
                ok = p.sum() == je[0]
                if je[0] > 0:
                    ok = ok and abs(sh.sum() - 100.0) < 1e-6 and bool(np.all((lo <= sh + 1e-9) & (sh <= hi + 1e-9)
                                                                           & (lo >= -1e-9) & (hi <= 100 + 1e-9)))
                if not ok:
                    add_bad += 1
                    examples.append({"value": f"{group}/{'country' if unit < 0 else int(unit)}", "count": 1})
            elif len(u) != len(PATHS):
                add_bad += 1
        h = (hidden or {}).get(group, 0)
        munis = g[g["kom"].notna()]
        for name in PATHS + ("__total__",):
            col = "job_entries" if name == "__total__" else "persons"
            rows = munis if name == "__total__" else munis[munis["path"] == name]
            if name == "__total__":
                rows = rows.drop_duplicates("kom")
            country = g[g["kom"].isna() & ((g["path"] == PATHS[0]) if name == "__total__" else (g["path"] == name))]
            nulls = int(rows[col].isna().sum()) + int(country[col].isna().sum()) + (1 if h > 0 else 0)
            lines_n += 1
            if nulls == 1 and len(rows):
                line_bad += 1
        country = g[g["kom"].isna()].set_index("path")
        exp_entries, exp_wsi = expected.get(group, (None, None))
        if exp_entries is not None and not country.empty:
            got_e = country["job_entries"].iloc[0]
            got_w = country.loc[PATHS[0], "persons"]
            if exp_entries >= min_cell:
                if pd.isna(got_e) or int(got_e) != exp_entries or (not pd.isna(got_w) and int(got_w) != exp_wsi):
                    country_bad += 1
            elif exp_entries > 0 and not pd.isna(got_e):
                country_bad += 1
        elif exp_entries is not None:
            country_bad += 1
    for group, (exp_entries, _) in expected.items():
        if exp_entries and group not in set(table["target_group"]):
            country_bad += 1  # job entries in the outcomes but no rows for the group
    return [
        RuleOutcome("paths_add_up", "persons", add_bad == 0, add_bad, add_n, examples=examples[:5],
                    detail="paths' persons add up to the job entries and shares to 100 % in every published unit"),
        RuleOutcome("country_matches_outcomes", "job_entries", country_bad == 0, country_bad, len(expected),
                    detail="country job entries and internship/wage-subsidy persons equal a count on outcomes.outcomes"),
        RuleOutcome("no_recoverable_small_cell", "persons", small_bad + line_bad == 0, small_bad + line_bad, lines_n,
                    detail=f"{small_bad} published counts under {min_cell}; {line_bad} additive lines with exactly one suppressed cell"),
    ]
