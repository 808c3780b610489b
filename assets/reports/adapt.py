"""Turning warehouse tables into the report library's inputs (column names, class labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd

LEAGUE_RENAMES = {
    "oe_lo": "oe_lower", "oe_hi": "oe_upper",
    "indicator_pct_lo": "indicator_lower", "indicator_pct_hi": "indicator_upper",
    "weeks_difference_lo": "weeks_lower", "weeks_difference_hi": "weeks_upper",
    "indicator_pct_shrunken": "indicator_eb", "indicator_pct_shrunken_lo": "eb_lower", "indicator_pct_shrunken_hi": "eb_upper",
    "rank_lo": "rank_lower", "rank_hi": "rank_upper",
    "funnel_lo": "funnel_lower", "funnel_hi": "funnel_upper",
}
CLASS_MAP: dict[str, str] = {}


def league_for_report(league: pd.DataFrame, activity: pd.DataFrame | None = None) -> pd.DataFrame:
    """The benchmark league table in the report's vocabulary, with activity indicators if given."""
    df = league.rename(columns=LEAGUE_RENAMES).copy()
    # a unit with no events has log(O/E) = -inf: its percentage is undefined, shown as missing
    num = df.select_dtypes("number").columns
    df[num] = df[num].replace([np.inf, -np.inf], np.nan)
    df["class"] = df["class"].replace(CLASS_MAP)
    df["members"] = df["members"].astype(str)
    if activity is not None and not activity.empty:
        cols = ["target_group", "kom", "share_weeks_passive", "share_wage_subsidy_or_internship"]
        df = df.merge(activity[cols], on=["target_group", "kom"], how="left")
    return df


def chronogram_for_report(state_distribution: pd.DataFrame) -> pd.DataFrame:
    df = state_distribution.rename(columns={"n_persons": "n"})
    return df[["target_group", "week", "state", "share", "n"]].copy()


def clusters_for_report(clusters: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    asw = quality[quality["chosen"]].set_index("target_group")["asw"]
    df = clusters.rename(columns={"name": "label", "n_persons": "size", "medoid_sps": "medoid"}).copy()
    df["silhouette"] = df["target_group"].map(asw)
    return df[["target_group", "cluster", "label", "size", "share", "medoid", "silhouette"]]


def coefficients_for_report(coefficients: pd.DataFrame) -> pd.DataFrame:
    df = coefficients.rename(columns={"hr_lo": "lower", "hr_hi": "upper"})
    return df[["target_group", "measure", "term", "coef", "se", "hr", "lower", "upper", "p"]].copy()


def spearman_with_interval(x: np.ndarray, y: np.ndarray, *, level: float = 0.90, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman rank correlation with a percentile bootstrap interval over municipalities."""
    from scipy.stats import spearmanr

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 5:
        return (np.nan, np.nan, np.nan)
    rho = float(spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(reps):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
            continue
        boots.append(spearmanr(x[i], y[i]).statistic)
    a = (1 - level) / 2
    return rho, float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))
